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

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use crate::arch::generic::{Half, Slopes};
use crate::half_bits;

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
    use std::ops::{Add, Mul};

    use crate::arch::generic::{Half, Slopes};

    /// Operations every element type has. Not nameable outside the crate.
    pub trait ElementOps: Copy + Send + Sync + Debug + Default + 'static {
        /// Positive zero (`+0.0` for floats).
        const ZERO: Self;
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
            + Mul<Output = Self::Compute>
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
        /// For the 16-bit floats: which one, the data as bit patterns, and the slopes
        /// as `f32`, for the kernels that convert with dedicated instructions.
        fn half_bits<'a>(
            _x: &'a [Self],
            _slopes: Slopes<'a, Self::Compute>,
        ) -> Option<(Half, &'a [u16], Slopes<'a, f32>)> {
            None
        }
        /// As [`FloatOps::half_bits`], writable.
        fn half_bits_mut<'a>(
            _x: &'a mut [Self],
            _slopes: Slopes<'a, Self::Compute>,
        ) -> Option<(Half, &'a mut [u16], Slopes<'a, f32>)> {
            None
        }
    }
}

use sealed::{ElementOps, FloatOps};

macro_rules! native_float {
    ($t:ty, $bits:ty) => {
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
    };
}
native_float!(f32, u32);
native_float!(f64, u64);

impl FloatOps for f32 {
    type Compute = f32;
    const ONE: Self = 1.0;
    const NAME: &'static str = "f32";
    const COMPUTE_NAME: &'static str = "f32";
    fn ref_widen(self) -> f32 {
        self
    }
    fn ref_narrow(value: f32) -> Self {
        value
    }
    fn ref_to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    #[inline(always)]
    fn slope(slope: f64) -> f32 {
        slope as f32
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
    fn widen(self) -> f32 {
        self
    }
    #[inline(always)]
    fn narrow(value: f32) -> Self {
        value
    }
}

impl FloatOps for f64 {
    type Compute = f64;
    const ONE: Self = 1.0;
    const NAME: &'static str = "f64";
    const COMPUTE_NAME: &'static str = "f64";
    fn ref_widen(self) -> f64 {
        self
    }
    fn ref_narrow(value: f64) -> Self {
        value
    }
    fn ref_to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
    #[inline(always)]
    fn slope(slope: f64) -> f64 {
        slope
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
    fn widen(self) -> f64 {
        self
    }
    #[inline(always)]
    fn narrow(value: f64) -> Self {
        value
    }
}

/// The 16-bit floats: the lanes work on bit patterns, with `$inf` the pattern of +inf.
macro_rules! half_float {
    ($t:ty, $kind:expr, $inf:expr, $one:expr, $widen:path, $narrow:path) => {
        impl Element for $t {}
        impl Float for $t {}
        impl ElementOps for $t {
            const ZERO: Self = <$t>::from_bits(0);
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
            fn half_bits<'a>(
                x: &'a [Self],
                slopes: Slopes<'a, f32>,
            ) -> Option<(Half, &'a [u16], Slopes<'a, f32>)> {
                Some(($kind, x.reinterpret_cast(), slopes))
            }
            fn half_bits_mut<'a>(
                x: &'a mut [Self],
                slopes: Slopes<'a, f32>,
            ) -> Option<(Half, &'a mut [u16], Slopes<'a, f32>)> {
                Some(($kind, x.reinterpret_cast_mut(), slopes))
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
