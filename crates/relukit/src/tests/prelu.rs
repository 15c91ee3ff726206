//! PReLU: forward, in place, derivative and backward, on layouts of every kind (runs,
//! periodic patterns, shared slopes, degenerate ones); the weight gradient within its
//! documented error of an exact sum, and with the same bits on every path.

use std::collections::HashMap;

use half::{bf16, f16};
use rayon::ThreadPoolBuilder;

use super::harness::{Sample, assert_bits};
use crate::testing::{Config, Rng, configs, with};
use crate::{ChannelLayout, Float, reference};

/// Layouts PReLU is checked on: runs, periodic patterns, shared slopes, degenerate ones.
fn prelu_layouts() -> Vec<ChannelLayout> {
    let shapes = [
        (1, 1, 1),
        (1, 1, 300),
        (300, 1, 1),
        (1, 5, 1),
        (7, 3, 1),
        (2, 3, 5),
        (300, 3, 2),
        (3, 4, 64),
        (2, 3, 100),
        (1, 2, 70_001),
        (5000, 7, 1),
        (4, 1000, 1),
        (2, 17, 63),
        (0, 3, 4),
        (3, 0, 4),
        (1, 300, 1),
        (9, 2, 1),
        (64, 33, 3),
    ];
    shapes
        .into_iter()
        .map(|(o, c, i)| ChannelLayout::new(o, c, i))
        .collect()
}

/// What the weight gradient's bits may depend on: the layout, the weights and the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GradientCase {
    layout: ChannelLayout,
    weights: usize,
}

fn check_prelu<T: Sample + Float>() {
    let mut weight_grads: HashMap<GradientCase, Vec<u64>> = HashMap::new();
    let run = |config: Config, offset: usize, record: &mut HashMap<GradientCase, Vec<u64>>| {
        for layout in prelu_layouts() {
            let len = layout.len().unwrap();
            for shared in [false, true] {
                let weights = if shared { 1 } else { layout.channels() };
                if weights == 0 {
                    continue;
                }
                let mut seeded = Rng::new((len * 31 + weights) as u64);
                let x = T::vec(&mut seeded, len);
                let g = T::vec(&mut seeded, len);
                // Mostly ordinary slopes, sometimes a special one (NaN, inf, subnormal...),
                // the same for every configuration.
                let mut seeded_weights = Rng::new((len * 17 + weights) as u64);
                let rng = &mut seeded_weights;
                let w: Vec<T> = (0..weights)
                    .map(|_| {
                        if rng.next_u64().is_multiple_of(4) {
                            T::sample(rng)
                        } else {
                            T::ordinary(rng)
                        }
                    })
                    .collect();
                let case = format!(
                    "{} {config} layout {layout:?} weights {weights} offset {offset}",
                    std::any::type_name::<T>()
                );
                let mut xb = vec![T::ZERO; offset];
                xb.extend_from_slice(&x);
                let x_in = &xb[offset..];

                let expected = reference::prelu(&x, &w, layout);
                let mut out = vec![T::ZERO; len + offset];
                with(config, || {
                    crate::prelu(x_in, &w, layout, &mut out[offset..])
                })
                .unwrap();
                assert_bits("prelu", &case, &[&x], &out[offset..], &expected);
                let mut data = xb.clone();
                with(config, || {
                    crate::prelu_inplace(&mut data[offset..], &w, layout)
                })
                .unwrap();
                assert_bits("prelu_inplace", &case, &[&x], &data[offset..], &expected);

                let (expected_gx, expected_gw) = reference::prelu_backward(&g, &x, &w, layout);
                let mut gx = vec![T::ZERO; len + offset];
                let mut gw = vec![T::ZERO; weights];
                with(config, || {
                    crate::prelu_backward(&g, x_in, &w, layout, &mut gx[offset..], &mut gw)
                })
                .unwrap();
                // Where both factors of `weight * grad` are NaN, IEEE 754 leaves open which
                // NaN comes out (and the compiler may swap the operands): any NaN will do.
                let mut expected_gx = expected_gx;
                for (i, e) in expected_gx.iter_mut().enumerate() {
                    let c = if weights == 1 {
                        0
                    } else {
                        (i / layout.inner()) % layout.channels()
                    };
                    let both_nan = g[i].ref_is_nan() && w[c].ref_is_nan() && !x[i].ref_is_nan();
                    if both_nan && gx[offset + i].ref_is_nan() {
                        *e = gx[offset + i];
                    }
                }
                assert_bits(
                    "prelu_backward grad_input",
                    &case,
                    &[&g, &x],
                    &gx[offset..],
                    &expected_gx,
                );
                for (c, (&got, &want)) in gw.iter().zip(&expected_gw).enumerate() {
                    let got = got.ref_to_f64();
                    let want_rounded = T::from_f64(want).ref_to_f64();
                    let scale = magnitude_of_terms(&g, &x, &w, layout, c);
                    if scale > T::COMPUTE_MAX {
                        // Terms this large may overflow a partial sum in the compute
                        // type (documented); only the reference is exact there.
                    } else if want.is_nan() || got.is_nan() {
                        assert!(
                            want.is_nan() && got.is_nan(),
                            "grad_weight[{c}] {case}: {got} vs {want}"
                        );
                    } else if want_rounded.is_infinite() {
                        assert_eq!(got, want_rounded, "grad_weight[{c}] {case}");
                    } else {
                        // 1e-5 of the terms' magnitude for the order of summation, and
                        // a unit in the last place of `T` for the final rounding.
                        // (A sum too small for `T` rounds to zero or a subnormal.)
                        let tolerance = 1e-5 * scale
                            + 2.0 * T::EPSILON * want.abs()
                            + (want_rounded - want).abs()
                            + len as f64 * T::COMPUTE_TINY;
                        assert!(
                            (got - want).abs() <= tolerance,
                            "grad_weight[{c}] {case}: {got} vs {want} (scale {scale})"
                        );
                    }
                }
                // Determinism: every level, thread count, store kind and offset gives
                // the bits of the first.
                let bits: Vec<u64> = gw.iter().map(|v| v.bits()).collect();
                let first = record
                    .entry(GradientCase { layout, weights })
                    .or_insert_with(|| bits.clone());
                assert_eq!(*first, bits, "grad_weight differs between paths: {case}");
                let expected = reference::prelu_derivative(&x, &w, layout);
                let mut derivative = vec![T::ZERO; len];
                with(config, || {
                    crate::prelu_derivative(x_in, &w, layout, &mut derivative)
                })
                .unwrap();
                assert_bits("prelu_derivative", &case, &[&x], &derivative, &expected);
            }
        }
    };
    for config in configs(false) {
        for offset in [0, 1, 3] {
            run(config, offset, &mut weight_grads);
        }
    }
    for threads in [2, 3] {
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            for config in configs(true) {
                run(config, 1, &mut weight_grads);
            }
        });
    }
}

/// The sum of |g * x| over the terms of channel `c`: the scale of a sum's rounding error.
fn magnitude_of_terms<T: Float>(g: &[T], x: &[T], w: &[T], layout: ChannelLayout, c: usize) -> f64 {
    g.iter()
        .zip(x)
        .enumerate()
        .filter(|&(i, (_, x))| {
            (w.len() == 1 || (i / layout.inner()) % layout.channels() == c) && !x.ref_gt_zero()
        })
        .map(|(_, (g, x))| (g.ref_to_f64() * x.ref_to_f64()).abs())
        .sum()
}

#[test]
fn prelu_matches_reference_f32() {
    check_prelu::<f32>();
}
#[test]
fn prelu_matches_reference_f64() {
    check_prelu::<f64>();
}
#[test]
fn prelu_matches_reference_f16() {
    check_prelu::<f16>();
}
#[test]
fn prelu_matches_reference_bf16() {
    check_prelu::<bf16>();
}
