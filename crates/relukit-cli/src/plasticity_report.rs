//! The plasticity study's report folder: `report.md` (the summary table of the first
//! tasks against the last, the figures), `results.json` (settings, provenance, every
//! run task by task), `tasks.csv` (one row per condition, seed, task and layer) and the
//! figures as SVG and PNG.

use std::fmt::Write as _;
use std::path::Path;

use crate::charts::{self, Axes, PALETTE, Panel, Series, Ticks};
use crate::plasticity::{
    Condition, HIDDEN_LAYERS, LayerMetrics, PlasticityConfig, RunResult, TaskRecord,
};
use crate::report::{MeanAndBand, Provenance, mean_and_band};
use crate::stats::{Estimate, difference_interval, mean_interval, percent, points};

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The tasks the summary compares: the first and the last 10% (at least one task each).
pub fn windows(tasks: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let n = (tasks / 10).max(1);
    (0..n, tasks.saturating_sub(n)..tasks)
}

/// Per run of `condition`: the mean of `value` over the tasks of `range` (runs that
/// diverged before it are left out).
fn per_seed(
    results: &[RunResult],
    condition: Condition,
    range: &std::ops::Range<usize>,
    value: &dyn Fn(&TaskRecord) -> f64,
) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r.condition == condition)
        .filter_map(|r| {
            let values: Vec<f64> = r
                .tasks
                .iter()
                .filter(|t| range.contains(&t.task))
                .map(value)
                .collect();
            (values.len() == range.len()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        })
        .collect()
}

/// The mean over the hidden layers of one metric.
fn over_layers(task: &TaskRecord, metric: fn(&LayerMetrics) -> f64) -> f64 {
    task.layers.iter().map(metric).sum::<f64>() / task.layers.len().max(1) as f64
}

/// A plain number with its interval: `12.3 [10.1, 14.5]`.
fn number(estimate: Estimate) -> String {
    match estimate.interval {
        Some((lo, hi)) => format!("{:.1} [{:.1}, {:.1}]", estimate.mean, lo, hi),
        None => format!("{:.1}", estimate.mean),
    }
}

/// The summary: per condition, the first tasks against the last, with 95% intervals over
/// seeds, and the last tasks' accuracy against plain Adam's (Welch).
pub fn summary_table(config: &PlasticityConfig, results: &[RunResult]) -> String {
    let (first, last) = windows(config.tasks);
    let accuracy = |t: &TaskRecord| t.accuracy;
    let inactive = |t: &TaskRecord| over_layers(t, |l| l.inactive_fraction);
    let dormant = |t: &TaskRecord| over_layers(t, |l| l.dormant_fraction_01);
    let rank = |t: &TaskRecord| over_layers(t, |l| l.effective_rank);
    let span = |r: &std::ops::Range<usize>| {
        if r.len() == 1 {
            format!("task {}", r.start + 1)
        } else {
            format!("tasks {}-{}", r.start + 1, r.end)
        }
    };
    let mut table = format!(
        "| condition | runs | accuracy, {} | accuracy, {} | change | last vs adam | inactive, first → last | dormant (τ 0.1), first → last | effective rank, first → last |\n|---|---|---|---|---|---|---|---|---|\n",
        span(&first),
        span(&last)
    );
    let adam_last = per_seed(results, Condition::Adam, &last, &accuracy);
    for &condition in &config.conditions {
        let runs = results.iter().filter(|r| r.condition == condition).count();
        let diverged = results
            .iter()
            .filter(|r| r.condition == condition && r.diverged)
            .count();
        let a_first = per_seed(results, condition, &first, &accuracy);
        let a_last = per_seed(results, condition, &last, &accuracy);
        // The change within each seed: last tasks minus first.
        let change: Vec<f64> = results
            .iter()
            .filter(|r| r.condition == condition && r.tasks.len() == config.tasks)
            .filter_map(|r| {
                let one = std::slice::from_ref(r);
                let f = per_seed(one, condition, &first, &accuracy);
                let l = per_seed(one, condition, &last, &accuracy);
                Some(l.first()? - f.first()?)
            })
            .collect();
        let versus = if condition == Condition::Adam || adam_last.is_empty() {
            String::new()
        } else {
            points(difference_interval(&a_last, &adam_last))
        };
        let pair = |value: &dyn Fn(&TaskRecord) -> f64, show: fn(Estimate) -> String| {
            format!(
                "{} → {}",
                show(mean_interval(&per_seed(results, condition, &first, value))),
                show(mean_interval(&per_seed(results, condition, &last, value)))
            )
        };
        let _ = writeln!(
            table,
            "| {} | {}{} | {} | {} | {} | {} | {} | {} | {} |",
            condition.name(),
            runs,
            if diverged > 0 {
                format!(" ({diverged} diverged)")
            } else {
                String::new()
            },
            percent(mean_interval(&a_first)),
            percent(mean_interval(&a_last)),
            points(mean_interval(&change)),
            versus,
            pair(&inactive, percent),
            pair(&dormant, percent),
            pair(&rank, number),
        );
    }
    table
}

fn tasks_csv(results: &[RunResult]) -> String {
    let mut csv = String::from(
        "condition,seed,task,layer,accuracy,inactive_fraction,dormant_fraction_0.1,dormant_fraction_0.025,low_firing_fraction,effective_rank,mean_abs_weight,first_task_accuracy,train_loss,recycled\n",
    );
    for r in results {
        for t in &r.tasks {
            for (layer, l) in t.layers.iter().enumerate() {
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    r.condition.name(),
                    r.seed,
                    t.task + 1,
                    layer + 1,
                    t.accuracy,
                    l.inactive_fraction,
                    l.dormant_fraction_01,
                    l.dormant_fraction_0025,
                    l.low_firing_fraction,
                    l.effective_rank,
                    l.mean_abs_weight,
                    t.first_task_accuracy
                        .map_or(String::new(), |a| a.to_string()),
                    t.train_loss,
                    t.recycled
                );
            }
        }
    }
    csv
}

/// The mean over `runs` of `value(task)` task by task, with its min-max band.
fn line(runs: &[&RunResult], tasks: usize, value: &dyn Fn(&TaskRecord) -> f64) -> MeanAndBand {
    mean_and_band((0..tasks).map(|task| {
        let values = runs
            .iter()
            .filter_map(|r| r.tasks.get(task))
            .map(value)
            .collect();
        ((task + 1) as f64, values)
    }))
}

/// A panel per condition, at most four to a row: `(rows, columns)`.
fn grid(panels: usize) -> (usize, usize) {
    let columns = panels.clamp(1, 4);
    (panels.div_ceil(columns), columns)
}

fn runs_of(results: &[RunResult], condition: Condition) -> Vec<&RunResult> {
    results
        .iter()
        .filter(|r| r.condition == condition)
        .collect()
}

/// New-task accuracy against task: a panel per condition (mean over seeds, min-max band),
/// plain Adam's mean beside it in every other panel.
fn accuracy_chart(
    config: &PlasticityConfig,
    results: &[RunResult],
    path: &Path,
) -> Result<(), String> {
    let accuracy = |t: &TaskRecord| t.accuracy;
    let adam = config
        .conditions
        .contains(&Condition::Adam)
        .then(|| line(&runs_of(results, Condition::Adam), config.tasks, &accuracy).0);
    let panels: Vec<Panel> = config
        .conditions
        .iter()
        .map(|&condition| {
            let (points, band) = line(&runs_of(results, condition), config.tasks, &accuracy);
            let mut series = vec![Series {
                label: "the panel's condition (band: min-max over seeds)".into(),
                color: PALETTE[0],
                points,
                band,
                ends: Vec::new(),
            }];
            if let Some(adam) = adam.as_ref().filter(|_| condition != Condition::Adam) {
                series.push(Series {
                    label: "adam".into(),
                    color: PALETTE[1],
                    points: adam.clone(),
                    band: Vec::new(),
                    ends: Vec::new(),
                });
            }
            Panel {
                title: condition.name().into(),
                series,
            }
        })
        .collect();
    // The range of the data, to the next 0.05 outside it.
    let accuracies = || {
        results
            .iter()
            .flat_map(|r| r.tasks.iter().map(|t| t.accuracy))
    };
    let lowest = accuracies().fold(1.0f64, f64::min);
    let highest = accuracies().fold(0.0f64, f64::max);
    let low = ((lowest / 0.05).floor() * 0.05).clamp(0.0, 0.95);
    let high = ((highest / 0.05).ceil() * 0.05).clamp(low + 0.05, 1.0);
    let axes = Axes {
        x_label: "task".into(),
        y_label: "new-task test accuracy".into(),
        x_range: (1.0, config.tasks.max(2) as f64),
        y_range: (low, high),
        x_ticks: Ticks::Integer,
        reference: None,
    };
    charts::line_figure(
        path,
        "Loss of plasticity: accuracy on each new task, on its own test images",
        grid(config.conditions.len()),
        &axes,
        &panels,
    )
}

/// One panel per condition, a line per hidden layer, of a per-layer metric.
fn per_layer_chart(
    config: &PlasticityConfig,
    results: &[RunResult],
    path: &Path,
    (title, y_label, y_max): (&str, &str, f64),
    metric: fn(&LayerMetrics) -> f64,
) -> Result<(), String> {
    let panels: Vec<Panel> = config
        .conditions
        .iter()
        .map(|&condition| Panel {
            title: condition.name().into(),
            series: (0..HIDDEN_LAYERS)
                .map(|layer| {
                    let (points, band) = line(&runs_of(results, condition), config.tasks, &|t| {
                        t.layers.get(layer).map_or(f64::NAN, metric)
                    });
                    Series {
                        label: format!("layer {}", layer + 1),
                        color: PALETTE[layer % PALETTE.len()],
                        points,
                        band,
                        ends: Vec::new(),
                    }
                })
                .collect(),
        })
        .collect();
    // Up to the data's largest value, to the next tenth of the scale (fractions: at most 1).
    let largest = results
        .iter()
        .flat_map(|r| r.tasks.iter().flat_map(|t| t.layers.iter().map(metric)))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let step = y_max / 10.0;
    let top = ((largest / step).ceil() * step).clamp(step, y_max);
    let axes = Axes {
        x_label: "task".into(),
        y_label: y_label.into(),
        x_range: (1.0, config.tasks.max(2) as f64),
        y_range: (0.0, top),
        x_ticks: Ticks::Integer,
        reference: None,
    };
    charts::line_figure(path, title, grid(config.conditions.len()), &axes, &panels)
}

/// Writes the whole report; returns the summary table.
pub fn write_report(
    config: &PlasticityConfig,
    dir: &Path,
    provenance: &Provenance,
    results: &[RunResult],
    seconds: f64,
) -> Result<String, String> {
    let table = summary_table(config, results);
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "provenance": provenance,
        "seconds": seconds,
        "settings": config,
        "hidden_layers": HIDDEN_LAYERS,
        "dormant_taus": crate::plasticity::DORMANT_TAUS,
        "low_firing_rate": crate::plasticity::LOW_FIRING_RATE,
        "runs": results,
    }))
    .map_err(|e| e.to_string())?;
    write(&dir.join("results.json"), &json)?;
    write(&dir.join("tasks.csv"), &tasks_csv(results))?;
    accuracy_chart(config, results, &dir.join("accuracy.png"))?;
    per_layer_chart(
        config,
        results,
        &dir.join("inactive_fraction.png"),
        (
            "Inactive units (never positive on the task's test images)",
            "inactive fraction",
            1.0,
        ),
        |l| l.inactive_fraction,
    )?;
    per_layer_chart(
        config,
        results,
        &dir.join("dormant_fraction.png"),
        (
            "τ-dormant units (Sokar et al.'s score <= 0.1)",
            "dormant fraction",
            1.0,
        ),
        |l| l.dormant_fraction_01,
    )?;
    let widest = config.width as f64;
    per_layer_chart(
        config,
        results,
        &dir.join("effective_rank.png"),
        (
            "Effective rank of each layer's features",
            "effective rank",
            widest,
        ),
        |l| l.effective_rank,
    )?;
    let (first, last) = windows(config.tasks);
    let mut md = String::new();
    let _ = writeln!(md, "# Loss of plasticity: Permuted MNIST, scaled down\n");
    let _ = writeln!(
        md,
        "Data: {}. Each task permutes the 784 pixels of every image with its own fixed random permutation \
         (task 1: the identity); one network, {} -> {w} -> {w} -> {w} -> 10 (He-uniform weights, zero biases, softmax \
         cross-entropy), is trained on {} tasks one after the other without any reset: {} epoch(s) per task over the {} \
         training images in minibatches of {}. After each task it is measured on that task's {} test images. {} seeds \
         per condition (seeds {}..={}; a seed fixes the initial weights, the permutations and the batch order, the same \
         for every condition). Conditions: {}. Ran in {seconds:.1} s.\n",
        provenance.data,
        784,
        config.tasks,
        config.epochs,
        provenance.train_samples,
        config.batch_size,
        provenance.test_samples,
        config.seeds,
        config.seed_offset,
        config.seed_offset + config.seeds.saturating_sub(1),
        config
            .conditions
            .iter()
            .map(|c| format!("*{}* ({})", c.name(), c.describe(config)))
            .collect::<Vec<_>>()
            .join("; "),
        w = config.width,
    );
    let _ = writeln!(
        md,
        "{}",
        provenance.reproduce("the results do not depend on the thread count")
    );
    let _ = writeln!(
        md,
        "The metrics, per hidden layer on the task's test images: a unit is **inactive** when its pre-activation is \
         <= 0 on every image; **τ-dormant** when its score, its mean |output| over the images divided by the layer's \
         mean of that (Sokar et al. 2023), is <= τ (0.1 and 0.025 in `tasks.csv`, 0.1 below); **low-firing** when it \
         is active on fewer than 1% of the images; the **effective rank** is exp of the entropy of the normalised \
         singular values of the layer's [images, units] outputs (Roy and Vetterli 2007, as Dohare et al. 2024 use it: \
         {} at most here). The table averages the three layers.\n\n\
         The first {} task(s) against the last {}: per seed the mean over those tasks, then the mean over seeds and its \
         95% interval (Student's t; none with one seed). *change* is last minus first within each seed, in percentage \
         points; *last vs adam* is the last tasks' accuracy minus plain Adam's, with Welch's 95% interval: an interval \
         that excludes 0 is a difference these seeds resolve.\n",
        config.width,
        first.len(),
        last.len(),
    );
    let _ = writeln!(md, "{table}");
    let _ = writeln!(
        md,
        "![new-task accuracy](accuracy.png)\n\n![inactive fraction](inactive_fraction.png)\n\n![dormant fraction](dormant_fraction.png)\n\n![effective rank](effective_rank.png)\n"
    );
    let _ = writeln!(md, "Every number: `results.json`, `tasks.csv`.");
    write(&dir.join("report.md"), &md)?;
    Ok(table)
}
