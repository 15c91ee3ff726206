//! Leaky ReLU: a fixed slope for `x <= 0`; its element formulas and kernels serve
//! PReLU and RReLU too.

use std::ops::Range;

use crate::activation::{self, Activation, sealed};
use crate::arch::Level;
use crate::element::Slopes;
use crate::exec::Exec;
use crate::kernel::{Binary, BinaryInPlace, Elementwise, Unary, Update};
use crate::{Error, Float, params, reference};

/// `slope * x` where `x <= 0`, `x` otherwise (NaN included).
#[inline(always)]
pub(crate) fn forward<T: Float>(x: T, slope: T::Compute) -> T {
    if x.le_zero() {
        T::narrow(x.widen() * slope)
    } else {
        x
    }
}

/// `grad` where `x > 0`, the NaN `x` where `x` is NaN, `slope * grad` otherwise.
#[inline(always)]
pub(crate) fn backward<T: Float>(grad: T, x: T, slope: T::Compute) -> T {
    let product = T::narrow(grad.widen() * slope);
    if x.gt_zero() {
        grad
    } else if x.is_nan() {
        x
    } else {
        product
    }
}

/// The derivative: `1` where `x > 0`, the slope (rounded to `T`) where `x <= 0`, the
/// NaN `x` where `x` is NaN.
#[inline(always)]
pub(crate) fn derivative<T: Float>(x: T, slope: T) -> T {
    if x.gt_zero() {
        T::ONE
    } else if x.is_nan() {
        x
    } else {
        slope
    }
}

/// Leaky ReLU with the given slopes (one, or one per element): the forward pass of
/// Leaky ReLU, PReLU and RReLU in evaluation. The 16-bit floats use the level's
/// dedicated conversions where it has them.
#[derive(Clone, Copy)]
pub(crate) struct Leaky<'a, T: Float> {
    pub(crate) x: &'a [T],
    pub(crate) slopes: Slopes<'a, T::Compute>,
}

impl<T: Float> Elementwise for Leaky<'_, T> {
    type Out = T;
    #[inline(always)]
    fn write<L: Level>(self, level: L, range: Range<usize>, dst: &mut [T]) {
        let (x, slopes) = (&self.x[range.clone()], self.slopes.slice(range));
        let done = level.leaky(x, slopes, dst);
        let (x, dst) = (&x[done..], &mut dst[done..]);
        match slopes.slice(done..done + x.len()) {
            Slopes::One(s) => Unary {
                x,
                f: move |v| forward(v, s),
            }
            .write(level, 0..x.len(), dst),
            Slopes::Pattern(p) => Binary {
                a: x,
                b: p,
                f: forward,
            }
            .write(level, 0..x.len(), dst),
        }
    }
}

/// [`Leaky`] in place (`C` is the compute type of the elements).
#[derive(Clone, Copy)]
pub(crate) struct LeakyInPlace<'a, C> {
    pub(crate) slopes: Slopes<'a, C>,
}

impl<T: Float> Update<T> for LeakyInPlace<'_, T::Compute> {
    #[inline(always)]
    fn update<L: Level>(self, level: L, start: usize, data: &mut [T]) {
        let slopes = self.slopes.slice(start..start + data.len());
        let done = level.leaky_inplace(data, slopes);
        let data = &mut data[done..];
        match slopes.slice(done..done + data.len()) {
            Slopes::One(s) => {
                for v in data.iter_mut() {
                    *v = forward(*v, s);
                }
            }
            Slopes::Pattern(p) => BinaryInPlace { b: p, f: forward }.update(level, 0, data),
        }
    }
}

/// Leaky ReLU with its slope ([`leaky_relu`]). PyTorch's default slope is `0.01`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakyRelu {
    /// The slope for `x <= 0`: finite in the compute type.
    pub negative_slope: f64,
}

impl Default for LeakyRelu {
    /// PyTorch's slope, `0.01`.
    fn default() -> Self {
        LeakyRelu {
            negative_slope: 0.01,
        }
    }
}

impl sealed::Sealed for LeakyRelu {}

impl Activation for LeakyRelu {
    const NAME: &'static str = "leaky_relu";
    /// The slope in the compute type (products) and rounded to `T` (the derivative).
    type Lanes<T: Float> = (T::Compute, T);
    fn lanes<T: Float>(&self) -> Result<(T::Compute, T), Error> {
        let slope = params::slope::<T>("negative_slope", self.negative_slope)?;
        Ok((slope, T::ref_narrow(slope)))
    }
    #[inline(always)]
    fn forward_lane<T: Float>((slope, _): (T::Compute, T), x: T, _: u64) -> T {
        forward(x, slope)
    }
    #[inline(always)]
    fn derivative_lane<T: Float>((_, slope): (T::Compute, T), x: T, _: u64) -> T {
        derivative(x, slope)
    }
    #[inline(always)]
    fn backward_lane<T: Float>((slope, _): (T::Compute, T), grad: T, x: T, _: u64) -> T {
        backward(grad, x, slope)
    }
    fn reference<T: Float>(&self, x: T, _: u64) -> T {
        reference::leaky_relu(x, self.negative_slope)
    }
    fn reference_derivative<T: Float>(&self, x: T, _: u64) -> T {
        reference::leaky_relu_derivative(x, self.negative_slope)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, _: u64) -> T {
        reference::leaky_relu_backward(grad, x, self.negative_slope)
    }
    /// The [`Leaky`] kernel: the level's 16-bit conversions where it has them.
    fn run_forward<T: Float>(&self, (slope, _): (T::Compute, T), input: &[T], output: &mut [T]) {
        let op = Leaky {
            x: input,
            slopes: Slopes::One(slope),
        };
        Exec::current().write(op, output)
    }
    fn run_forward_inplace<T: Float>(&self, (slope, _): (T::Compute, T), data: &mut [T]) {
        let op = LeakyInPlace {
            slopes: Slopes::One(slope),
        };
        Exec::current().update(op, data)
    }
}

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
    activation::forward(&LeakyRelu { negative_slope }, input, output)
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
    activation::forward_inplace(&LeakyRelu { negative_slope }, data)
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
    let leaky = LeakyRelu { negative_slope };
    activation::backward(&leaky, grad_output, input, grad_input)
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
    activation::backward_inplace(&LeakyRelu { negative_slope }, grad, input)
}

/// The derivative of Leaky ReLU at each element: `1` for `x > 0`, `negative_slope`
/// (rounded to the element type) for `x <= 0` (the gradient at 0 is the slope, as in
/// PyTorch); a NaN comes back unchanged.
///
/// # Errors
/// As [`leaky_relu`].
///
/// ```
/// let x = [-2.0f32, 0.0, 3.0, f32::NAN];
/// let mut d = [0.0f32; 4];
/// relukit::leaky_relu_derivative(&x, 0.25, &mut d)?;
/// assert_eq!(&d[..3], &[0.25, 0.25, 1.0]);
/// assert!(d[3].is_nan());
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn leaky_relu_derivative<T: Float>(
    input: &[T],
    negative_slope: f64,
    output: &mut [T],
) -> Result<(), Error> {
    activation::derivative(&LeakyRelu { negative_slope }, input, output)
}
