//! The dying-ReLU study: train the same network with each activation under each
//! condition and several seeds, and measure, every epoch, how many hidden units are
//! inactive (never active over the whole training set) and how many of those are dead
//! (no gradient at all: inactive under ReLU, or under a slope below [`DEAD_SLOPE`]), how
//! many came back, how that differs from the share of zeros in a batch, and where
//! PReLU's learned slopes went.

use ndarray::{Axis, s};
use rayon::prelude::*;
use relukit::DeadUnitMonitor;
use serde::Serialize;

use crate::data::{Dataset, Split};
use crate::mlp::{
    Activation, LEAKY_SLOPE, Mlp, NormKind, Optimizer, OptimizerKind, RRELU_RANGE, Setup,
    VERY_LEAKY_SLOPE,
};
use crate::rng::Rng;
use crate::stats::{difference_interval, mean_interval, percent, points};

/// An inactive unit whose negative-side slope is below this (in absolute value) passes
/// practically no gradient: it counts as dead.
pub const DEAD_SLOPE: f64 = 1e-3;

/// The conditions the study trains under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Adam at the base learning rate (1e-3), biases initialised to 0.
    Control,
    /// Adam at the high learning rate (0.05): large updates push units into the
    /// negative region for every input.
    #[value(alias = "high_lr")]
    HighLr,
    /// Biases initialised to -3 at the base learning rate: most units start inactive.
    #[value(alias = "negative_bias")]
    NegativeBias,
    /// The high learning rate reached by a linear warm-up over the first
    /// [`WARMUP_EPOCHS`] epochs (Goyal et al. 2017).
    #[value(alias = "high_lr_warmup")]
    HighLrWarmup,
    /// The high learning rate with batch normalisation before every hidden activation
    /// (Ioffe and Szegedy 2015): each unit's pre-activations are standardised per batch,
    /// so none can sit below zero for every sample of a batch.
    #[value(alias = "high_lr_batch_norm")]
    HighLrBatchNorm,
    /// The high learning rate from Lu et al.'s randomized asymmetric initialisation
    /// (RAI) instead of He's.
    #[value(alias = "high_lr_rai")]
    HighLrRai,
}

/// Epochs of the learning-rate warm-up of [`Condition::HighLrWarmup`].
pub const WARMUP_EPOCHS: usize = 5;

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Condition::Control => "control",
            Condition::HighLr => "high_lr",
            Condition::NegativeBias => "negative_bias",
            Condition::HighLrWarmup => "high_lr_warmup",
            Condition::HighLrBatchNorm => "high_lr_batch_norm",
            Condition::HighLrRai => "high_lr_rai",
        }
    }

    /// The condition's name in words, for charts.
    pub fn label(self) -> &'static str {
        match self {
            Condition::Control => "control",
            Condition::HighLr => "high learning rate",
            Condition::NegativeBias => "negative biases",
            Condition::HighLrWarmup => "high learning rate, warm-up",
            Condition::HighLrBatchNorm => "high learning rate, batch norm",
            Condition::HighLrRai => "high learning rate, RAI",
        }
    }

    /// Whether this is one of the fixes tried against the high learning rate.
    pub fn is_fix(self) -> bool {
        matches!(
            self,
            Condition::HighLrWarmup | Condition::HighLrBatchNorm | Condition::HighLrRai
        )
    }

    /// The condition in words, with its settings.
    pub fn describe(self, config: &StudyConfig) -> String {
        match self {
            Condition::Control => format!("learning rate {}, zero biases", config.lr),
            Condition::HighLr => format!("learning rate {}, zero biases", config.high_lr),
            Condition::NegativeBias => format!(
                "learning rate {}, hidden biases initialised to {}",
                config.lr, config.negative_bias
            ),
            Condition::HighLrWarmup => format!(
                "learning rate rising linearly to {} over the first {WARMUP_EPOCHS} epochs",
                config.high_lr
            ),
            Condition::HighLrBatchNorm => format!(
                "learning rate {}, batch normalisation before each hidden activation",
                config.high_lr
            ),
            Condition::HighLrRai => format!(
                "learning rate {}, randomized asymmetric initialisation (RAI) of the hidden layers",
                config.high_lr
            ),
        }
    }
}

/// Everything one study needs.
#[derive(Debug, Clone)]
pub struct StudyConfig {
    pub activations: Vec<Activation>,
    pub conditions: Vec<Condition>,
    pub seeds: u64,
    /// The first seed (seeds run `seed_offset .. seed_offset + seeds`).
    pub seed_offset: u64,
    pub epochs: usize,
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub high_lr: f64,
    pub negative_bias: f32,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
}

/// The measurements of one epoch (epoch 0: at initialisation).
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (NaN once diverged).
    pub train_loss: f64,
    pub test_accuracy: f64,
    /// Per hidden layer: the share of units never active over the training set.
    pub inactive_fraction: Vec<f64>,
    /// Per hidden layer: the share of units with no gradient on any training sample
    /// (inactive, with a negative-side slope below [`DEAD_SLOPE`]: every inactive ReLU
    /// unit, PReLU units whose learned slope went to about zero).
    pub dead_fraction: Vec<f64>,
    /// Per hidden layer: units inactive at the previous epoch and active now.
    pub revived: Vec<usize>,
    /// Per hidden layer: the mean share of zero outputs (`x <= 0`) in a minibatch.
    pub batch_zero_fraction: Vec<f64>,
    /// Per hidden layer, PReLU only: the mean learned slope and the share of slopes
    /// below zero (empty for the other activations).
    pub prelu_slope_mean: Vec<f64>,
    pub prelu_negative_share: Vec<f64>,
}

/// One training run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub activation: Activation,
    pub condition: Condition,
    pub seed: u64,
    pub learning_rate: f64,
    /// The loss became NaN; the run stopped at that epoch.
    pub diverged: bool,
    pub epochs: Vec<EpochRecord>,
    /// Per hidden layer, the learned PReLU slopes at the end (empty for the others).
    pub prelu_slopes: Vec<Vec<f32>>,
}

impl RunResult {
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
}

/// One run's settings.
#[derive(Debug, Clone, Copy)]
struct Run {
    activation: Activation,
    condition: Condition,
    seed: u64,
}

/// Runs every (activation, condition, seed) in parallel on the current rayon pool;
/// `progress` is called once per finished epoch. Each run is deterministic given its
/// seed: the data split is shared, the initialisation and batch order come from the seed.
pub fn run_study(
    config: &StudyConfig,
    split: &Split,
    progress: &(dyn Fn() + Sync),
) -> Vec<RunResult> {
    let mut runs = Vec::new();
    for &condition in &config.conditions {
        for &activation in &config.activations {
            for seed in config.seed_offset..config.seed_offset + config.seeds {
                runs.push(Run {
                    activation,
                    condition,
                    seed,
                });
            }
        }
    }
    runs.par_iter()
        .map(|&run| train(config, split, run, progress))
        .collect()
}

fn train(config: &StudyConfig, split: &Split, run: Run, progress: &(dyn Fn() + Sync)) -> RunResult {
    let (lr, bias) = match run.condition {
        Condition::Control => (config.lr, 0.0),
        Condition::NegativeBias => (config.lr, config.negative_bias),
        Condition::HighLr
        | Condition::HighLrWarmup
        | Condition::HighLrBatchNorm
        | Condition::HighLrRai => (config.high_lr, 0.0),
    };
    let setup = Setup {
        hidden_bias: bias,
        rai: run.condition == Condition::HighLrRai,
        norm: (run.condition == Condition::HighLrBatchNorm).then_some(NormKind::Batch),
        ..Setup::default()
    };
    let mut sizes = vec![split.train.features.ncols()];
    sizes.extend(&config.hidden);
    sizes.push(split.train.classes);
    let mut rng = Rng::new(run.seed, 1 + run.activation as u64);
    // RReLU's slopes: a stream of their own, so that the batch order above stays as it was.
    let mut noise = Rng::new(run.seed, 0x4e01_5e00 + run.activation as u64);
    // The same initial weights for every activation of a seed: only the activation differs.
    let mut init_rng = Rng::new(run.seed, 0);
    let mut model = Mlp::with_setup(&sizes, run.activation, setup, &mut init_rng);
    let mut optimizer = Optimizer::new(config.optimizer, lr, &mut model);
    let mut result = RunResult {
        activation: run.activation,
        condition: run.condition,
        seed: run.seed,
        learning_rate: lr,
        diverged: false,
        epochs: Vec::new(),
        prelu_slopes: Vec::new(),
    };
    let mut previous_inactive: Vec<Vec<usize>> = vec![Vec::new(); config.hidden.len()];
    let record = |model: &Mlp, epoch: usize, loss: f64, previous: &mut Vec<Vec<usize>>| {
        let (inactive, zero) = inactive_units(model, &split.train, config.batch_size);
        let revived = inactive
            .iter()
            .zip(previous.iter())
            .map(|(now, before)| before.iter().filter(|u| !now.contains(u)).count())
            .collect();
        let hidden = &model.layers[..model.hidden_layers()];
        let share =
            |count: usize, layer: usize| count as f64 / hidden[layer].bias.len().max(1) as f64;
        let inactive_fraction = inactive
            .iter()
            .enumerate()
            .map(|(l, units)| share(units.len(), l))
            .collect();
        let dead_fraction = inactive
            .iter()
            .enumerate()
            .map(|(l, units)| {
                let dead = units
                    .iter()
                    .filter(|&&u| negative_slope(model, l, u).abs() < DEAD_SLOPE)
                    .count();
                share(dead, l)
            })
            .collect();
        let slopes: Vec<&ndarray::Array1<f32>> =
            hidden.iter().filter_map(|l| l.slope.as_ref()).collect();
        *previous = inactive;
        EpochRecord {
            epoch,
            train_loss: loss,
            test_accuracy: model.accuracy(split.test.features.view(), &split.test.labels),
            inactive_fraction,
            dead_fraction,
            revived,
            batch_zero_fraction: zero,
            prelu_slope_mean: slopes
                .iter()
                .map(|s| s.mean().map_or(f64::NAN, f64::from))
                .collect(),
            prelu_negative_share: slopes
                .iter()
                .map(|s| s.iter().filter(|&&a| a < 0.0).count() as f64 / s.len().max(1) as f64)
                .collect(),
        }
    };
    result
        .epochs
        .push(record(&model, 0, f64::NAN, &mut previous_inactive));
    let samples = split.train.labels.len();
    let mut order: Vec<usize> = (0..samples).collect();
    let warmup_steps = if run.condition == Condition::HighLrWarmup {
        WARMUP_EPOCHS * samples.div_ceil(config.batch_size.max(1))
    } else {
        0
    };
    let mut step = 0usize;
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        let mut batches = 0;
        for rows in order.chunks(config.batch_size) {
            let x = split.train.features.select(Axis(0), rows);
            let labels: Vec<usize> = rows.iter().map(|&r| split.train.labels[r]).collect();
            let (loss, grads) = model.loss_and_gradients(x.view(), &labels, noise.next_u64());
            total += loss;
            batches += 1;
            if !loss.is_finite() {
                break;
            }
            step += 1;
            if step <= warmup_steps {
                optimizer.set_learning_rate(lr * step as f64 / warmup_steps as f64);
            }
            optimizer.step(&mut model, &grads);
            model.update_running_stats(&grads.batch_stats);
        }
        let loss = total / batches.max(1) as f64;
        if !loss.is_finite()
            || model
                .layers
                .iter()
                .any(|l| l.weight.iter().any(|w| !w.is_finite()))
        {
            result.diverged = true;
            let mut last = record(&model, epoch, f64::NAN, &mut previous_inactive);
            last.test_accuracy = f64::NAN;
            result.epochs.push(last);
            for _ in epoch..=config.epochs {
                progress();
            }
            break;
        }
        result
            .epochs
            .push(record(&model, epoch, loss, &mut previous_inactive));
        progress();
    }
    result.prelu_slopes = model
        .layers
        .iter()
        .filter_map(|l| l.slope.as_ref().map(|s| s.to_vec()))
        .collect();
    result
}

/// The negative-side slope of unit `unit` of hidden layer `layer`: 0 for ReLU, the fixed
/// slope of Leaky ReLU, the smallest RReLU draws, PReLU's learned one.
fn negative_slope(model: &Mlp, layer: usize, unit: usize) -> f64 {
    match model.activation {
        Activation::Relu => 0.0,
        Activation::LeakyRelu => LEAKY_SLOPE,
        Activation::VeryLeakyRelu => VERY_LEAKY_SLOPE,
        Activation::Rrelu => RRELU_RANGE.0,
        Activation::Prelu => model.layers[layer]
            .slope
            .as_ref()
            .map_or(0.0, |s| f64::from(s[unit])),
    }
}

/// Per hidden layer: the inactive units over `data` (never active), and the mean share
/// of zero outputs per minibatch of `batch_size`.
pub fn inactive_units(
    model: &Mlp,
    data: &Dataset,
    batch_size: usize,
) -> (Vec<Vec<usize>>, Vec<f64>) {
    let hidden = model.hidden_layers();
    let mut monitors: Vec<DeadUnitMonitor> = model.layers[..hidden]
        .iter()
        .map(|l| DeadUnitMonitor::new(l.bias.len()))
        .collect();
    let mut zero_sums = vec![0.0; hidden];
    let mut batches = 0;
    let rows = data.features.nrows();
    for start in (0..rows).step_by(batch_size.max(1)) {
        let x = data
            .features
            .slice(s![start..(start + batch_size).min(rows), ..]);
        let forward = model.forward(x, None);
        for (layer, z) in forward.pre_activations.iter().enumerate() {
            // Shapes always match (the monitor is built from the layer); an error cannot occur.
            let _ = monitors[layer].observe(z, Axis(1));
            zero_sums[layer] += monitors[layer].batch_zero_fraction().unwrap_or(0.0);
        }
        batches += 1;
    }
    let inactive = monitors
        .iter()
        .map(DeadUnitMonitor::inactive_units)
        .collect();
    (
        inactive,
        zero_sums
            .into_iter()
            .map(|z| z / batches.max(1) as f64)
            .collect(),
    )
}

/// The memory `parallel` runs at once need, in bytes (`None` if that overflows): per
/// run, the parameters with their gradients and Adam's two moments, and the activations
/// of a minibatch and of the test set.
pub fn memory_needed(config: &StudyConfig, split: &Split, parallel: usize) -> Option<u128> {
    let mut sizes = vec![split.train.features.ncols() as u128];
    sizes.extend(config.hidden.iter().map(|&h| h as u128));
    sizes.push(split.train.classes as u128);
    let mut parameters = 0u128;
    for pair in sizes.windows(2) {
        // Weights, biases, (PReLU) slopes and batch normalisation (gamma, beta, running
        // mean and variance).
        parameters =
            parameters.checked_add(pair[0].checked_mul(pair[1])?.checked_add(6 * pair[1])?)?;
    }
    let units: u128 = sizes.iter().sum();
    let rows = (config.batch_size.max(split.test.labels.len()) as u128).max(1);
    // Inputs, pre-activations, activations and gradients of every layer.
    let activations = units.checked_mul(rows)?.checked_mul(4)?;
    let floats = parameters.checked_mul(4)?.checked_add(activations)?;
    floats.checked_mul(4)?.checked_mul(parallel as u128)
}

/// The summary rows: per condition and activation, the final inactive and dead
/// fractions per layer and the test accuracy over the seeds that did not diverge, each
/// with its 95% t interval, and the accuracy's difference to ReLU's under the same
/// condition with Welch's interval.
pub fn summary_table(config: &StudyConfig, results: &[RunResult]) -> String {
    let layers = config.hidden.len();
    let has_relu = config.activations.contains(&Activation::Relu);
    let mut header = String::from("| condition | activation | runs | diverged |");
    let mut rule = String::from("|---|---|---|---|");
    for l in 1..=layers {
        header += &format!(" inactive, layer {l} |");
        rule += "---|";
    }
    for l in 1..=layers {
        header += &format!(" dead, layer {l} |");
        rule += "---|";
    }
    header += " test accuracy |";
    rule += "---|";
    if has_relu {
        header += " accuracy - ReLU's (points) |";
        rule += "---|";
    }
    let has_fix_baseline = config.conditions.contains(&Condition::HighLr)
        && config.conditions.iter().any(|c| c.is_fix());
    if has_fix_baseline {
        header += " accuracy - high_lr's, same activation (points) |";
        rule += "---|";
    }
    let mut table = header + "\n" + &rule + "\n";
    for &condition in &config.conditions {
        let relu_accuracy = final_values(results, condition, Activation::Relu, |e| e.test_accuracy);
        for &activation in &config.activations {
            let runs = results
                .iter()
                .filter(|r| r.condition == condition && r.activation == activation)
                .count();
            let accuracy = final_values(results, condition, activation, |e| e.test_accuracy);
            table += &format!(
                "| {} | {} | {runs} | {} |",
                condition.name(),
                activation.name(),
                runs - accuracy.len()
            );
            for l in 0..layers {
                table += &format!(
                    " {} |",
                    cell(&final_values(results, condition, activation, |e| e.inactive_fraction[l]))
                );
            }
            for l in 0..layers {
                table += &format!(
                    " {} |",
                    cell(&final_values(results, condition, activation, |e| e.dead_fraction[l]))
                );
            }
            table += &format!(" {} |", cell(&accuracy));
            if has_relu {
                let difference = if activation == Activation::Relu
                    || accuracy.is_empty()
                    || relu_accuracy.is_empty()
                {
                    String::new()
                } else {
                    points(difference_interval(&accuracy, &relu_accuracy))
                };
                table += &format!(" {difference} |");
            }
            if has_fix_baseline {
                let baseline =
                    final_values(results, Condition::HighLr, activation, |e| e.test_accuracy);
                let difference =
                    if !condition.is_fix() || accuracy.is_empty() || baseline.is_empty() {
                        String::new()
                    } else {
                        points(difference_interval(&accuracy, &baseline))
                    };
                table += &format!(" {difference} |");
            }
            table += "\n";
        }
    }
    table
}

/// `value` of the final epoch of each run of (condition, activation) that did not diverge.
fn final_values(
    results: &[RunResult],
    condition: Condition,
    activation: Activation,
    value: impl Fn(&EpochRecord) -> f64,
) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r.condition == condition && r.activation == activation && !r.diverged)
        .filter_map(|r| r.last().map(&value))
        .collect()
}

fn cell(values: &[f64]) -> String {
    match values {
        [] => "diverged".to_string(),
        [first, rest @ ..] if !rest.is_empty() && rest.iter().all(|v| v == first) => {
            format!("{:.1}% (every seed)", 100.0 * first)
        }
        _ => percent(mean_interval(values)),
    }
}

/// PReLU's learned slopes at the end, per condition and layer, pooled over the seeds that
/// did not diverge: mean, quartiles, extremes and the share below zero (where the unit is
/// no longer ReLU-like: it flips the sign of negative inputs).
pub fn slopes_table(config: &StudyConfig, results: &[RunResult]) -> String {
    let mut table = String::from(
        "| condition | layer | slopes | mean | lower quartile | median | upper quartile | min | max | below zero |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &condition in &config.conditions {
        for layer in 0..config.hidden.len() {
            let mut slopes: Vec<f64> = results
                .iter()
                .filter(|r| {
                    r.condition == condition && r.activation == Activation::Prelu && !r.diverged
                })
                .filter_map(|r| r.prelu_slopes.get(layer))
                .flat_map(|s| s.iter().map(|&a| f64::from(a)))
                .collect();
            if slopes.is_empty() {
                continue;
            }
            slopes.sort_by(f64::total_cmp);
            let quantile = |q: f64| slopes[((slopes.len() - 1) as f64 * q).round() as usize];
            let negative = slopes.iter().filter(|&&a| a < 0.0).count() as f64 / slopes.len() as f64;
            table += &format!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1}% |\n",
                condition.name(),
                layer + 1,
                slopes.len(),
                slopes.iter().sum::<f64>() / slopes.len() as f64,
                quantile(0.25),
                quantile(0.5),
                quantile(0.75),
                slopes[0],
                slopes[slopes.len() - 1],
                100.0 * negative
            );
        }
    }
    table
}
