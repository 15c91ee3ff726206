//! The element types relukit computes on: [`Element`] (what `relu` accepts) and
//! [`Float`] (what every other function accepts).
//!
//! Both traits are sealed: relukit's contract is stated and tested for exactly these
//! types, so no other type can implement them.
//!
//! Each type carries two sets of element operations, kept apart on purpose:
//! - the `ref_*` operations, written the obvious way (IEEE comparisons, the `half`
//!   crate's conversions); [`reference`](crate::reference) builds the contract from them;
//! - the lane operations, branch-free forms (16-bit floats handled on their bit
//!   patterns) that the compiler turns into SIMD code; every fast path uses them and
//!   the tests check them bit for bit against the `ref_*` forms.

mod half_bits;

use std::ops::Range;

use half::{bf16, f16};

/// An element type `relu` and `relu_inplace` accept: the four [`Float`] types and
/// `i8`, `i16`, `i32`, `i64`.
pub trait Element: sealed::ElementOps {}

/// A floating-point element type: `f32`, `f64`, [`half::f16`] and [`half::bf16`].
///
/// Products of `f16`/`bf16` values are computed in `f32` and rounded once; `f32` and
/// `f64` compute in their own precision.
pub trait Float: Element + sealed::FloatOps {}

pub(crate) mod sealed {
    use std::fmt::Debug;
    use std::ops::{Add, Mul, Sub};

    use super::{Half, Slopes};

    /// Operations every element type has. Not nameable outside the crate.
    pub trait ElementOps: Copy + Send + Sync + Debug + Default + 'static {
        /// Positive zero (`+0.0` for floats).
        const ZERO: Self;
        /// For `f16` and `bf16`, which one (both are 16-bit patterns underneath).
        const HALF: Option<Half> = None;
        /// The bit pattern, widened to `u64`, for exact comparisons in tests.
        fn bits(self) -> u64;
        /// Reference: the value is a NaN.
        fn ref_is_nan(self) -> bool;
        /// Reference: the value compares greater than zero.
        fn ref_gt_zero(self) -> bool;
        /// Lane form of `relu` (branch-free; NaN bits pass through).
        fn relu(self) -> Self;
    }

    /// Operations of the floating-point types. Not nameable outside the crate.
    pub trait FloatOps: ElementOps {
        /// The type products and sums are computed in: `f32`, or `f64` for `f64`.
        type Compute: Copy
            + Send
            + Sync
            + Debug
            + Default
            + PartialEq
            + Add<Output = Self::Compute>
            + Sub<Output = Self::Compute>
            + Mul<Output = Self::Compute>
            + PartialOrd
            + Into<f64>
            + 'static;
        /// One (`1.0`).
        const ONE: Self;
        /// The type's name, for messages (`"f32"`, `"bf16"`...).
        const NAME: &'static str;
        /// The compute type's name, for messages.
        const COMPUTE_NAME: &'static str;
        /// Reference: exact conversion to the compute type (the `half` crate for 16-bit).
        fn ref_widen(self) -> Self::Compute;
        /// Reference: rounding from the compute type, to nearest even.
        fn ref_narrow(value: Self::Compute) -> Self;
        /// Reference: exact conversion to `f64`.
        fn ref_to_f64(self) -> f64;
        /// Rounding from `f64` to nearest even (used once per PReLU weight gradient).
        fn from_f64(value: f64) -> Self;
        /// A slope given as `f64` in the compute type (rounded to nearest).
        fn slope(slope: f64) -> Self::Compute;
        /// Lane: `x > 0` (false for NaN).
        fn gt_zero(self) -> bool;
        /// Lane: `x <= 0` (false for NaN).
        fn le_zero(self) -> bool;
        /// Lane: the value is a NaN.
        fn is_nan(self) -> bool;
        /// Lane: exact conversion to the compute type.
        fn widen(self) -> Self::Compute;
        /// Lane: rounding from the compute type, to nearest even.
        fn narrow(value: Self::Compute) -> Self;
        /// A fraction in [0, 1) from the top bits of `z` (23 for an `f32` compute type,
        /// 52 for `f64`), exactly: the uniform variate of RReLU's generator.
        fn unit_fraction(z: u64) -> Self::Compute;
        /// `slopes` as `f32`, where the compute type is `f32` (every type but `f64`).
        fn f32_slopes(slopes: Slopes<'_, Self::Compute>) -> Option<Slopes<'_, f32>>;
    }
}

use sealed::{ElementOps, FloatOps};

macro_rules! native_float {
    ($t:ty, $bits:ty, $unit:expr, $f32_slopes:expr) => {
        impl Element for $t {}
        impl Float for $t {}
        impl ElementOps for $t {
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn bits(self) -> u64 {
                self.to_bits() as u64
            }
            fn ref_is_nan(self) -> bool {
                self.is_nan()
            }
            fn ref_gt_zero(self) -> bool {
                self > 0.0
            }
            #[inline(always)]
            fn relu(self) -> Self {
                // `x <= 0` is false for NaN, so NaN passes through with its bits;
                // `-0.0 <= 0` is true, so it becomes `+0.0`.
                if self <= 0.0 { 0.0 } else { self }
            }
        }
        impl FloatOps for $t {
            type Compute = $t;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);
            const COMPUTE_NAME: &'static str = stringify!($t);
            fn ref_widen(self) -> $t {
                self
            }
            fn ref_narrow(value: $t) -> Self {
                value
            }
            fn ref_to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            #[inline(always)]
            fn slope(slope: f64) -> $t {
                slope as $t
            }
            #[inline(always)]
            fn gt_zero(self) -> bool {
                self > 0.0
            }
            #[inline(always)]
            fn le_zero(self) -> bool {
                self <= 0.0
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                self.is_nan()
            }
            #[inline(always)]
            fn widen(self) -> $t {
                self
            }
            #[inline(always)]
            fn narrow(value: $t) -> Self {
                value
            }
            #[inline(always)]
            fn unit_fraction(z: u64) -> $t {
                $unit(z)
            }
            #[inline(always)]
            fn f32_slopes(slopes: Slopes<'_, $t>) -> Option<Slopes<'_, f32>> {
                $f32_slopes(slopes)
            }
        }
    };
}
native_float!(f32, u32, unit_f32, Some);
native_float!(f64, u64, unit_f64, |_| None);

/// The top 23 bits of `z` as a fraction in [0, 1): `1.m - 1`, exact.
#[inline(always)]
fn unit_f32(z: u64) -> f32 {
    f32::from_bits(0x3f80_0000 | (z >> 41) as u32) - 1.0
}

/// The top 52 bits of `z` as a fraction in [0, 1): `1.m - 1`, exact.
#[inline(always)]
fn unit_f64(z: u64) -> f64 {
    f64::from_bits(0x3ff0_0000_0000_0000 | (z >> 12)) - 1.0
}

/// The 16-bit floats: the lanes work on bit patterns, with `$inf` the pattern of +inf.
macro_rules! half_float {
    ($t:ty, $kind:expr, $inf:expr, $one:expr, $widen:path, $narrow:path) => {
        impl Element for $t {}
        impl Float for $t {}
        impl ElementOps for $t {
            const ZERO: Self = <$t>::from_bits(0);
            const HALF: Option<Half> = Some($kind);
            #[inline(always)]
            fn bits(self) -> u64 {
                self.to_bits() as u64
            }
            fn ref_is_nan(self) -> bool {
                self.is_nan()
            }
            fn ref_gt_zero(self) -> bool {
                self > <$t>::ZERO
            }
            #[inline(always)]
            fn relu(self) -> Self {
                // Patterns 0x8000..=sign|inf are -0.0 down to -inf: they become +0.0.
                // Everything else (positives, NaNs of either sign) passes through.
                let b = self.to_bits();
                if b.wrapping_sub(0x8000) <= $inf {
                    Self::ZERO
                } else {
                    self
                }
            }
        }
        impl FloatOps for $t {
            type Compute = f32;
            const ONE: Self = <$t>::from_bits($one);
            const NAME: &'static str = stringify!($t);
            const COMPUTE_NAME: &'static str = "f32";
            fn ref_widen(self) -> f32 {
                self.to_f32()
            }
            fn ref_narrow(value: f32) -> Self {
                <$t>::from_f32(value)
            }
            fn ref_to_f64(self) -> f64 {
                self.to_f64()
            }
            fn from_f64(value: f64) -> Self {
                <$t>::from_f64(value)
            }
            #[inline(always)]
            fn slope(slope: f64) -> f32 {
                slope as f32
            }
            #[inline(always)]
            fn gt_zero(self) -> bool {
                // 0x0001..=inf: positive, not zero, not NaN.
                self.to_bits().wrapping_sub(1) < $inf
            }
            #[inline(always)]
            fn le_zero(self) -> bool {
                let b = self.to_bits();
                b == 0 || b.wrapping_sub(0x8000) <= $inf
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                (self.to_bits() & 0x7fff) > $inf
            }
            #[inline(always)]
            fn widen(self) -> f32 {
                $widen(self.to_bits())
            }
            #[inline(always)]
            fn narrow(value: f32) -> Self {
                <$t>::from_bits($narrow(value))
            }
            #[inline(always)]
            fn unit_fraction(z: u64) -> f32 {
                unit_f32(z)
            }
            #[inline(always)]
            fn f32_slopes(slopes: Slopes<'_, f32>) -> Option<Slopes<'_, f32>> {
                Some(slopes)
            }
        }
    };
}
half_float!(
    f16,
    Half::F16,
    0x7c00,
    0x3c00,
    half_bits::f16_to_f32,
    half_bits::f32_to_f16
);
half_float!(
    bf16,
    Half::Bf16,
    0x7f80,
    0x3f80,
    half_bits::bf16_to_f32,
    half_bits::f32_to_bf16
);

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Element for $t {}
        impl ElementOps for $t {
            const ZERO: Self = 0;
            #[inline(always)]
            fn bits(self) -> u64 {
                self as u64
            }
            fn ref_is_nan(self) -> bool {
                false
            }
            fn ref_gt_zero(self) -> bool {
                self > 0
            }
            #[inline(always)]
            fn relu(self) -> Self {
                self.max(0)
            }
        }
    )*};
}
integer!(i8, i16, i32, i64);

/// Which 16-bit float a bit pattern is. (Public only because the sealed traits name it;
/// the module is private.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    F16,
    Bf16,
}

/// `f16` and `bf16` data as their bit patterns (for kernels that convert with dedicated
/// instructions); `None` for the other types.
pub(crate) fn half_bits<T: ElementOps>(x: &[T]) -> Option<(Half, &[u16])> {
    let kind = T::HALF?;
    // SAFETY: `HALF` is `Some` only for `half::f16` and `half::bf16`, which are
    // `#[repr(transparent)]` wrappers of `u16`: same size, alignment and validity.
    Some((kind, unsafe {
        std::slice::from_raw_parts(x.as_ptr().cast::<u16>(), x.len())
    }))
}

/// [`half_bits`], writable.
pub(crate) fn half_bits_mut<T: ElementOps>(x: &mut [T]) -> Option<(Half, &mut [u16])> {
    let kind = T::HALF?;
    // SAFETY: as in `half_bits`; every `u16` is a valid `f16`/`bf16`, so any bits written
    // through the view are valid values.
    Some((kind, unsafe {
        std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<u16>(), x.len())
    }))
}

/// The slope of each element of a Leaky ReLU or PReLU forward call: one for all, or
/// one per element (a slice as long as the data). (Public only because the sealed
/// traits name it; the module is private.)
#[derive(Debug, Clone, Copy)]
pub enum Slopes<'a, C> {
    One(C),
    Pattern(&'a [C]),
}

impl<'a, C: Copy> Slopes<'a, C> {
    /// The slopes of elements `range`.
    #[inline(always)]
    pub(crate) fn slice(self, range: Range<usize>) -> Slopes<'a, C> {
        match self {
            Slopes::One(s) => Slopes::One(s),
            Slopes::Pattern(p) => Slopes::Pattern(&p[range]),
        }
    }
}
