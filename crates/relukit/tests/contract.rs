//! The public API against the contract: property tests on random data of every type,
//! the documented special cases, determinism under any thread count, the precision of
//! PReLU's weight gradient on 10^8 elements, and the `RELUKIT_ISA` override.

use proptest::prelude::*;
use rayon::ThreadPoolBuilder;
use relukit::{ChannelLayout, bf16, f16, reference};

fn bits32(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

proptest! {
    // A fixed seed: the same 200 cases on every run, so CI never depends on luck (change
    // the seed to explore other cases); no regression files are written.
    #![proptest_config(ProptestConfig {
        cases: 200,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7e1_c17),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn f32_functions_match_the_reference(bits in prop::collection::vec(any::<u32>(), 0..2000),
                                         grads in prop::collection::vec(any::<u32>(), 2000),
                                         slope in -4.0f64..4.0) {
        let x: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let g: Vec<f32> = grads[..x.len()].iter().map(|&b| f32::from_bits(b)).collect();
        let mut out = vec![0.0f32; x.len()];
        relukit::relu(&x, &mut out).unwrap();
        prop_assert_eq!(bits32(&out), bits32(&x.iter().map(|&v| reference::relu(v)).collect::<Vec<_>>()));
        relukit::relu_derivative(&x, &mut out).unwrap();
        prop_assert_eq!(bits32(&out), bits32(&x.iter().map(|&v| reference::relu_derivative(v)).collect::<Vec<_>>()));
        relukit::relu_backward(&g, &x, &mut out).unwrap();
        let expected: Vec<f32> = g.iter().zip(&x).map(|(&g, &x)| reference::relu_backward(g, x)).collect();
        prop_assert_eq!(bits32(&out), bits32(&expected));
        relukit::leaky_relu(&x, slope, &mut out).unwrap();
        prop_assert_eq!(bits32(&out), bits32(&x.iter().map(|&v| reference::leaky_relu(v, slope)).collect::<Vec<_>>()));
        relukit::leaky_relu_backward(&g, &x, slope, &mut out).unwrap();
        let expected: Vec<f32> = g.iter().zip(&x).map(|(&g, &x)| reference::leaky_relu_backward(g, x, slope)).collect();
        prop_assert_eq!(bits32(&out), bits32(&expected));
    }

    #[test]
    fn half_functions_match_the_reference(bits in prop::collection::vec(any::<u16>(), 0..2000), slope in -4.0f64..4.0) {
        let x: Vec<f16> = bits.iter().map(|&b| f16::from_bits(b)).collect();
        let mut out = vec![f16::ZERO; x.len()];
        relukit::leaky_relu(&x, slope, &mut out).unwrap();
        let expected: Vec<u16> = x.iter().map(|&v| reference::leaky_relu(v, slope).to_bits()).collect();
        prop_assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected);
        let y: Vec<bf16> = bits.iter().map(|&b| bf16::from_bits(b)).collect();
        let mut out = vec![bf16::ZERO; y.len()];
        relukit::relu(&y, &mut out).unwrap();
        let expected: Vec<u16> = y.iter().map(|&v| reference::relu(v).to_bits()).collect();
        prop_assert_eq!(out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn backward_from_the_output_equals_backward_from_the_input(
        bits in prop::collection::vec(any::<u32>(), 0..3000),
        grads in prop::collection::vec(-10.0f32..10.0, 3000),
    ) {
        let x: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let g = &grads[..x.len()];
        let mut y = x.clone();
        relukit::relu_inplace(&mut y);
        let (mut from_input, mut from_output) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
        relukit::relu_backward(g, &x, &mut from_input).unwrap();
        relukit::relu_backward(g, &y, &mut from_output).unwrap();
        prop_assert_eq!(bits32(&from_input), bits32(&from_output));
    }

    #[test]
    fn prelu_matches_the_reference(outer in 0usize..20, channels in 1usize..12, inner in 1usize..90,
                                   seed in any::<u64>(), shared in any::<bool>()) {
        let layout = ChannelLayout::new(outer, channels, inner);
        let len = layout.len().unwrap();
        let mut state = seed;
        let mut next = move || { state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((state >> 33) as f32 / (1u64 << 31) as f32) * 4.0 - 2.0 };
        let x: Vec<f32> = (0..len).map(|_| next()).collect();
        let g: Vec<f32> = (0..len).map(|_| next()).collect();
        let weight: Vec<f32> = (0..if shared { 1 } else { channels }).map(|_| next()).collect();
        let mut out = vec![0.0f32; len];
        relukit::prelu(&x, &weight, layout, &mut out).unwrap();
        prop_assert_eq!(bits32(&out), bits32(&reference::prelu(&x, &weight, layout)));
        let (mut gx, mut gw) = (vec![0.0f32; len], vec![0.0f32; weight.len()]);
        relukit::prelu_backward(&g, &x, &weight, layout, &mut gx, &mut gw).unwrap();
        let (expected_gx, expected_gw) = reference::prelu_backward(&g, &x, &weight, layout);
        prop_assert_eq!(bits32(&gx), bits32(&expected_gx));
        // The order of a float sum is an implementation choice: the error is bounded by the
        // terms' magnitude (1e-5 of it), plus the final rounding to f32.
        for (c, (got, want)) in gw.iter().zip(expected_gw).enumerate() {
            let scale: f64 = (0..len)
                .filter(|&i| (shared || (i / inner) % channels == c) && (x[i] <= 0.0 || x[i].is_nan()))
                .map(|i| (g[i] as f64 * x[i] as f64).abs())
                .sum();
            let tolerance = 1e-5 * scale + f32::EPSILON as f64 * want.abs();
            prop_assert!((*got as f64 - want).abs() <= tolerance, "{} vs {} (scale {})", got, want, scale);
        }
    }
}

#[test]
fn documented_special_values() {
    let x = [
        -0.0f32,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::from_bits(0x7fc0_1234),
        f32::from_bits(0xffc0_0001),
        -1e-45,
        1e-45,
    ];
    let mut y = [0.0f32; 7];
    relukit::relu(&x, &mut y).unwrap();
    assert_eq!(
        bits32(&y),
        [0, 0, 0x7f80_0000, 0x7fc0_1234, 0xffc0_0001, 0, 1]
    );
    relukit::relu_derivative(&x, &mut y).unwrap();
    assert_eq!(
        bits32(&y),
        [0, 0, 0x3f80_0000, 0x7fc0_1234, 0xffc0_0001, 0, 0x3f80_0000]
    );
    // A select, not a multiply: inf and NaN gradients are dropped where x <= 0.
    let g = [f32::INFINITY, f32::NAN, 2.0, 2.0, 2.0, f32::NAN, 3.0];
    relukit::relu_backward(&g, &x, &mut y).unwrap();
    assert_eq!(
        bits32(&y),
        [
            0,
            0,
            2.0f32.to_bits(),
            0x7fc0_1234,
            0xffc0_0001,
            0,
            3.0f32.to_bits()
        ]
    );
    relukit::leaky_relu(&x, 0.5, &mut y).unwrap();
    assert_eq!(
        bits32(&y),
        [
            0x8000_0000,
            0xff80_0000,
            0x7f80_0000,
            0x7fc0_1234,
            0xffc0_0001,
            0x8000_0000,
            1
        ]
    );
    // f16: NumPy's own float16 maximum keeps -0.0; relukit gives +0.0.
    let h = [
        f16::NEG_ZERO,
        f16::NEG_INFINITY,
        f16::from_bits(0x7e01),
        f16::MIN_POSITIVE_SUBNORMAL,
    ];
    let mut out = [f16::ONE; 4];
    relukit::relu(&h, &mut out).unwrap();
    assert_eq!(out.map(|v| v.to_bits()), [0, 0, 0x7e01, 1]);
    let ints = [i64::MIN, -1, 0, i64::MAX];
    let mut out = [1i64; 4];
    relukit::relu(&ints, &mut out).unwrap();
    assert_eq!(out, [0, 0, 0, i64::MAX]);
}

/// Large enough to cross the parallel threshold; results must not depend on threads.
#[test]
fn results_are_identical_for_every_thread_count() {
    let layouts = [
        ChannelLayout::new(8, 16, 4096),
        ChannelLayout::new(16384, 24, 1),
        ChannelLayout::new(1, 1, 600_000),
    ];
    for layout in layouts {
        let len = layout.len().unwrap();
        let x: Vec<f32> = (0..len)
            .map(|i| ((i * 7919 % 1000) as f32 - 600.0) / 37.0)
            .collect();
        let g: Vec<f32> = (0..len)
            .map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 91.0)
            .collect();
        let weight: Vec<f32> = (0..layout.channels())
            .map(|c| 0.01 + c as f32 / 64.0)
            .collect();
        let run = |threads: usize| {
            let pool = ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (mut gx, mut gw) = (vec![0.0f32; len], vec![0.0f32; weight.len()]);
                relukit::prelu_backward(&g, &x, &weight, layout, &mut gx, &mut gw).unwrap();
                let mut y = vec![0.0f32; len];
                relukit::prelu(&x, &weight, layout, &mut y).unwrap();
                (bits32(&gx), bits32(&gw), bits32(&y))
            })
        };
        let one = run(1);
        for threads in [2, 3, 4, 7] {
            assert_eq!(run(threads), one, "{threads} threads, layout {layout:?}");
        }
        assert_eq!(one.2, bits32(&reference::prelu(&x, &weight, layout)));
    }
}

/// The blocked sums keep 10^8 terms of one sign within 1e-5 of the exact sum (a plain
/// f32 running sum would stall at 2^24 and be off by more than half).
#[test]
fn prelu_weight_gradient_is_accurate_over_1e8_elements() {
    let len = 100_000_000;
    let x: Vec<f32> = (0..len)
        .map(|i| -(((i as u64 * 2_654_435_761) % 1_000_003) as f32 + 1.0) / 1_000_003.0)
        .collect();
    let g = vec![1.0f32; len];
    let exact: f64 = x.iter().map(|&v| v as f64).sum();
    for (layout, weight) in [
        (ChannelLayout::new(1, 1, len), vec![0.1f32]),
        (ChannelLayout::new(len / 4, 4, 1), vec![0.1f32; 4]),
    ] {
        let mut gx = vec![0.0f32; len];
        let mut gw = vec![0.0f32; weight.len()];
        relukit::prelu_backward(&g, &x, &weight, layout, &mut gx, &mut gw).unwrap();
        let total: f64 = gw.iter().map(|&v| v as f64).sum();
        let relative = ((total - exact) / exact).abs();
        assert!(
            relative < 1e-5,
            "layout {layout:?}: {total} vs exact {exact} (relative error {relative:e})"
        );
    }
    let xb: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
    let exact: f64 = xb.iter().map(|v| v.to_f64()).sum();
    let gb = vec![bf16::ONE; len];
    let mut gx = vec![bf16::ZERO; len];
    let mut gw = [bf16::ZERO];
    relukit::prelu_backward(
        &gb,
        &xb,
        &[bf16::from_f32(0.1)],
        ChannelLayout::new(1, 1, len),
        &mut gx,
        &mut gw,
    )
    .unwrap();
    // bf16 keeps 8 bits: the one rounding of the result dominates.
    assert!(
        ((gw[0].to_f64() - exact) / exact).abs() < 1.0 / 256.0,
        "{} vs {exact}",
        gw[0]
    );
}

#[test]
fn relukit_isa_forces_a_lower_path() {
    if let Ok(expected) = std::env::var("RELUKIT_TEST_EXPECT_ISA") {
        assert_eq!(relukit::active_isa().name(), expected);
        let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
        let mut y = [9.0f32; 5];
        relukit::relu(&x, &mut y).unwrap();
        assert_eq!(y, [0.0, 0.0, 0.0, 1.0, 2.0]);
        return;
    }
    let best = relukit::Isa::best();
    let avx2 = if relukit::Isa::Avx2.is_supported() {
        relukit::Isa::Avx2
    } else {
        best
    };
    for (request, expected) in [
        ("scalar", relukit::Isa::Portable),
        ("avx2", avx2),
        ("avx512", best),
        ("no-such-isa", best),
    ] {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "relukit_isa_forces_a_lower_path",
                "--test-threads=1",
            ])
            .env("RELUKIT_ISA", request)
            .env("RELUKIT_TEST_EXPECT_ISA", expected.name())
            .output()
            .unwrap();
        assert!(
            child.status.success(),
            "RELUKIT_ISA={request} should give {expected}:\n{}",
            String::from_utf8_lossy(&child.stdout)
        );
    }
}
