//! The report folders: the study's (`report.md` with the tables and charts,
//! `results.json` and CSV files with every number behind the charts) and born-dead's
//! (Markdown table, CSV and chart).

use std::fmt::Write as _;
use std::path::Path;

use crate::born_dead::{self, Cell};
use crate::charts::{self, Axes, HistogramPanel, PALETTE, Panel, Series, Ticks};
use crate::mlp::Activation;
use crate::stats::mean_std;
use crate::study::{Condition, DEAD_SLOPE, RunResult, StudyConfig, slopes_table, summary_table};

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the whole report; returns the summary table.
/// What a reader needs to reproduce a study: the program, the command, the data and the
/// machine (the settings are the [`StudyConfig`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Provenance {
    pub relukit_version: &'static str,
    /// The command line, as typed (arguments joined by spaces).
    pub command: String,
    /// The data: its description and the SHA-256 of its bytes.
    pub data: String,
    pub data_sha256: String,
    pub split_seed: u64,
    pub test_fraction: f64,
    pub train_samples: usize,
    pub test_samples: usize,
    pub threads: usize,
    /// The CPU's model name (from /proc/cpuinfo where there is one).
    pub cpu: String,
}

impl Provenance {
    /// The provenance of a run of this process on `data`, split by `split_seed`.
    pub fn of_run(
        data: crate::data::Loaded,
        split_seed: u64,
        split: &crate::data::Split,
        threads: usize,
    ) -> Provenance {
        Provenance {
            relukit_version: env!("CARGO_PKG_VERSION"),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            data: data.description,
            data_sha256: data.sha256,
            split_seed,
            test_fraction: crate::data::TEST_FRACTION,
            train_samples: split.train.labels.len(),
            test_samples: split.test.labels.len(),
            threads,
            cpu: Provenance::cpu_model(),
        }
    }

    /// The report's "Reproduce:" line: the command, the program, the data, the split and the
    /// machine; `depends` says what the results do not depend on.
    pub fn reproduce(&self, depends: &str) -> String {
        format!(
            "Reproduce: `{}` (relukit {}; data SHA-256 {}, split seed {}, {} train / {} test samples; {} threads on {}; \
             {depends}).\n",
            self.command,
            self.relukit_version,
            self.data_sha256,
            self.split_seed,
            self.train_samples,
            self.test_samples,
            self.threads,
            self.cpu
        )
    }

    /// The CPU's model name, or "unknown".
    pub fn cpu_model() -> String {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            })
            .unwrap_or_else(|| format!("unknown ({})", std::env::consts::ARCH))
    }
}

pub fn write_report(
    config: &StudyConfig,
    dir: &Path,
    provenance: &Provenance,
    results: &[RunResult],
    seconds: f64,
) -> Result<String, String> {
    let data_source = provenance.data.as_str();
    let table = summary_table(config, results);
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "provenance": provenance,
        "seconds": seconds,
        "activations": config.activations,
        "conditions": config.conditions,
        "learning_rate": config.lr,
        "high_learning_rate": config.high_lr,
        "negative_bias": config.negative_bias,
        "data": data_source,
        "hidden": config.hidden,
        "epochs": config.epochs,
        "seeds": config.seeds,
        "seed_offset": config.seed_offset,
        "dead_slope": DEAD_SLOPE,
        "batch_size": config.batch_size,
        "optimizer": config.optimizer,
        "runs": results,
    }))
    .map_err(|e| e.to_string())?;
    write(&dir.join("results.json"), &json)?;
    write(&dir.join("epochs.csv"), &epochs_csv(results))?;
    write(&dir.join("prelu_slopes.csv"), &slopes_csv(results))?;
    fraction_chart(
        config,
        results,
        Fraction::Inactive,
        &dir.join("inactive_fraction.png"),
    )?;
    fraction_chart(
        config,
        results,
        Fraction::Dead,
        &dir.join("dead_fraction.png"),
    )?;
    accuracy_chart(config, results, &dir.join("test_accuracy.png"))?;
    revived_chart(config, results, &dir.join("revived_units.png"))?;
    dead_vs_zero_chart(config, results, &dir.join("dead_vs_batch_zero.png"))?;
    let has_prelu = config.activations.contains(&Activation::Prelu);
    if has_prelu {
        slopes_chart(config, results, &dir.join("prelu_slopes.png"))?;
    }
    let mut md = String::new();
    let _ = writeln!(md, "# The dying-ReLU study\n");
    let _ = writeln!(
        md,
        "Data: {data_source}. Network: inputs -> {} -> classes, He-normal weights, softmax cross-entropy, minibatch {}, {:?}. \
         {} epochs, {} seeds per cell (seeds {}..={}). Conditions: {}. \
         Ran in {seconds:.1} s.\n",
        config
            .hidden
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(" -> "),
        config.batch_size,
        config.optimizer,
        config.epochs,
        config.seeds,
        config.seed_offset,
        config.seed_offset + config.seeds.saturating_sub(1),
        config
            .conditions
            .iter()
            .map(|c| format!("*{}* ({})", c.name(), c.describe(config)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let _ = writeln!(
        md,
        "{}",
        provenance.reproduce("the results do not depend on the thread count or the CPU")
    );
    let _ = writeln!(
        md,
        "A unit is **inactive** when its pre-activation is <= 0 for every training sample, whatever the activation. \
         It is **dead** when, in addition, no gradient reaches it on any sample: every inactive ReLU unit, and an inactive \
         unit whose negative-side slope is below {DEAD_SLOPE} in absolute value (a PReLU unit whose learned slope went to \
         about zero). Leaky ReLU (slope 0.01), very leaky ReLU (1/5.5) and RReLU (at least 1/8) units can be inactive but \
         never dead: they still learn through the slope. The batch zero-fraction is the share of outputs from `x <= 0` in \
         one minibatch (sparsity, not death).\n\n\
         Final epoch, over the seeds that did not diverge (diverged runs are counted): the mean and its 95% interval \
         (Student's t over seeds; no interval with one seed). The last column is the accuracy's difference to ReLU's under \
         the same condition, in percentage points, with Welch's 95% interval: an interval that excludes 0 is a difference \
         these seeds resolve.\n"
    );
    let _ = writeln!(md, "{table}");
    let _ = writeln!(
        md,
        "![inactive fraction](inactive_fraction.png)\n\n![dead fraction](dead_fraction.png)\n\n![test accuracy](test_accuracy.png)\n\n![revived units](revived_units.png)\n\n![inactive vs batch zeros](dead_vs_batch_zero.png)\n"
    );
    if has_prelu {
        let _ = writeln!(
            md,
            "PReLU's learned slopes at the end, pooled over seeds. A slope below zero makes the unit flip the sign \
             of negative inputs: no longer ReLU-like, whatever its accuracy.\n\n{}\n![learned PReLU slopes](prelu_slopes.png)\n",
            slopes_table(config, results)
        );
    }
    let _ = writeln!(
        md,
        "Every number: `results.json`, `epochs.csv`, `prelu_slopes.csv`."
    );
    write(&dir.join("report.md"), &md)?;
    Ok(table)
}

fn epochs_csv(results: &[RunResult]) -> String {
    let mut csv = String::from(
        "activation,condition,seed,diverged,epoch,layer,inactive_fraction,dead_fraction,revived,batch_zero_fraction,prelu_slope_mean,prelu_negative_share,train_loss,test_accuracy\n",
    );
    for r in results {
        for e in &r.epochs {
            for layer in 0..e.dead_fraction.len() {
                let slope = |v: &[f64]| v.get(layer).map_or(String::new(), |x| x.to_string());
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    r.activation.name(),
                    r.condition.name(),
                    r.seed,
                    r.diverged,
                    e.epoch,
                    layer + 1,
                    e.inactive_fraction[layer],
                    e.dead_fraction[layer],
                    e.revived[layer],
                    e.batch_zero_fraction[layer],
                    slope(&e.prelu_slope_mean),
                    slope(&e.prelu_negative_share),
                    e.train_loss,
                    e.test_accuracy
                );
            }
        }
    }
    csv
}

fn slopes_csv(results: &[RunResult]) -> String {
    let mut csv = String::from("condition,seed,layer,unit,slope\n");
    for r in results.iter().filter(|r| r.activation == Activation::Prelu) {
        for (layer, slopes) in r.prelu_slopes.iter().enumerate() {
            for (unit, s) in slopes.iter().enumerate() {
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{}",
                    r.condition.name(),
                    r.seed,
                    layer + 1,
                    unit,
                    s
                );
            }
        }
    }
    csv
}

/// Per epoch: `(epoch, mean)` points and `(epoch, min, max)` bands.
pub type MeanAndBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// Per point `(x, values over runs)`: the mean of the finite values at `x` and their
/// min-max band (points with no finite value are left out).
pub fn mean_and_band(points: impl Iterator<Item = (f64, Vec<f64>)>) -> MeanAndBand {
    let (mut mean, mut range) = (Vec::new(), Vec::new());
    for (x, mut values) in points {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            continue;
        }
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        mean.push((x, mean_std(&values).0));
        range.push((x, lo, hi));
    }
    (mean, range)
}

/// Mean and min-max band over `runs` of `value(epoch record)`, per epoch.
fn band(runs: &[&RunResult], value: impl Fn(&crate::study::EpochRecord) -> f64) -> MeanAndBand {
    let epochs = runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
    mean_and_band((0..epochs).map(|e| {
        let values = runs
            .iter()
            .filter_map(|r| r.epochs.get(e))
            .map(&value)
            .collect();
        (e as f64, values)
    }))
}

fn runs_of(results: &[RunResult], condition: Condition, activation: Activation) -> Vec<&RunResult> {
    results
        .iter()
        .filter(|r| r.condition == condition && r.activation == activation)
        .collect()
}

/// One panel per (condition, activation), each with one line per hidden layer: the mean
/// over seeds of `value(epoch, layer)`, with its min-max band when `with_band`.
fn per_layer_panels(
    config: &StudyConfig,
    results: &[RunResult],
    with_band: bool,
    value: impl Fn(&crate::study::EpochRecord, usize) -> f64,
) -> Vec<Panel> {
    let mut panels = Vec::new();
    for &condition in &config.conditions {
        for &activation in &config.activations {
            let runs = runs_of(results, condition, activation);
            let series = (0..config.hidden.len())
                .map(|layer| {
                    let (points, band) = band(&runs, |e| value(e, layer));
                    Series {
                        label: format!("layer {}", layer + 1),
                        color: PALETTE[layer % PALETTE.len()],
                        points,
                        band: if with_band { band } else { Vec::new() },
                        ends: Vec::new(),
                    }
                })
                .collect();
            panels.push(Panel {
                title: format!("{}, {}", activation.label(), condition.label()),
                series,
            });
        }
    }
    panels
}

/// Which share of units a chart shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fraction {
    Inactive,
    Dead,
}

fn fraction_chart(
    config: &StudyConfig,
    results: &[RunResult],
    fraction: Fraction,
    path: &Path,
) -> Result<(), String> {
    let panels = per_layer_panels(config, results, true, |e, layer| match fraction {
        Fraction::Inactive => e.inactive_fraction[layer],
        Fraction::Dead => e.dead_fraction[layer],
    });
    let (label, title) = match fraction {
        Fraction::Inactive => (
            "inactive fraction",
            "Inactive units per layer (mean over seeds, band: min-max)",
        ),
        Fraction::Dead => (
            "dead fraction",
            "Dead units (no gradient) per layer (mean over seeds, band: min-max)",
        ),
    };
    let axes = Axes {
        x_label: "epoch".into(),
        y_label: label.into(),
        x_range: (0.0, config.epochs as f64),
        y_range: (0.0, 1.05),
        x_ticks: Ticks::Integer,
        reference: None,
    };
    let grid = (config.conditions.len(), config.activations.len());
    charts::line_figure(path, title, grid, &axes, &panels)
}

fn accuracy_chart(config: &StudyConfig, results: &[RunResult], path: &Path) -> Result<(), String> {
    let panels: Vec<Panel> = config
        .conditions
        .iter()
        .map(|&condition| Panel {
            title: condition.label().to_string(),
            series: config
                .activations
                .iter()
                .enumerate()
                .map(|(i, &activation)| {
                    let (points, band) = band(&runs_of(results, condition, activation), |e| {
                        e.test_accuracy
                    });
                    Series {
                        label: activation.label().into(),
                        color: PALETTE[i % PALETTE.len()],
                        points,
                        band,
                        ends: Vec::new(),
                    }
                })
                .collect(),
        })
        .collect();
    let axes = Axes {
        x_label: "epoch".into(),
        y_label: "test accuracy".into(),
        x_range: (0.0, config.epochs as f64),
        y_range: (0.0, 1.05),
        x_ticks: Ticks::Integer,
        reference: None,
    };
    charts::line_figure(
        path,
        "Test accuracy (mean over seeds, band: min-max)",
        (1, config.conditions.len()),
        &axes,
        &panels,
    )
}

fn revived_chart(config: &StudyConfig, results: &[RunResult], path: &Path) -> Result<(), String> {
    let panels = per_layer_panels(config, results, false, |e, layer| e.revived[layer] as f64);
    let points = panels
        .iter()
        .flat_map(|p| &p.series)
        .flat_map(|s| &s.points);
    let top = points.map(|p| p.1).fold(1.0, f64::max);
    let axes = Axes {
        x_label: "epoch".into(),
        y_label: "revived units".into(),
        x_range: (0.0, config.epochs as f64),
        y_range: (0.0, top * 1.1),
        x_ticks: Ticks::Integer,
        reference: None,
    };
    let grid = (config.conditions.len(), config.activations.len());
    charts::line_figure(
        path,
        "Units inactive at the previous epoch and active again (mean over seeds)",
        grid,
        &axes,
        &panels,
    )
}

fn dead_vs_zero_chart(
    config: &StudyConfig,
    results: &[RunResult],
    path: &Path,
) -> Result<(), String> {
    let panels: Vec<Panel> = config
        .conditions
        .iter()
        .map(|&condition| Panel {
            title: condition.label().to_string(),
            series: config
                .activations
                .iter()
                .enumerate()
                .map(|(i, &activation)| Series {
                    label: activation.label().into(),
                    color: PALETTE[i % PALETTE.len()],
                    points: runs_of(results, condition, activation)
                        .iter()
                        .filter_map(|r| r.last())
                        .flat_map(|e| {
                            e.batch_zero_fraction
                                .iter()
                                .copied()
                                .zip(e.inactive_fraction.iter().copied())
                        })
                        .filter(|(x, y)| x.is_finite() && y.is_finite())
                        .collect(),
                    band: Vec::new(),
                    ends: Vec::new(),
                })
                .collect(),
        })
        .collect();
    let axes = Axes {
        x_label: "batch zero-fraction".into(),
        y_label: "inactive fraction".into(),
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        x_ticks: Ticks::Plain,
        reference: None,
    };
    charts::scatter_figure(
        path,
        "Inactive units are not batch zeros (one point per layer and seed, final epoch)",
        &axes,
        &panels,
    )
}

fn slopes_chart(config: &StudyConfig, results: &[RunResult], path: &Path) -> Result<(), String> {
    let panels: Vec<HistogramPanel> = config
        .conditions
        .iter()
        .map(|&condition| HistogramPanel {
            title: condition.label().to_string(),
            values: runs_of(results, condition, Activation::Prelu)
                .iter()
                .flat_map(|r| r.prelu_slopes.iter().flatten().map(|&s| s as f64))
                .collect(),
        })
        .collect();
    let all: Vec<f64> = panels
        .iter()
        .flat_map(|p| p.values.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let lo = all.iter().copied().fold(0.0, f64::min).min(-0.25);
    let hi = all.iter().copied().fold(0.5, f64::max);
    charts::histogram_figure(
        path,
        "Learned PReLU slopes (initially 0.25), all hidden units and seeds",
        "slope",
        (lo, hi * 1.05),
        40,
        &panels,
    )
}

/// Writes born-dead's `born_dead.csv`, `born_dead.md` (the `table`) and `born_dead.png`.
pub fn write_born_dead(
    dir: &Path,
    cells: &[Cell],
    depths: &[usize],
    table: &str,
) -> Result<(), String> {
    let mut csv = String::from("init,width,depth,trials,dead,probability,wilson_low,wilson_high\n");
    for c in cells {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            c.init.name(),
            c.width,
            c.depth,
            c.trials,
            c.dead,
            c.probability,
            c.interval.0,
            c.interval.1
        );
    }
    write(&dir.join("born_dead.csv"), &csv)?;
    let trials = cells.first().map_or(0, |c| c.trials);
    write(
        &dir.join("born_dead.md"),
        &format!(
            "# Born-dead probability (trials per cell: {trials})\n\nThe share of networks dead at initialisation, with Wilson's 95% interval.\n\n{table}"
        ),
    )?;
    let mut inits: Vec<born_dead::Init> = cells.iter().map(|c| c.init).collect();
    inits.dedup();
    let mut widths: Vec<usize> = cells.iter().map(|c| c.width).collect();
    widths.sort_unstable();
    widths.dedup();
    let panels: Vec<Panel> = inits
        .iter()
        .map(|&init| Panel {
            title: init.label().to_string(),
            series: widths
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let of_width = || cells.iter().filter(move |c| c.init == init && c.width == w);
                    Series {
                        label: format!("width {w}"),
                        color: PALETTE[i % PALETTE.len()],
                        points: of_width()
                            .map(|c| (c.depth as f64, c.probability))
                            .collect(),
                        band: of_width()
                            .map(|c| (c.depth as f64, c.interval.0, c.interval.1))
                            .collect(),
                        ends: Vec::new(),
                    }
                })
                .collect(),
        })
        .collect();
    let max_depth = depths.iter().copied().max().unwrap_or(1) as f64;
    let axes = Axes {
        x_label: "depth (hidden layers)".into(),
        y_label: "P(born dead)".into(),
        x_range: (0.0, max_depth),
        y_range: (0.0, 1.05),
        x_ticks: Ticks::Integer,
        reference: None,
    };
    charts::line_figure(
        &dir.join("born_dead.png"),
        "Probability that a ReLU network is born dead (band: Wilson 95% interval)",
        (1, panels.len()),
        &axes,
        &panels,
    )
}
