//! What the targets share: element types built from raw bits, the execution
//! configurations (instruction set, threads, streaming), and bit-exact comparison.

#![allow(dead_code)]

use std::sync::OnceLock;

use half::{bf16, f16};
use relukit::testing::{Config, supported_isas, with};

/// An element type, from and to raw bits.
pub trait Bits: relukit::Element + PartialEq {
    fn from_raw(bits: u64) -> Self;
    fn raw(self) -> u64;
    fn is_nan_value(self) -> bool {
        false
    }
    fn to_f64(self) -> f64 {
        0.0
    }
    /// `value` rounded to this type, back as an `f64`.
    fn round_f64(value: f64) -> f64 {
        value
    }
    /// The relative spacing of the type's values near 1.
    const EPSILON: f64 = 0.0;
    /// The largest finite value of the compute type.
    const COMPUTE_MAX: f64 = f32::MAX as f64;
    /// The spacing of the compute type's subnormals: the most a product of two
    /// elements, rounded in the compute type, can be off by when it underflows.
    const COMPUTE_TINY: f64 = f32::from_bits(1) as f64;
}

macro_rules! float_bits {
    ($t:ty, $u:ty, $eps:expr, $max:expr, $round:expr) => {
        impl Bits for $t {
            fn from_raw(bits: u64) -> Self {
                <$t>::from_bits(bits as $u)
            }
            fn raw(self) -> u64 {
                self.to_bits() as u64
            }
            fn is_nan_value(self) -> bool {
                self.is_nan()
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn round_f64(value: f64) -> f64 {
                $round(value)
            }
            const EPSILON: f64 = $eps;
            const COMPUTE_MAX: f64 = $max;
            const COMPUTE_TINY: f64 = if $max == f64::MAX { f64::from_bits(1) } else { f32::from_bits(1) as f64 };
        }
    };
}
float_bits!(f32, u32, f32::EPSILON as f64, f32::MAX as f64, |v: f64| v as f32 as f64);
float_bits!(f64, u64, f64::EPSILON, f64::MAX, |v: f64| v);
float_bits!(f16, u16, 1.0 / 1024.0, f32::MAX as f64, |v: f64| f16::from_f64(v).to_f64());
float_bits!(bf16, u16, 1.0 / 128.0, f32::MAX as f64, |v: f64| bf16::from_f64(v).to_f64());

macro_rules! int_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            fn from_raw(bits: u64) -> Self {
                bits as $t
            }
            fn raw(self) -> u64 {
                self as u64
            }
        }
    )*};
}
int_bits!(i8, i16, i32, i64);

/// A two-thread pool for the threaded paths.
pub fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap())
}

/// Runs `f` on the configuration picked by `choice`: one of the CPU's instruction sets,
/// serial or threaded (on two threads, above 64 elements), plain or streamed stores.
pub fn run<R: Send>(choice: u8, f: impl FnOnce() -> R + Send) -> R {
    let isas = supported_isas();
    let config = Config {
        isa: isas[choice as usize % isas.len()],
        parallel_min: if choice & 0x10 != 0 { 64 } else { usize::MAX },
        stream_min_bytes: if choice & 0x20 != 0 { 0 } else { usize::MAX },
    };
    if config.parallel_min == 64 {
        pool().install(|| with(config, f))
    } else {
        with(config, f)
    }
}

/// Panics unless `got` and `want` have the same bits.
#[track_caller]
pub fn same<T: Bits>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.raw(), w.raw(), "{what}: element {i} of {}", got.len());
    }
}
