//! The contract in code: one plain scalar function per operation.
//!
//! These are the definitions every fast path in relukit is tested against, bit for
//! bit. They are slow on purpose (one element at a time, no SIMD, no threads) and use
//! only IEEE comparisons and the `half` crate's conversions, so that each line can be
//! checked against the documentation by reading it.
//!
//! ```
//! use relukit::reference;
//! assert_eq!(reference::relu(-0.0f32).to_bits(), 0.0f32.to_bits());
//! assert_eq!(reference::relu_derivative(0.0f64), 0.0);
//! assert!(reference::leaky_relu(f32::NAN, 0.01).is_nan());
//! ```

use crate::{ChannelLayout, Element, Float};

/// `x` for `x > 0`; `+0` for every other non-NaN `x`; a NaN comes back unchanged.
pub fn relu<T: Element>(x: T) -> T {
    if x.ref_is_nan() || x.ref_gt_zero() {
        x
    } else {
        T::ZERO
    }
}

/// `1` for `x > 0`, `0` for `x <= 0`; a NaN `x` comes back unchanged.
pub fn relu_derivative<T: Float>(x: T) -> T {
    if x.ref_is_nan() {
        x
    } else if x.ref_gt_zero() {
        T::ONE
    } else {
        T::ZERO
    }
}

/// `grad_output` where `x > 0`, `+0` where `x <= 0` (a select: an infinite or NaN
/// gradient there still gives 0); a NaN `x` comes back unchanged.
pub fn relu_backward<T: Float>(grad_output: T, x: T) -> T {
    if x.ref_is_nan() {
        x
    } else if x.ref_gt_zero() {
        grad_output
    } else {
        T::ZERO
    }
}

/// `x` for `x > 0` (and NaN, unchanged); `negative_slope * x` otherwise, computed in
/// the compute type (`f32` for the 16-bit floats) and rounded once.
///
/// # Panics
/// If `negative_slope` is NaN or is infinite once converted to the compute type
/// (`1e39` for `f32`, `f16` and `bf16`); the fast API returns
/// [`ErrorKind::NonFiniteSlope`](crate::ErrorKind::NonFiniteSlope) instead.
pub fn leaky_relu<T: Float>(x: T, negative_slope: f64) -> T {
    let slope = slope::<T>(negative_slope);
    if x.ref_is_nan() || x.ref_gt_zero() {
        x
    } else {
        T::ref_narrow(x.ref_widen() * slope)
    }
}

/// A slope in the compute type of `T`; panics if it is not finite there.
fn slope<T: Float>(negative_slope: f64) -> T::Compute {
    match crate::Error::check_slope::<T>("negative_slope", negative_slope) {
        Ok(slope) => slope,
        Err(error) => panic!("{error}"),
    }
}

/// `grad_output` where `x > 0`, `negative_slope * grad_output` where `x <= 0`; a NaN
/// `x` comes back unchanged.
///
/// # Panics
/// As [`leaky_relu`], for a slope that is not finite in the compute type.
pub fn leaky_relu_backward<T: Float>(grad_output: T, x: T, negative_slope: f64) -> T {
    let slope = slope::<T>(negative_slope);
    if x.ref_is_nan() {
        x
    } else if x.ref_gt_zero() {
        grad_output
    } else {
        T::ref_narrow(grad_output.ref_widen() * slope)
    }
}

/// PReLU over a whole buffer: `leaky_relu` with the slope `weight[c]` of each
/// element's channel `c` (or `weight[0]` for every element when `weight` has one
/// element). Panics if the arguments do not fit; the fast API returns errors instead.
pub fn prelu<T: Float>(input: &[T], weight: &[T], layout: ChannelLayout) -> Vec<T> {
    assert_eq!(Some(input.len()), layout.len());
    input
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let w = weight[channel_of(i, weight.len(), layout)];
            if x.ref_is_nan() || x.ref_gt_zero() {
                x
            } else {
                T::ref_narrow(x.ref_widen() * w.ref_widen())
            }
        })
        .collect()
}

/// PReLU backward over a whole buffer: `(grad_input, grad_weight)`.
///
/// `grad_input` follows [`leaky_relu_backward`] with the slope `weight[c]`.
/// `grad_weight[c]` is the sum of `grad_output * x` over the elements of channel `c`
/// where `x <= 0` or `x` is NaN (so a NaN there makes the sum NaN), computed here in
/// `f64` with compensated summation and rounded once: the accurate value the fast
/// path's blocked sums are checked against (with a tolerance, since the order of a
/// floating-point sum is an implementation choice).
pub fn prelu_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    weight: &[T],
    layout: ChannelLayout,
) -> (Vec<T>, Vec<f64>) {
    assert_eq!(Some(input.len()), layout.len());
    assert_eq!(grad_output.len(), input.len());
    let mut sums = vec![NeumaierSum::default(); weight.len()];
    let grad_input = input
        .iter()
        .zip(grad_output)
        .enumerate()
        .map(|(i, (&x, &g))| {
            let c = channel_of(i, weight.len(), layout);
            if !x.ref_gt_zero() {
                sums[c].add(g.ref_to_f64() * x.ref_to_f64());
            }
            if x.ref_is_nan() {
                x
            } else if x.ref_gt_zero() {
                g
            } else {
                T::ref_narrow(g.ref_widen() * weight[c].ref_widen())
            }
        })
        .collect();
    (grad_input, sums.iter().map(NeumaierSum::value).collect())
}

/// The channel of flat index `i`, or 0 for a shared slope.
fn channel_of(i: usize, weights: usize, layout: ChannelLayout) -> usize {
    if weights == 1 {
        0
    } else {
        (i / layout.inner()) % layout.channels()
    }
}

/// Kahan-Babuska-Neumaier summation: accurate to a few ulps of f64 whatever the order.
#[derive(Debug, Clone, Copy, Default)]
struct NeumaierSum {
    sum: f64,
    compensation: f64,
}

impl NeumaierSum {
    fn add(&mut self, term: f64) {
        let t = self.sum + term;
        if self.sum.abs() >= term.abs() {
            self.compensation += (self.sum - t) + term;
        } else {
            self.compensation += (term - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        if self.sum.is_finite() {
            self.sum + self.compensation
        } else {
            self.sum
        }
    }
}
