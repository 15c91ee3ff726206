//! Leaky ReLU: a fixed slope for `x <= 0`.

use crate::parallel::{self, Exec};
use crate::prelu::{self, Plan};
use crate::{Error, Float, lanes};

/// Leaky ReLU: `x` for `x > 0`, `negative_slope * x` otherwise; a NaN comes back
/// unchanged. PyTorch's default slope is `0.01`.
///
/// The slope is converted to the compute type (`f32` for `f32`, `f16` and `bf16`;
/// `f64` for `f64`) and the product is rounded once, so `-0.0` gives
/// `negative_slope * -0.0` (that is `-0.0` for a positive slope), and `-inf` with a
/// slope of 0 gives NaN, as IEEE multiplication does.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`](crate::ErrorKind::NonFiniteSlope) for a slope that is
/// NaN or infinite in the compute type (`1e39` is, in `f32`); [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output`
/// is not as long as `input`. Nothing is written then.
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let mut y = [0.0f32; 5];
/// relukit::leaky_relu(&x, 0.5, &mut y)?;
/// assert_eq!(y, [-1.0, -0.5, 0.0, 1.0, 2.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn leaky_relu<T: Float>(
    input: &[T],
    negative_slope: f64,
    output: &mut [T],
) -> Result<(), Error> {
    leaky_relu_with(&Exec::current(), input, negative_slope, output)
}

pub(crate) fn leaky_relu_with<T: Float>(
    exec: &Exec,
    input: &[T],
    negative_slope: f64,
    output: &mut [T],
) -> Result<(), Error> {
    let slope = Error::check_slope::<T>("negative_slope", negative_slope)?;
    Error::check_len("output", output.len(), "input", input.len())?;
    prelu::forward(exec, &Plan::Shared(slope), input, output);
    Ok(())
}

/// Leaky ReLU in place.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`](crate::ErrorKind::NonFiniteSlope) for a NaN or
/// infinite slope (the data is left as it was).
///
/// ```
/// let mut x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// relukit::leaky_relu_inplace(&mut x, 0.5)?;
/// assert_eq!(x, [-1.0, -0.5, 0.0, 1.0, 2.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn leaky_relu_inplace<T: Float>(data: &mut [T], negative_slope: f64) -> Result<(), Error> {
    leaky_relu_inplace_with(&Exec::current(), data, negative_slope)
}

pub(crate) fn leaky_relu_inplace_with<T: Float>(
    exec: &Exec,
    data: &mut [T],
    negative_slope: f64,
) -> Result<(), Error> {
    let slope = Error::check_slope::<T>("negative_slope", negative_slope)?;
    prelu::forward_inplace(exec, &Plan::Shared(slope), data);
    Ok(())
}

/// Leaky ReLU backward: `grad_output` where `input > 0`,
/// `negative_slope * grad_output` where `input <= 0`, and the NaN `input` itself where
/// it is NaN.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`](crate::ErrorKind::NonFiniteSlope) for a NaN or
/// infinite slope; [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if
/// the three lengths differ.
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let grad_output = [10.0f32; 5];
/// let mut grad_input = [0.0f32; 5];
/// relukit::leaky_relu_backward(&grad_output, &x, 0.5, &mut grad_input)?;
/// assert_eq!(grad_input, [5.0, 5.0, 5.0, 10.0, 10.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn leaky_relu_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    negative_slope: f64,
    grad_input: &mut [T],
) -> Result<(), Error> {
    leaky_relu_backward_with(
        &Exec::current(),
        grad_output,
        input,
        negative_slope,
        grad_input,
    )
}

pub(crate) fn leaky_relu_backward_with<T: Float>(
    exec: &Exec,
    grad_output: &[T],
    input: &[T],
    negative_slope: f64,
    grad_input: &mut [T],
) -> Result<(), Error> {
    let slope = Error::check_slope::<T>("negative_slope", negative_slope)?;
    Error::check_len("input", input.len(), "grad_output", grad_output.len())?;
    Error::check_len(
        "grad_input",
        grad_input.len(),
        "grad_output",
        grad_output.len(),
    )?;
    parallel::zip(exec, grad_output, input, grad_input, move |g, x| {
        lanes::leaky_relu_backward(g, x, slope)
    });
    Ok(())
}

/// [`leaky_relu_backward`] writing the input gradient over `grad`.
///
/// # Errors
/// As [`leaky_relu_backward`].
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let mut grad = [10.0f32; 5];
/// relukit::leaky_relu_backward_inplace(&mut grad, &x, 0.5)?;
/// assert_eq!(grad, [5.0, 5.0, 5.0, 10.0, 10.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn leaky_relu_backward_inplace<T: Float>(
    grad: &mut [T],
    input: &[T],
    negative_slope: f64,
) -> Result<(), Error> {
    leaky_relu_backward_inplace_with(&Exec::current(), grad, input, negative_slope)
}

pub(crate) fn leaky_relu_backward_inplace_with<T: Float>(
    exec: &Exec,
    grad: &mut [T],
    input: &[T],
    negative_slope: f64,
) -> Result<(), Error> {
    let slope = Error::check_slope::<T>("negative_slope", negative_slope)?;
    Error::check_len("input", input.len(), "grad", grad.len())?;
    parallel::zip_inplace(exec, grad, input, move |g, x| {
        lanes::leaky_relu_backward(g, x, slope)
    });
    Ok(())
}
