//! The element formulas of the fast paths, one per operation.
//!
//! Each is branch-free in effect (selects the compiler turns into SIMD blends) and
//! uses only the lane operations of [`Float`]/[`Element`]. The drivers in
//! [`arch`](crate::arch) apply them to whole slices; the tests compare them, through
//! every driver, with [`reference`](crate::reference).

use crate::Float;

/// `relu'(x)`: 1, 0, or the NaN `x`.
#[inline(always)]
pub(crate) fn relu_derivative<T: Float>(x: T) -> T {
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
pub(crate) fn relu_backward<T: Float>(grad: T, x: T) -> T {
    if x.gt_zero() {
        grad
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `slope * x` where `x <= 0`, `x` otherwise (NaN included).
#[inline(always)]
pub(crate) fn leaky_relu<T: Float>(x: T, slope: T::Compute) -> T {
    if x.le_zero() {
        T::narrow(x.widen() * slope)
    } else {
        x
    }
}

/// `grad` where `x > 0`, the NaN `x` where `x` is NaN, `slope * grad` otherwise.
#[inline(always)]
pub(crate) fn leaky_relu_backward<T: Float>(grad: T, x: T, slope: T::Compute) -> T {
    let product = T::narrow(grad.widen() * slope);
    if x.gt_zero() {
        grad
    } else if x.is_nan() {
        x
    } else {
        product
    }
}

/// PReLU backward for one element: `(grad_input, contribution to grad_weight)`.
/// The contribution is `grad * x` wherever `x > 0` does not hold, so a NaN `x` makes
/// its channel's sum NaN.
#[inline(always)]
pub(crate) fn prelu_backward<T: Float>(grad: T, x: T, slope: T::Compute) -> (T, T::Compute) {
    let contribution = if x.gt_zero() {
        T::Compute::default()
    } else {
        grad.widen() * x.widen()
    };
    (leaky_relu_backward(grad, x, slope), contribution)
}
