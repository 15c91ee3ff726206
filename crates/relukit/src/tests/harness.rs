//! The one test harness: test data of every element type, and a [`Runner`] that takes
//! an operation and its reference and checks them bit for bit over the whole matrix of
//! lengths x start offsets x instruction sets x serial/threaded x plain/streamed stores.

use rayon::ThreadPoolBuilder;

use crate::activation::{self, Activation};
use crate::element::sealed::ElementOps;
use crate::testing::{Config, Rng, configs, with};
use crate::{Element, Error, Float};
use half::{bf16, f16};

/// Test data for one element type.
pub(crate) trait Sample: Element {
    /// Values every test must meet: signed zeros, infinities, NaNs with payloads and
    /// either sign, subnormals, the extremes of the type.
    fn specials() -> Vec<Self>;
    /// An ordinary value, from random bits.
    fn ordinary(rng: &mut Rng) -> Self;
    /// Any bit pattern.
    fn from_raw(bits: u64) -> Self;
    /// A mix: specials, ordinary values and raw bit patterns.
    fn sample(rng: &mut Rng) -> Self {
        let specials = Self::specials();
        match rng.next_u64() % 8 {
            0 | 1 => specials[rng.below(specials.len())],
            2 => Self::from_raw(rng.next_u64()),
            _ => Self::ordinary(rng),
        }
    }
    /// The relative spacing of the type's values near 1 (0 for integers).
    const EPSILON: f64 = 0.0;
    /// The largest finite value of the type sums are computed in.
    const COMPUTE_MAX: f64 = f32::MAX as f64;
    /// The spacing of the compute type's subnormals: the most a product rounded in the
    /// compute type can be off by when it underflows.
    const COMPUTE_TINY: f64 = f32::from_bits(1) as f64;
    fn vec(rng: &mut Rng, len: usize) -> Vec<Self> {
        (0..len).map(|_| Self::sample(rng)).collect()
    }
    /// Every bit pattern of a 16-bit type, in order; for wider types the specials and
    /// then [`PATTERNS`] mixed values.
    fn patterns(rng: &mut Rng) -> Vec<Self> {
        if size_of::<Self>() == 2 {
            (0..=u16::MAX as u64).map(Self::from_raw).collect()
        } else {
            let mut all = Self::specials();
            all.extend(Self::vec(rng, PATTERNS));
            all
        }
    }
}

/// How many mixed values a wider type's [`Sample::patterns`] holds beside its specials:
/// as many as a 16-bit type has patterns.
const PATTERNS: usize = 1 << 16;

macro_rules! sample_float {
    ($t:ty, $eps:expr, $from_f64:expr, $from_bits:expr, [$($special:expr),* $(,)?]) => {
        impl Sample for $t {
            const EPSILON: f64 = $eps;
            const COMPUTE_MAX: f64 = if $eps < 1e-10 { f64::MAX } else { f32::MAX as f64 };
            const COMPUTE_TINY: f64 =
                if $eps < 1e-10 { f64::from_bits(1) } else { f32::from_bits(1) as f64 };
            fn specials() -> Vec<Self> {
                vec![$($from_bits($special)),*]
            }
            fn ordinary(rng: &mut Rng) -> Self {
                $from_f64(rng.unit() * 4.0)
            }
            fn from_raw(bits: u64) -> Self {
                $from_bits(bits as _)
            }
        }
    };
}
sample_float!(
    f32,
    f32::EPSILON as f64,
    |v: f64| v as f32,
    f32::from_bits,
    [
        0x0000_0000,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0xffc0_0000,
        0x7f80_0001,
        0xff80_1234,
        0x7fc1_2345,
        0x0000_0001,
        0x8000_0001,
        0x007f_ffff,
        0x807f_ffff,
        0x7f7f_ffff,
        0xff7f_ffff,
        0x3f80_0000,
        0xbf80_0000,
        0x0080_0000,
        0x40c0_0000,
        0xc0c0_0000,
    ]
);
sample_float!(
    f64,
    f64::EPSILON,
    |v: f64| v,
    f64::from_bits,
    [
        0x0000_0000_0000_0000,
        0x8000_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff0_0000_0000_0001,
        0xfff4_0000_dead_beef,
        0x0000_0000_0000_0001,
        0x8000_0000_0000_0001,
        0x000f_ffff_ffff_ffff,
        0x7fef_ffff_ffff_ffff,
        0xffef_ffff_ffff_ffff,
        0x3ff0_0000_0000_0000,
        0xbff0_0000_0000_0000,
        0x4018_0000_0000_0000,
    ]
);
sample_float!(
    f16,
    1.0 / 1024.0,
    f16::from_f64,
    f16::from_bits,
    [
        0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd23, 0x7fff, 0xffff, 0x0001,
        0x8001, 0x03ff, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0xbc00, 0x4600,
    ]
);
sample_float!(
    bf16,
    1.0 / 128.0,
    bf16::from_f64,
    bf16::from_bits,
    [
        0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 0xffa5, 0x7fff, 0xffff, 0x0001,
        0x8001, 0x007f, 0x807f, 0x0080, 0x7f7f, 0xff7f, 0x3f80, 0xbf80, 0x40c0,
    ]
);

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn specials() -> Vec<Self> {
                vec![0, 1, -1, <$t>::MIN, <$t>::MAX, <$t>::MIN + 1]
            }
            fn ordinary(rng: &mut Rng) -> Self {
                ((rng.next_u64() % 201) as i64 - 100) as $t
            }
            fn from_raw(bits: u64) -> Self {
                bits as $t
            }
        }
    )*};
}
sample_int!(i8, i16, i32, i64);

/// Panics, naming the case, the element and its inputs, unless `got` has the bits of
/// `expected`.
#[track_caller]
pub(crate) fn assert_bits<T: ElementOps>(
    what: &str,
    case: &str,
    inputs: &[&[T]],
    got: &[T],
    expected: &[T],
) {
    assert_eq!(got.len(), expected.len(), "{what} [{case}]: length");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if g.bits() != e.bits() {
            let shown: Vec<String> = inputs
                .iter()
                .map(|input| format!("{:#x}", input[i].bits()))
                .collect();
            panic!(
                "{what} [{case}] element {i} of {}: inputs {shown:?} gave {:#x}, expected {:#x}",
                got.len(),
                g.bits(),
                e.bits()
            );
        }
    }
}

/// `data` placed `offset` elements into a padded buffer; returns the range it occupies.
fn window<T: ElementOps>(buffer: &mut Vec<T>, data: &[T], offset: usize) -> std::ops::Range<usize> {
    buffer.clear();
    buffer.extend(std::iter::repeat_n(T::ZERO, offset));
    buffer.extend_from_slice(data);
    buffer.extend(std::iter::repeat_n(T::ZERO, 64));
    offset..offset + data.len()
}

/// An in-place form of a one-input operation, checked beside it.
pub(crate) type InPlace<'a, T> = Option<&'a (dyn Fn(&mut [T]) -> Result<(), Error> + Sync)>;

/// An in-place form of a two-input operation (overwriting the first input).
pub(crate) type InPlace2<'a, T> = Option<&'a (dyn Fn(&mut [T], &[T]) -> Result<(), Error> + Sync)>;

/// One case of the matrix: how the call runs and where its buffers start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    pub(crate) config: Config,
    pub(crate) len: usize,
    /// Start of the first input, in elements past a 64-byte boundary.
    pub(crate) offset: usize,
    /// Start of the output (and the second input).
    pub(crate) out_offset: usize,
}

/// memchr's `Runner`, for relukit: an operation and its reference over every case.
///
/// The loop drivers (lengths, start offsets, tails, threads, streamed stores) do not
/// depend on an operation's parameters, its lane formulas do: so an operation with
/// parameters runs the whole matrix ([`Runner::new`]) for one parameter value and
/// [`Runner::patterns`] (every input pattern on every configuration) for the others.
pub(crate) struct Runner {
    seed: u64,
    patterns_only: bool,
}

impl Runner {
    /// The whole matrix of [`each_case`](Self::each_case).
    pub(crate) fn new(seed: u64) -> Runner {
        Runner {
            seed,
            patterns_only: false,
        }
    }

    /// One call per configuration (every instruction set, plain and streamed stores,
    /// and threaded) on [`Sample::patterns`]: all 65,536 inputs of a 16-bit type.
    pub(crate) fn patterns(seed: u64) -> Runner {
        Runner {
            seed,
            patterns_only: true,
        }
    }

    /// `Runner::new` for the first of several parameter values, `Runner::patterns` for
    /// the others.
    pub(crate) fn for_parameter(index: usize, seed: u64) -> Runner {
        if index == 0 {
            Runner::new(seed)
        } else {
            Runner::patterns(seed)
        }
    }

    /// The inputs of one case.
    fn inputs<T: Sample>(&self, rng: &mut Rng, len: usize) -> Vec<T> {
        if self.patterns_only {
            T::patterns(rng)
        } else {
            T::vec(rng, len)
        }
    }

    /// The cases of [`Runner::patterns`]: each configuration once, serial and in a pool
    /// of 3 threads, the input 1 element past a 64-byte boundary.
    fn each_pattern_case<T: Sample>(&self, mut check: impl FnMut(Case) + Send) {
        let len = T::patterns(&mut Rng::new(self.seed)).len();
        let case = |config| Case {
            config,
            len,
            offset: 1,
            out_offset: 2,
        };
        for config in configs(false) {
            check(case(config));
        }
        let pool = ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        pool.install(|| {
            for config in configs(true) {
                check(case(config));
            }
        });
    }

    /// Calls `check(case)` for every case: serial configurations on every length
    /// 0..=300 and some larger ones at every start offset within 64 bytes, then
    /// threaded ones (with [`with`] applied by the caller) inside pools of 2 and 3
    /// threads on lengths around the chunk sizes.
    pub(crate) fn each_case<T: Sample>(&self, mut check: impl FnMut(Case) + Send) {
        if self.patterns_only {
            return self.each_pattern_case::<T>(check);
        }
        let offsets = 64 / size_of::<T>();
        for config in configs(false) {
            for len in (0..=300).chain([511, 512, 513, 1023, 1100, 4097, 9001]) {
                for offset in 0..offsets {
                    let out_offset = (offset * 5 + 3) % offsets;
                    check(Case {
                        config,
                        len,
                        offset,
                        out_offset,
                    });
                }
            }
        }
        for threads in [2, 3] {
            let pool = ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                for config in configs(true) {
                    for len in [0, 1, 63, 64, 65, 127, 128, 300, 1000, 4099, 70_001] {
                        for offset in [0, 1, offsets - 1] {
                            check(Case {
                                config,
                                len,
                                offset,
                                out_offset: offset,
                            });
                        }
                    }
                }
            });
        }
    }

    /// The five slice functions of [`activation`] for `act` (forward and backward with
    /// their in-place forms, the derivative) against its reference.
    pub(crate) fn activation<T: Sample + Float, A: Activation>(&self, act: &A) {
        let name = A::NAME;
        self.indexed_unary::<T>(
            name,
            |x, out| activation::forward(act, x, out),
            Some(&|d| activation::forward_inplace(act, d)),
            |x, i| act.reference(x, i),
        );
        self.indexed_unary::<T>(
            &format!("{name} derivative"),
            |x, out| activation::derivative(act, x, out),
            None,
            |x, i| act.reference_derivative(x, i),
        );
        self.indexed_binary::<T>(
            &format!("{name} backward"),
            |g, x, out| activation::backward(act, g, x, out),
            Some(&|g, x| activation::backward_inplace(act, g, x)),
            |g, x, i| act.reference_backward(g, x, i),
        );
    }

    /// `op(x, out)` (and, if given, `inplace(data)`) against `reference` per element.
    pub(crate) fn unary<T: Sample>(
        &self,
        name: &str,
        op: impl Fn(&[T], &mut [T]) -> Result<(), Error> + Sync,
        inplace: InPlace<'_, T>,
        reference: impl Fn(T) -> T + Sync,
    ) {
        self.indexed_unary(name, op, inplace, |x, _| reference(x))
    }

    /// [`unary`](Self::unary) whose reference also takes the element's position in
    /// the call (RReLU's slopes are keyed by it).
    pub(crate) fn indexed_unary<T: Sample>(
        &self,
        name: &str,
        op: impl Fn(&[T], &mut [T]) -> Result<(), Error> + Sync,
        inplace: InPlace<'_, T>,
        reference: impl Fn(T, u64) -> T + Sync,
    ) {
        let mut rng = Rng::new(self.seed);
        let (mut xb, mut ob) = (Vec::new(), Vec::new());
        self.each_case::<T>(|case| {
            let x: Vec<T> = self.inputs(&mut rng, case.len);
            let expected: Vec<T> = x
                .iter()
                .enumerate()
                .map(|(i, &v)| reference(v, i as u64))
                .collect();
            let what = format!("{} {case:?} ({})", std::any::type_name::<T>(), case.config);
            let xr = window(&mut xb, &x, case.offset);
            let or = window(&mut ob, &vec![T::ZERO; case.len], case.out_offset);
            with(case.config, || op(&xb[xr.clone()], &mut ob[or.clone()])).unwrap();
            assert_bits(name, &what, &[&x], &ob[or], &expected);
            if let Some(inplace) = inplace {
                with(case.config, || inplace(&mut xb[xr.clone()])).unwrap();
                assert_bits(
                    &format!("{name} in place"),
                    &what,
                    &[&x],
                    &xb[xr],
                    &expected,
                );
            }
        });
    }

    /// `op(a, b, out)` (and, if given, `inplace(a, b)`, which overwrites `a`) against
    /// `reference(a, b)` per element.
    pub(crate) fn binary<T: Sample>(
        &self,
        name: &str,
        op: impl Fn(&[T], &[T], &mut [T]) -> Result<(), Error> + Sync,
        inplace: InPlace2<'_, T>,
        reference: impl Fn(T, T) -> T + Sync,
    ) {
        self.indexed_binary(name, op, inplace, |a, b, _| reference(a, b))
    }

    /// [`binary`](Self::binary) whose reference also takes the element's position.
    pub(crate) fn indexed_binary<T: Sample>(
        &self,
        name: &str,
        op: impl Fn(&[T], &[T], &mut [T]) -> Result<(), Error> + Sync,
        inplace: InPlace2<'_, T>,
        reference: impl Fn(T, T, u64) -> T + Sync,
    ) {
        let mut rng = Rng::new(self.seed);
        let (mut ab, mut bb, mut ob) = (Vec::new(), Vec::new(), Vec::new());
        self.each_case::<T>(|case| {
            // Patterns go to the second input: `x` of a backward `(grad, x)`.
            let b: Vec<T> = self.inputs(&mut rng, case.len);
            let a = T::vec(&mut rng, b.len());
            let expected: Vec<T> = a
                .iter()
                .zip(&b)
                .enumerate()
                .map(|(i, (&a, &b))| reference(a, b, i as u64))
                .collect();
            let what = format!("{} {case:?} ({})", std::any::type_name::<T>(), case.config);
            let ar = window(&mut ab, &a, case.out_offset);
            let br = window(&mut bb, &b, case.offset);
            let or = window(&mut ob, &vec![T::ZERO; case.len], case.out_offset);
            with(case.config, || {
                op(&ab[ar.clone()], &bb[br.clone()], &mut ob[or.clone()])
            })
            .unwrap();
            assert_bits(name, &what, &[&a, &b], &ob[or], &expected);
            if let Some(inplace) = inplace {
                with(case.config, || {
                    inplace(&mut ab[ar.clone()], &bb[br.clone()])
                })
                .unwrap();
                assert_bits(
                    &format!("{name} in place"),
                    &what,
                    &[&a, &b],
                    &ab[ar],
                    &expected,
                );
            }
        });
    }
}
