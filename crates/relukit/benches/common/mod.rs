//! Reading criterion's results back, to print ratios to the baselines of the same run.

use std::path::PathBuf;

use criterion::Criterion;

/// Where criterion writes (the workspace's `target/criterion`, or `$CARGO_TARGET_DIR`'s).
pub fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("criterion")
}

/// The median time of one benchmark, in nanoseconds, from criterion's estimates file.
pub fn median_ns(group: &str, function: &str, parameter: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join(parameter)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let median = &text[text.find("\"median\"")?..];
    let estimate = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    estimate[..estimate.find([',', '}'])?].trim().parse().ok()
}

/// Runs `groups` on one thread (the global rayon pool is set to one thread; groups that
/// measure threads build their own pools), then, under `cargo bench`, `summary`.
pub fn run(groups: &[fn(&mut Criterion)], summary: fn()) {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("the global pool is set once");
    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .configure_from_args();
    for group in groups {
        group(&mut c);
    }
    c.final_summary();
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
