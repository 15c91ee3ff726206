//! The `relukit` program end to end: small runs of every subcommand, their files (the
//! PNGs must decode), and clear errors with a non-zero exit for bad flags and files.

use resvg::tiny_skia::Pixmap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn relukit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relukit"))
        .args(args)
        .output()
        .expect("the relukit binary runs")
}

/// A fresh folder under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[track_caller]
fn assert_png(path: &Path) {
    let image = Pixmap::load_png(path)
        .unwrap_or_else(|e| panic!("{} does not decode as a PNG: {e}", path.display()));
    assert!(
        image.width() > 300 && image.height() > 200,
        "{}: {}x{}",
        path.display(),
        image.width(),
        image.height()
    );
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[track_caller]
fn assert_failure(output: &Output, words: &[&str]) {
    assert!(!output.status.success(), "expected a failure, got success");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for word in words {
        assert!(
            stderr.contains(word),
            "stderr should mention {word:?}:\n{stderr}"
        );
    }
}

#[test]
fn a_small_study_writes_the_whole_report() {
    let out = scratch("study");
    let output = relukit(&[
        "study",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--hidden",
        "16,16",
        "--conditions",
        "control,high-lr",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("| control | relu |") && stdout.contains("| high_lr | prelu |"),
        "{stdout}"
    );
    for png in [
        "inactive_fraction.png",
        "dead_fraction.png",
        "test_accuracy.png",
        "revived_units.png",
        "dead_vs_batch_zero.png",
        "prelu_slopes.png",
    ] {
        assert_png(&out.join(png));
        // Every chart in SVG too, for print.
        let svg = std::fs::read_to_string(out.join(png).with_extension("svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{png}");
        assert!(
            std::fs::metadata(out.join(png)).unwrap().len() < 300_000,
            "{png} is over 300 KB"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3 * 2 * 2);
    // Enough to reproduce it: program, command, data, split and machine.
    let provenance = &json["provenance"];
    assert_eq!(provenance["relukit_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        provenance["command"]
            .as_str()
            .unwrap()
            .contains("study --epochs 2")
    );
    assert_eq!(provenance["data_sha256"], relukit_cli::data::DIGITS.sha256);
    assert_eq!(provenance["split_seed"], 0);
    assert!(!provenance["cpu"].as_str().unwrap().is_empty());
    assert_eq!(json["high_learning_rate"], 0.05);
    let first = &runs[0];
    assert_eq!(
        first["epochs"].as_array().unwrap().len(),
        3,
        "epoch 0 and two trained epochs"
    );
    assert_eq!(
        first["epochs"][1]["dead_fraction"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let csv = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 12 * 3 * 2,
        "header + runs x epochs x layers"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("![dead fraction](dead_fraction.png)"));
    // Inactive and dead are separate measures, each with its interval over 2 seeds.
    assert!(
        report.contains("**inactive**") && report.contains("**dead**"),
        "{report}"
    );
    assert!(
        report.contains("inactive, layer 2 | dead, layer 1"),
        "{report}"
    );
    assert!(report.contains("accuracy - ReLU's (points)"), "{report}");
    assert!(report.contains("% ["), "intervals with two seeds: {report}");
    // Leaky ReLU units can be inactive but never dead.
    for run in runs.iter().filter(|r| r["activation"] == "leaky_relu") {
        for epoch in run["epochs"].as_array().unwrap() {
            assert!(
                epoch["dead_fraction"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|v| v == 0.0)
            );
        }
    }
    // ReLU's dead units are its inactive units.
    for run in runs.iter().filter(|r| r["activation"] == "relu") {
        for epoch in run["epochs"].as_array().unwrap() {
            assert_eq!(epoch["dead_fraction"], epoch["inactive_fraction"]);
        }
    }
    // PReLU's slope table, and per-epoch slope statistics.
    assert!(
        report.contains("| condition | layer | slopes | mean |"),
        "{report}"
    );
    let prelu = runs.iter().find(|r| r["activation"] == "prelu").unwrap();
    assert_eq!(prelu["epochs"][0]["prelu_slope_mean"][0], 0.25);
}

#[test]
fn the_fixes_run_as_conditions_against_the_high_learning_rate() {
    let out = scratch("study-fixes");
    let output = relukit(&[
        "study",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--hidden",
        "16,16",
        "--activations",
        "relu",
        "--conditions",
        "high-lr,high-lr-warmup,high-lr-batch-norm,high-lr-rai",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for words in [
        "*high_lr_warmup* (learning rate rising linearly to 0.05 over the first 5 epochs)",
        "*high_lr_batch_norm* (learning rate 0.05, batch normalisation before each hidden activation)",
        "*high_lr_rai* (learning rate 0.05, randomized asymmetric initialisation (RAI)",
        "accuracy - high_lr's, same activation (points)",
        "| high_lr_batch_norm | relu |",
    ] {
        assert!(report.contains(words), "{words}: {report}");
    }
    assert!(
        !report.contains("negative_bias"),
        "only the conditions that ran: {report}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 4 * 2);
    assert_eq!(json["conditions"][2], "high_lr_batch_norm");
}

#[test]
fn names_are_accepted_as_printed_and_lists_either_way() {
    let out = scratch("study-names");
    let output = relukit(&[
        "study",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--hidden",
        "8",
        "--quiet",
        "--activations",
        "relu",
        "leaky_relu",
        "--conditions",
        "high_lr,negative-bias",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    assert!(
        output.stderr.is_empty(),
        "--quiet: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("| high_lr | leaky_relu |") && stdout.contains("| negative_bias | relu |"),
        "{stdout}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let out = scratch("bench-pipe");
    let mut child = Command::new(env!("CARGO_BIN_EXE_relukit"))
        .args([
            "bench",
            "--max-size",
            "16KiB",
            "--seconds",
            "0.01",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe: the next write gets SIGPIPE.
    let mut stdout = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success() || status.signal() == Some(13),
        "{status:?}: {stderr}"
    );
}

#[test]
fn seeds_can_be_offset_to_extend_a_study() {
    let out = scratch("study-offset");
    let output = relukit(&[
        "study",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--seed-offset",
        "7",
        "--hidden",
        "8",
        "--activations",
        "relu",
        "--conditions",
        "control",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["seed_offset"], 7);
    assert_eq!(json["runs"][0]["seed"], 7);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        !report.contains("± 0.0") && !report.contains("% ["),
        "one seed, no interval: {report}"
    );
    assert_failure(
        &relukit(&[
            "study",
            "--seed-offset",
            "18446744073709551615",
            "--seeds",
            "2",
        ]),
        &["--seed-offset"],
    );
}

#[test]
fn the_study_is_deterministic_whatever_the_thread_count() {
    let (one, two) = (scratch("det1"), scratch("det2"));
    for (dir, threads) in [(&one, "1"), (&two, "2")] {
        assert_success(&relukit(&[
            "study",
            "--epochs",
            "2",
            "--seeds",
            "2",
            "--hidden",
            "12",
            "--threads",
            threads,
            "--out",
            dir.to_str().unwrap(),
        ]));
    }
    let read = |d: &Path| std::fs::read_to_string(d.join("epochs.csv")).unwrap();
    assert_eq!(read(&one), read(&two));
}

#[test]
fn born_dead_writes_its_table_chart_and_csv() {
    let out = scratch("born");
    let output = relukit(&[
        "born-dead",
        "--widths",
        "1,3",
        "--depths",
        "2,6",
        "--trials",
        "400",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    assert_png(&out.join("born_dead.png"));
    let csv = std::fs::read_to_string(out.join("born_dead.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 2 * 2);
    // Width 1, zero biases, depth 2: born dead with probability 1/2.
    let row = csv
        .lines()
        .find(|l| l.starts_with("he_zero_bias,1,2,"))
        .unwrap();
    let p: f64 = row.split(',').nth(5).unwrap().parse().unwrap();
    assert!((p - 0.5).abs() < 4.0 * (0.25f64 / 400.0).sqrt(), "{row}");
}

#[test]
fn dpi_scales_the_pngs_and_is_checked() {
    let (low, high) = (scratch("plot-96"), scratch("plot-192"));
    assert_success(&relukit(&["plot", "--out", low.to_str().unwrap()]));
    assert_success(&relukit(&[
        "plot",
        "--out",
        high.to_str().unwrap(),
        "--dpi",
        "192",
    ]));
    let (a, b) = (
        Pixmap::load_png(low.join("activations.png")).unwrap(),
        Pixmap::load_png(high.join("activations.png")).unwrap(),
    );
    assert_eq!((b.width(), b.height()), (2 * a.width(), 2 * a.height()));
    // The SVG is the same drawing at any DPI.
    assert_eq!(
        std::fs::read(low.join("activations.svg")).unwrap(),
        std::fs::read(high.join("activations.svg")).unwrap()
    );
    let out = relukit(&[
        "plot",
        "--out",
        low.to_str().unwrap(),
        "--force",
        "--dpi",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dpi"));
}

#[test]
fn plot_writes_png_and_svg() {
    let out = scratch("plot");
    assert_success(&relukit(&["plot", "--out", out.to_str().unwrap()]));
    assert_png(&out.join("activations.png"));
    let svg = std::fs::read_to_string(out.join("activations.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("ReLU"),
        "{}",
        &svg[..200.min(svg.len())]
    );
}

#[test]
fn bench_measures_small_sizes() {
    let out = scratch("bench");
    let output = relukit(&[
        "bench",
        "--max-size",
        "16KiB",
        "--seconds",
        "0.01",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("relu f32") && stdout.contains("16 KiB") && stdout.contains("spread"),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(out.join("bench.csv"))
            .unwrap()
            .starts_with("operation,threads,bytes,gbps,copy_gbps,ratio,spread\n")
    );
    assert!(out.join("bench.svg").exists());
    assert_png(&out.join("bench.png"));
    assert!(
        std::fs::read_to_string(out.join("bench.csv"))
            .unwrap()
            .lines()
            .count()
            > 10
    );
}

#[test]
fn bench_on_cuda_without_a_gpu_says_so() {
    if relukit_cuda::driver_present() {
        eprintln!("skipped: this machine has a CUDA driver");
        return;
    }
    let out = scratch("bench-cuda");
    let output = relukit(&["bench", "--device", "cuda", "--out", out.to_str().unwrap()]);
    assert_failure(&output, &["no CUDA driver", "libcuda.so"]);
    assert!(!out.exists(), "nothing is written when the GPU is missing");
}

#[test]
fn bad_flags_and_files_fail_clearly() {
    assert_failure(
        &relukit(&["study", "--activations", "tanh"]),
        &["invalid value 'tanh'", "relu"],
    );
    assert_failure(&relukit(&["study", "--epochs", "0"]), &["--epochs"]);
    assert_failure(&relukit(&["study", "--hidden", "16,0"]), &["--hidden"]);
    assert_failure(&relukit(&["study", "--lr=-1"]), &["--lr"]);
    assert_failure(
        &relukit(&["bench", "--max-size", "12 parsecs"]),
        &["max-size"],
    );
    assert_failure(&relukit(&["born-dead", "--trials", "0"]), &["--trials"]);
    assert_failure(&relukit(&["no-such-command"]), &["unrecognized subcommand"]);
    let missing = scratch("missing").join("nothing.csv");
    assert_failure(
        &relukit(&["study", "--data", missing.to_str().unwrap()]),
        &["cannot read", "nothing.csv"],
    );
    let bad = scratch("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let file = bad.join("bad.csv");
    std::fs::write(&file, "1,2,0\n1,oops,1\n").unwrap();
    assert_failure(
        &relukit(&[
            "study",
            "--data",
            file.to_str().unwrap(),
            "--out",
            bad.to_str().unwrap(),
        ]),
        &["line 2, column 2", "oops"],
    );
    // An output "folder" that is a file: refused before any training.
    let blocker = bad.join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let output = relukit(&["study", "--out", blocker.join("report").to_str().unwrap()]);
    assert_failure(&output, &["cannot create the output folder"]);
}

#[test]
fn the_study_runs_on_the_embedded_mnist() {
    let out = scratch("mnist");
    let output = relukit(&[
        "study",
        "--data",
        "mnist",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--activations",
        "relu",
        "--conditions",
        "control",
        "--hidden",
        "16",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let provenance = &json["provenance"];
    assert_eq!(provenance["data_sha256"], relukit_cli::data::MNIST.sha256);
    assert_eq!(
        (&provenance["train_samples"], &provenance["test_samples"]),
        (&serde_json::json!(4000), &serde_json::json!(1000))
    );
    assert!(provenance["data"].as_str().unwrap().contains("MNIST"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("MNIST"), "{report}");
}

#[test]
fn another_csv_can_be_studied() {
    let dir = scratch("custom");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("xor.csv");
    let mut text = String::new();
    for i in 0..200 {
        let (a, b) = ((i % 2) as f32, ((i / 2) % 2) as f32);
        text += &format!(
            "{},{},{}\n",
            a + 0.01 * (i % 7) as f32,
            b - 0.01 * (i % 5) as f32,
            (a as usize) ^ (b as usize)
        );
    }
    std::fs::write(&file, text).unwrap();
    let output = relukit(&[
        "study",
        "--data",
        file.to_str().unwrap(),
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--hidden",
        "8",
        "--out",
        dir.join("report").to_str().unwrap(),
    ]);
    assert_success(&output);
    assert!(
        std::fs::read_to_string(dir.join("report").join("report.md"))
            .unwrap()
            .contains("xor.csv")
    );
    // The folder holding the data is not a report: refused, the data kept.
    let output = relukit(&[
        "study",
        "--data",
        file.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_failure(&output, &["files relukit did not write", "--force"]);
    assert!(file.exists());
}

#[test]
fn a_diverging_run_is_marked_and_the_others_go_on() {
    let out = scratch("diverge");
    let output = relukit(&[
        "study",
        "--conditions",
        "control,high-lr",
        "--high-lr",
        "1e30",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--hidden",
        "8",
        "--optimizer",
        "sgd",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    let diverged: Vec<bool> = runs
        .iter()
        .map(|r| r["diverged"].as_bool().unwrap())
        .collect();
    assert!(
        runs.iter()
            .filter(|r| r["condition"] == "high_lr")
            .all(|r| r["diverged"] == true),
        "{diverged:?}"
    );
    assert!(
        runs.iter()
            .filter(|r| r["condition"] == "control")
            .all(|r| r["diverged"] == false),
        "{diverged:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("| high_lr | relu | 1 | 1 | diverged |"),
        "{stdout}"
    );
    assert_png(&out.join("dead_fraction.png"));
}

#[test]
fn absurd_flags_are_refused_with_the_limit() {
    let cases: [(&[&str], &[&str]); 9] = [
        (
            &["study", "--seeds", "18446744073709551615"],
            &["--seeds", "between 1 and"],
        ),
        (
            &["study", "--epochs", "1000000000"],
            &["--epochs", "between 1 and"],
        ),
        (
            &["study", "--negative-bias", "nan"],
            &["--negative-bias", "finite"],
        ),
        (&["study", "--lr", "inf"], &["--lr", "finite"]),
        (
            &["study", "--threads", "100000"],
            &["--threads", "per core"],
        ),
        (
            &["study", "--hidden", "100000000"],
            &["needs about", "available"],
        ),
        (
            &["bench", "--max-size", "17179869184G"],
            &["max-size", "larger than"],
        ),
        (
            &["bench", "--max-size", "16384GiB"],
            &["needs about", "available"],
        ),
        (
            &["born-dead", "--widths", "10000000"],
            &["needs about", "available"],
        ),
    ];
    for (args, words) in cases {
        let start = std::time::Instant::now();
        assert_failure(&relukit(args), words);
        assert!(
            start.elapsed().as_secs() < 10,
            "{args:?} took {:?} to fail",
            start.elapsed()
        );
    }
}

#[test]
fn bad_labels_and_splits_are_refused_before_training() {
    let dir = scratch("labels");
    std::fs::create_dir_all(&dir).unwrap();
    let huge = dir.join("huge.csv");
    std::fs::write(&huge, "1,2,0\n3,4,1\n5,6,4000000000\n").unwrap();
    let start = std::time::Instant::now();
    assert_failure(
        &relukit(&[
            "study",
            "--data",
            huge.to_str().unwrap(),
            "--out",
            dir.join("r").to_str().unwrap(),
        ]),
        &["line 3", "4000000000", "65536"],
    );
    assert!(start.elapsed().as_secs() < 10);
    let gap = dir.join("gap.csv");
    std::fs::write(&gap, "1,2,0\n3,4,2\n").unwrap();
    assert_failure(
        &relukit(&["study", "--data", gap.to_str().unwrap()]),
        &["class 1 has no rows"],
    );
    // Two rows: no test sample in any class. Refused, never "0.0% test accuracy".
    let tiny = dir.join("tiny.csv");
    std::fs::write(&tiny, "1,2,0\n3,4,1\n").unwrap();
    let out = dir.join("tiny-report");
    assert_failure(
        &relukit(&[
            "study",
            "--data",
            tiny.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]),
        &["class 0 has 1 sample", "no test sample"],
    );
    assert!(!out.exists(), "a report was written for a refused run");
}

/// Every file of a report folder, by name.
fn contents(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The trial count a born-dead report states.
fn trials_of(dir: &Path) -> usize {
    let md = std::fs::read_to_string(dir.join("born_dead.md")).unwrap();
    md.split("trials per cell: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no trial count in {md}"))
}

/// Kills runs of `relukit born-dead` at random points and checks, after each, that the
/// report folder is byte for byte the complete report of one run (born-dead is
/// deterministic, so a run with the same trials, to completion, gives the reference).
#[test]
fn an_interrupted_run_leaves_the_old_report_or_the_new_one() {
    let root = scratch("killed");
    std::fs::create_dir_all(&root).unwrap();
    let out = root.join("report");
    let args = |trials: usize, out: &Path| -> Vec<String> {
        [
            "born-dead",
            "--widths",
            "2,3",
            "--depths",
            "2,4",
            "--trials",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            trials.to_string(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ])
        .collect()
    };
    let run = |trials: usize, out: &Path| {
        assert_success(&relukit(
            &args(trials, out)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ))
    };
    let started = std::time::Instant::now();
    run(50, &out);
    let full_run = started.elapsed();
    let references = scratch("killed-references");
    let reference = |trials: usize| {
        let dir = references.join(trials.to_string());
        if !dir.exists() {
            run(trials, &dir);
        }
        contents(&dir)
    };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let (mut finished, mut interrupted) = (0, 0);
    for i in 0..60 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = full_run.mul_f64((state % 1000) as f64 / 500.0);
        let mut child = Command::new(env!("CARGO_BIN_EXE_relukit"))
            .args(args(100 + i, &out))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let trials = trials_of(&out);
        assert!(
            contents(&out) == reference(trials),
            "after a kill at {delay:?}, the folder is not the report of one run of {trials} trials"
        );
        if trials == 100 + i {
            finished += 1;
        } else {
            interrupted += 1;
        }
    }
    assert!(
        finished > 0 && interrupted > 0,
        "finished {finished}, interrupted {interrupted}"
    );
    // The next complete run removes what killed runs left beside the report.
    run(60, &out);
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("report")], "{left:?}");
    assert_eq!(trials_of(&out), 60);
}

#[test]
fn plasticity_runs_task_after_task_and_writes_its_report() {
    let out = scratch("plasticity");
    let output = relukit(&[
        "plasticity",
        "--conditions",
        "adam,adam-redo",
        "adam-cbp",
        "--seeds",
        "2",
        "--tasks",
        "3",
        "--width",
        "16",
        "--redo-every",
        "100",
        "--forgetting",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| adam-cbp | 2 |"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("tasks.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with(
            "condition,seed,task,layer,accuracy,inactive_fraction,dormant_fraction_0.1,dormant_fraction_0.025,low_firing_fraction,effective_rank,mean_abs_weight"
        ),
        "{header}"
    );
    // 3 conditions x 2 seeds x 3 tasks x 3 layers.
    assert_eq!(csv.lines().count(), 1 + 3 * 2 * 3 * 3);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        json["provenance"]["data_sha256"],
        relukit_cli::data::MNIST.sha256
    );
    assert_eq!(json["settings"]["tasks"], 3);
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    let task = &runs[0]["tasks"][2];
    assert!(task["first_task_accuracy"].as_f64().is_some());
    assert!(
        task["layers"][0]["dormant_fraction_0.025"]
            .as_f64()
            .is_some()
    );
    // ReDo fires at step 50, 150, ...: it recycled during the tasks; plain Adam never does.
    let recycled = |condition: &str| -> u64 {
        runs.iter()
            .filter(|r| r["condition"] == condition)
            .flat_map(|r| r["tasks"].as_array().unwrap().iter())
            .map(|t| t["recycled"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(recycled("adam"), 0);
    assert!(recycled("adam-redo") > 0);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("Permuted MNIST") && report.contains("| adam-redo |"));
    // The same numbers on one thread (each run is sequential; runs go to threads whole).
    let one = scratch("plasticity-one-thread");
    let output = relukit(&[
        "plasticity",
        "--conditions",
        "adam,adam-redo,adam-cbp",
        "--seeds",
        "2",
        "--tasks",
        "3",
        "--width",
        "16",
        "--redo-every",
        "100",
        "--forgetting",
        "--quiet",
        "--threads",
        "1",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert_success(&output);
    assert_eq!(std::fs::read_to_string(one.join("tasks.csv")).unwrap(), csv);
    for png in [
        "accuracy.png",
        "inactive_fraction.png",
        "dormant_fraction.png",
        "effective_rank.png",
    ] {
        assert_png(&out.join(png));
        let svg = std::fs::read_to_string(out.join(png).with_extension("svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{png}");
    }
}

#[test]
fn plasticity_refuses_bad_flags_and_data_before_training() {
    let dir = scratch("plasticity-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let narrow = dir.join("narrow.csv");
    std::fs::write(&narrow, "1,2,0\n3,4,1\n5,6,1\n7,8,0\n9,9,0\n1,1,1\n").unwrap();
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["plasticity", "--tasks", "0"],
            &["--tasks", "between 1 and"],
        ),
        (
            &["plasticity", "--width", "0"],
            &["--width", "between 1 and"],
        ),
        (
            &["plasticity", "--seeds", "0"],
            &["--seeds", "between 1 and"],
        ),
        (
            &["plasticity", "--redo-tau", "0"],
            &["--redo-tau", "(0, 1]"],
        ),
        (
            &["plasticity", "--redo-tau", "1.5"],
            &["--redo-tau", "(0, 1]"],
        ),
        (
            &["plasticity", "--cbp-rate", "nan"],
            &["--cbp-rate", "(0, 1]"],
        ),
        (
            &["plasticity", "--conditions", "adam-dropout"],
            &["invalid value", "adam-dropout"],
        ),
        (
            &["plasticity", "--data", narrow.to_str().unwrap()],
            &["narrow.csv", "784 pixel columns", "found 2"],
        ),
    ];
    for (args, words) in cases {
        let start = std::time::Instant::now();
        let out = dir.join("report");
        let mut args = args.to_vec();
        args.extend(["--out", out.to_str().unwrap()]);
        assert_failure(&relukit(&args), words);
        assert!(!out.exists(), "{args:?} left a report");
        assert!(
            start.elapsed().as_secs() < 10,
            "{args:?} trained before failing"
        );
    }
}
