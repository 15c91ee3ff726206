//! Every public slice function against `relukit::reference`, bit for bit, for every
//! element type, on random data (any bit pattern), lengths, start offsets, parameters
//! (slopes, ceilings, thresholds, RReLU ranges and seeds), weights and PReLU layouts, on
//! every instruction set, serial and threaded, with plain and non-temporal stores.

#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::{Bits, run, same};
use half::{bf16, f16};
use libfuzzer_sys::fuzz_target;
use relukit::{ChannelLayout, DeadUnitMonitor, ErrorKind, Float, RreluMode, reference};

#[derive(Debug, Arbitrary)]
struct Case {
    element: u8,
    config: u8,
    offsets: (u8, u8),
    slope: f64,
    parameters: (f64, f64),
    seed: Option<u64>,
    layout: (u8, u8, u8),
    shared_weight: bool,
    data: Vec<u64>,
}

fuzz_target!(|case: Case| {
    match case.element % 8 {
        0 => floats::<f32>(&case),
        1 => floats::<f64>(&case),
        2 => floats::<f16>(&case),
        3 => floats::<bf16>(&case),
        4 => relu_only::<i8>(&case),
        5 => relu_only::<i16>(&case),
        6 => relu_only::<i32>(&case),
        _ => relu_only::<i64>(&case),
    }
});

/// `len` elements from the case's data (repeated as needed), at `offset` in a buffer.
fn buffer<T: Bits>(case: &Case, len: usize, salt: u64, offset: usize) -> Vec<T> {
    let mut out = vec![T::from_raw(0); offset];
    out.extend((0..len).map(|i| {
        let raw = case.data.get(i % case.data.len().max(1)).copied().unwrap_or(0);
        T::from_raw(raw.rotate_left((salt * 16) as u32) ^ salt)
    }));
    out
}

fn relu_only<T: Bits>(case: &Case) {
    let (a, b) = (case.offsets.0 as usize % 16, case.offsets.1 as usize % 16);
    let len = case.data.len();
    let x = buffer::<T>(case, len, 0, a);
    let want: Vec<T> = x[a..].iter().map(|&v| reference::relu(v)).collect();
    let mut out = vec![T::from_raw(0); len + b];
    run(case.config, || relukit::relu(&x[a..], &mut out[b..])).unwrap();
    same("relu", &out[b..], &want);
    let mut data = x.clone();
    run(case.config, || relukit::relu_inplace(&mut data[a..]));
    same("relu_inplace", &data[a..], &want);
}

fn floats<T: Bits + Float>(case: &Case) {
    relu_only::<T>(case);
    let (a, b) = (case.offsets.0 as usize % 16, case.offsets.1 as usize % 16);
    let len = case.data.len();
    let x = buffer::<T>(case, len, 0, a);
    let g = buffer::<T>(case, len, 1, b);
    let (x, g) = (&x[a..], &g[b..]);
    let mut out = vec![T::from_raw(0); len + b];
    let cfg = case.config;

    let want: Vec<T> = x.iter().map(|&v| reference::relu_derivative(v)).collect();
    run(cfg, || relukit::relu_derivative(x, &mut out[b..])).unwrap();
    same("relu_derivative", &out[b..], &want);
    let want: Vec<T> = g.iter().zip(x).map(|(&g, &x)| reference::relu_backward(g, x)).collect();
    run(cfg, || relukit::relu_backward(g, x, &mut out[b..])).unwrap();
    same("relu_backward", &out[b..], &want);
    let mut grad = g.to_vec();
    run(cfg, || relukit::relu_backward_inplace(&mut grad, x)).unwrap();
    same("relu_backward_inplace", &grad, &want);

    // Leaky ReLU: a slope infinite in the compute type is an error, and nothing is written.
    let slope = case.slope;
    // (The reference panics on such a slope, and panics abort here: ask the API, which
    // checks the slope before anything else.)
    let valid = relukit::leaky_relu::<T>(&[], slope, &mut []).is_ok();
    let sentinel = out.clone();
    let result = run(cfg, || relukit::leaky_relu(x, slope, &mut out[b..]));
    if valid {
        result.unwrap();
        let want: Vec<T> = x.iter().map(|&v| reference::leaky_relu(v, slope)).collect();
        same("leaky_relu", &out[b..], &want);
        let mut data = x.to_vec();
        run(cfg, || relukit::leaky_relu_inplace(&mut data, slope)).unwrap();
        same("leaky_relu_inplace", &data, &want);
        let want: Vec<T> = g
            .iter()
            .zip(x)
            .map(|(&g, &x)| reference::leaky_relu_backward(g, x, slope))
            .collect();
        run(cfg, || relukit::leaky_relu_backward(g, x, slope, &mut out[b..])).unwrap();
        same("leaky_relu_backward", &out[b..], &want);
        let mut grad = g.to_vec();
        run(cfg, || relukit::leaky_relu_backward_inplace(&mut grad, x, slope)).unwrap();
        same("leaky_relu_backward_inplace", &grad, &want);
    } else {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::NonFiniteSlope);
        same("leaky_relu with a bad slope wrote", &out, &sentinel);
    }

    let mut d = vec![T::from_raw(0); x.len()];
    if valid {
        run(cfg, || relukit::leaky_relu_derivative(x, slope, &mut d)).unwrap();
        let want: Vec<T> = x.iter().map(|&v| reference::leaky_relu_derivative(v, slope)).collect();
        same("leaky_relu_derivative", &d, &want);
    }

    family::<T>(case, x, g);
    prelu::<T>(case);
    monitor::<T>(case, x);
}

/// ReLU6 and clipped ReLU, threshold and RReLU, each forward (and in place), derivative
/// and backward (and in place); an invalid parameter is an error that writes nothing.
fn family<T: Bits + Float>(case: &Case, x: &[T], g: &[T]) {
    let cfg = case.config;
    let n = x.len();
    let check = |what: &str, valid: bool, result: Result<(), relukit::Error>, got: &[T], want: &dyn Fn(usize) -> T| {
        if valid {
            result.unwrap();
            let want: Vec<T> = (0..n).map(want).collect();
            same(what, got, &want);
        } else {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::OutOfRange, "{what}");
        }
    };
    let mut out = vec![T::from_raw(0); n];
    let mut data = x.to_vec();

    let c = case.parameters.0;
    let valid = relukit::clipped_relu::<T>(&[], c, &mut []).is_ok();
    let r = run(cfg, || relukit::clipped_relu(x, c, &mut out));
    check("clipped_relu", valid, r, &out, &|i| reference::clipped_relu(x[i], c));
    let r = run(cfg, || relukit::clipped_relu_inplace(&mut data, c));
    check("clipped_relu_inplace", valid, r, &data, &|i| reference::clipped_relu(x[i], c));
    let r = run(cfg, || relukit::clipped_relu_derivative(x, c, &mut out));
    check("clipped_relu_derivative", valid, r, &out, &|i| reference::clipped_relu_derivative(x[i], c));
    let r = run(cfg, || relukit::clipped_relu_backward(g, x, c, &mut out));
    check("clipped_relu_backward", valid, r, &out, &|i| reference::clipped_relu_backward(g[i], x[i], c));
    run(cfg, || relukit::relu6(x, &mut out)).unwrap();
    same("relu6", &out, &x.iter().map(|&v| reference::clipped_relu(v, 6.0)).collect::<Vec<_>>());

    let (t, v) = case.parameters;
    let valid = relukit::threshold::<T>(&[], t, v, &mut []).is_ok();
    let r = run(cfg, || relukit::threshold(x, t, v, &mut out));
    check("threshold", valid, r, &out, &|i| reference::threshold(x[i], t, v));
    let valid_t = relukit::threshold_derivative::<T>(&[], t, &mut []).is_ok();
    let r = run(cfg, || relukit::threshold_derivative(x, t, &mut out));
    check("threshold_derivative", valid_t, r, &out, &|i| reference::threshold_derivative(x[i], t));
    let mut grad = g.to_vec();
    let r = run(cfg, || relukit::threshold_backward_inplace(&mut grad, x, t));
    check("threshold_backward_inplace", valid_t, r, &grad, &|i| reference::threshold_backward(g[i], x[i], t));

    let (lower, upper) = (case.slope.abs().min(1e3), case.slope.abs().min(1e3) + case.parameters.0.abs().min(1e3));
    let mode = match case.seed {
        Some(seed) => RreluMode::Training { seed },
        None => RreluMode::Evaluation,
    };
    let valid = relukit::rrelu::<T>(&[], lower, upper, mode, &mut []).is_ok();
    if valid {
        run(cfg, || relukit::rrelu(x, lower, upper, mode, &mut out)).unwrap();
        let want: Vec<T> = (0..n).map(|i| reference::rrelu(x[i], lower, upper, mode, i as u64)).collect();
        same("rrelu", &out, &want);
        let mut data = x.to_vec();
        run(cfg, || relukit::rrelu_inplace(&mut data, lower, upper, mode)).unwrap();
        same("rrelu_inplace", &data, &want);
        run(cfg, || relukit::rrelu_derivative(x, lower, upper, mode, &mut out)).unwrap();
        let want: Vec<T> = (0..n).map(|i| reference::rrelu_derivative(x[i], lower, upper, mode, i as u64)).collect();
        same("rrelu_derivative", &out, &want);
        let mut grad = g.to_vec();
        run(cfg, || relukit::rrelu_backward_inplace(&mut grad, x, lower, upper, mode)).unwrap();
        let want: Vec<T> = (0..n)
            .map(|i| reference::rrelu_backward(g[i], x[i], lower, upper, mode, i as u64))
            .collect();
        same("rrelu_backward_inplace", &grad, &want);
    }
}

fn prelu<T: Bits + Float>(case: &Case) {
    let (outer, channels, inner) = (
        case.layout.0 as usize % 40,
        1 + case.layout.1 as usize % 24,
        1 + case.layout.2 as usize % 70,
    );
    let layout = ChannelLayout::new(outer, channels, inner);
    let len = outer * channels * inner;
    let offset = case.offsets.0 as usize % 8;
    let x = buffer::<T>(case, len, 2, offset);
    let x = &x[offset..];
    let g = buffer::<T>(case, len, 3, 0);
    let weights = if case.shared_weight { 1 } else { channels };
    let w = buffer::<T>(case, weights, 4, 0);
    let cfg = case.config;

    let want = reference::prelu_derivative(x, &w, layout);
    let mut derivative = vec![T::from_raw(0); len];
    run(cfg, || relukit::prelu_derivative(x, &w, layout, &mut derivative)).unwrap();
    same("prelu_derivative", &derivative, &want);
    let want = reference::prelu(x, &w, layout);
    let mut out = vec![T::from_raw(0); len];
    run(cfg, || relukit::prelu(x, &w, layout, &mut out)).unwrap();
    same("prelu", &out, &want);
    let mut data = x.to_vec();
    run(cfg, || relukit::prelu_inplace(&mut data, &w, layout)).unwrap();
    same("prelu_inplace", &data, &want);

    let (want_gx, want_gw) = reference::prelu_backward(&g, x, &w, layout);
    let mut gx = vec![T::from_raw(0); len];
    let mut gw = vec![T::from_raw(0); weights];
    run(cfg, || relukit::prelu_backward(&g, x, &w, layout, &mut gx, &mut gw)).unwrap();
    let channel = |i: usize| if weights == 1 { 0 } else { (i / inner) % channels };
    for i in 0..len {
        // Which NaN a product of two NaNs gives is unspecified (IEEE 754).
        let both_nan = g[i].is_nan_value() && w[channel(i)].is_nan_value();
        if !(both_nan && gx[i].is_nan_value()) {
            assert_eq!(gx[i].raw(), want_gx[i].raw(), "prelu_backward grad_input {i}");
        }
    }
    for c in 0..weights {
        let (got, want) = (gw[c].to_f64(), want_gw[c]);
        let terms: Vec<f64> = (0..len)
            .filter(|&i| channel(i) == c && !(x[i].to_f64() > 0.0))
            .map(|i| (g[i].to_f64() * x[i].to_f64()).abs())
            .collect();
        let scale: f64 = terms.iter().sum();
        if !(scale <= T::COMPUTE_MAX) {
            continue; // partial sums may overflow the compute type (documented)
        }
        let rounded = T::round_f64(want);
        if want.is_nan() || got.is_nan() {
            assert!(want.is_nan() && got.is_nan(), "grad_weight[{c}]: {got} vs {want}");
        } else if rounded.is_infinite() {
            assert_eq!(got, rounded, "grad_weight[{c}]");
        } else {
            // The order of summation, the final rounding to T, and each product's
            // rounding in the compute type where it underflows to a subnormal.
            let tolerance = 1e-5 * scale
                + 2.0 * T::EPSILON * want.abs()
                + (rounded - want).abs()
                + terms.len() as f64 * T::COMPUTE_TINY;
            assert!((got - want).abs() <= tolerance, "grad_weight[{c}]: {got} vs {want} (scale {scale})");
        }
    }
}

fn monitor<T: Bits + Float>(case: &Case, x: &[T]) {
    let units = 1 + case.layout.1 as usize % 12;
    let rows = x.len() / units;
    let x = &x[..rows * units];
    let layout = ChannelLayout::new(rows, units, 1);
    let mut active = vec![0u64; units];
    for (i, v) in x.iter().enumerate() {
        if v.to_f64() > 0.0 {
            active[i % units] += 1;
        }
    }
    let mut monitor = DeadUnitMonitor::new(units);
    let mut out = vec![T::from_raw(0); x.len()];
    run(case.config, || monitor.relu_observed_slice(x, &mut out, layout)).unwrap();
    assert_eq!(monitor.active_counts(), &active[..], "relu_observed counts");
    let want: Vec<T> = x.iter().map(|&v| reference::relu(v)).collect();
    same("relu_observed output", &out, &want);
    let bytes = monitor.to_bytes();
    assert_eq!(DeadUnitMonitor::from_bytes(&bytes).unwrap(), monitor);
}
