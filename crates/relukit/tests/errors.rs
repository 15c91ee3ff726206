//! Every error path: the kind, a message that names the argument and both sizes, and
//! outputs left exactly as they were.

use relukit::{ChannelLayout, Error, ErrorKind};

const SENTINEL: f32 = 7.5;

#[track_caller]
fn expect(result: Result<(), Error>, kind: ErrorKind, words: &[&str]) {
    let err = result.expect_err("the call must fail");
    assert_eq!(err.kind(), kind, "{err}");
    let message = err.to_string();
    for word in words {
        assert!(
            message.contains(word),
            "message {message:?} should mention {word:?}"
        );
    }
}

#[track_caller]
fn untouched(buffer: &[f32]) {
    assert!(
        buffer.iter().all(|&v| v == SENTINEL),
        "an output was written: {buffer:?}"
    );
}

#[test]
fn relu_rejects_a_short_or_long_output() {
    let x = [1.0f32, -1.0, 2.0];
    for len in [0, 2, 4] {
        let mut out = vec![SENTINEL; len];
        expect(
            relukit::relu(&x, &mut out),
            ErrorKind::LengthMismatch,
            &["`output`", &len.to_string(), "3", "`input`"],
        );
        untouched(&out);
        expect(
            relukit::relu_derivative(&x, &mut out),
            ErrorKind::LengthMismatch,
            &["`output`", "3"],
        );
        untouched(&out);
    }
    let ints = [1i8, -1];
    let mut out = [0i8; 3];
    expect(
        relukit::relu(&ints, &mut out),
        ErrorKind::LengthMismatch,
        &["`output`", "3", "2"],
    );
    assert_eq!(out, [0; 3]);
}

#[test]
fn backward_functions_check_every_length() {
    let x = [1.0f32, -1.0, 2.0];
    let g = [1.0f32; 3];
    let short = [1.0f32; 2];
    let mut out = [SENTINEL; 3];
    expect(
        relukit::relu_backward(&g, &short, &mut out),
        ErrorKind::LengthMismatch,
        &["`input`", "2", "3", "`grad_output`"],
    );
    untouched(&out);
    let mut short_out = [SENTINEL; 2];
    expect(
        relukit::relu_backward(&g, &x, &mut short_out),
        ErrorKind::LengthMismatch,
        &["`grad_input`", "2", "3"],
    );
    untouched(&short_out);
    let mut grad = [SENTINEL; 3];
    expect(
        relukit::relu_backward_inplace(&mut grad, &short),
        ErrorKind::LengthMismatch,
        &["`input`", "2", "3", "`grad`"],
    );
    untouched(&grad);
    expect(
        relukit::leaky_relu_backward(&g, &short, 0.1, &mut out),
        ErrorKind::LengthMismatch,
        &["`input`", "2", "3"],
    );
    untouched(&out);
    expect(
        relukit::leaky_relu_backward(&g, &x, 0.1, &mut short_out),
        ErrorKind::LengthMismatch,
        &["`grad_input`"],
    );
    untouched(&short_out);
    expect(
        relukit::leaky_relu_backward_inplace(&mut grad, &short, 0.1),
        ErrorKind::LengthMismatch,
        &["`input`", "`grad`"],
    );
    untouched(&grad);
}

#[test]
fn slopes_must_be_finite() {
    let x = [1.0f32, -1.0];
    for slope in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut out = [SENTINEL; 2];
        expect(
            relukit::leaky_relu(&x, slope, &mut out),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`", "finite"],
        );
        untouched(&out);
        let mut data = [SENTINEL; 2];
        expect(
            relukit::leaky_relu_inplace(&mut data, slope),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`"],
        );
        untouched(&data);
        expect(
            relukit::leaky_relu_backward(&x, &x, slope, &mut out),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`"],
        );
        untouched(&out);
        let mut grad = [SENTINEL; 2];
        expect(
            relukit::leaky_relu_backward_inplace(&mut grad, &x, slope),
            ErrorKind::NonFiniteSlope,
            &["`negative_slope`"],
        );
        untouched(&grad);
    }
    let mut out = [SENTINEL; 3];
    expect(
        relukit::leaky_relu(&x, 0.1, &mut out),
        ErrorKind::LengthMismatch,
        &["`output`", "3", "2"],
    );
    untouched(&out);
}

#[test]
fn prelu_checks_layout_weight_and_outputs() {
    let x = [1.0f32; 12];
    let layout = ChannelLayout::new(2, 3, 2);
    let weight = [0.25f32; 3];
    let mut out = [SENTINEL; 12];

    let wrong = ChannelLayout::new(2, 3, 3);
    expect(
        relukit::prelu(&x, &weight, wrong, &mut out),
        ErrorKind::LayoutMismatch,
        &["`input`", "12", "18", "outer 2", "channels 3", "inner 3"],
    );
    untouched(&out);
    let huge = ChannelLayout::new(usize::MAX, 2, 2);
    expect(
        relukit::prelu(&x, &weight, huge, &mut out),
        ErrorKind::LayoutMismatch,
        &["more than usize::MAX"],
    );
    untouched(&out);
    for bad in [&[][..], &[0.1f32, 0.2][..], &[0.1f32; 4][..]] {
        expect(
            relukit::prelu(&x, bad, layout, &mut out),
            ErrorKind::WeightMismatch,
            &[
                "`weight`",
                &bad.len().to_string(),
                "1 (a shared slope) or 3",
            ],
        );
        untouched(&out);
    }
    let mut short = [SENTINEL; 11];
    expect(
        relukit::prelu(&x, &weight, layout, &mut short),
        ErrorKind::LengthMismatch,
        &["`output`", "11", "12"],
    );
    untouched(&short);

    let mut data = [SENTINEL; 12];
    expect(
        relukit::prelu_inplace(&mut data, &weight, wrong),
        ErrorKind::LayoutMismatch,
        &["`data`", "12", "18"],
    );
    untouched(&data);
    expect(
        relukit::prelu_inplace(&mut data, &[0.1, 0.2], layout),
        ErrorKind::WeightMismatch,
        &["`weight`", "2"],
    );
    untouched(&data);
}

/// A `prelu_backward` call writing into (`grad_input`, `grad_weight`).
type Call<'a> = Box<dyn Fn(&mut [f32], &mut [f32]) -> Result<(), Error> + 'a>;

#[test]
fn prelu_backward_checks_every_argument() {
    let x = [1.0f32; 12];
    let g = [1.0f32; 12];
    let layout = ChannelLayout::new(2, 3, 2);
    let weight = [0.25f32; 3];
    let mut gx = [SENTINEL; 12];
    let mut gw = [SENTINEL; 3];
    let cases: Vec<(Call<'_>, ErrorKind, Vec<&str>)> = vec![
        (
            Box::new(|gx, gw| {
                relukit::prelu_backward(&g, &x, &weight, ChannelLayout::new(4, 3, 2), gx, gw)
            }),
            ErrorKind::LayoutMismatch,
            vec!["`input`", "12", "24"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g, &x, &[0.1, 0.2], layout, gx, gw)),
            ErrorKind::WeightMismatch,
            vec!["`weight`", "2"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g[..11], &x, &weight, layout, gx, gw)),
            ErrorKind::LengthMismatch,
            vec!["`grad_output`", "11", "12"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g, &x, &weight, layout, &mut gx[..10], gw)),
            ErrorKind::LengthMismatch,
            vec!["`grad_input`", "10", "12"],
        ),
        (
            Box::new(|gx, gw| relukit::prelu_backward(&g, &x, &weight, layout, gx, &mut gw[..2])),
            ErrorKind::WeightMismatch,
            vec!["`grad_weight`", "2", "3"],
        ),
    ];
    for (call, kind, words) in cases {
        expect(call(&mut gx, &mut gw), kind, &words);
        untouched(&gx);
        untouched(&gw);
    }
}

#[test]
fn empty_inputs_are_fine() {
    let empty: [f32; 0] = [];
    let mut out: [f32; 0] = [];
    relukit::relu(&empty, &mut out).unwrap();
    relukit::relu_backward(&empty, &empty, &mut out).unwrap();
    relukit::leaky_relu(&empty, 0.1, &mut out).unwrap();
    relukit::prelu(&empty, &[0.5], ChannelLayout::new(0, 4, 4), &mut out).unwrap();
    let mut gw = [SENTINEL; 4];
    relukit::prelu_backward(
        &empty,
        &empty,
        &[0.5; 4],
        ChannelLayout::new(0, 4, 4),
        &mut out,
        &mut gw,
    )
    .unwrap();
    assert_eq!(gw, [0.0; 4], "an empty channel has a zero gradient");
}

/// A slope that is finite as an `f64` but not in the compute type (`f32` for `f32`,
/// `f16` and `bf16`) is an error at every entry point that takes one, and the
/// reference refuses it too; `f64` computes in `f64`, where `1e39` is an ordinary slope.
#[test]
fn a_slope_that_overflows_the_compute_type_is_an_error() {
    use ndarray::{Array1, ArrayViewMut1};
    use relukit::ndarray::{
        ReluExt, leaky_relu_backward, leaky_relu_backward_into, leaky_relu_into,
    };
    use relukit::{Float, bf16, f16};

    fn check<T: Float + From<i8> + PartialEq>(name: &str) {
        let sentinel = T::from(7);
        let x = [T::from(-1), T::from(0), T::from(2)];
        let same = |v: &[T]| v.iter().all(|&e| e == sentinel);
        for slope in [1e39, -1e39, f64::MAX, f64::NAN] {
            let words = ["`negative_slope`", "finite in f32", name];
            let mut out = [sentinel; 3];
            expect_kind(relukit::leaky_relu(&x, slope, &mut out), &words);
            assert!(same(&out), "{name}: leaky_relu wrote");
            let mut data = [sentinel; 3];
            expect_kind(relukit::leaky_relu_inplace(&mut data, slope), &words);
            assert!(same(&data), "{name}: leaky_relu_inplace wrote");
            expect_kind(
                relukit::leaky_relu_backward(&x, &x, slope, &mut out),
                &words,
            );
            assert!(same(&out), "{name}: leaky_relu_backward wrote");
            let mut grad = [sentinel; 3];
            expect_kind(
                relukit::leaky_relu_backward_inplace(&mut grad, &x, slope),
                &words,
            );
            assert!(same(&grad), "{name}: leaky_relu_backward_inplace wrote");

            let a = Array1::from(x.to_vec());
            expect_kind(a.leaky_relu(slope).map(drop), &words);
            let mut b = Array1::from(vec![sentinel; 3]);
            expect_kind(b.leaky_relu_inplace(slope), &words);
            assert!(
                same(b.as_slice().unwrap()),
                "{name}: ndarray in place wrote"
            );
            let mut o = vec![sentinel; 3];
            expect_kind(
                leaky_relu_into(&a, slope, ArrayViewMut1::from(&mut o[..])),
                &words,
            );
            assert!(same(&o), "{name}: leaky_relu_into wrote");
            expect_kind(leaky_relu_backward(&a, &a, slope).map(drop), &words);
            expect_kind(
                leaky_relu_backward_into(&a, &a, slope, ArrayViewMut1::from(&mut o[..])),
                &words,
            );
            assert!(same(&o), "{name}: leaky_relu_backward_into wrote");

            let x0 = std::panic::AssertUnwindSafe(x[0]);
            let forward = std::panic::catch_unwind(|| relukit::reference::leaky_relu(*x0, slope));
            assert!(forward.is_err(), "{name}: the reference took slope {slope}");
            let backward = std::panic::catch_unwind(|| {
                relukit::reference::leaky_relu_backward(*x0, *x0, slope)
            });
            assert!(
                backward.is_err(),
                "{name}: the reference took slope {slope}"
            );
        }
    }

    #[track_caller]
    fn expect_kind(result: Result<(), Error>, words: &[&str]) {
        expect(result, ErrorKind::NonFiniteSlope, words);
    }

    check::<f32>("f32");
    check::<f16>("f16");
    check::<bf16>("bf16");

    // f64 computes in f64: 1e39 is a slope like any other, and ±0 keeps its sign.
    let x = [-0.0f64, 0.0, -1.0];
    let mut out = [0.0f64; 3];
    relukit::leaky_relu(&x, 1e39, &mut out).unwrap();
    assert_eq!(
        out.map(f64::to_bits),
        [(-0.0f64).to_bits(), 0, (-1e39f64).to_bits()]
    );
    let mut out32 = [0.0f32; 3];
    relukit::leaky_relu(&[-0.0f32, 0.0, -1.0], 3.0e38, &mut out32).unwrap();
    assert_eq!(
        out32.map(f32::to_bits),
        [(-0.0f32).to_bits(), 0, (-3.0e38f32).to_bits()]
    );
}

#[test]
fn monitors_round_trip_through_bytes_and_reject_corruption() {
    use relukit::DeadUnitMonitor;
    let mut monitor = DeadUnitMonitor::new(3);
    let data = [1.0f32, -1.0, f32::NAN, 2.0, -3.0, 0.0];
    monitor
        .observe_slice(&data, ChannelLayout::new(2, 3, 1))
        .unwrap();
    let bytes = monitor.to_bytes();
    assert_eq!(DeadUnitMonitor::from_bytes(&bytes).unwrap(), monitor);
    assert_eq!(
        DeadUnitMonitor::from_bytes(&DeadUnitMonitor::new(0).to_bytes()).unwrap(),
        DeadUnitMonitor::new(0)
    );
    // A clone is independent of the original.
    let mut copy = monitor.clone();
    copy.observe_slice(&data, ChannelLayout::new(2, 3, 1))
        .unwrap();
    assert_eq!(monitor.samples(), 2);
    assert_eq!(copy.samples(), 4);
    // Every truncation, every extension and every flipped bit is refused.
    for len in 0..bytes.len() {
        let err = DeadUnitMonitor::from_bytes(&bytes[..len]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{len}: {err}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        DeadUnitMonitor::from_bytes(&longer).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut corrupt = bytes.clone();
            corrupt[i] ^= 1 << bit;
            let err = DeadUnitMonitor::from_bytes(&corrupt).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidData,
                "byte {i} bit {bit}: {err}"
            );
        }
    }
    let mut future = bytes.clone();
    future[4] = 3;
    let err = DeadUnitMonitor::from_bytes(&future).unwrap_err();
    assert!(err.to_string().contains("format version 3"), "{err}");
    // Counts only: a shorter form of the same version, read back as counting only.
    let mut counting = DeadUnitMonitor::counts_only(3);
    counting
        .observe_slice(&data, ChannelLayout::new(2, 3, 1))
        .unwrap();
    let short = counting.to_bytes();
    assert_eq!(short.len() + 24, bytes.len());
    assert_eq!(DeadUnitMonitor::from_bytes(&short).unwrap(), counting);
}

/// FNV-1a, as the format's checksum.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn monitors_read_format_version_1_as_counting_only() {
    use relukit::DeadUnitMonitor;
    // Version 1, as relukit 0.1's monitors wrote it: 2 units, 3 samples, a last batch
    // of 6 elements and 4 zeros, active counts [2, 0], NaN counts [0, 1].
    let mut v1 = b"RKDM\x01".to_vec();
    for value in [2u64, 3] {
        v1.extend_from_slice(&value.to_le_bytes());
    }
    v1.push(1);
    for value in [6u64, 4, 2, 0, 0, 1] {
        v1.extend_from_slice(&value.to_le_bytes());
    }
    v1.extend_from_slice(&fnv1a(&v1).to_le_bytes());
    let monitor = DeadUnitMonitor::from_bytes(&v1).unwrap();
    assert_eq!(
        (monitor.units(), monitor.samples(), monitor.active_counts()),
        (2, 3, &[2u64, 0][..])
    );
    assert_eq!(monitor.nan_counts(), &[0, 1]);
    assert_eq!(monitor.batch_zero_fraction(), Some(4.0 / 6.0));
    assert_eq!(monitor.inactive_units(), vec![1]);
    assert!(!monitor.has_magnitudes());
    let err = monitor.dormant_units(0.1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMagnitudes, "{err}");
    assert!(err.to_string().contains("version 1"), "{err}");
    // Written again, it is version 2, and reads back equal.
    let v2 = monitor.to_bytes();
    assert_eq!(v2[4], 2);
    assert_eq!(DeadUnitMonitor::from_bytes(&v2).unwrap(), monitor);
}

#[test]
fn monitors_refuse_impossible_magnitude_sums() {
    use relukit::DeadUnitMonitor;
    let mut monitor = DeadUnitMonitor::new(2);
    monitor
        .observe_slice(&[1.0f32, 2.0], ChannelLayout::new(1, 2, 1))
        .unwrap();
    let bytes = monitor.to_bytes();
    let sums_at = bytes.len() - 8 - 16;
    for bad in [-1.0f64, -0.0, f64::NAN] {
        let mut forged = bytes[..bytes.len() - 8].to_vec();
        forged[sums_at..sums_at + 8].copy_from_slice(&bad.to_bits().to_le_bytes());
        let sum = fnv1a(&forged);
        forged.extend_from_slice(&sum.to_le_bytes());
        let err = DeadUnitMonitor::from_bytes(&forged).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{bad}: {err}");
        assert!(err.to_string().contains("magnitude"), "{err}");
    }
}

#[test]
fn monitors_from_counts_hold_the_window_and_refuse_counts_no_data_gives() {
    use relukit::DeadUnitMonitor;
    let mut observed = DeadUnitMonitor::new(3);
    observed
        .observe_slice(
            &[1.0f32, -2.0, f32::NAN, 0.5, -1.0, 3.0],
            ChannelLayout::new(2, 3, 1),
        )
        .unwrap();
    let sums = observed.magnitude_sums().map(<[f64]>::to_vec);
    let rebuilt = DeadUnitMonitor::from_counts(
        observed.active_counts().to_vec(),
        observed.nan_counts().to_vec(),
        observed.samples(),
        sums.clone(),
    )
    .unwrap();
    // Everything but the last batch, which counts made elsewhere do not carry.
    assert_eq!(rebuilt.batch_zero_fraction(), None);
    assert_eq!(rebuilt.magnitude_sums(), observed.magnitude_sums());
    assert_eq!(rebuilt.nan_count(), 1);
    assert_eq!(rebuilt.dormant_units(0.1), observed.dormant_units(0.1));
    assert_eq!(rebuilt.firing_rates(), observed.firing_rates());
    let counts_only = DeadUnitMonitor::from_counts(vec![1, 0], vec![0, 0], 1, None).unwrap();
    assert_eq!(counts_only.dead_units(), vec![1]);
    assert!(!counts_only.has_magnitudes());
    type Case = (
        Vec<u64>,
        Vec<u64>,
        u64,
        Option<Vec<f64>>,
        ErrorKind,
        &'static str,
    );
    let cases: [Case; 6] = [
        (
            vec![0, 0],
            vec![0],
            1,
            None,
            ErrorKind::LengthMismatch,
            "2 units",
        ),
        (
            vec![0, 0],
            vec![0, 0],
            1,
            Some(vec![0.0]),
            ErrorKind::LengthMismatch,
            "2 units",
        ),
        (
            vec![2, 0],
            vec![0, 0],
            1,
            None,
            ErrorKind::OutOfRange,
            "unit 0 is counted 2 + 0",
        ),
        (
            vec![1, 1],
            vec![0, 1],
            1,
            None,
            ErrorKind::OutOfRange,
            "unit 1 is counted 1 + 1",
        ),
        (
            vec![u64::MAX, 0],
            vec![1, 0],
            u64::MAX,
            None,
            ErrorKind::OutOfRange,
            "unit 0",
        ),
        (
            vec![0],
            vec![0],
            1,
            Some(vec![-0.0]),
            ErrorKind::OutOfRange,
            "magnitude",
        ),
    ];
    for (active, nan, samples, sums, kind, words) in cases {
        let err = DeadUnitMonitor::from_counts(active, nan, samples, sums).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(words), "{err}");
    }
    for bad in [-1.0, f64::NAN] {
        let err = DeadUnitMonitor::from_counts(vec![0], vec![0], 1, Some(vec![bad])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange, "{bad}: {err}");
    }
}

#[test]
fn monitor_metrics_refuse_parameters_out_of_range() {
    use relukit::DeadUnitMonitor;
    let mut monitor = DeadUnitMonitor::new(2);
    monitor
        .observe_slice(&[1.0f32, -2.0], ChannelLayout::new(1, 2, 1))
        .unwrap();
    for tau in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
        let err = monitor.dormant_units(tau).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange, "{tau}");
        assert!(err.to_string().contains("`tau`"), "{err}");
    }
    for rate in [-0.01, 1.01, f64::NAN] {
        let err = monitor.low_firing_units(rate).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange, "{rate}");
        assert!(err.to_string().contains("`rate`"), "{err}");
    }
    assert_eq!(monitor.dormant_units(1.0).unwrap(), vec![1]); // scores 2 and 0
    assert_eq!(monitor.low_firing_units(0.0).unwrap(), Vec::<usize>::new());
    assert_eq!(monitor.low_firing_units(1.0).unwrap(), vec![1]);
    // Merging a counting monitor into a summing one would make its sums wrong.
    let before = monitor.clone();
    let err = monitor.merge(&DeadUnitMonitor::counts_only(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoMagnitudes, "{err}");
    assert_eq!(monitor, before, "the monitor changed");
    // The other way round, the sums are dropped.
    let mut counting = DeadUnitMonitor::counts_only(2);
    counting.merge(&monitor).unwrap();
    assert_eq!(counting.active_counts(), monitor.active_counts());
    assert_eq!(counting.magnitude_sums(), None);
}

#[test]
fn monitors_refuse_sample_counts_that_overflow() {
    use relukit::DeadUnitMonitor;
    let mut monitor = DeadUnitMonitor::new(0);
    let err = monitor
        .observe_slice::<f32>(&[], ChannelLayout::new(usize::MAX, 0, 3))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LayoutMismatch, "{err}");
    assert!(err.to_string().contains("samples"), "{err}");
    assert_eq!(monitor, DeadUnitMonitor::new(0), "the monitor changed");
    let mut out: [f32; 0] = [];
    let err = monitor
        .relu_observed_slice::<f32>(&[], &mut out, ChannelLayout::new(usize::MAX, 0, 2))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LayoutMismatch, "{err}");

    let mut a = DeadUnitMonitor::new(4);
    let b = DeadUnitMonitor::new(3);
    let err = a.merge(&b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnitMismatch);
    assert_eq!(
        err.to_string(),
        "cannot merge a monitor of 3 units into a monitor of 4 units"
    );
}

/// PReLU weights are data in the element type, not checked: the documented IEEE
/// behaviour of NaN and infinite weights, forward and backward.
#[test]
fn nan_and_infinite_weights_behave_as_ieee_multiplication() {
    let x = [-2.0f32, -0.0, 0.0, 3.0, f32::NAN];
    let layout = ChannelLayout::new(1, 1, 5);
    let mut y = [0.0f32; 5];
    relukit::prelu(&x, &[f32::INFINITY], layout, &mut y).unwrap();
    assert_eq!(y[0], f32::NEG_INFINITY);
    assert!(y[1].is_nan() && y[2].is_nan(), "0 * inf is NaN: {y:?}");
    assert_eq!(y[3], 3.0);
    assert_eq!(
        y[4].to_bits(),
        f32::NAN.to_bits(),
        "a NaN x comes back unchanged"
    );
    relukit::prelu(&x, &[f32::NAN], layout, &mut y).unwrap();
    assert!(y[0].is_nan() && y[1].is_nan() && y[2].is_nan());
    assert_eq!(y[3], 3.0);
    let (mut gx, mut gw) = ([0.0f32; 5], [0.0f32; 1]);
    relukit::prelu_backward(
        &[1.0; 5],
        &x,
        &[f32::NEG_INFINITY],
        layout,
        &mut gx,
        &mut gw,
    )
    .unwrap();
    assert_eq!(
        &gx[..4],
        &[f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY, 1.0]
    );
    assert!(gw[0].is_nan(), "the NaN x makes the channel's sum NaN");
}
