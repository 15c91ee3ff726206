//! Clipped ReLU, `min(max(0, x), ceiling)`, and ReLU6 (MobileNet's; PyTorch's `relu6`,
//! `hardtanh(x, 0, 6)`): forward, derivative and backward.

use crate::activation::{self, Activation, sealed};
use crate::{Error, Float, params, reference};

/// ReLU6's ceiling.
const SIX: f64 = 6.0;

/// Whether `0 < x < ceiling` (false for NaN).
#[inline(always)]
fn inside<T: Float>(x: T, ceiling: T::Compute) -> bool {
    x.gt_zero() && x.widen() < ceiling
}

/// `x` inside `(0, ceiling)`, `ceiling` at or above it, the NaN `x`, `+0` below.
#[inline(always)]
pub(crate) fn forward<T: Float>(x: T, ceiling: T) -> T {
    if inside(x, ceiling.widen()) {
        x
    } else if x.gt_zero() {
        ceiling
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `1` inside `(0, ceiling)`, the NaN `x`, `0` elsewhere.
#[inline(always)]
pub(crate) fn derivative<T: Float>(x: T, ceiling: T::Compute) -> T {
    if inside(x, ceiling) {
        T::ONE
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `grad` inside `(0, ceiling)`, the NaN `x`, `+0` elsewhere.
#[inline(always)]
pub(crate) fn backward<T: Float>(grad: T, x: T, ceiling: T::Compute) -> T {
    if inside(x, ceiling) {
        grad
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// Clipped ReLU with its ceiling: `min(max(0, x), ceiling)` ([`clipped_relu`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClippedRelu {
    /// The largest output: not NaN, not below 0 (an infinite ceiling is ReLU).
    pub ceiling: f64,
}

/// ReLU6, `min(max(0, x), 6)` ([`relu6`]): [`ClippedRelu`] with a ceiling of 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relu6;

impl sealed::Sealed for ClippedRelu {}
impl sealed::Sealed for Relu6 {}

impl Activation for ClippedRelu {
    const NAME: &'static str = "clipped_relu";
    /// The ceiling in `T` and in the compute type.
    type Lanes<T: Float> = (T, T::Compute);
    fn lanes<T: Float>(&self) -> Result<(T, T::Compute), Error> {
        let c = params::ceiling::<T>(self.ceiling)?;
        Ok((c, c.widen()))
    }
    #[inline(always)]
    fn forward_lane<T: Float>((c, _): (T, T::Compute), x: T, _: u64) -> T {
        forward(x, c)
    }
    #[inline(always)]
    fn derivative_lane<T: Float>((_, c): (T, T::Compute), x: T, _: u64) -> T {
        derivative(x, c)
    }
    #[inline(always)]
    fn backward_lane<T: Float>((_, c): (T, T::Compute), grad: T, x: T, _: u64) -> T {
        backward(grad, x, c)
    }
    fn reference<T: Float>(&self, x: T, _: u64) -> T {
        reference::clipped_relu(x, self.ceiling)
    }
    fn reference_derivative<T: Float>(&self, x: T, _: u64) -> T {
        reference::clipped_relu_derivative(x, self.ceiling)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, _: u64) -> T {
        reference::clipped_relu_backward(grad, x, self.ceiling)
    }
}

impl Activation for Relu6 {
    const NAME: &'static str = "relu6";
    type Lanes<T: Float> = (T, T::Compute);
    fn lanes<T: Float>(&self) -> Result<(T, T::Compute), Error> {
        ClippedRelu { ceiling: SIX }.lanes::<T>()
    }
    #[inline(always)]
    fn forward_lane<T: Float>((c, _): (T, T::Compute), x: T, _: u64) -> T {
        forward(x, c)
    }
    #[inline(always)]
    fn derivative_lane<T: Float>((_, c): (T, T::Compute), x: T, _: u64) -> T {
        derivative(x, c)
    }
    #[inline(always)]
    fn backward_lane<T: Float>((_, c): (T, T::Compute), grad: T, x: T, _: u64) -> T {
        backward(grad, x, c)
    }
    fn reference<T: Float>(&self, x: T, _: u64) -> T {
        reference::clipped_relu(x, SIX)
    }
    fn reference_derivative<T: Float>(&self, x: T, _: u64) -> T {
        reference::clipped_relu_derivative(x, SIX)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, _: u64) -> T {
        reference::clipped_relu_backward(grad, x, SIX)
    }
}

/// Clipped ReLU, `min(max(0, x), ceiling)`: `x` for `0 < x < ceiling`, `ceiling` for
/// `x >= ceiling` (`+inf` included), `+0` for every other non-NaN `x` (`-0.0` too; PyTorch
/// keeps `-0.0`); a NaN comes back unchanged. `ceiling` is converted to the element type
/// (to nearest); an infinite ceiling is ReLU. [`activation::forward`] of [`ClippedRelu`].
///
/// # Errors
/// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange) if `ceiling` is NaN or below 0;
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is not as
/// long as `input`. Nothing is written then.
///
/// ```
/// let x = [-1.0f32, 0.5, 3.0, 7.0, f32::INFINITY];
/// let mut y = [0.0f32; 5];
/// relukit::clipped_relu(&x, 3.0, &mut y)?;
/// assert_eq!(y, [0.0, 0.5, 3.0, 3.0, 3.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn clipped_relu<T: Float>(input: &[T], ceiling: f64, output: &mut [T]) -> Result<(), Error> {
    activation::forward(&ClippedRelu { ceiling }, input, output)
}

/// [`clipped_relu`] in place. Safe in training: [`clipped_relu_backward`] gives the
/// same result from this output as from the input.
///
/// # Errors
/// As [`clipped_relu`]; the data is left as it was.
pub fn clipped_relu_inplace<T: Float>(data: &mut [T], ceiling: f64) -> Result<(), Error> {
    activation::forward_inplace(&ClippedRelu { ceiling }, data)
}

/// The derivative of clipped ReLU: `1` for `0 < x < ceiling`, `0` elsewhere (the
/// gradient at both kinks is 0, as PyTorch's), the NaN `x` itself where `x` is NaN.
///
/// # Errors
/// As [`clipped_relu`].
///
/// ```
/// let x = [-1.0f32, 0.0, 0.5, 6.0, 7.0];
/// let mut d = [9.0f32; 5];
/// relukit::relu6_derivative(&x, &mut d)?;
/// assert_eq!(d, [0.0, 0.0, 1.0, 0.0, 0.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn clipped_relu_derivative<T: Float>(
    input: &[T],
    ceiling: f64,
    output: &mut [T],
) -> Result<(), Error> {
    activation::derivative(&ClippedRelu { ceiling }, input, output)
}

/// Clipped ReLU backward: `grad_output` for `0 < input < ceiling`, `+0` elsewhere (a
/// select: an infinite or NaN gradient there still gives 0), the NaN `input` where it is
/// NaN. `input` may be the forward input or the forward output.
///
/// # Errors
/// As [`clipped_relu`], and [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch)
/// if the three lengths differ.
pub fn clipped_relu_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    ceiling: f64,
    grad_input: &mut [T],
) -> Result<(), Error> {
    activation::backward(&ClippedRelu { ceiling }, grad_output, input, grad_input)
}

/// [`clipped_relu_backward`] writing the input gradient over `grad`.
///
/// # Errors
/// As [`clipped_relu_backward`].
pub fn clipped_relu_backward_inplace<T: Float>(
    grad: &mut [T],
    input: &[T],
    ceiling: f64,
) -> Result<(), Error> {
    activation::backward_inplace(&ClippedRelu { ceiling }, grad, input)
}

/// ReLU6, `min(max(0, x), 6)`: [`clipped_relu`] with a ceiling of 6.
///
/// # Errors
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is not as
/// long as `input`.
///
/// ```
/// let x = [-2.0f32, 3.0, 6.0, 9.0];
/// let mut y = [0.0f32; 4];
/// relukit::relu6(&x, &mut y)?;
/// assert_eq!(y, [0.0, 3.0, 6.0, 6.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn relu6<T: Float>(input: &[T], output: &mut [T]) -> Result<(), Error> {
    activation::forward(&Relu6, input, output)
}

/// ReLU6 in place.
pub fn relu6_inplace<T: Float>(data: &mut [T]) {
    // A ceiling of 6 is always valid.
    let _ = activation::forward_inplace(&Relu6, data);
}

/// The derivative of ReLU6: [`clipped_relu_derivative`] with a ceiling of 6.
///
/// # Errors
/// As [`relu6`].
pub fn relu6_derivative<T: Float>(input: &[T], output: &mut [T]) -> Result<(), Error> {
    activation::derivative(&Relu6, input, output)
}

/// ReLU6 backward: [`clipped_relu_backward`] with a ceiling of 6.
///
/// # Errors
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if the lengths differ.
pub fn relu6_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
) -> Result<(), Error> {
    activation::backward(&Relu6, grad_output, input, grad_input)
}

/// ReLU6 backward writing the input gradient over `grad`.
///
/// # Errors
/// As [`relu6_backward`].
pub fn relu6_backward_inplace<T: Float>(grad: &mut [T], input: &[T]) -> Result<(), Error> {
    activation::backward_inplace(&Relu6, grad, input)
}
