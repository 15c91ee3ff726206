//! The dead-unit monitor: counts and the fused ReLU on every path.

use crate::testing::{Rng, configs, with};
use crate::{ChannelLayout, DeadUnitMonitor, reference};

use super::harness::Sample;

/// Every level, threaded or not, streamed or not: the same counts and ReLU output as a
/// direct count, for runs and for interleaved units of many periods.
#[test]
fn counts_and_fused_relu_match_a_direct_count_on_every_path() {
    let mut rng = Rng::new(9);
    let layouts = [
        (40, 7, 1),
        (3, 5, 300),
        (2, 3, 5000),
        (9000, 2, 1),
        (1, 1, 9001),
        (700, 13, 2),
        (3, 4100, 1),
        (2, 2, 17000),
        (1030, 33, 1),
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (outer, units, inner) in layouts {
        let layout = ChannelLayout::new(outer, units, inner);
        // Three samples in four spread over 2^-20..2^20 with 24 random bits, so that
        // sums need more than f64's 53 bits and another order rounds differently.
        let mut data = f32::vec(&mut rng, outer * units * inner);
        for (i, x) in data.iter_mut().enumerate().filter(|(i, _)| i % 4 != 0) {
            let bits = rng.next_u64() ^ i as u64;
            let exponent = (127 - 20 + bits % 41) as u32;
            *x = f32::from_bits(((bits >> 8) as u32 & 0x807f_ffff) | (exponent << 23));
        }
        let mut active = vec![0u64; units];
        let mut nan = vec![0u64; units];
        for (i, &x) in data.iter().enumerate() {
            active[(i / inner) % units] += (x > 0.0) as u64;
            nan[(i / inner) % units] += x.is_nan() as u64;
        }
        let relu: Vec<u32> = data.iter().map(|&x| reference::relu(x).to_bits()).collect();
        // Leaky ReLU's outputs, whose negative side has a magnitude.
        let leaky: Vec<f32> = data
            .iter()
            .map(|&x| reference::leaky_relu(x, 0.25))
            .collect();
        let sums = bits(&reference::magnitude_sums(&data, None, layout));
        let leaky_sums = bits(&reference::magnitude_sums(&data, Some(&leaky), layout));
        for threaded in [false, true] {
            for config in configs(threaded) {
                let what = format!("{config} layout ({outer}, {units}, {inner})");
                let mut out = vec![0.0f32; data.len()];
                let (mut counted, mut fused) =
                    (DeadUnitMonitor::new(units), DeadUnitMonitor::new(units));
                let mut counts_only = DeadUnitMonitor::counts_only(units);
                let mut out_counted = vec![0.0f32; data.len()];
                let mut outputs = DeadUnitMonitor::new(units);
                pool.install(|| {
                    with(config, || {
                        counted.observe_slice(&data, layout).unwrap();
                        fused.relu_observed_slice(&data, &mut out, layout).unwrap();
                        counts_only
                            .relu_observed_slice(&data, &mut out_counted, layout)
                            .unwrap();
                        outputs
                            .observe_outputs_slice(&data, &leaky, layout)
                            .unwrap();
                    })
                });
                let sums_of = |m: &DeadUnitMonitor| bits(m.magnitude_sums().unwrap());
                assert_eq!(sums_of(&counted), sums, "sums {what}");
                assert_eq!(sums_of(&outputs), leaky_sums, "leaky sums {what}");
                assert_eq!(counts_only.magnitude_sums(), None);
                assert_eq!(
                    counts_only.active_counts(),
                    &active[..],
                    "counts only {what}"
                );
                let out_bits = |o: &[f32]| o.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(out_bits(&out_counted), relu, "counts only relu {what}");
                assert_eq!(outputs.active_counts(), &active[..], "outputs {what}");
                assert_eq!(counted.active_counts(), &active[..], "count {what}");
                assert_eq!(counted.nan_counts(), &nan[..], "count {what}");
                assert_eq!(fused, counted, "fused {what}");
                assert_eq!(
                    out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    relu,
                    "relu {what}"
                );
            }
        }
    }
}

/// `f64` values as bits, to compare sums exactly.
fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The sums are the ones a plain sum would give, to rounding: the reference's order
/// loses nothing that matters (a check of the reference itself).
#[test]
fn magnitude_sums_are_plain_sums_to_rounding() {
    let mut rng = Rng::new(10);
    for (outer, units, inner) in [(50, 3, 1), (4, 2, 3000), (100, 7, 9)] {
        let layout = ChannelLayout::new(outer, units, inner);
        let data: Vec<f32> = f32::vec(&mut rng, outer * units * inner)
            .into_iter()
            .map(|x| if x.is_finite() { x } else { 1.0 })
            .collect();
        let sums = reference::magnitude_sums(&data, None, layout);
        for (unit, &sum) in sums.iter().enumerate() {
            let plain: f64 = (0..outer * inner)
                .map(|s| data[(s / inner * units + unit) * inner + s % inner])
                .filter(|x| *x > 0.0)
                .map(f64::from)
                .sum();
            let scale = plain.abs().max(1e-300);
            assert!(
                (sum - plain).abs() <= 1e-12 * scale,
                "{sum} against {plain}"
            );
        }
    }
}

/// The documented order, where it shows: values `1` and two `2^-53` give `1 + 2^-52`
/// when the two small ones meet first (the pairs of a group of four rows, two lanes of
/// a run, two blocks), and `1` in a plain running sum. Every path, threaded or not.
#[test]
fn the_sums_follow_the_documented_order() {
    let tiny = 2.0f32.powi(-53);
    let expected = 1.0 + 2.0f64.powi(-52);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // (layout, where the values are)
    let block = 256;
    let cases = [
        // A group of four rows: (1 + 0) + (2^-53 + 2^-53).
        (
            ChannelLayout::new(4, 1, 1),
            vec![(0, 1.0), (2, tiny), (3, tiny)],
        ),
        // A run: lane 0 holds 1, lanes 1 and 17 meet in the tree before lane 0.
        (
            ChannelLayout::new(1, 1, 256),
            vec![(0, 1.0), (1, tiny), (17, tiny)],
        ),
        // Two blocks of interleaved rows: the second's sum is added whole.
        (
            ChannelLayout::new(2 * block, 1, 1),
            vec![(0, 1.0), (block, tiny), (block + 4, tiny)],
        ),
    ];
    for (layout, values) in cases {
        let mut data = vec![0.0f32; layout.len().unwrap()];
        for &(at, value) in &values {
            data[at] = value;
        }
        assert_eq!(
            reference::magnitude_sums(&data, None, layout),
            vec![expected],
            "reference {layout:?}"
        );
        for threaded in [false, true] {
            for config in configs(threaded) {
                let mut monitor = DeadUnitMonitor::new(1);
                let mut out = vec![0.0f32; data.len()];
                pool.install(|| {
                    with(config, || {
                        monitor
                            .relu_observed_slice(&data, &mut out, layout)
                            .unwrap()
                    })
                });
                assert_eq!(
                    bits(monitor.magnitude_sums().unwrap()),
                    bits(&[expected]),
                    "{config} {layout:?}"
                );
            }
        }
    }
}

/// A caller's split (`observe_split`): any cover of the rows by aligned ranges, run on
/// scoped threads in any order, gives the bits of one call; a split that leaves a gap,
/// overlaps or starts off the alignment is an error and leaves the monitor as it was.
#[test]
fn a_callers_split_gives_the_bits_of_one_call() {
    let mut rng = Rng::new(31);
    for (outer, units, inner) in [
        (1000, 3, 1),
        (700, 5, 4),
        (6, 2, 3000),
        (0, 3, 2),
        (300, 1, 256),
    ] {
        let layout = ChannelLayout::new(outer, units, inner);
        let x = f32::vec(&mut rng, outer * units * inner);
        let h: Vec<f32> = x
            .iter()
            .map(|v| if *v > 0.0 { *v } else { -0.25 * v })
            .collect();
        for summing in [true, false] {
            let fresh = || match summing {
                true => DeadUnitMonitor::new(units),
                false => DeadUnitMonitor::counts_only(units),
            };
            for outputs in [None, Some(&h[..])] {
                let mut whole = fresh();
                match outputs {
                    Some(h) => whole.observe_outputs_slice(&x, h, layout).unwrap(),
                    None => whole.observe_slice(&x, layout).unwrap(),
                }
                for pieces in [1, 2, 3, 7] {
                    let mut split = fresh();
                    split
                        .observe_split(&x, outputs, layout, &|rows, align, part| {
                            let per = rows.div_ceil(pieces).next_multiple_of(align).max(align);
                            let starts: Vec<usize> = (0..rows).step_by(per).collect();
                            std::thread::scope(|s| {
                                for &first in starts.iter().rev() {
                                    s.spawn(move || part(first, (first + per).min(rows)));
                                }
                            });
                        })
                        .unwrap();
                    assert_eq!(split, whole, "{layout:?} summing {summing} pieces {pieces}");
                }
            }
        }
    }
    let layout = ChannelLayout::new(600, 2, 1);
    let x = f32::vec(&mut rng, 1200);
    let mut monitor = DeadUnitMonitor::new(2);
    monitor.observe_slice(&x, layout).unwrap();
    let before = monitor.clone();
    type Split<'a> = &'a dyn Fn(usize, usize, &crate::SplitPart<'_>);
    let splits: [Split<'_>; 4] = [
        &|rows, _, part| part(0, rows - 1), // a gap at the end
        &|rows, _, part| {
            part(0, 256);
            part(0, rows);
        }, // overlapping
        &|rows, _, part| {
            part(0, 100);
            part(100, rows);
        }, // not at a block
        &|_, _, _| {},                      // nothing
    ];
    for split in splits {
        let err = monitor.observe_split(&x, None, layout, split).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::LayoutMismatch, "{err}");
        assert_eq!(monitor, before);
    }
}
