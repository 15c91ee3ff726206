//! ReLU, its derivative and its backward pass.

use half::{bf16, f16};

use super::harness::{Runner, Sample};
use crate::{Float, reference};

fn check_relu<T: Sample>() {
    Runner::new(1).unary::<T>(
        "relu",
        crate::relu,
        Some(&|d| {
            crate::relu_inplace(d);
            Ok(())
        }),
        reference::relu,
    );
}

fn check_float<T: Sample + Float>() {
    check_relu::<T>();
    Runner::new(2).unary::<T>(
        "relu_derivative",
        crate::relu_derivative,
        None,
        reference::relu_derivative,
    );
    Runner::new(3).binary::<T>(
        "relu_backward",
        crate::relu_backward,
        Some(&crate::relu_backward_inplace),
        reference::relu_backward,
    );
}

#[test]
fn f32_matches_the_reference() {
    check_float::<f32>();
}
#[test]
fn f64_matches_the_reference() {
    check_float::<f64>();
}
#[test]
fn f16_matches_the_reference() {
    check_float::<f16>();
}
#[test]
fn bf16_matches_the_reference() {
    check_float::<bf16>();
}
#[test]
fn integers_match_the_reference() {
    check_relu::<i8>();
    check_relu::<i16>();
    check_relu::<i32>();
    check_relu::<i64>();
}
