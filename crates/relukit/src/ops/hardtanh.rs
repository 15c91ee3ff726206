//! Hardtanh, PyTorch's `hardtanh(x, min_val, max_val)`: `x` clamped to `[min_val,
//! max_val]`. ReLU6 is `hardtanh(x, 0, 6)` and clipped ReLU `hardtanh(x, 0, ceiling)`.

use crate::activation::{self, Activation, sealed};
use crate::{Error, Float, params, reference};

/// Hardtanh with its bounds ([`hardtanh`]). PyTorch's defaults are `-1` and `1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hardtanh {
    /// The smallest output: a number (`-inf` allowed), not above `max_val`.
    pub min_val: f64,
    /// The largest output: a number (`+inf` allowed).
    pub max_val: f64,
}

impl Default for Hardtanh {
    /// PyTorch's bounds, `[-1, 1]`.
    fn default() -> Self {
        Hardtanh {
            min_val: -1.0,
            max_val: 1.0,
        }
    }
}

/// The bounds as the formulas take them: in `T` (what is written) and in the compute
/// type (what `x` is compared with; exact, since they are values of `T`).
#[derive(Clone, Copy)]
pub struct Bounds<T: Float> {
    low: T,
    high: T,
    low_c: T::Compute,
    high_c: T::Compute,
}

/// Whether `low < x < high` (false for NaN).
#[inline(always)]
fn inside<T: Float>(x: T, b: Bounds<T>) -> bool {
    let v = x.widen();
    v > b.low_c && v < b.high_c
}

impl sealed::Sealed for Hardtanh {}

impl Activation for Hardtanh {
    const NAME: &'static str = "hardtanh";
    type Lanes<T: Float> = Bounds<T>;
    fn lanes<T: Float>(&self) -> Result<Bounds<T>, Error> {
        let (low, high) = params::hardtanh_bounds::<T>(self.min_val, self.max_val)?;
        Ok(Bounds {
            low,
            high,
            low_c: low.widen(),
            high_c: high.widen(),
        })
    }
    /// `max_val` at or above it (first, as the outer bound of PyTorch's clamp), `x`
    /// above `min_val`, the NaN `x`, `min_val` elsewhere.
    #[inline(always)]
    fn forward_lane<T: Float>(b: Bounds<T>, x: T, _: u64) -> T {
        let v = x.widen();
        if v >= b.high_c {
            b.high
        } else if v > b.low_c || x.is_nan() {
            x
        } else {
            b.low
        }
    }
    /// `1` inside `(min_val, max_val)`, the NaN `x`, `0` elsewhere.
    #[inline(always)]
    fn derivative_lane<T: Float>(b: Bounds<T>, x: T, _: u64) -> T {
        if inside(x, b) {
            T::ONE
        } else if x.is_nan() {
            x
        } else {
            T::ZERO
        }
    }
    /// `grad` inside `(min_val, max_val)`, the NaN `x`, `+0` elsewhere.
    #[inline(always)]
    fn backward_lane<T: Float>(b: Bounds<T>, grad: T, x: T, _: u64) -> T {
        if inside(x, b) {
            grad
        } else if x.is_nan() {
            x
        } else {
            T::ZERO
        }
    }
    fn reference<T: Float>(&self, x: T, _: u64) -> T {
        reference::hardtanh(x, self.min_val, self.max_val)
    }
    fn reference_derivative<T: Float>(&self, x: T, _: u64) -> T {
        reference::hardtanh_derivative(x, self.min_val, self.max_val)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, _: u64) -> T {
        reference::hardtanh_backward(grad, x, self.min_val, self.max_val)
    }
}

/// Hardtanh (PyTorch's `hardtanh`): `x` for `min_val < x < max_val`, `max_val` for
/// `x >= max_val`, `min_val` for every other `x <= min_val` (so equal bounds give
/// `max_val`, as PyTorch's clamp, whose upper bound is applied last); a NaN comes back
/// unchanged. The bounds
/// are converted to the element type (to nearest), as PyTorch converts them;
/// `hardtanh(x, 0, 6)` is [`relu6`](crate::relu6) (`+0` for `-0.0`: PyTorch's clamp
/// keeps `-0.0` there). [`activation::forward`] of [`Hardtanh`].
///
/// # Errors
/// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange) if a bound is NaN or
/// `min_val > max_val` (PyTorch's `F.hardtanh` refuses it too);
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is not as
/// long as `input`. Nothing is written then.
///
/// ```
/// let x = [-3.0f32, -0.5, 0.5, 3.0, f32::NEG_INFINITY];
/// let mut y = [0.0f32; 5];
/// relukit::hardtanh(&x, -1.0, 1.0, &mut y)?;
/// assert_eq!(y, [-1.0, -0.5, 0.5, 1.0, -1.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn hardtanh<T: Float>(
    input: &[T],
    min_val: f64,
    max_val: f64,
    output: &mut [T],
) -> Result<(), Error> {
    activation::forward(&Hardtanh { min_val, max_val }, input, output)
}

/// [`hardtanh`] in place. Safe in training: [`hardtanh_backward`] gives the same result
/// from this output as from the input.
///
/// # Errors
/// As [`hardtanh`]; the data is left as it was.
pub fn hardtanh_inplace<T: Float>(data: &mut [T], min_val: f64, max_val: f64) -> Result<(), Error> {
    activation::forward_inplace(&Hardtanh { min_val, max_val }, data)
}

/// The derivative of hardtanh: `1` for `min_val < x < max_val`, `0` elsewhere (at both
/// kinks too, as PyTorch's `hardtanh_backward`), the NaN `x` where `x` is NaN.
///
/// # Errors
/// As [`hardtanh`].
pub fn hardtanh_derivative<T: Float>(
    input: &[T],
    min_val: f64,
    max_val: f64,
    output: &mut [T],
) -> Result<(), Error> {
    activation::derivative(&Hardtanh { min_val, max_val }, input, output)
}

/// Hardtanh backward (PyTorch's `hardtanh_backward`): `grad_output` for `min_val < input
/// < max_val`, `+0` elsewhere (a select), the NaN `input` where it is NaN (PyTorch passes
/// the gradient there). `input` may be the forward input or the forward output.
///
/// # Errors
/// As [`hardtanh`], and [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch)
/// if the three lengths differ.
///
/// ```
/// let x = [-3.0f32, -1.0, 0.5, 1.0];
/// let mut grad = [0.0f32; 4];
/// relukit::hardtanh_backward(&[7.0; 4], &x, -1.0, 1.0, &mut grad)?;
/// assert_eq!(grad, [0.0, 0.0, 7.0, 0.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn hardtanh_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    min_val: f64,
    max_val: f64,
    grad_input: &mut [T],
) -> Result<(), Error> {
    let hardtanh = Hardtanh { min_val, max_val };
    activation::backward(&hardtanh, grad_output, input, grad_input)
}

/// [`hardtanh_backward`] writing the input gradient over `grad`.
///
/// # Errors
/// As [`hardtanh_backward`].
pub fn hardtanh_backward_inplace<T: Float>(
    grad: &mut [T],
    input: &[T],
    min_val: f64,
    max_val: f64,
) -> Result<(), Error> {
    activation::backward_inplace(&Hardtanh { min_val, max_val }, grad, input)
}
