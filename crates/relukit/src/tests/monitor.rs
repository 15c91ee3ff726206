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
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (outer, units, inner) in layouts {
        let layout = ChannelLayout::new(outer, units, inner);
        let data = f32::vec(&mut rng, outer * units * inner);
        let mut active = vec![0u64; units];
        let mut nan = vec![0u64; units];
        for (i, &x) in data.iter().enumerate() {
            active[(i / inner) % units] += (x > 0.0) as u64;
            nan[(i / inner) % units] += x.is_nan() as u64;
        }
        let relu: Vec<u32> = data.iter().map(|&x| reference::relu(x).to_bits()).collect();
        for threaded in [false, true] {
            for config in configs(threaded) {
                let what = format!("{config} layout ({outer}, {units}, {inner})");
                let mut out = vec![0.0f32; data.len()];
                let (mut counted, mut fused) =
                    (DeadUnitMonitor::new(units), DeadUnitMonitor::new(units));
                pool.install(|| {
                    with(config, || {
                        counted.observe_slice(&data, layout).unwrap();
                        fused.relu_observed_slice(&data, &mut out, layout).unwrap();
                    })
                });
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
