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

use crate::params::RreluMode;
use crate::params::{self, or_panic};
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
    or_panic(params::slope::<T>("negative_slope", negative_slope))
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

/// The derivative of Leaky ReLU: `1` where `x > 0`, the slope (in the compute type,
/// rounded to `T`) where `x <= 0`, the NaN `x` where `x` is NaN.
///
/// # Panics
/// As [`leaky_relu`], for a slope that is not finite in the compute type.
pub fn leaky_relu_derivative<T: Float>(x: T, negative_slope: f64) -> T {
    let slope = slope::<T>(negative_slope);
    if x.ref_is_nan() {
        x
    } else if x.ref_gt_zero() {
        T::ONE
    } else {
        T::ref_narrow(slope)
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

/// The derivative of PReLU with respect to its input over a whole buffer: `1` where
/// `x > 0`, `weight[c]` itself where `x <= 0`, the NaN `x` where `x` is NaN. Panics if
/// the arguments do not fit.
pub fn prelu_derivative<T: Float>(input: &[T], weight: &[T], layout: ChannelLayout) -> Vec<T> {
    assert_eq!(Some(input.len()), layout.len());
    input
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let w = weight[channel_of(i, weight.len(), layout)];
            if x.ref_is_nan() {
                x
            } else if x.ref_gt_zero() {
                T::ONE
            } else {
                w
            }
        })
        .collect()
}

/// Whether `x` lies strictly between `low` and `high` (false for NaN), compared exactly.
fn between<T: Float>(x: T, low: T, high: T) -> bool {
    let (x, low, high) = (x.ref_to_f64(), low.ref_to_f64(), high.ref_to_f64());
    low < x && x < high
}

/// Clipped ReLU, `min(max(0, x), ceiling)`: `x` for `0 < x < ceiling`, `ceiling` for
/// `x >= ceiling` (`+inf` included), `+0` for every other non-NaN `x` (`-0.0` too); a
/// NaN comes back unchanged. `ceiling` is converted to `T` (to nearest). ReLU6 is
/// `clipped_relu(x, 6.0)`.
///
/// # Panics
/// If `ceiling` is NaN or below 0 (the fast API returns
/// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange)).
pub fn clipped_relu<T: Float>(x: T, ceiling: f64) -> T {
    let c = or_panic(params::ceiling::<T>(ceiling));
    if x.ref_is_nan() {
        x
    } else if !x.ref_gt_zero() {
        T::ZERO
    } else if between(x, T::ZERO, c) {
        x
    } else {
        c
    }
}

/// The derivative of clipped ReLU: `1` for `0 < x < ceiling`, `0` elsewhere (at both
/// kinks the gradient is 0, as PyTorch's `hardtanh_backward`), the NaN `x` where `x` is
/// NaN.
///
/// # Panics
/// As [`clipped_relu`].
pub fn clipped_relu_derivative<T: Float>(x: T, ceiling: f64) -> T {
    let c = or_panic(params::ceiling::<T>(ceiling));
    if x.ref_is_nan() {
        x
    } else if between(x, T::ZERO, c) {
        T::ONE
    } else {
        T::ZERO
    }
}

/// Clipped ReLU backward: `grad_output` for `0 < x < ceiling`, `+0` elsewhere (a
/// select), the NaN `x` where `x` is NaN. The forward output gives the same result as
/// the forward input.
///
/// # Panics
/// As [`clipped_relu`].
pub fn clipped_relu_backward<T: Float>(grad_output: T, x: T, ceiling: f64) -> T {
    let c = or_panic(params::ceiling::<T>(ceiling));
    if x.ref_is_nan() {
        x
    } else if between(x, T::ZERO, c) {
        grad_output
    } else {
        T::ZERO
    }
}

/// Hardtanh, PyTorch's `hardtanh(x, min_val, max_val)`: `x` for `min_val < x < max_val`,
/// `max_val` for `x >= max_val`, `min_val` for every other `x <= min_val` (equal bounds
/// give `max_val`: PyTorch's `min(max(x, min_val), max_val)`); a NaN comes back
/// unchanged. Both bounds are converted to `T` (to nearest). `hardtanh(x, 0.0, 6.0)` is
/// `clipped_relu(x, 6.0)`.
///
/// # Panics
/// If a bound is NaN or `min_val > max_val` (the fast API returns
/// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange)).
pub fn hardtanh<T: Float>(x: T, min_val: f64, max_val: f64) -> T {
    let (low, high) = or_panic(params::hardtanh_bounds::<T>(min_val, max_val));
    if x.ref_is_nan() || between(x, low, high) {
        x
    } else if x.ref_to_f64() >= high.ref_to_f64() {
        high
    } else {
        low
    }
}

/// The derivative of hardtanh: `1` for `min_val < x < max_val`, `0` elsewhere (at both
/// kinks too), the NaN `x` where `x` is NaN.
///
/// # Panics
/// As [`hardtanh`].
pub fn hardtanh_derivative<T: Float>(x: T, min_val: f64, max_val: f64) -> T {
    hardtanh_backward(T::ONE, x, min_val, max_val)
}

/// Hardtanh backward: `grad_output` for `min_val < x < max_val`, `+0` elsewhere (a
/// select), the NaN `x` where `x` is NaN.
///
/// # Panics
/// As [`hardtanh`].
pub fn hardtanh_backward<T: Float>(grad_output: T, x: T, min_val: f64, max_val: f64) -> T {
    let (low, high) = or_panic(params::hardtanh_bounds::<T>(min_val, max_val));
    if x.ref_is_nan() {
        x
    } else if between(x, low, high) {
        grad_output
    } else {
        T::ZERO
    }
}

/// PyTorch's `threshold(x, threshold, value)`: `x` where `x > threshold` (and NaN,
/// unchanged), `value` elsewhere; `threshold` converted to the compute type (`f32` for
/// `f32`, `f16` and `bf16`: PyTorch compares 16-bit inputs there) and `value` to `T`,
/// both to nearest.
/// `relu(x)` is `threshold(x, 0, 0)`.
///
/// # Panics
/// If `threshold` or `value` is NaN (the fast API returns
/// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange)).
pub fn threshold<T: Float>(x: T, threshold: f64, value: f64) -> T {
    let (t, v) = or_panic(params::threshold::<T>(threshold, value));
    if x.ref_is_nan() || x.ref_to_f64() > t.into() {
        x
    } else {
        v
    }
}

/// The derivative of `threshold`: `1` where `x > threshold`, `0` elsewhere, the NaN `x`
/// where `x` is NaN.
///
/// # Panics
/// If `threshold` is NaN.
pub fn threshold_derivative<T: Float>(x: T, threshold: f64) -> T {
    let (t, _) = or_panic(params::threshold::<T>(threshold, 0.0));
    if x.ref_is_nan() {
        x
    } else if x.ref_to_f64() > t.into() {
        T::ONE
    } else {
        T::ZERO
    }
}

/// `threshold` backward, as PyTorch's `threshold_backward`: `grad_output` where
/// `x > threshold`, `+0` elsewhere (a select), the NaN `x` where `x` is NaN.
///
/// # Panics
/// If `threshold` is NaN.
pub fn threshold_backward<T: Float>(grad_output: T, x: T, threshold: f64) -> T {
    let (t, _) = or_panic(params::threshold::<T>(threshold, 0.0));
    if x.ref_is_nan() {
        x
    } else if x.ref_to_f64() > t.into() {
        grad_output
    } else {
        T::ZERO
    }
}

/// RReLU's slope for element `index` in training: uniform in `[lower, upper)`, drawn
/// from a counter-based generator keyed by `(seed, index)`, so the same element gets the
/// same slope whatever the thread count, chunking or instruction set, and the backward
/// pass draws it again instead of storing it. In the compute type `C` of `T`:
///
/// ```text
/// z = splitmix64_mix(seed + (index + 1) * 0x9e3779b97f4a7c15)
/// u = the top 23 (f32) or 52 (f64) bits of z as a fraction in [0, 1)
/// slope = lower + (upper - lower) * u          (lower, upper rounded to C first)
/// ```
///
/// where `splitmix64_mix` is SplitMix64's output function (Steele, Lea and Flood 2014).
///
/// # Panics
/// If `lower` or `upper` is not finite in the compute type, or `lower > upper`.
pub fn rrelu_slope<T: Float>(lower: f64, upper: f64, seed: u64, index: u64) -> T::Compute {
    let (low, high) = or_panic(params::rrelu_range::<T>(lower, upper));
    low + (high - low) * T::unit_fraction(params::splitmix64(seed, index))
}

/// RReLU for element `index` of a call (PyTorch's `rrelu`): in training, Leaky ReLU
/// with the slope [`rrelu_slope`]; in evaluation, Leaky ReLU with the fixed slope
/// `(lower + upper) / 2`.
///
/// # Panics
/// As [`rrelu_slope`].
pub fn rrelu<T: Float>(x: T, lower: f64, upper: f64, mode: RreluMode, index: u64) -> T {
    let slope = rrelu_call_slope::<T>(lower, upper, mode, index);
    if x.ref_is_nan() || x.ref_gt_zero() {
        x
    } else {
        T::ref_narrow(x.ref_widen() * slope)
    }
}

/// RReLU backward for element `index`: `grad_output` where `x > 0`, the element's slope
/// times `grad_output` where `x <= 0`, the NaN `x` where `x` is NaN.
///
/// # Panics
/// As [`rrelu_slope`].
pub fn rrelu_backward<T: Float>(
    grad_output: T,
    x: T,
    lower: f64,
    upper: f64,
    mode: RreluMode,
    index: u64,
) -> T {
    let slope = rrelu_call_slope::<T>(lower, upper, mode, index);
    if x.ref_is_nan() {
        x
    } else if x.ref_gt_zero() {
        grad_output
    } else {
        T::ref_narrow(grad_output.ref_widen() * slope)
    }
}

/// The derivative of RReLU at element `index`: `1` where `x > 0`, the element's slope
/// rounded to `T` where `x <= 0`, the NaN `x` where `x` is NaN.
///
/// # Panics
/// As [`rrelu_slope`].
pub fn rrelu_derivative<T: Float>(x: T, lower: f64, upper: f64, mode: RreluMode, index: u64) -> T {
    let slope = rrelu_call_slope::<T>(lower, upper, mode, index);
    if x.ref_is_nan() {
        x
    } else if x.ref_gt_zero() {
        T::ONE
    } else {
        T::ref_narrow(slope)
    }
}

/// The slope of one RReLU element: drawn in training, the mean in evaluation.
fn rrelu_call_slope<T: Float>(lower: f64, upper: f64, mode: RreluMode, index: u64) -> T::Compute {
    match mode {
        RreluMode::Training { seed } => rrelu_slope::<T>(lower, upper, seed, index),
        RreluMode::Evaluation => or_panic(params::rrelu_mean::<T>(lower, upper)),
    }
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

/// One batch's magnitude sums, as a [`DeadUnitMonitor`](crate::DeadUnitMonitor) adds
/// them to an empty window: per unit of `layout` (`[outer, units, inner]`, logical C
/// order), the sum of `|h|` with `h` the given `outputs`, or `relu(pre_activations)`
/// when there are none; NaN adds nothing. The order of the sum is part of the contract
/// (so that the bits never depend on threads or memory layout):
/// - `inner >= 256`: each run of `inner` samples (one row `o`, one unit) in 32 lanes
///   (sample `i` to lane `i % 32`, each lane in order from `+0.0`), the lanes pairwise
///   (`lanes[k] += lanes[k + w]` for `w` = 16, 8, 4, 2, 1); the runs added in row order;
/// - otherwise, rows in blocks of 256 from the first; in a block, each position
///   `(unit, i)` summed over whole groups of four rows (`((a + b) + (c + d))` added in
///   group order) and then the block's last rows one by
///   one; the unit's positions added in order from `+0.0`; the blocks added in order.
///
/// # Panics
/// If `layout` does not describe `pre_activations`, or `outputs` is not as long.
pub fn magnitude_sums<T: Float>(
    pre_activations: &[T],
    outputs: Option<&[T]>,
    layout: ChannelLayout,
) -> Vec<f64> {
    or_panic(layout.check("pre_activations", pre_activations.len()));
    let (outer, units, inner) = (layout.outer(), layout.channels(), layout.inner());
    let magnitude = |index: usize| -> f64 {
        let h = match outputs {
            Some(h) => h[index],
            None => relu(pre_activations[index]),
        };
        if h.ref_is_nan() {
            0.0
        } else {
            h.ref_to_f64().abs()
        }
    };
    let at = |o: usize, unit: usize, i: usize| (o * units + unit) * inner + i;
    let mut sums = vec![0.0f64; units];
    if inner >= 256 {
        for o in 0..outer {
            for (unit, sum) in sums.iter_mut().enumerate() {
                let mut lanes = [0.0f64; 32];
                for i in 0..inner {
                    lanes[i % 32] += magnitude(at(o, unit, i));
                }
                let mut width = 16;
                while width > 0 {
                    for k in 0..width {
                        lanes[k] += lanes[k + width];
                    }
                    width /= 2;
                }
                *sum += lanes[0];
            }
        }
        return sums;
    }
    let rows_per_block = 256;
    for start in (0..outer).step_by(rows_per_block) {
        let end = outer.min(start + rows_per_block);
        let groups_end = start + (end - start) / 4 * 4;
        for (unit, sum) in sums.iter_mut().enumerate() {
            let mut piece = 0.0f64;
            for i in 0..inner {
                let m = |o: usize| magnitude(at(o, unit, i));
                let mut position = 0.0f64;
                for o in (start..groups_end).step_by(4) {
                    position += (m(o) + m(o + 1)) + (m(o + 2) + m(o + 3));
                }
                for o in groups_end..end {
                    position += m(o);
                }
                piece += position;
            }
            *sum += piece;
        }
    }
    sums
}
