//! `threshold`: forward, derivative and backward, and ReLU as its special case.

use half::{bf16, f16};

use super::harness::{Runner, Sample};
use crate::{Float, reference};

/// (threshold, value) pairs: ReLU's, PyTorch's example, negative, infinite, inexact.
const PARAMETERS: [(f64, f64); 5] = [
    (0.0, 0.0),
    (0.1, 20.0),
    (-1.5, -7.0),
    (f64::NEG_INFINITY, 1.0),
    (0.3, -0.3),
];

fn check<T: Sample + Float>() {
    for (i, (t, v)) in PARAMETERS.into_iter().enumerate() {
        let runner = Runner::for_parameter(i, 40 + i as u64);
        runner.unary::<T>(
            "threshold",
            |x, out| crate::threshold(x, t, v, out),
            Some(&|d| crate::threshold_inplace(d, t, v)),
            |x| reference::threshold(x, t, v),
        );
        runner.unary::<T>(
            "threshold_derivative",
            |x, out| crate::threshold_derivative(x, t, out),
            None,
            |x| reference::threshold_derivative(x, t),
        );
        runner.binary::<T>(
            "threshold_backward",
            |g, x, out| crate::threshold_backward(g, x, t, out),
            Some(&|g, x| crate::threshold_backward_inplace(g, x, t)),
            |g, x| reference::threshold_backward(g, x, t),
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

/// `relu(x)` is `threshold(x, 0, 0)`, and ReLU's backward is `threshold_backward(.., 0)`,
/// on every bit pattern of the 16-bit types.
#[test]
fn relu_is_threshold_at_zero() {
    for bits in 0..=u16::MAX {
        let x = bf16::from_bits(bits);
        assert_eq!(
            reference::threshold(x, 0.0, 0.0).to_bits(),
            reference::relu(x).to_bits()
        );
        let g = bf16::from_bits(bits.rotate_left(5));
        assert_eq!(
            reference::threshold_backward(g, x, 0.0).to_bits(),
            reference::relu_backward(g, x).to_bits()
        );
    }
}

/// PyTorch's rule: the threshold is compared in the compute type (`f32` for the 16-bit
/// types), so one the type cannot hold still separates the values either side of it;
/// the value is rounded to the element type. On every 16-bit pattern, against the rule
/// written in `f32`, and the case that showed the difference (bf16 0.30078125 > 0.3).
#[test]
fn sixteen_bit_inputs_are_compared_with_the_threshold_in_f32() {
    for (t, v) in [
        (0.3, 1.0),
        (1.0 / 3.0, -2.0),
        (-0.3, 7.0),
        (1e-30, 0.5),
        (65504.5, 0.0),
    ] {
        let t32 = t as f32;
        for bits in 0..=u16::MAX {
            let b = bf16::from_bits(bits);
            let expected = if b.is_nan() || b.to_f32() > t32 {
                b
            } else {
                bf16::from_f64(v)
            };
            assert_eq!(reference::threshold(b, t, v).to_bits(), expected.to_bits());
            let h = f16::from_bits(bits);
            let expected = if h.is_nan() || h.to_f32() > t32 {
                h
            } else {
                f16::from_f64(v)
            };
            assert_eq!(reference::threshold(h, t, v).to_bits(), expected.to_bits());
            let above = h.to_f32() > t32;
            assert_eq!(
                reference::threshold_derivative(h, t).to_bits(),
                if h.is_nan() {
                    h.to_bits()
                } else if above {
                    f16::ONE.to_bits()
                } else {
                    0
                }
            );
        }
    }
    let x = [bf16::from_f32(0.300_781_25)];
    let mut y = [bf16::ZERO];
    crate::threshold(&x, 0.3, -1.0, &mut y).unwrap();
    assert_eq!(y, x, "kept: above 0.3 in f32");
}
