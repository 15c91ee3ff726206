//! The argument checks every relukit backend shares, so that a call with the same
//! arguments fails with the same [`Error`] (kind and message) on the CPU and on a GPU
//! (the `relukit-cuda` crate). The slice functions of this crate call these; a backend
//! calls them before it touches any memory.
//!
//! ```
//! use relukit::{ChannelLayout, ErrorKind, check};
//! assert_eq!(check::length("output", 3, "input", 2).unwrap_err().kind(), ErrorKind::LengthMismatch);
//! assert!(check::layout(ChannelLayout::new(2, 3, 4), "input", 24).is_ok());
//! assert_eq!(check::negative_slope::<f32>(0.1)?, 0.1f32 as f64);
//! assert_eq!(check::negative_slope::<f32>(1e39).unwrap_err().kind(), ErrorKind::NonFiniteSlope);
//! # Ok::<(), relukit::Error>(())
//! ```

use crate::{ChannelLayout, Error, Float};

/// Buffer `name` (of `actual` elements) must be as long as `reference_name`
/// (`expected`): [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch).
pub fn length(
    name: &str,
    actual: usize,
    reference_name: &str,
    expected: usize,
) -> Result<(), Error> {
    Error::check_len(name, actual, reference_name, expected)
}

/// `layout` must describe buffer `name` of `len` elements:
/// [`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch).
pub fn layout(layout: ChannelLayout, name: &str, len: usize) -> Result<(), Error> {
    layout.check(name, len)
}

/// A PReLU `weight` must have 1 or `layout.channels()` elements:
/// [`ErrorKind::WeightMismatch`](crate::ErrorKind::WeightMismatch).
pub fn weight(layout: ChannelLayout, weight_len: usize) -> Result<(), Error> {
    layout.check_weight(weight_len)
}

/// PReLU's `grad_weight` must be as long as its `weight`:
/// [`ErrorKind::WeightMismatch`](crate::ErrorKind::WeightMismatch).
pub fn grad_weight(grad_weight_len: usize, weight_len: usize) -> Result<(), Error> {
    Error::check_grad_weight(grad_weight_len, weight_len)
}

/// Leaky ReLU's `negative_slope` in the compute type of `T` (`f32` for `f32`, `f16` and
/// `bf16`; `f64` for `f64`), returned as an `f64` (exactly): NaN, or infinite once
/// converted, is [`ErrorKind::NonFiniteSlope`](crate::ErrorKind::NonFiniteSlope).
pub fn negative_slope<T: Float>(negative_slope: f64) -> Result<f64, Error> {
    crate::params::slope::<T>("negative_slope", negative_slope).map(Into::into)
}
