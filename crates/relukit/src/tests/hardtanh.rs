//! Hardtanh: the five slice functions for several bounds, the reference against the
//! definition on every 16-bit pattern, ReLU6 and clipped ReLU as its special cases, and
//! its parameter errors.

use half::{bf16, f16};

use super::harness::{Runner, Sample};
use crate::activation::{ClippedRelu, Hardtanh, Relu6};
use crate::{ErrorKind, Float, reference};

/// (min_val, max_val): PyTorch's default, ReLU6's, inexact in the 16-bit types, one
/// point, unbounded on either side, signed zeros.
const BOUNDS: [(f64, f64); 7] = [
    (-1.0, 1.0),
    (0.0, 6.0),
    (-0.3, 6.1),
    (2.5, 2.5),
    (f64::NEG_INFINITY, 0.5),
    (-4.0, f64::INFINITY),
    (-0.0, 0.0),
];

fn check<T: Sample + Float>() {
    for (i, (min_val, max_val)) in BOUNDS.into_iter().enumerate() {
        Runner::for_parameter(i, 80 + i as u64).activation::<T, _>(&Hardtanh { min_val, max_val });
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

/// The named functions are the generic ones (a sample: the matrix above ran the generic
/// path).
#[test]
fn the_named_functions_are_the_activation() {
    let mut rng = crate::testing::Rng::new(3);
    let x = f32::vec(&mut rng, 5000);
    let g = f32::vec(&mut rng, 5000);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    let expect = |f: &dyn Fn(f32) -> f32| x.iter().map(|&v| f(v).to_bits()).collect::<Vec<_>>();
    let mut out = vec![0.0f32; x.len()];
    crate::hardtanh(&x, -0.5, 2.0, &mut out).unwrap();
    assert_eq!(bits(&out), expect(&|v| reference::hardtanh(v, -0.5, 2.0)));
    crate::hardtanh_derivative(&x, -0.5, 2.0, &mut out).unwrap();
    assert_eq!(
        bits(&out),
        expect(&|v| reference::hardtanh_derivative(v, -0.5, 2.0))
    );
    crate::hardtanh_backward(&g, &x, -0.5, 2.0, &mut out).unwrap();
    let want: Vec<u32> = g
        .iter()
        .zip(&x)
        .map(|(&g, &v)| reference::hardtanh_backward(g, v, -0.5, 2.0).to_bits())
        .collect();
    assert_eq!(bits(&out), want);
    let mut grad = g.clone();
    crate::hardtanh_backward_inplace(&mut grad, &x, -0.5, 2.0).unwrap();
    assert_eq!(bits(&grad), want);
    let mut data = x.clone();
    crate::hardtanh_inplace(&mut data, -0.5, 2.0).unwrap();
    assert_eq!(bits(&data), expect(&|v| reference::hardtanh(v, -0.5, 2.0)));
}

/// The reference against PyTorch's definition written out in `f64` (`x` inside the
/// bounds, the bound at or beyond it, `max_val` where both are, NaN kept), on every
/// 16-bit pattern.
#[test]
fn the_reference_is_a_clamp_on_every_16_bit_pattern() {
    fn check<T: Float>(from_bits: fn(u16) -> T) {
        for (lo, hi) in BOUNDS {
            let (l, h) = (T::from_f64(lo), T::from_f64(hi));
            for bits in 0..=u16::MAX {
                let x = from_bits(bits);
                let v = x.ref_to_f64();
                // min(max(x, min_val), max_val): the upper bound applied last.
                let expected = if x.ref_is_nan() {
                    x
                } else if v >= h.ref_to_f64() {
                    h
                } else if v <= l.ref_to_f64() {
                    l
                } else {
                    x
                };
                assert_eq!(
                    reference::hardtanh(x, lo, hi).bits(),
                    expected.bits(),
                    "{bits:#x} {lo} {hi}"
                );
                let inside = l.ref_to_f64() < v && v < h.ref_to_f64();
                let d = reference::hardtanh_derivative(x, lo, hi);
                let want = if x.ref_is_nan() {
                    x
                } else if inside {
                    T::ONE
                } else {
                    T::ZERO
                };
                assert_eq!(d.bits(), want.bits(), "derivative {bits:#x} {lo} {hi}");
            }
        }
    }
    check::<f16>(f16::from_bits);
    check::<bf16>(bf16::from_bits);
}

/// ReLU6 is `hardtanh(x, 0, 6)` and clipped ReLU `hardtanh(x, 0, ceiling)`, forward and
/// backward, on every 16-bit pattern (relukit's `+0` for `-0.0` included).
#[test]
fn relu6_and_clipped_relu_are_hardtanh_from_zero() {
    use crate::activation::Activation;
    fn check<T: Float>(from_bits: fn(u16) -> T) {
        for ceiling in [6.0, 0.5, 0.0, 6.1, f64::INFINITY] {
            let hardtanh = Hardtanh {
                min_val: 0.0,
                max_val: ceiling,
            };
            let clipped = ClippedRelu { ceiling };
            for bits in 0..=u16::MAX {
                let x = from_bits(bits);
                let g = from_bits(bits.rotate_left(7));
                assert_eq!(
                    hardtanh.reference(x, 0).bits(),
                    clipped.reference(x, 0).bits()
                );
                assert_eq!(
                    hardtanh.reference_backward(g, x, 0).bits(),
                    clipped.reference_backward(g, x, 0).bits()
                );
                if ceiling == 6.0 {
                    assert_eq!(
                        hardtanh.reference(x, 0).bits(),
                        Relu6.reference(x, 0).bits()
                    );
                }
            }
        }
    }
    check::<f16>(f16::from_bits);
    check::<bf16>(bf16::from_bits);
}

/// NaN bounds and `min_val > max_val` are refused before anything is written, by every
/// form; so is a length mismatch.
#[test]
fn bad_bounds_are_refused_and_nothing_is_written() {
    for (lo, hi) in [(f64::NAN, 1.0), (-1.0, f64::NAN), (1.0, -1.0), (0.5, 0.25)] {
        let x = [0.25f32, -3.0];
        let mut out = [7.0f32; 2];
        let error = crate::hardtanh(&x, lo, hi, &mut out).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::OutOfRange, "{error}");
        assert!(error.to_string().contains("min_val"), "{error}");
        assert_eq!(out, [7.0; 2]);
        let mut data = x;
        assert!(crate::hardtanh_inplace(&mut data, lo, hi).is_err());
        assert_eq!(data, x);
        assert!(crate::hardtanh_derivative(&x, lo, hi, &mut out).is_err());
        assert!(crate::hardtanh_backward(&x, &x, lo, hi, &mut out).is_err());
        let mut grad = [7.0f32; 2];
        assert!(crate::hardtanh_backward_inplace(&mut grad, &x, lo, hi).is_err());
        assert_eq!((out, grad), ([7.0; 2], [7.0; 2]));
    }
    let mut short = [0.0f32; 1];
    let error = crate::hardtanh(&[1.0f32, 2.0], -1.0, 1.0, &mut short).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LengthMismatch);
}
