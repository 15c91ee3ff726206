//! A tour of relukit: every function and derivative on `[-2, -1, 0, 1, 2]`, the exact
//! semantics on the special values, and a short throughput table against a copy of
//! the same bytes, measured now on this machine.
//!
//! Run it with `cargo run --release -p relukit --example tour`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use relukit::{ChannelLayout, RreluMode, bf16, f16};

fn main() -> Result<(), relukit::Error> {
    let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
    let ones = [1.0f32; 5];
    let mut y = [0.0f32; 5];
    println!(
        "relukit {} on {} (instruction set in use: {})\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        relukit::active_isa()
    );
    println!("{:<44} {:?}", "x", x);
    relukit::relu(&x, &mut y)?;
    println!("{:<44} {:?}", "relu(x)", y);
    relukit::relu_derivative(&x, &mut y)?;
    println!("{:<44} {:?}", "relu_derivative(x)", y);
    relukit::relu_backward(&ones, &x, &mut y)?;
    println!("{:<44} {:?}", "relu_backward(grad_output = 1, x)", y);
    relukit::leaky_relu(&x, 0.01, &mut y)?;
    println!("{:<44} {:?}", "leaky_relu(x, 0.01)", y);
    relukit::leaky_relu_backward(&ones, &x, 0.01, &mut y)?;
    println!("{:<44} {:?}", "leaky_relu_backward(1, x, 0.01)", y);
    let layout = ChannelLayout::new(1, 5, 1);
    let weight = [0.25f32, 0.25, 0.25, 0.5, 0.5];
    relukit::prelu(&x, &weight, layout, &mut y)?;
    println!(
        "{:<44} {:?}",
        "prelu(x, weight = [.25, .25, .25, .5, .5])", y
    );
    let mut grad_weight = [0.0f32; 5];
    relukit::prelu_backward(&ones, &x, &weight, layout, &mut y, &mut grad_weight)?;
    println!("{:<44} {:?}", "prelu_backward(1, x, weight): grad_input", y);
    println!(
        "{:<44} {:?}",
        "                              grad_weight", grad_weight
    );
    relukit::rrelu(&x, 0.125, 0.375, RreluMode::Evaluation, &mut y)?;
    println!("{:<44} {:?}", "rrelu(x, 1/8, 3/8), evaluation", y);
    relukit::rrelu(&x, 0.125, 0.375, RreluMode::Training { seed: 7 }, &mut y)?;
    println!("{:<44} {:?}", "rrelu(x, 1/8, 3/8), training, seed 7", y);
    let x2 = x.map(|v| 4.0 * v);
    println!("{:<44} {:?}", "x2 = 4x", x2);
    relukit::relu6(&x2, &mut y)?;
    println!("{:<44} {:?}", "relu6(x2)", y);
    relukit::clipped_relu(&x2, 5.0, &mut y)?;
    println!("{:<44} {:?}", "clipped_relu(x2, 5)", y);
    relukit::hardtanh(&x, -1.5, 1.5, &mut y)?;
    println!("{:<44} {:?}", "hardtanh(x, -1.5, 1.5)", y);
    relukit::hardtanh_derivative(&x, -1.5, 1.5, &mut y)?;
    println!("{:<44} {:?}", "hardtanh_derivative(x, -1.5, 1.5)", y);
    relukit::threshold(&x, 0.5, -1.0, &mut y)?;
    println!("{:<44} {:?}", "threshold(x, 0.5, -1)", y);

    println!("\nSpecial values (relu, relu_derivative, relu_backward with grad_output = inf):");
    let specials = [
        -0.0f32,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(1),
    ];
    let mut r = [0.0f32; 6];
    let mut d = [0.0f32; 6];
    let mut b = [0.0f32; 6];
    relukit::relu(&specials, &mut r)?;
    relukit::relu_derivative(&specials, &mut d)?;
    relukit::relu_backward(&[f32::INFINITY; 6], &specials, &mut b)?;
    for i in 0..specials.len() {
        println!(
            "  x = {:<12} ({:#010x})  relu {:<8} ({:#010x})  derivative {:<5}  backward {}",
            format!("{:?}", specials[i]),
            specials[i].to_bits(),
            format!("{:?}", r[i]),
            r[i].to_bits(),
            d[i],
            b[i]
        );
    }

    println!(
        "\nThroughput, one thread, bytes read + written per second (copy = copy_from_slice of the same bytes):"
    );
    println!(
        "  {:<34} {:>10} {:>10} {:>8}",
        "operation", "GB/s", "copy GB/s", "ratio"
    );
    for bytes in [1usize << 20, 64 << 20] {
        let n = bytes / 4;
        let src: Vec<f32> = (0..n).map(|i| ((i % 17) as f32) - 8.0).collect();
        let mut dst = vec![0.0f32; n];
        let copy = rate(2 * bytes, || dst.copy_from_slice(black_box(&src)));
        let relu = rate(2 * bytes, || {
            relukit::relu(black_box(&src), &mut dst).unwrap()
        });
        row(&format!("relu f32, {}", size(bytes)), relu, copy);
        let leaky = rate(2 * bytes, || {
            relukit::leaky_relu(black_box(&src), 0.01, &mut dst).unwrap()
        });
        row(&format!("leaky_relu f32, {}", size(bytes)), leaky, copy);
        let halves: Vec<bf16> = src.iter().map(|&v| bf16::from_f32(v)).collect();
        let mut out = vec![bf16::ZERO; n];
        let copy16 = rate(bytes, || out.copy_from_slice(black_box(&halves)));
        let relu16 = rate(bytes, || {
            relukit::relu(black_box(&halves), &mut out).unwrap()
        });
        row(&format!("relu bf16, {}", size(bytes / 2)), relu16, copy16);
        let f16s: Vec<f16> = src.iter().map(|&v| f16::from_f32(v)).collect();
        let mut out = vec![f16::ZERO; n];
        let leaky16 = rate(bytes, || {
            relukit::leaky_relu(black_box(&f16s), 0.01, &mut out).unwrap()
        });
        row(
            &format!("leaky_relu f16, {}", size(bytes / 2)),
            leaky16,
            copy16,
        );
    }
    println!("\nFull tables: cargo bench -p relukit (figures in BENCHMARKS.md).");
    Ok(())
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

fn row(name: &str, rate: f64, copy: f64) {
    println!(
        "  {:<34} {:>10.1} {:>10.1} {:>7.2}x",
        name,
        rate,
        copy,
        rate / copy
    );
}

/// Bytes per second of `f` in GB/s: the best of several timed batches, one thread.
fn rate(bytes: usize, mut f: impl FnMut() + Send) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    pool.install(|| {
        f();
        let mut best = Duration::MAX;
        for _ in 0..7 {
            let repeats = (256usize << 20).div_ceil(bytes).clamp(1, 200);
            let start = Instant::now();
            for _ in 0..repeats {
                f();
            }
            best = best.min(start.elapsed() / repeats as u32);
        }
        bytes as f64 / best.as_secs_f64() / 1e9
    })
}
