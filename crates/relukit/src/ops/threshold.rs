//! PyTorch's `threshold(x, threshold, value)`: `x` above the threshold, `value` at or
//! below it; forward, derivative and backward (PyTorch's `threshold_backward`, which is
//! also ReLU's backward there).

use crate::exec::Exec;
use crate::kernel::{Binary, BinaryInPlace, Unary, UnaryInPlace};
use crate::{Error, Float, params};

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
    let (t, v) = params::threshold::<T>(threshold, value)?;
    Error::check_len("output", output.len(), "input", input.len())?;
    let f = move |x| forward(x, t, v);
    Exec::current().write(Unary { x: input, f }, output);
    Ok(())
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
    let (t, v) = params::threshold::<T>(threshold, value)?;
    let f = move |x| forward(x, t, v);
    Exec::current().update(UnaryInPlace { f }, data);
    Ok(())
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
    let (t, _) = params::threshold::<T>(threshold, 0.0)?;
    Error::check_len("output", output.len(), "input", input.len())?;
    let f = move |x| derivative(x, t);
    Exec::current().write(Unary { x: input, f }, output);
    Ok(())
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
    let (t, _) = params::threshold::<T>(threshold, 0.0)?;
    Error::check_len("input", input.len(), "grad_output", grad_output.len())?;
    Error::check_len(
        "grad_input",
        grad_input.len(),
        "grad_output",
        grad_output.len(),
    )?;
    let f = move |g, x| backward(g, x, t);
    Exec::current().write(
        Binary {
            a: grad_output,
            b: input,
            f,
        },
        grad_input,
    );
    Ok(())
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
    let (t, _) = params::threshold::<T>(threshold, 0.0)?;
    Error::check_len("input", input.len(), "grad", grad.len())?;
    let f = move |g, x| backward(g, x, t);
    Exec::current().update(BinaryInPlace { b: input, f }, grad);
    Ok(())
}
