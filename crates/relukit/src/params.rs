//! The parameters of the activations, converted and checked in one place: the slope
//! of Leaky ReLU, RReLU's range and mode, clipped ReLU's ceiling, hardtanh's bounds,
//! the threshold and its value. The bottom layer beside the elements: the reference and
//! the activations' definitions (`ops/`) both take their checks from here. The
//! fast API returns these errors; the reference panics with them.

use crate::{Error, ErrorKind, Float};

/// A slope in the compute type of `T` (rounded to nearest), finite there: `1e39` is
/// finite as an `f64` but infinite as an `f32`, the compute type of `f32`, `f16` and
/// `bf16`.
pub(crate) fn slope<T: Float>(name: &str, slope: f64) -> Result<T::Compute, Error> {
    let converted = T::slope(slope);
    if converted.into().is_finite() {
        Ok(converted)
    } else {
        Err(Error::new(
            ErrorKind::NonFiniteSlope,
            format!(
                "`{name}` must be finite in {} (the compute type of {}), got {slope:?}",
                T::COMPUTE_NAME,
                T::NAME
            ),
        ))
    }
}

/// RReLU's slope range `[lower, upper]` in the compute type of `T`: both finite there,
/// `lower <= upper`.
pub(crate) fn rrelu_range<T: Float>(
    lower: f64,
    upper: f64,
) -> Result<(T::Compute, T::Compute), Error> {
    let (low, high) = (slope::<T>("lower", lower)?, slope::<T>("upper", upper)?);
    if low.into() <= high.into() {
        Ok((low, high))
    } else {
        Err(Error::new(
            ErrorKind::OutOfRange,
            format!("`lower` ({lower:?}) must not be above `upper` ({upper:?})"),
        ))
    }
}

/// RReLU's slope in evaluation: the middle of the range, `(lower + upper) / 2`
/// computed in `f64` (as PyTorch does), in the compute type.
pub(crate) fn rrelu_mean<T: Float>(lower: f64, upper: f64) -> Result<T::Compute, Error> {
    rrelu_range::<T>(lower, upper)?;
    slope::<T>("(lower + upper) / 2", (lower + upper) / 2.0)
}

/// A clipped ReLU's ceiling in `T` (rounded to nearest): not NaN, and not below 0 (an
/// infinite ceiling is ReLU).
pub(crate) fn ceiling<T: Float>(ceiling: f64) -> Result<T, Error> {
    let converted = T::from_f64(ceiling);
    if converted.ref_to_f64() >= 0.0 {
        Ok(converted)
    } else {
        Err(Error::new(
            ErrorKind::OutOfRange,
            format!("`ceiling` must be a number >= 0 (the largest output), got {ceiling:?}"),
        ))
    }
}

/// Hardtanh's bounds in `T` (to nearest, as PyTorch converts them): neither NaN,
/// `min_val <= max_val` (PyTorch's `F.hardtanh` refuses the opposite too).
pub(crate) fn hardtanh_bounds<T: Float>(min_val: f64, max_val: f64) -> Result<(T, T), Error> {
    if min_val.is_nan() || max_val.is_nan() {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!("`min_val` and `max_val` must be numbers, got {min_val:?} and {max_val:?}"),
        ));
    }
    if min_val > max_val {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!("`min_val` ({min_val:?}) must not be above `max_val` ({max_val:?})"),
        ));
    }
    Ok((T::from_f64(min_val), T::from_f64(max_val)))
}

/// The threshold of `threshold(x, threshold, value)` in the compute type of `T` and the
/// value in `T` (both rounded to nearest), as PyTorch converts them (it compares 16-bit
/// inputs in `f32`); neither may be NaN.
pub(crate) fn threshold<T: Float>(threshold: f64, value: f64) -> Result<(T::Compute, T), Error> {
    for (name, v) in [("threshold", threshold), ("value", value)] {
        if v.is_nan() {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!("`{name}` must be a number, got NaN"),
            ));
        }
    }
    Ok((T::slope(threshold), T::from_f64(value)))
}

/// Whether RReLU draws its slopes or uses their mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RreluMode {
    /// Training: element `i` of the call gets the slope drawn from `(seed, i)`. Pass the
    /// same seed to the backward pass; a new seed per step gives new noise.
    Training {
        /// The key of the generator.
        seed: u64,
    },
    /// Evaluation: every element gets the slope `(lower + upper) / 2`.
    Evaluation,
}

/// Panics with the error's message: how the reference refuses what the API refuses.
pub(crate) fn or_panic<V>(checked: Result<V, Error>) -> V {
    match checked {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// Output `index` (from 0) of SplitMix64 seeded with `seed` (Steele, Lea and Flood
/// 2014): its output function applied to `seed + (index + 1) * golden`. Counter-based,
/// so any output is computed directly: RReLU's slopes, and the tests' generator.
#[inline(always)]
pub(crate) fn splitmix64(seed: u64, index: u64) -> u64 {
    let z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
