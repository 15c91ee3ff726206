//! ReLU: forward, derivative and backward.

use crate::activation::{self, Activation, sealed};
use crate::exec::Exec;
use crate::kernel::{Unary, UnaryInPlace};
use crate::{Element, Error, Float, reference};

/// `relu'(x)`: 1, 0, or the NaN `x` (the lane form, branch-free in effect).
#[inline(always)]
pub(crate) fn derivative<T: Float>(x: T) -> T {
    if x.gt_zero() {
        T::ONE
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `grad` where `x > 0`, the NaN `x` where `x` is NaN, `+0` otherwise.
#[inline(always)]
pub(crate) fn backward<T: Float>(grad: T, x: T) -> T {
    if x.gt_zero() {
        grad
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// ReLU ([`relu`]), as an [`Activation`]. The slice functions [`relu`] and
/// [`relu_inplace`] also take integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relu;

impl sealed::Sealed for Relu {}

impl Activation for Relu {
    const NAME: &'static str = "relu";
    type Lanes<T: Float> = ();
    fn lanes<T: Float>(&self) -> Result<(), Error> {
        Ok(())
    }
    #[inline(always)]
    fn forward_lane<T: Float>(_: (), x: T, _: u64) -> T {
        x.relu()
    }
    #[inline(always)]
    fn derivative_lane<T: Float>(_: (), x: T, _: u64) -> T {
        derivative(x)
    }
    #[inline(always)]
    fn backward_lane<T: Float>(_: (), grad: T, x: T, _: u64) -> T {
        backward(grad, x)
    }
    fn reference<T: Float>(&self, x: T, _: u64) -> T {
        reference::relu(x)
    }
    fn reference_derivative<T: Float>(&self, x: T, _: u64) -> T {
        reference::relu_derivative(x)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, _: u64) -> T {
        reference::relu_backward(grad, x)
    }
}

/// ReLU, `output[i] = max(0, input[i])`: `x` for `x > 0`, `+0` for every other non-NaN
/// `x` (including `-0.0` and `-inf`); a NaN comes back with its bits unchanged.
///
/// # Errors
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is not
/// as long as `input`; nothing is written then.
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let mut y = [0.0f32; 5];
/// relukit::relu(&x, &mut y)?;
/// assert_eq!(y, [0.0, 0.0, 0.0, 1.0, 2.0]);
///
/// let ints = [-2i32, -1, 0, 1, 2];
/// let mut out = [0i32; 5];
/// relukit::relu(&ints, &mut out)?;
/// assert_eq!(out, [0, 0, 0, 1, 2]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn relu<T: Element>(input: &[T], output: &mut [T]) -> Result<(), Error> {
    Error::check_len("output", output.len(), "input", input.len())?;
    Exec::current().write(
        Unary {
            x: input,
            f: T::relu,
        },
        output,
    );
    Ok(())
}

/// ReLU in place. Safe to use in training: [`relu_backward`] gives the same result
/// whether it is passed the input or this output.
///
/// ```
/// let mut x = [-2.0f64, -1.0, 0.0, 1.0, 2.0];
/// relukit::relu_inplace(&mut x);
/// assert_eq!(x, [0.0, 0.0, 0.0, 1.0, 2.0]);
/// ```
pub fn relu_inplace<T: Element>(data: &mut [T]) {
    Exec::current().update(UnaryInPlace { f: T::relu }, data)
}

/// The derivative of ReLU at each element, `f'(x)`: `1` for `x > 0`, `0` for `x <= 0`
/// (the gradient at 0 is 0, as in PyTorch); a NaN comes back unchanged.
///
/// # Errors
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is not
/// as long as `input`.
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let mut d = [0.0f32; 5];
/// relukit::relu_derivative(&x, &mut d)?;
/// assert_eq!(d, [0.0, 0.0, 0.0, 1.0, 1.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn relu_derivative<T: Float>(input: &[T], output: &mut [T]) -> Result<(), Error> {
    activation::derivative(&Relu, input, output)
}

/// ReLU backward: `grad_input[i] = grad_output[i]` where `input[i] > 0`, `+0` where
/// `input[i] <= 0` (a select, not a multiply: an infinite or NaN gradient there still
/// gives 0), and the NaN `input[i]` itself where it is NaN.
///
/// `input` may be the forward input `x` or the forward output `relu(x)`: the two give
/// identical results, so an in-place forward pass loses nothing.
///
/// # Errors
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if the three
/// lengths differ.
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let grad_output = [10.0f32; 5];
/// let mut grad_input = [0.0f32; 5];
/// relukit::relu_backward(&grad_output, &x, &mut grad_input)?;
/// assert_eq!(grad_input, [0.0, 0.0, 0.0, 10.0, 10.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn relu_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
) -> Result<(), Error> {
    activation::backward(&Relu, grad_output, input, grad_input)
}

/// [`relu_backward`] writing the input gradient over `grad` (which holds the output
/// gradient on entry), as PyTorch's in-place `threshold_backward` does.
///
/// # Errors
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if the lengths differ.
///
/// ```
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let mut grad = [10.0f32; 5];
/// relukit::relu_backward_inplace(&mut grad, &x)?;
/// assert_eq!(grad, [0.0, 0.0, 0.0, 10.0, 10.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn relu_backward_inplace<T: Float>(grad: &mut [T], input: &[T]) -> Result<(), Error> {
    activation::backward_inplace(&Relu, grad, input)
}
