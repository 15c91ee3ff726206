//! RReLU: forward, derivative and backward in training (slopes drawn per element) and
//! evaluation; the slopes' distribution; the same slopes on every path.

use half::{bf16, f16};

use super::harness::{Runner, Sample};
use crate::{Float, RreluMode, reference};

/// (lower, upper) pairs: PyTorch's default (Xu et al.'s `a ~ U(3, 8)`, slopes `1/a`
/// from 1/8 to 1/3), a range across zero, a single point.
const RANGES: [(f64, f64); 3] = [(0.125, 1.0 / 3.0), (-0.5, 0.25), (0.2, 0.2)];

fn check<T: Sample + Float>() {
    for (i, (lower, upper)) in RANGES.into_iter().enumerate() {
        for mode in [
            RreluMode::Training {
                seed: 11 + i as u64,
            },
            RreluMode::Evaluation,
        ] {
            let runner = Runner::for_parameter(i, 60 + i as u64);
            // An element's slope is keyed by its position in the call.
            runner.indexed_unary::<T>(
                "rrelu",
                |x, out| crate::rrelu(x, lower, upper, mode, out),
                Some(&|d| crate::rrelu_inplace(d, lower, upper, mode)),
                |x, i| reference::rrelu(x, lower, upper, mode, i),
            );
            runner.indexed_unary::<T>(
                "rrelu_derivative",
                |x, out| crate::rrelu_derivative(x, lower, upper, mode, out),
                None,
                |x, i| reference::rrelu_derivative(x, lower, upper, mode, i),
            );
            runner.indexed_binary::<T>(
                "rrelu_backward",
                |g, x, out| crate::rrelu_backward(g, x, lower, upper, mode, out),
                Some(&|g, x| crate::rrelu_backward_inplace(g, x, lower, upper, mode)),
                |g, x, i| reference::rrelu_backward(g, x, lower, upper, mode, i),
            );
        }
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

/// The slopes are uniform in [lower, upper): mean, spread and range over 10^6 draws;
/// different seeds give different slopes; the slopes of one seed do not depend on the
/// chunk a call is split into.
#[test]
fn slopes_are_uniform_and_keyed_by_seed_and_index() {
    let (lower, upper) = (0.125, 1.0 / 3.0);
    let n = 1_000_000u64;
    let slopes: Vec<f64> = (0..n)
        .map(|i| reference::rrelu_slope::<f32>(lower, upper, 42, i) as f64)
        .collect();
    let mean = slopes.iter().sum::<f64>() / n as f64;
    let var = slopes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n as f64;
    let width = upper - lower;
    assert!(
        (mean - (lower + upper) / 2.0).abs() < 4.0 * width / (12.0 * n as f64).sqrt(),
        "{mean}"
    );
    assert!(
        (var - width * width / 12.0).abs() < 0.01 * width * width / 12.0,
        "{var}"
    );
    assert!(
        slopes
            .iter()
            .all(|&s| s >= lower as f32 as f64 && s < upper)
    );
    let other: Vec<f32> = (0..100)
        .map(|i| reference::rrelu_slope::<f32>(lower, upper, 43, i))
        .collect();
    assert!(other.iter().zip(&slopes).all(|(&a, &b)| a as f64 != b));
    // Element i of a call gets the slope of index i.
    let x = vec![-1.0f32; 1000];
    let mut whole = vec![0.0f32; 1000];
    crate::rrelu(
        &x,
        lower,
        upper,
        RreluMode::Training { seed: 3 },
        &mut whole,
    )
    .unwrap();
    let expected: Vec<f32> = (0..1000)
        .map(|i| reference::rrelu(-1.0f32, lower, upper, RreluMode::Training { seed: 3 }, i))
        .collect();
    assert_eq!(whole, expected);
}
