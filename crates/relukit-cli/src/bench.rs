//! `relukit bench`: kernel throughput for a person: each operation and type over sizes
//! from 4 KiB up, against a copy of the same bytes measured in the same run, on one
//! thread and on all threads; a table, a PNG chart and a CSV.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use relukit::{ChannelLayout, bf16, f16};

use crate::charts::{self, Axes, PALETTE, Panel, Series, Ticks};

/// One measurement.
#[derive(Debug, Clone)]
pub struct Row {
    pub operation: &'static str,
    pub threads: usize,
    pub bytes: usize,
    /// From the best of the repeated calls.
    pub gbps: f64,
    pub copy_gbps: f64,
    /// How much slower the median call was than the best: the spread of the repetitions.
    pub spread: f64,
}

/// The best and the median time of repeated calls.
#[derive(Debug, Clone, Copy)]
struct Timing {
    best: Duration,
    median: Duration,
}

/// Times `f` over repeated calls lasting about `budget` in all (at least 3, at most 200,
/// after one warm-up call).
fn best_time(budget: Duration, mut f: impl FnMut()) -> Timing {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < budget && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort_unstable();
    Timing {
        best: times[0],
        median: times[times.len() / 2],
    }
}

/// `out.copy_from_slice(x)`, split into `threads` parts on the current rayon pool.
fn parallel_copy(x: &[f32], out: &mut [f32], threads: usize) {
    use rayon::prelude::*;
    let part = x.len().div_ceil(threads.max(1)).max(1);
    out.par_chunks_mut(part)
        .zip(x.par_chunks(part))
        .for_each(|(o, i)| o.copy_from_slice(i));
}

fn gbps(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64().max(1e-12) / 1e9
}

/// The memory a run up to `max_bytes` needs: the f32 input, gradient and output, and
/// the f16 and bf16 inputs and outputs, each of the same bytes.
pub fn memory_needed(max_bytes: usize) -> Option<u128> {
    (max_bytes as u128).checked_mul(7)
}

/// Sizes (bytes of the input array) from 4 KiB to `max_bytes`, by factors of 4.
pub fn sizes(max_bytes: usize) -> Vec<usize> {
    std::iter::successors(Some(4096usize), |s| Some(s * 4))
        .take_while(|&s| s <= max_bytes)
        .collect()
}

/// Runs every measurement on pools of 1 and `threads` threads.
pub fn run(
    max_bytes: usize,
    threads: usize,
    budget: Duration,
    mut progress: impl FnMut(&Row) + Send,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut counts = vec![1];
    if threads > 1 {
        counts.push(threads);
    }
    for &t in &counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map_err(|e| format!("cannot start {t} threads: {e}"))?;
        pool.install(|| {
            for bytes in sizes(max_bytes) {
                for row in measure(bytes, t, budget) {
                    progress(&row);
                    rows.push(row);
                }
            }
        });
    }
    Ok(rows)
}

fn measure(bytes: usize, threads: usize, budget: Duration) -> Vec<Row> {
    let n = bytes / 4;
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 2_654_435_761) % 4093) as f32 / 256.0 - 8.0)
        .collect();
    let g: Vec<f32> = x.iter().map(|v| v * 0.5 + 1.0).collect();
    let mut out = vec![0.0f32; n];
    // The copy runs on as many threads as the kernels (glibc's memcpy on each part).
    let copy = gbps(
        2 * bytes,
        best_time(budget, || parallel_copy(black_box(&x), &mut out, threads)).best,
    );
    let copy3 = copy; // two-input kernels are compared with the same copy rate
    let mut rows = Vec::new();
    let mut add = |operation, moved: usize, base: f64, time: Timing| {
        rows.push(Row {
            operation,
            threads,
            bytes,
            gbps: gbps(moved, time.best),
            copy_gbps: base,
            spread: time.median.as_secs_f64() / time.best.as_secs_f64().max(1e-12) - 1.0,
        });
    };
    add(
        "relu f32",
        2 * bytes,
        copy,
        best_time(budget, || {
            relukit::relu(black_box(&x), &mut out).unwrap_or(())
        }),
    );
    add(
        "leaky_relu f32",
        2 * bytes,
        copy,
        best_time(budget, || {
            relukit::leaky_relu(black_box(&x), 0.01, &mut out).unwrap_or(())
        }),
    );
    add(
        "relu_backward f32",
        3 * bytes,
        copy3,
        best_time(budget, || {
            relukit::relu_backward(black_box(&g), &x, &mut out).unwrap_or(())
        }),
    );
    let weight = vec![0.25f32; 64];
    let mut grad_weight = vec![0.0f32; 64];
    let layout = ChannelLayout::new(n / 64, 64, 1);
    let m = layout.len().unwrap_or(0);
    add(
        "prelu_backward f32 (NHWC, 64 channels)",
        3 * bytes,
        copy3,
        best_time(budget, || {
            relukit::prelu_backward(
                black_box(&g[..m]),
                &x[..m],
                &weight,
                layout,
                &mut out[..m],
                &mut grad_weight,
            )
            .unwrap_or(())
        }),
    );
    // 16-bit floats: the same bytes, twice the elements.
    let halves: Vec<f16> = (0..2 * n).map(|i| f16::from_f32(x[i % n.max(1)])).collect();
    let brains: Vec<bf16> = halves.iter().map(|v| bf16::from_f32(v.to_f32())).collect();
    let (mut out16, mut outb) = (vec![f16::ZERO; 2 * n], vec![bf16::ZERO; 2 * n]);
    add(
        "relu f16",
        2 * bytes,
        copy,
        best_time(budget, || {
            relukit::relu(black_box(&halves), &mut out16).unwrap_or(())
        }),
    );
    add(
        "relu bf16",
        2 * bytes,
        copy,
        best_time(budget, || {
            relukit::relu(black_box(&brains), &mut outb).unwrap_or(())
        }),
    );
    add(
        "leaky_relu bf16",
        2 * bytes,
        copy,
        best_time(budget, || {
            relukit::leaky_relu(black_box(&brains), 0.01, &mut outb).unwrap_or(())
        }),
    );
    rows
}

fn size_label(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// The terminal table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<40} {:>7} {:>9} {:>8} {:>10} {:>6} {:>8}\n",
        "operation", "threads", "size", "GB/s", "copy GB/s", "ratio", "spread"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<40} {:>7} {:>9} {:>8.1} {:>10.1} {:>5.2}x {:>7.0}%",
            r.operation,
            r.threads,
            size_label(r.bytes),
            r.gbps,
            r.copy_gbps,
            r.gbps / r.copy_gbps,
            100.0 * r.spread
        );
    }
    out += "(GB/s from the best call; spread: how much slower the median call was)\n";
    out
}

/// `bench.csv` and `bench.png` in `dir`.
pub fn write(rows: &[Row], dir: &Path) -> Result<(), String> {
    let mut csv = String::from("operation,threads,bytes,gbps,copy_gbps,ratio,spread\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            r.operation,
            r.threads,
            r.bytes,
            r.gbps,
            r.copy_gbps,
            r.gbps / r.copy_gbps,
            r.spread
        );
    }
    let path = dir.join("bench.csv");
    std::fs::write(&path, csv).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut threads: Vec<usize> = rows.iter().map(|r| r.threads).collect();
    threads.dedup();
    let mut operations: Vec<&str> = rows.iter().map(|r| r.operation).collect();
    operations.sort();
    operations.dedup();
    let panels: Vec<Panel> = threads
        .iter()
        .map(|&t| Panel {
            title: format!("{t} thread{}", if t == 1 { "" } else { "s" }),
            series: operations
                .iter()
                .enumerate()
                .map(|(i, op)| Series {
                    label: op.to_string(),
                    color: PALETTE[i % PALETTE.len()],
                    points: rows
                        .iter()
                        .filter(|r| r.threads == t && r.operation == *op)
                        .map(|r| ((r.bytes as f64).log2(), r.gbps / r.copy_gbps))
                        .collect(),
                    band: Vec::new(),
                    ends: Vec::new(),
                })
                .collect(),
        })
        .collect();
    let (lo, hi) = rows.iter().fold((12.0f64, 12.0f64), |(lo, hi), r| {
        (
            lo.min((r.bytes as f64).log2()),
            hi.max((r.bytes as f64).log2()),
        )
    });
    let top = rows
        .iter()
        .map(|r| r.gbps / r.copy_gbps)
        .fold(1.0, f64::max)
        * 1.1;
    let axes = Axes {
        x_label: "size of the input".into(),
        y_label: "throughput / copy".into(),
        x_range: (lo, hi.max(lo + 1.0)),
        y_range: (0.0, top),
        x_ticks: Ticks::Log2Bytes,
        reference: Some(1.0),
    };
    charts::line_figure(
        &dir.join("bench.png"),
        "relukit kernels against a copy of the same bytes",
        (1, panels.len()),
        &axes,
        &panels,
    )
}
