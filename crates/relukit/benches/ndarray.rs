//! The ndarray adapter against the slice API, allocating `.relu()` against a copy into
//! a new array, and the fused ReLU + dead-unit monitor (counts and magnitude sums, and
//! counts only) against plain ReLU, measured in the same run on one thread. Each benchmark checks its answer before it is timed. Ratios are printed at the end and written to
//! `target/criterion/relukit-ndarray-summary.md`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{criterion_dir, median_ns};
use criterion::{BenchmarkId, Criterion, Throughput};
use ndarray::{Array2, Array4, ArrayD, Axis, s};
use relukit::DeadUnitMonitor;
use relukit::ndarray::{ReluExt, relu_into, relu_observed_into};

/// `[rows, columns]` of the f32 matrices: 64 KiB and 1 MiB (in cache), 64 MiB.
const SHAPES: [(usize, usize); 3] = [(64, 256), (1024, 256), (4096, 4096)];

/// NCHW convolution outputs (units along axis 1): 64 KiB, 6.1 MiB, 64 MiB of f32.
const NCHW: [[usize; 4]; 3] = [[4, 16, 16, 16], [32, 64, 28, 28], [16, 64, 128, 128]];

fn nchw_label(shape: [usize; 4]) -> String {
    format!("nchw{}x{}x{}x{}", shape[0], shape[1], shape[2], shape[3])
}

fn label(rows: usize, columns: usize) -> String {
    format!("{rows}x{columns}")
}

fn matrix(rows: usize, columns: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, columns), |(i, j)| {
        ((i * 31 + j * 17) % 97) as f32 - 48.0
    })
}

fn adapter(c: &mut Criterion) {
    let mut group = c.benchmark_group("ndarray");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (rows, columns) in SHAPES {
        let x = matrix(rows, columns);
        let mut out = Array2::<f32>::zeros((rows, columns));
        let id = |name: &str| BenchmarkId::new(name, label(rows, columns));
        // Bytes read + written per element processed: 8.
        group.throughput(Throughput::Bytes((8 * rows * columns) as u64));
        let (xs, os) = (x.as_slice().unwrap(), out.as_slice_mut().unwrap());
        relukit::relu(xs, os).unwrap();
        group.bench_function(id("slice_relu"), |b| {
            b.iter(|| relukit::relu(black_box(xs), os).unwrap())
        });
        relu_into(&x, out.view_mut()).unwrap();
        assert_eq!(out, x.relu());
        group.bench_function(id("array_relu"), |b| {
            b.iter(|| relu_into(black_box(&x), out.view_mut()).unwrap())
        });

        // Allocating: `.relu()` against a copy into a new array (the same allocation and
        // page faults, no arithmetic).
        group.bench_function(id("relu_alloc"), |b| b.iter(|| black_box(&x).relu()));
        group.bench_function(id("to_owned"), |b| b.iter(|| black_box(&x).to_owned()));

        // Every other column of a C-order matrix twice as wide: half the elements.
        let wide = matrix(rows, 2 * columns);
        let view = wide.slice(s![.., ..;2]);
        let mut half = Array2::<f32>::zeros((rows, columns));
        relu_into(&view, half.view_mut()).unwrap();
        assert_eq!(half, view.relu());
        group.bench_function(id("strided_view_relu"), |b| {
            b.iter(|| relu_into(black_box(&view), half.view_mut()).unwrap())
        });

        // [batch, units] pre-activations: ReLU alone, and ReLU with the monitor.
        observed(&mut group, &label(rows, columns), &x.into_dyn(), false);
    }
    for shape in NCHW {
        let conv = Array4::from_shape_fn(shape, |(n, c, h, w)| {
            ((n + 3 * c + 5 * h + 7 * w) % 13) as f32 - 6.0
        });
        group.throughput(Throughput::Bytes((8 * conv.len()) as u64));
        observed(&mut group, &nchw_label(shape), &conv.into_dyn(), true);
    }
    group.finish();
}

/// `relu_observed` on `x` (units along axis 1) with a monitor that sums magnitudes and
/// with one that counts only, and (when `baseline`) ReLU alone.
fn observed(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    shape: &str,
    x: &ArrayD<f32>,
    baseline: bool,
) {
    let mut out = ArrayD::<f32>::zeros(x.raw_dim());
    if baseline {
        group.bench_function(BenchmarkId::new("array_relu", shape), |b| {
            b.iter(|| relu_into(black_box(x), out.view_mut()).unwrap())
        });
    }
    let units = x.shape()[1];
    for (name, mut monitor) in [
        ("relu_observed", DeadUnitMonitor::new(units)),
        ("relu_observed_counts", DeadUnitMonitor::counts_only(units)),
    ] {
        relu_observed_into(x, out.view_mut(), &mut monitor, Axis(1)).unwrap();
        assert_eq!(out, x.relu());
        group.bench_function(BenchmarkId::new(name, shape), |b| {
            b.iter(|| {
                relu_observed_into(black_box(x), out.view_mut(), &mut monitor, Axis(1)).unwrap()
            })
        });
    }
}

fn summary() {
    let mut table = String::from(
        "| shape | kernel | baseline | time ratio (kernel / baseline) | per-element throughput ratio |\n|---|---|---|---|---|\n",
    );
    let mut row = |shape: &str, kernel: &str, baseline: &str, elements_ratio: f64| {
        if let (Some(k), Some(b)) = (
            median_ns("ndarray", kernel, shape),
            median_ns("ndarray", baseline, shape),
        ) {
            table += &format!(
                "| {shape} | {kernel} | {baseline} | {:.3} | {:.2}x |\n",
                k / b,
                b / k * elements_ratio
            );
        }
    };
    for (rows, columns) in SHAPES {
        let shape = label(rows, columns);
        row(&shape, "array_relu", "slice_relu", 1.0);
        row(&shape, "relu_alloc", "to_owned", 1.0);
        row(&shape, "strided_view_relu", "array_relu", 1.0);
        row(&shape, "relu_observed", "array_relu", 1.0);
        row(&shape, "relu_observed_counts", "array_relu", 1.0);
    }
    for shape in NCHW {
        let shape = nchw_label(shape);
        row(&shape, "relu_observed", "array_relu", 1.0);
        row(&shape, "relu_observed_counts", "array_relu", 1.0);
    }
    println!("\n{table}");
    let _ = std::fs::write(criterion_dir().join("relukit-ndarray-summary.md"), table);
}

fn main() {
    common::run(&[adapter], summary);
}
