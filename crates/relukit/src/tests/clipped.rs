//! Clipped ReLU and ReLU6: forward, derivative and backward, for several ceilings.

use half::{bf16, f16};

use super::harness::{Runner, Sample};
use crate::{Float, reference};

/// Ceilings: ReLU6's, a fraction, zero, one inexact in the 16-bit types, infinity.
const CEILINGS: [f64; 5] = [6.0, 0.5, 0.0, 6.1, f64::INFINITY];

fn check<T: Sample + Float>() {
    for (i, c) in CEILINGS.into_iter().enumerate() {
        let runner = Runner::for_parameter(i, 20 + i as u64);
        runner.unary::<T>(
            "clipped_relu",
            |x, out| crate::clipped_relu(x, c, out),
            Some(&|d| crate::clipped_relu_inplace(d, c)),
            |x| reference::clipped_relu(x, c),
        );
        runner.unary::<T>(
            "clipped_relu_derivative",
            |x, out| crate::clipped_relu_derivative(x, c, out),
            None,
            |x| reference::clipped_relu_derivative(x, c),
        );
        runner.binary::<T>(
            "clipped_relu_backward",
            |g, x, out| crate::clipped_relu_backward(g, x, c, out),
            Some(&|g, x| crate::clipped_relu_backward_inplace(g, x, c)),
            |g, x| reference::clipped_relu_backward(g, x, c),
        );
    }
    let runner = Runner::new(29);
    runner.unary::<T>(
        "relu6",
        crate::relu6,
        Some(&|d| {
            crate::relu6_inplace(d);
            Ok(())
        }),
        |x| reference::clipped_relu(x, 6.0),
    );
    runner.unary::<T>("relu6_derivative", crate::relu6_derivative, None, |x| {
        reference::clipped_relu_derivative(x, 6.0)
    });
    runner.binary::<T>(
        "relu6_backward",
        crate::relu6_backward,
        Some(&crate::relu6_backward_inplace),
        |g, x| reference::clipped_relu_backward(g, x, 6.0),
    );
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

/// Backward from the forward output equals backward from the input (in-place training).
#[test]
fn backward_from_the_output_equals_backward_from_the_input() {
    let mut rng = crate::testing::Rng::new(5);
    let x = f32::vec(&mut rng, 10_000);
    let g = f32::vec(&mut rng, 10_000);
    let mut y = x.clone();
    crate::relu6_inplace(&mut y);
    let (mut from_x, mut from_y) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
    crate::relu6_backward(&g, &x, &mut from_x).unwrap();
    crate::relu6_backward(&g, &y, &mut from_y).unwrap();
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&from_x), bits(&from_y));
}
