//! Leaky ReLU: forward, derivative and backward, for slopes of every kind; and the lane
//! formulas on every 16-bit pattern.

use half::{bf16, f16};

use super::harness::{Runner, Sample};
use crate::{Float, ops, reference};

/// Slopes: PyTorch's default, zero, negative, above one, tiny, and the largest finite `f32`.
const SLOPES: [f64; 6] = [0.01, 0.0, -0.5, 1.5, 1e-30, 3.0e38];

fn check<T: Sample + Float>() {
    for (i, slope) in SLOPES.into_iter().enumerate() {
        let runner = Runner::for_parameter(i, 10 + i as u64);
        runner.unary::<T>(
            "leaky_relu",
            |x, out| crate::leaky_relu(x, slope, out),
            Some(&|d| crate::leaky_relu_inplace(d, slope)),
            |x| reference::leaky_relu(x, slope),
        );
        runner.unary::<T>(
            "leaky_relu_derivative",
            |x, out| crate::leaky_relu_derivative(x, slope, out),
            None,
            |x| reference::leaky_relu_derivative(x, slope),
        );
        runner.binary::<T>(
            "leaky_relu_backward",
            |g, x, out| crate::leaky_relu_backward(g, x, slope, out),
            Some(&|g, x| crate::leaky_relu_backward_inplace(g, x, slope)),
            |g, x| reference::leaky_relu_backward(g, x, slope),
        );
    }
}

#[test]
fn f32_matches_the_reference() {
    check::<f32>();
}
#[test]
fn f64_matches_the_reference() {
    check::<f64>();
}
#[test]
fn f16_matches_the_reference() {
    check::<f16>();
}
#[test]
fn bf16_matches_the_reference() {
    check::<bf16>();
}

/// The lane formulas on every 16-bit pattern against the reference, pairs included.
#[test]
fn lanes_match_the_reference_on_every_16_bit_pattern() {
    fn check<T: Float + Sample>(from_bits: fn(u16) -> T) {
        let grads: Vec<T> = T::specials()
            .into_iter()
            .chain([from_bits(0x1234), from_bits(0xc321)])
            .collect();
        for bits in 0..=u16::MAX {
            let x = from_bits(bits);
            assert_eq!(x.relu().bits(), reference::relu(x).bits(), "relu {bits:#x}");
            assert_eq!(x.gt_zero(), x.ref_gt_zero(), "gt_zero {bits:#x}");
            assert_eq!(x.is_nan(), x.ref_is_nan(), "is_nan {bits:#x}");
            assert_eq!(
                x.le_zero(),
                !x.ref_gt_zero() && !x.ref_is_nan(),
                "le_zero {bits:#x}"
            );
            for slope in [0.01, -2.0, 0.0] {
                let s = T::slope(slope);
                assert_eq!(
                    ops::leaky::forward(x, s).bits(),
                    reference::leaky_relu(x, slope).bits(),
                    "leaky {bits:#x} {slope}"
                );
                for &g in &grads {
                    assert_eq!(
                        ops::leaky::backward(g, x, s).bits(),
                        reference::leaky_relu_backward(g, x, slope).bits(),
                        "leaky backward {:#x} {bits:#x} {slope}",
                        g.bits()
                    );
                }
            }
        }
    }
    check::<f16>(f16::from_bits);
    check::<bf16>(bf16::from_bits);
}
