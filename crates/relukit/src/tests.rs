//! Every fast path against the contract, bit for bit.
//!
//! Each operation runs through every instruction-set level this CPU has, serial and
//! threaded, with ordinary and with non-temporal stores, on every length 0..=300 and a
//! few larger ones, at every start offset within 64 bytes, on data that mixes the
//! special values (signed zeros, infinities, NaNs with payloads and either sign,
//! subnormals, the extremes of each type) with random ones; outputs are compared with
//! [`reference`] bit for bit.

use half::{bf16, f16};
use rayon::ThreadPoolBuilder;

use crate::arch::Simd;
use crate::element::sealed::ElementOps;
use crate::parallel::Exec;
use crate::{ChannelLayout, Element, Float, leaky, prelu, reference, relu};

/// SplitMix64: a small deterministic generator, so failures reproduce.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Test data for one element type.
pub(crate) trait Sample: Element {
    /// Values every test must meet.
    fn specials() -> Vec<Self>;
    /// An ordinary value, from random bits.
    fn ordinary(rng: &mut Rng) -> Self;
    /// A mix: specials, ordinary values and raw bit patterns.
    fn sample(rng: &mut Rng) -> Self {
        let specials = Self::specials();
        match rng.next() % 8 {
            0 | 1 => specials[(rng.next() % specials.len() as u64) as usize],
            2 => Self::from_raw(rng.next()),
            _ => Self::ordinary(rng),
        }
    }
    fn from_raw(bits: u64) -> Self;
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
}

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
    ]
);
sample_float!(
    f16,
    1.0 / 1024.0,
    f16::from_f64,
    f16::from_bits,
    [
        0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7c01, 0xfd23, 0x7fff, 0xffff, 0x0001,
        0x8001, 0x03ff, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0xbc00,
    ]
);
sample_float!(
    bf16,
    1.0 / 128.0,
    bf16::from_f64,
    bf16::from_bits,
    [
        0x0000, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0xffc0, 0x7f81, 0xffa5, 0x7fff, 0xffff, 0x0001,
        0x8001, 0x007f, 0x807f, 0x0080, 0x7f7f, 0xff7f, 0x3f80, 0xbf80,
    ]
);

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn specials() -> Vec<Self> {
                vec![0, 1, -1, <$t>::MIN, <$t>::MAX, <$t>::MIN + 1]
            }
            fn ordinary(rng: &mut Rng) -> Self {
                ((rng.next() % 201) as i64 - 100) as $t
            }
            fn from_raw(bits: u64) -> Self {
                bits as $t
            }
        }
    )*};
}
sample_int!(i8, i16, i32, i64);

/// Every way a call can run here: each level, serial or threaded, with or without
/// streamed stores. Threaded ones must be called inside a pool of several threads.
pub(crate) fn execs(threaded: bool) -> Vec<(String, Exec)> {
    let mut all = Vec::new();
    for simd in Simd::supported() {
        for stream in [false, true] {
            let exec = Exec {
                simd,
                parallel_min: if threaded { 64 } else { usize::MAX },
                stream_min_bytes: if stream { 0 } else { usize::MAX },
            };
            let name = format!("{} threaded={threaded} streamed={stream}", simd.isa());
            all.push((name, exec));
        }
    }
    all
}

/// Lengths every operation is checked at.
fn lengths() -> impl Iterator<Item = usize> {
    (0..=300).chain([511, 512, 513, 1023, 1100, 4097, 9001])
}

/// Runs `check` on every (exec, length, input offset, output offset) combination, serial
/// execs first, then threaded ones inside pools of 2 and 3 threads.
fn for_each_case<T: Element>(mut check: impl FnMut(&str, &Exec, usize, usize, usize) + Send) {
    let offsets = 64 / size_of::<T>();
    for (name, exec) in execs(false) {
        for len in lengths() {
            for offset in 0..offsets {
                check(&name, &exec, len, offset, (offset * 5 + 3) % offsets);
            }
        }
    }
    for threads in [2, 3] {
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for (name, exec) in execs(true) {
                for len in [0, 1, 63, 64, 65, 127, 128, 300, 1000, 4099, 70_001] {
                    for offset in [0, 1, offsets - 1] {
                        check(&name, &exec, len, offset, offset);
                    }
                }
            }
        });
    }
}

/// `len` elements of `data` starting `offset` elements in, inside a larger buffer.
fn window<T: ElementOps>(buffer: &mut Vec<T>, data: &[T], offset: usize) -> std::ops::Range<usize> {
    buffer.clear();
    buffer.extend(std::iter::repeat_n(T::ZERO, offset));
    buffer.extend_from_slice(data);
    buffer.extend(std::iter::repeat_n(T::ZERO, 64));
    offset..offset + data.len()
}

#[track_caller]
fn assert_bits<T: ElementOps>(what: &str, case: &str, inputs: &[&[T]], got: &[T], expected: &[T]) {
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

fn check_relu<T: Sample>() {
    let mut rng = Rng::new(1);
    let (mut xb, mut ob) = (Vec::new(), Vec::new());
    for_each_case::<T>(|name, exec, len, offset, out_offset| {
        let x = T::vec(&mut rng, len);
        let expected: Vec<T> = x.iter().map(|&v| reference::relu(v)).collect();
        let case = format!(
            "{} {name} len {len} offsets {offset}/{out_offset}",
            std::any::type_name::<T>()
        );
        let xr = window(&mut xb, &x, offset);
        let or = window(&mut ob, &vec![T::ZERO; len], out_offset);
        relu::relu_with(exec, &xb[xr.clone()], &mut ob[or.clone()]).unwrap();
        assert_bits("relu", &case, &[&x], &ob[or], &expected);
        relu::relu_inplace_with(exec, &mut xb[xr.clone()]);
        assert_bits("relu_inplace", &case, &[&x], &xb[xr], &expected);
    });
}

fn check_float_ops<T: Sample + Float>() {
    let mut rng = Rng::new(2);
    let (mut xb, mut gb, mut ob) = (Vec::new(), Vec::new(), Vec::new());
    for_each_case::<T>(|name, exec, len, offset, out_offset| {
        let x = T::vec(&mut rng, len);
        let g = T::vec(&mut rng, len);
        let slope = [0.01, 0.0, -0.5, 1.5, 1e-30, 3.0e38][(rng.next() % 6) as usize];
        let case = format!(
            "{} {name} len {len} offsets {offset}/{out_offset} slope {slope}",
            std::any::type_name::<T>()
        );
        let xr = window(&mut xb, &x, offset);
        let gr = window(&mut gb, &g, out_offset);
        let or = window(&mut ob, &vec![T::ZERO; len], out_offset);
        let (x_in, g_in) = (&xb[xr.clone()], &gb[gr.clone()]);

        let expected: Vec<T> = x.iter().map(|&v| reference::relu_derivative(v)).collect();
        relu::relu_derivative_with(exec, x_in, &mut ob[or.clone()]).unwrap();
        assert_bits("relu_derivative", &case, &[&x], &ob[or.clone()], &expected);

        let expected: Vec<T> = g
            .iter()
            .zip(&x)
            .map(|(&g, &x)| reference::relu_backward(g, x))
            .collect();
        relu::relu_backward_with(exec, g_in, x_in, &mut ob[or.clone()]).unwrap();
        assert_bits(
            "relu_backward",
            &case,
            &[&g, &x],
            &ob[or.clone()],
            &expected,
        );

        let expected: Vec<T> = x.iter().map(|&v| reference::leaky_relu(v, slope)).collect();
        leaky::leaky_relu_with(exec, x_in, slope, &mut ob[or.clone()]).unwrap();
        assert_bits("leaky_relu", &case, &[&x], &ob[or.clone()], &expected);

        let expected: Vec<T> = g
            .iter()
            .zip(&x)
            .map(|(&g, &x)| reference::leaky_relu_backward(g, x, slope))
            .collect();
        leaky::leaky_relu_backward_with(exec, g_in, x_in, slope, &mut ob[or.clone()]).unwrap();
        assert_bits(
            "leaky_relu_backward",
            &case,
            &[&g, &x],
            &ob[or.clone()],
            &expected,
        );

        // In-place forms, on copies of the windows.
        let mut grad = gb.clone();
        leaky::leaky_relu_backward_inplace_with(exec, &mut grad[gr.clone()], x_in, slope).unwrap();
        assert_bits(
            "leaky_relu_backward_inplace",
            &case,
            &[&g, &x],
            &grad[gr.clone()],
            &expected,
        );
        let expected: Vec<T> = g
            .iter()
            .zip(&x)
            .map(|(&g, &x)| reference::relu_backward(g, x))
            .collect();
        let mut grad = gb.clone();
        relu::relu_backward_inplace_with(exec, &mut grad[gr.clone()], x_in).unwrap();
        assert_bits(
            "relu_backward_inplace",
            &case,
            &[&g, &x],
            &grad[gr.clone()],
            &expected,
        );
        let expected: Vec<T> = x.iter().map(|&v| reference::leaky_relu(v, slope)).collect();
        leaky::leaky_relu_inplace_with(exec, &mut xb[xr.clone()], slope).unwrap();
        assert_bits("leaky_relu_inplace", &case, &[&x], &xb[xr], &expected);
    });
}

#[test]
fn relu_matches_reference_f32() {
    check_relu::<f32>();
}
#[test]
fn relu_matches_reference_f64() {
    check_relu::<f64>();
}
#[test]
fn relu_matches_reference_f16() {
    check_relu::<f16>();
}
#[test]
fn relu_matches_reference_bf16() {
    check_relu::<bf16>();
}
#[test]
fn relu_matches_reference_integers() {
    check_relu::<i8>();
    check_relu::<i16>();
    check_relu::<i32>();
    check_relu::<i64>();
}
#[test]
fn float_ops_match_reference_f32() {
    check_float_ops::<f32>();
}
#[test]
fn float_ops_match_reference_f64() {
    check_float_ops::<f64>();
}
#[test]
fn float_ops_match_reference_f16() {
    check_float_ops::<f16>();
}
#[test]
fn float_ops_match_reference_bf16() {
    check_float_ops::<bf16>();
}

/// The lane formulas on every 16-bit pattern against the reference, pairs included.
#[test]
fn lanes_match_reference_on_every_16_bit_pattern() {
    fn check<T: Float + Sample>(from_bits: fn(u16) -> T) {
        let grads: Vec<T> = T::specials()
            .into_iter()
            .chain([from_bits(0x1234), from_bits(0xc321)])
            .collect();
        for bits in 0..=u16::MAX {
            let x = from_bits(bits);
            assert_eq!(x.relu().bits(), reference::relu(x).bits(), "relu {bits:#x}");
            assert_eq!(x.gt_zero(), x.ref_gt_zero(), "gt_zero {bits:#x}");
            assert_eq!(x.is_nan(), x.ref_is_nan(), "is_nan {bits:#x}");
            assert_eq!(
                x.le_zero(),
                !x.ref_gt_zero() && !x.ref_is_nan(),
                "le_zero {bits:#x}"
            );
            for slope in [0.01, -2.0, 0.0] {
                let s = T::slope(slope);
                assert_eq!(
                    crate::lanes::leaky_relu(x, s).bits(),
                    reference::leaky_relu(x, slope).bits(),
                    "leaky {bits:#x} {slope}"
                );
                for &g in &grads {
                    assert_eq!(
                        crate::lanes::leaky_relu_backward(g, x, s).bits(),
                        reference::leaky_relu_backward(g, x, slope).bits(),
                        "leaky backward {:#x} {bits:#x} {slope}",
                        g.bits()
                    );
                }
            }
        }
    }
    check::<f16>(f16::from_bits);
    check::<bf16>(bf16::from_bits);
}

/// Layouts PReLU is checked on: runs, periodic patterns, shared slopes, degenerate ones.
fn prelu_layouts() -> Vec<ChannelLayout> {
    let shapes = [
        (1, 1, 1),
        (1, 1, 300),
        (300, 1, 1),
        (1, 5, 1),
        (7, 3, 1),
        (2, 3, 5),
        (300, 3, 2),
        (3, 4, 64),
        (2, 3, 100),
        (1, 2, 70_001),
        (5000, 7, 1),
        (4, 1000, 1),
        (2, 17, 63),
        (0, 3, 4),
        (3, 0, 4),
        (1, 300, 1),
        (9, 2, 1),
        (64, 33, 3),
    ];
    shapes
        .into_iter()
        .map(|(o, c, i)| ChannelLayout::new(o, c, i))
        .collect()
}

fn check_prelu<T: Sample + Float>() {
    let mut rng = Rng::new(3);
    let mut all_weight_grads: Vec<(String, Vec<u64>)> = Vec::new();
    let run = |name: &str,
               exec: &Exec,
               offset: usize,
               rng: &mut Rng,
               record: &mut Vec<(String, Vec<u64>)>| {
        for layout in prelu_layouts() {
            let len = layout.len().unwrap();
            for shared in [false, true] {
                let weights = if shared { 1 } else { layout.channels() };
                if weights == 0 {
                    continue;
                }
                let mut seeded = Rng::new((len * 31 + weights) as u64);
                let x = T::vec(&mut seeded, len);
                let g = T::vec(&mut seeded, len);
                // Mostly ordinary slopes, sometimes a special one (NaN, inf, subnormal...).
                let w: Vec<T> = (0..weights)
                    .map(|_| {
                        if rng.next().is_multiple_of(4) {
                            T::sample(rng)
                        } else {
                            T::ordinary(rng)
                        }
                    })
                    .collect();
                let case = format!(
                    "{} {name} layout {layout:?} weights {weights} offset {offset}",
                    std::any::type_name::<T>()
                );
                let mut xb = vec![T::ZERO; offset];
                xb.extend_from_slice(&x);
                let x_in = &xb[offset..];

                let expected = reference::prelu(&x, &w, layout);
                let mut out = vec![T::ZERO; len + offset];
                prelu::prelu_with(exec, x_in, &w, layout, &mut out[offset..]).unwrap();
                assert_bits("prelu", &case, &[&x], &out[offset..], &expected);
                let mut data = xb.clone();
                prelu::prelu_inplace_with(exec, &mut data[offset..], &w, layout).unwrap();
                assert_bits("prelu_inplace", &case, &[&x], &data[offset..], &expected);

                let (expected_gx, expected_gw) = reference::prelu_backward(&g, &x, &w, layout);
                let mut gx = vec![T::ZERO; len + offset];
                let mut gw = vec![T::ZERO; weights];
                prelu::prelu_backward_with(exec, &g, x_in, &w, layout, &mut gx[offset..], &mut gw)
                    .unwrap();
                // Where both factors of `weight * grad` are NaN, IEEE 754 leaves open which
                // NaN comes out (and the compiler may swap the operands): any NaN will do.
                let mut expected_gx = expected_gx;
                for (i, e) in expected_gx.iter_mut().enumerate() {
                    let c = if weights == 1 {
                        0
                    } else {
                        (i / layout.inner()) % layout.channels()
                    };
                    let both_nan = g[i].ref_is_nan() && w[c].ref_is_nan() && !x[i].ref_is_nan();
                    if both_nan && gx[offset + i].ref_is_nan() {
                        *e = gx[offset + i];
                    }
                }
                assert_bits(
                    "prelu_backward grad_input",
                    &case,
                    &[&g, &x],
                    &gx[offset..],
                    &expected_gx,
                );
                for (c, (&got, &want)) in gw.iter().zip(&expected_gw).enumerate() {
                    let got = got.ref_to_f64();
                    let want_rounded = T::from_f64(want).ref_to_f64();
                    let scale = magnitude_of_terms(&g, &x, &w, layout, c);
                    if scale > T::COMPUTE_MAX {
                        // Terms this large may overflow a partial sum in the compute
                        // type (documented); only the reference is exact there.
                    } else if want.is_nan() || got.is_nan() {
                        assert!(
                            want.is_nan() && got.is_nan(),
                            "grad_weight[{c}] {case}: {got} vs {want}"
                        );
                    } else if want_rounded.is_infinite() {
                        assert_eq!(got, want_rounded, "grad_weight[{c}] {case}");
                    } else {
                        // 1e-5 of the terms' magnitude for the order of summation, and
                        // a unit in the last place of `T` for the final rounding.
                        // (A sum too small for `T` rounds to zero or a subnormal.)
                        let tolerance = 1e-5 * scale
                            + 2.0 * T::EPSILON * want.abs()
                            + (want_rounded - want).abs()
                            + len as f64 * T::COMPUTE_TINY;
                        assert!(
                            (got - want).abs() <= tolerance,
                            "grad_weight[{c}] {case}: {got} vs {want} (scale {scale})"
                        );
                    }
                }
                record.push((
                    case.split(" layout").nth(1).unwrap_or("").to_string(),
                    gw.iter().map(|v| v.bits()).collect(),
                ));
            }
        }
    };
    for (name, exec) in execs(false) {
        for offset in [0, 1, 3] {
            run(&name, &exec, offset, &mut rng, &mut all_weight_grads);
        }
    }
    for threads in [2, 3] {
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for (name, exec) in execs(true) {
                run(&name, &exec, 1, &mut rng, &mut all_weight_grads);
            }
        });
    }
    // Determinism: every level, thread count and store kind gave the same bits.
    let mut first: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for (key, bits) in all_weight_grads {
        let key = key
            .replace(" offset 3", " offset 0")
            .replace(" offset 1", " offset 0");
        let seen = first.entry(key.clone()).or_insert_with(|| bits.clone());
        assert_eq!(*seen, bits, "grad_weight differs between paths for {key}");
    }
}

/// The sum of |g * x| over the terms of channel `c`: the scale of a sum's rounding error.
fn magnitude_of_terms<T: Float>(g: &[T], x: &[T], w: &[T], layout: ChannelLayout, c: usize) -> f64 {
    g.iter()
        .zip(x)
        .enumerate()
        .filter(|&(i, (_, x))| {
            (w.len() == 1 || (i / layout.inner()) % layout.channels() == c) && !x.ref_gt_zero()
        })
        .map(|(_, (g, x))| (g.ref_to_f64() * x.ref_to_f64()).abs())
        .sum()
}

#[test]
fn prelu_matches_reference_f32() {
    check_prelu::<f32>();
}
#[test]
fn prelu_matches_reference_f64() {
    check_prelu::<f64>();
}
#[test]
fn prelu_matches_reference_f16() {
    check_prelu::<f16>();
}
#[test]
fn prelu_matches_reference_bf16() {
    check_prelu::<bf16>();
}
