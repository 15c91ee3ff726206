//! Kernel throughput against the physical limit, measured in the same run.
//!
//! Baselines: for one-input operations, `copy_from_slice` of the same bytes, the plain
//! `max(x, 0)` loop compiled for the widest instruction set present, and that loop
//! with hand-written non-temporal stores (the fastest of the three at each size is
//! the limit); a 3-stream loop `c[i] = a[i] + b[i]` for two-input operations.
//! Throughput counts bytes read + written. Everything runs on one thread except the
//! `threads` group, which compares one and two threads on the same call. Each
//! benchmark checks its answer against the reference before it is timed, so
//! `cargo test --benches` (one pass of each) is a correctness test too.
//!
//! After the run, the machine's caches and thresholds and a table of medians and
//! ratios to the best baseline are printed and written to
//! `target/criterion/relukit-kernels-summary.md`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{criterion_dir, median_ns};

use criterion::{
    Bencher, BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime,
};
use relukit::{ChannelLayout, bf16, f16, reference};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
/// Sizes of each input array, in bytes.
const SIZES: [usize; 5] = [4 * KIB, 64 * KIB, MIB, 16 * MIB, 256 * MIB];

fn label(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{}MiB", bytes / MIB)
    } else {
        format!("{}KiB", bytes / KIB)
    }
}

/// Deterministic values in [-8, 8), half of them negative.
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761).wrapping_add(seed * 97)) % 4093) as f32 / 256.0 - 8.0
        })
        .collect()
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, bytes: usize) {
    if bytes >= 16 * MIB {
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
    } else {
        group
            .sample_size(30)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
}

#[track_caller]
fn check_bits<T: Copy + std::fmt::Debug>(got: &[T], expected: &[T], bits: impl Fn(T) -> u64) {
    assert_eq!(got.len(), expected.len());
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(bits(g), bits(e), "element {i}: {g:?} vs {e:?}");
    }
}

/// The plain loop `out[i] = max(x[i], 0)` a compiler vectorizes for the widest
/// instruction set present: what relukit must at least match.
fn plain_relu(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx2,avx512f")]
        fn wide(x: &[f32], out: &mut [f32]) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = if v > 0.0 { v } else { 0.0 };
            }
        }
        // SAFETY: the CPU supports AVX2 and AVX-512F, checked just above.
        return unsafe { wide(x, out) };
    }
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v > 0.0 { v } else { 0.0 };
    }
}

/// [`plain_relu`] in place.
fn plain_relu_inplace(data: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        #[target_feature(enable = "avx2,avx512f")]
        fn wide(data: &mut [f32]) {
            for v in data {
                *v = if *v > 0.0 { *v } else { 0.0 };
            }
        }
        // SAFETY: the CPU supports AVX2 and AVX-512F, checked just above.
        return unsafe { wide(data) };
    }
    for v in data {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

/// The same loop with non-temporal (streaming) stores, written by hand: the other
/// limit for outputs larger than the caches, where a normal store first reads the
/// destination line.
fn nt_relu(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn streamed(x: &[f32], out: &mut [f32]) {
            use std::arch::x86_64::*;
            let n = x.len().min(out.len());
            let mut i = 0;
            while i < n && !(out[i..].as_ptr() as usize).is_multiple_of(32) {
                out[i] = if x[i] > 0.0 { x[i] } else { 0.0 };
                i += 1;
            }
            let zero = _mm256_setzero_ps();
            while i + 16 <= n {
                // SAFETY: i + 16 <= n, so both 8-lane loads read inside `x` and both
                // stores write inside `out`; `out[i]` is 32-byte aligned (head loop).
                unsafe {
                    let a = _mm256_loadu_ps(x.as_ptr().add(i));
                    let b = _mm256_loadu_ps(x.as_ptr().add(i + 8));
                    _mm256_stream_ps(out.as_mut_ptr().add(i), _mm256_max_ps(a, zero));
                    _mm256_stream_ps(out.as_mut_ptr().add(i + 8), _mm256_max_ps(b, zero));
                }
                i += 16;
            }
            // Orders the non-temporal stores before whatever follows.
            _mm_sfence();
            for j in i..n {
                out[j] = if x[j] > 0.0 { x[j] } else { 0.0 };
            }
        }
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { streamed(x, out) };
    }
    plain_relu(x, out)
}

fn relu_f32(c: &mut Criterion) {
    let mut group = c.benchmark_group("relu_f32");
    for bytes in SIZES {
        let n = bytes / 4;
        let x = values(n, 1);
        let mut out = vec![0.0f32; n];
        relukit::relu(&x, &mut out).unwrap();
        check_bits(
            &out,
            &x.iter().map(|&v| reference::relu(v)).collect::<Vec<_>>(),
            |v| v.to_bits() as u64,
        );
        configure(&mut group, bytes);
        group.throughput(Throughput::Bytes(2 * bytes as u64));
        let id = |name: &str| BenchmarkId::new(name, label(bytes));
        group.bench_function(id("copy"), |b| {
            b.iter(|| out.copy_from_slice(black_box(&x)))
        });
        group.bench_function(id("naive_max"), |b| {
            b.iter(|| {
                for (o, &v) in out.iter_mut().zip(black_box(&x)) {
                    *o = v.max(0.0);
                }
            })
        });
        group.bench_function(id("plain_loop"), |b| {
            b.iter(|| plain_relu(black_box(&x), &mut out))
        });
        nt_relu(&x, &mut out);
        check_bits(
            &out,
            &x.iter().map(|&v| reference::relu(v)).collect::<Vec<_>>(),
            |v| v.to_bits() as u64,
        );
        group.bench_function(id("nt_loop"), |b| {
            b.iter(|| nt_relu(black_box(&x), &mut out))
        });
        group.bench_function(id("relu"), |b| {
            b.iter(|| relukit::relu(black_box(&x), &mut out).unwrap())
        });
        group.bench_function(id("leaky_relu"), |b| {
            b.iter(|| relukit::leaky_relu(black_box(&x), 0.01, &mut out).unwrap())
        });
        let mut data = x.clone();
        group.bench_function(id("plain_inplace"), |b| {
            b.iter(|| plain_relu_inplace(black_box(&mut data)))
        });
        group.bench_function(id("relu_inplace"), |b| {
            b.iter(|| relukit::relu_inplace(black_box(&mut data)))
        });
    }
    group.finish();
}

fn backward_f32(c: &mut Criterion) {
    let mut group = c.benchmark_group("backward_f32");
    for bytes in SIZES {
        let n = bytes / 4;
        let (x, g) = (values(n, 2), values(n, 3));
        let mut out = vec![0.0f32; n];
        relukit::leaky_relu_backward(&g, &x, 0.01, &mut out).unwrap();
        let expected: Vec<f32> = g
            .iter()
            .zip(&x)
            .map(|(&g, &x)| reference::leaky_relu_backward(g, x, 0.01))
            .collect();
        check_bits(&out, &expected, |v| v.to_bits() as u64);
        configure(&mut group, bytes);
        group.throughput(Throughput::Bytes(3 * bytes as u64));
        let id = |name: &str| BenchmarkId::new(name, label(bytes));
        group.bench_function(id("add3"), |b| {
            b.iter(|| {
                for ((o, &a), &v) in out.iter_mut().zip(black_box(&g)).zip(black_box(&x)) {
                    *o = a + v;
                }
            })
        });
        group.bench_function(id("relu_backward"), |b| {
            b.iter(|| relukit::relu_backward(black_box(&g), &x, &mut out).unwrap())
        });
        group.bench_function(id("leaky_relu_backward"), |b| {
            b.iter(|| relukit::leaky_relu_backward(black_box(&g), &x, 0.01, &mut out).unwrap())
        });
    }
    group.finish();
}

/// PReLU backward (grad_input and grad_weight) on NCHW (64 channels of `inner` >= 64)
/// and NHWC (64 channels, interleaved) layouts, f32 and bf16.
fn prelu_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("prelu_backward");
    for bytes in SIZES {
        for (name, elem) in [("f32", 4usize), ("bf16", 2)] {
            let n = bytes / elem;
            let nchw = ChannelLayout::new(n / (64 * 64), 64, 64);
            let nhwc = ChannelLayout::new(n / 64, 64, 1);
            let x = values(n, 4);
            let g = values(n, 5);
            let weight: Vec<f32> = (0..64).map(|c| 0.25 - c as f32 / 512.0).collect();
            configure(&mut group, bytes);
            group.throughput(Throughput::Bytes(3 * bytes as u64));
            let id = |op: &str| BenchmarkId::new(format!("{op}_{name}"), label(bytes));
            let bits32 = |v: f32| v.to_bits() as u64;
            let bits16 = |v: bf16| v.to_bits() as u64;
            if elem == 4 {
                let mut out = vec![0.0f32; n];
                let add3 = |b: &mut Bencher<'_>| {
                    b.iter(|| {
                        for ((o, &a), &v) in out.iter_mut().zip(black_box(&g)).zip(black_box(&x)) {
                            *o = a + v;
                        }
                    })
                };
                group.bench_function(id("add3"), add3);
                prelu_backward_cases(&mut group, &id, &g, &x, &weight, [nchw, nhwc], bits32);
            } else {
                let to_bf16 = |v: &[f32]| v.iter().map(|&v| bf16::from_f32(v)).collect::<Vec<_>>();
                let (xb, gb, wb) = (to_bf16(&x), to_bf16(&g), to_bf16(&weight));
                let (xu, gu): (Vec<u16>, Vec<u16>) = (
                    xb.iter().map(|v| v.to_bits()).collect(),
                    gb.iter().map(|v| v.to_bits()).collect(),
                );
                let mut out_u = vec![0u16; n];
                group.bench_function(id("add3"), |b| {
                    b.iter(|| {
                        for ((o, &a), &v) in
                            out_u.iter_mut().zip(black_box(&gu)).zip(black_box(&xu))
                        {
                            *o = a.wrapping_add(v);
                        }
                    })
                });
                prelu_backward_cases(&mut group, &id, &gb, &xb, &wb, [nchw, nhwc], bits16);
            }
        }
    }
    group.finish();
}

/// `prelu_backward` on the NCHW and NHWC layouts (checked against the reference first).
fn prelu_backward_cases<T: relukit::Float>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &dyn Fn(&str) -> BenchmarkId,
    g: &[T],
    x: &[T],
    weight: &[T],
    layouts: [ChannelLayout; 2],
    bits: impl Fn(T) -> u64,
) {
    let mut out = x.to_vec();
    let mut grad_weight = weight.to_vec();
    for (layout_name, layout) in ["nchw", "nhwc"].into_iter().zip(layouts) {
        let m = layout.len().unwrap_or(0);
        if m == 0 {
            continue;
        }
        relukit::prelu_backward(
            &g[..m],
            &x[..m],
            weight,
            layout,
            &mut out[..m],
            &mut grad_weight,
        )
        .unwrap();
        check_bits(
            &out[..m],
            &reference::prelu_backward(&g[..m], &x[..m], weight, layout).0,
            &bits,
        );
        group.bench_function(id(&format!("prelu_backward_{layout_name}")), |b| {
            b.iter(|| {
                relukit::prelu_backward(
                    black_box(&g[..m]),
                    &x[..m],
                    weight,
                    layout,
                    &mut out[..m],
                    &mut grad_weight,
                )
                .unwrap()
            })
        });
    }
}

/// The 16-bit floats: ReLU on bit patterns, Leaky ReLU and PReLU through `f32`.
fn half_floats(c: &mut Criterion) {
    let mut group = c.benchmark_group("half");
    for bytes in SIZES {
        let n = bytes / 2;
        let x = values(n, 6);
        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        let xb: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
        let raw: Vec<u16> = xh.iter().map(|v| v.to_bits()).collect();
        let mut raw_out = vec![0u16; n];
        let mut oh = vec![f16::ZERO; n];
        let mut ob = vec![bf16::ZERO; n];
        let weight_h: Vec<f16> = (0..64)
            .map(|c| f16::from_f32(0.25 - c as f32 / 512.0))
            .collect();
        let weight_b: Vec<bf16> = weight_h
            .iter()
            .map(|v| bf16::from_f32(v.to_f32()))
            .collect();
        let nhwc = ChannelLayout::new(n / 64, 64, 1);
        relukit::leaky_relu(&xh, 0.01, &mut oh).unwrap();
        check_bits(
            &oh,
            &xh.iter()
                .map(|&v| reference::leaky_relu(v, 0.01))
                .collect::<Vec<_>>(),
            |v| v.to_bits() as u64,
        );
        relukit::prelu(&xb, &weight_b, nhwc, &mut ob).unwrap();
        check_bits(&ob, &reference::prelu(&xb, &weight_b, nhwc), |v| {
            v.to_bits() as u64
        });
        configure(&mut group, bytes);
        group.throughput(Throughput::Bytes(2 * bytes as u64));
        let id = |name: &str| BenchmarkId::new(name, label(bytes));
        group.bench_function(id("copy"), |b| {
            b.iter(|| raw_out.copy_from_slice(black_box(&raw)))
        });
        group.bench_function(id("relu_f16"), |b| {
            b.iter(|| relukit::relu(black_box(&xh), &mut oh).unwrap())
        });
        group.bench_function(id("relu_bf16"), |b| {
            b.iter(|| relukit::relu(black_box(&xb), &mut ob).unwrap())
        });
        group.bench_function(id("leaky_relu_f16"), |b| {
            b.iter(|| relukit::leaky_relu(black_box(&xh), 0.01, &mut oh).unwrap())
        });
        group.bench_function(id("leaky_relu_bf16"), |b| {
            b.iter(|| relukit::leaky_relu(black_box(&xb), 0.01, &mut ob).unwrap())
        });
        group.bench_function(id("prelu_nhwc_f16"), |b| {
            b.iter(|| relukit::prelu(black_box(&xh), &weight_h, nhwc, &mut oh).unwrap())
        });
        group.bench_function(id("prelu_nhwc_bf16"), |b| {
            b.iter(|| relukit::prelu(black_box(&xb), &weight_b, nhwc, &mut ob).unwrap())
        });
    }
    group.finish();
}

/// One thread against two, on the same calls (the caller's pool decides).
fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads");
    for bytes in [16 * MIB, 256 * MIB] {
        let n = bytes / 4;
        let (x, g) = (values(n, 7), values(n, 8));
        let mut out = vec![0.0f32; n];
        let weight = vec![0.1f32; 64];
        let mut gw = vec![0.0f32; 64];
        let nhwc = ChannelLayout::new(n / 64, 64, 1);
        configure(&mut group, bytes);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            group.throughput(Throughput::Bytes(2 * bytes as u64));
            group.bench_function(
                BenchmarkId::new(format!("relu_{threads}t"), label(bytes)),
                |b| {
                    b.iter_custom(|iters| {
                        pool.install(|| {
                            timed(iters, || relukit::relu(black_box(&x), &mut out).unwrap())
                        })
                    })
                },
            );
            group.throughput(Throughput::Bytes(3 * bytes as u64));
            group.bench_function(
                BenchmarkId::new(format!("prelu_backward_nhwc_{threads}t"), label(bytes)),
                |b| {
                    b.iter_custom(|iters| {
                        pool.install(|| {
                            timed(iters, || {
                                relukit::prelu_backward(
                                    black_box(&g),
                                    &x,
                                    &weight,
                                    nhwc,
                                    &mut out,
                                    &mut gw,
                                )
                                .unwrap()
                            })
                        })
                    })
                },
            );
        }
    }
    group.finish();
}

/// The time of `iters` calls of `f`.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// One summary table: (group, bytes moved per input byte, the baselines, the
/// benchmarks compared with the fastest of them at each size).
type Table = (
    &'static str,
    u64,
    &'static [&'static str],
    &'static [&'static str],
);

const TABLES: &[Table] = &[
    (
        "relu_f32",
        2,
        &["copy", "plain_loop", "nt_loop"],
        &["naive_max", "relu", "leaky_relu"],
    ),
    ("relu_f32", 2, &["plain_inplace"], &["relu_inplace"]),
    (
        "backward_f32",
        3,
        &["add3"],
        &["relu_backward", "leaky_relu_backward"],
    ),
    (
        "prelu_backward",
        3,
        &["add3_f32"],
        &["prelu_backward_nchw_f32", "prelu_backward_nhwc_f32"],
    ),
    (
        "prelu_backward",
        3,
        &["add3_bf16"],
        &["prelu_backward_nchw_bf16", "prelu_backward_nhwc_bf16"],
    ),
    (
        "half",
        2,
        &["copy"],
        &[
            "relu_f16",
            "relu_bf16",
            "leaky_relu_f16",
            "leaky_relu_bf16",
            "prelu_nhwc_f16",
            "prelu_nhwc_bf16",
        ],
    ),
];

fn summary() {
    let mut table = format!(
        "Machine: {}\n\n| group | size | kernel | GB/s | best baseline | baseline GB/s | ratio |\n|---|---|---|---|---|---|---|\n",
        relukit::machine::Machine::get()
    );
    let gbps = |bytes: u64, ns: f64| bytes as f64 / ns;
    for &(group, factor, baselines, kernels) in TABLES {
        for bytes in SIZES {
            let size = label(bytes);
            let best = baselines
                .iter()
                .filter_map(|&name| Some((name, median_ns(group, name, &size)?)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((baseline, base)) = best else {
                continue;
            };
            let moved = factor * bytes as u64;
            for kernel in kernels {
                if let Some(ns) = median_ns(group, kernel, &size) {
                    table += &format!(
                        "| {group} | {size} | {kernel} | {:.1} | {baseline} | {:.1} | {:.2}x |\n",
                        gbps(moved, ns),
                        gbps(moved, base),
                        base / ns
                    );
                }
            }
        }
    }
    for bytes in [16 * MIB, 256 * MIB] {
        let size = label(bytes);
        for kernel in ["relu", "prelu_backward_nhwc"] {
            if let (Some(one), Some(two)) = (
                median_ns("threads", &format!("{kernel}_1t"), &size),
                median_ns("threads", &format!("{kernel}_2t"), &size),
            ) {
                table += &format!(
                    "| threads | {size} | {kernel} 2 threads | | {kernel} 1 thread | | {:.2}x |\n",
                    one / two
                );
            }
        }
    }
    println!("\n{table}");
    let _ = std::fs::write(criterion_dir().join("relukit-kernels-summary.md"), table);
}

fn main() {
    common::run(
        &[relu_f32, backward_f32, prelu_backward, half_floats, threads],
        summary,
    );
}
