//! PyTorch's `threshold(x, threshold, value)`: `x` above the threshold, `value` at or
//! below it; forward, derivative and backward (PyTorch's `threshold_backward`, which is
//! also ReLU's backward there).

use crate::activation::{self, Activation, sealed};
use crate::{Error, Float, params, reference};

/// Whether `x > threshold` (false for NaN), compared exactly in the compute type.
#[inline(always)]
fn above<T: Float>(x: T, threshold: T::Compute) -> bool {
    x.widen() > threshold
}

/// `x` above the threshold or NaN, `value` elsewhere.
#[inline(always)]
pub(crate) fn forward<T: Float>(x: T, threshold: T::Compute, value: T) -> T {
    if above(x, threshold) || x.is_nan() {
        x
    } else {
        value
    }
}

/// `1` above the threshold, the NaN `x`, `0` elsewhere.
#[inline(always)]
pub(crate) fn derivative<T: Float>(x: T, threshold: T::Compute) -> T {
    if above(x, threshold) {
        T::ONE
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `grad` above the threshold, the NaN `x`, `+0` elsewhere.
#[inline(always)]
pub(crate) fn backward<T: Float>(grad: T, x: T, threshold: T::Compute) -> T {
    if above(x, threshold) {
        grad
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// PyTorch's `threshold` with its parameters ([`threshold`](fn@threshold)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// What `x` is compared with (in the compute type): a number.
    pub threshold: f64,
    /// What replaces `x` at or below the threshold: a number.
    pub value: f64,
}

impl Threshold {
    /// The derivative and backward pass do not depend on `value`.
    fn gradient(threshold: f64) -> Threshold {
        Threshold {
            threshold,
            value: 0.0,
        }
    }
}

impl sealed::Sealed for Threshold {}

impl Activation for Threshold {
    const NAME: &'static str = "threshold";
    /// The threshold in the compute type, the value in `T`.
    type Lanes<T: Float> = (T::Compute, T);
    fn lanes<T: Float>(&self) -> Result<(T::Compute, T), Error> {
        params::threshold::<T>(self.threshold, self.value)
    }
    #[inline(always)]
    fn forward_lane<T: Float>((t, v): (T::Compute, T), x: T, _: u64) -> T {
        forward(x, t, v)
    }
    #[inline(always)]
    fn derivative_lane<T: Float>((t, _): (T::Compute, T), x: T, _: u64) -> T {
        derivative(x, t)
    }
    #[inline(always)]
    fn backward_lane<T: Float>((t, _): (T::Compute, T), grad: T, x: T, _: u64) -> T {
        backward(grad, x, t)
    }
    fn reference<T: Float>(&self, x: T, _: u64) -> T {
        reference::threshold(x, self.threshold, self.value)
    }
    fn reference_derivative<T: Float>(&self, x: T, _: u64) -> T {
        reference::threshold_derivative(x, self.threshold)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, _: u64) -> T {
        reference::threshold_backward(grad, x, self.threshold)
    }
}

/// PyTorch's `threshold`: `x` where `x > threshold` (a NaN comes back unchanged), `value`
/// elsewhere. As in PyTorch, `threshold` is converted to the compute type (to nearest:
/// `f32` for `f32`, `f16` and `bf16`, `f64` for `f64`) and compared there, so a
/// threshold a 16-bit type cannot represent (0.3 in `bf16`) still separates the values
/// on either side of it; `value` is converted to the element type (to nearest).
/// `relu(x)` is `threshold(x, 0.0, 0.0)`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange) if `threshold` or `value` is
/// NaN; [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is
/// not as long as `input`. Nothing is written then.
///
/// ```
/// let x = [-1.0f32, 0.5, 1.0, 2.0];
/// let mut y = [0.0f32; 4];
/// relukit::threshold(&x, 1.0, -9.0, &mut y)?;
/// assert_eq!(y, [-9.0, -9.0, -9.0, 2.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn threshold<T: Float>(
    input: &[T],
    threshold: f64,
    value: f64,
    output: &mut [T],
) -> Result<(), Error> {
    activation::forward(&Threshold { threshold, value }, input, output)
}

/// [`threshold`] in place.
///
/// # Errors
/// As [`threshold`]; the data is left as it was.
pub fn threshold_inplace<T: Float>(
    data: &mut [T],
    threshold: f64,
    value: f64,
) -> Result<(), Error> {
    activation::forward_inplace(&Threshold { threshold, value }, data)
}

/// The derivative of `threshold` with respect to `x`: `1` where `x > threshold`, `0`
/// elsewhere, the NaN `x` where `x` is NaN.
///
/// # Errors
/// As [`threshold`] (for `threshold`).
pub fn threshold_derivative<T: Float>(
    input: &[T],
    threshold: f64,
    output: &mut [T],
) -> Result<(), Error> {
    activation::derivative(&Threshold::gradient(threshold), input, output)
}

/// `threshold` backward (PyTorch's `threshold_backward`): `grad_output` where
/// `input > threshold`, `+0` elsewhere (a select), the NaN `input` where it is NaN.
///
/// # Errors
/// As [`threshold`], and [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch)
/// if the three lengths differ.
pub fn threshold_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    threshold: f64,
    grad_input: &mut [T],
) -> Result<(), Error> {
    let t = Threshold::gradient(threshold);
    activation::backward(&t, grad_output, input, grad_input)
}

/// [`threshold_backward`] writing the input gradient over `grad`.
///
/// # Errors
/// As [`threshold_backward`].
pub fn threshold_backward_inplace<T: Float>(
    grad: &mut [T],
    input: &[T],
    threshold: f64,
) -> Result<(), Error> {
    activation::backward_inplace(&Threshold::gradient(threshold), grad, input)
}
