//! Loss of plasticity in continual learning (Dohare et al., Nature 632, 2024), scaled
//! down to a CPU: Permuted MNIST on the embedded 5,000 images. One network is trained on
//! task after task, each task a fixed random permutation of the pixels (task 0 the
//! identity), without reset; after each task it is measured on that task's test images:
//! the new-task accuracy (plasticity) and, per hidden layer, the inactive, τ-dormant and
//! low-firing fractions (relukit's `DeadUnitMonitor`), the effective rank of the features
//! and the mean absolute weight. The conditions are the optimisers, activations,
//! normalisation and the two recycling methods that the papers compare: ReDo (Sokar et
//! al., ICML 2023) and continual backprop (Dohare et al.).

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use relukit::DeadUnitMonitor;
use serde::Serialize;

use crate::data::Split;
use crate::mlp::{
    Activation, Forward, Mlp, NormKind, Optimizer, OptimizerKind, Setup, accuracy_of, he_uniform,
};
use crate::rank::effective_rank;
use crate::rng::Rng;

/// The τ of the dormant fractions measured after every task (Sokar et al. use both).
pub const DORMANT_TAUS: [f64; 2] = [0.1, 0.025];
/// A unit active on fewer than this share of the test images is low-firing (Dohare et
/// al.'s incremental CIFAR).
pub const LOW_FIRING_RATE: f64 = 0.01;
/// The decay of continual backprop's running utility and mean activation (Dohare et al.).
pub const CBP_DECAY: f64 = 0.99;

/// What is compared: the optimiser, and one change to plain Adam at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// SGD with momentum 0.9 at `--sgd-lr`.
    Sgd,
    /// Adam (betas 0.9, 0.999) at `--lr`.
    Adam,
    /// Adam with L2 regularisation (PyTorch's `weight_decay`, `--weight-decay`).
    AdamL2,
    /// Adam with Leaky ReLU (slope 0.01).
    AdamLeaky,
    /// Adam with PReLU (a learned slope per unit, initially 0.25).
    AdamPrelu,
    /// Adam with layer normalisation before every hidden activation.
    AdamLayerNorm,
    /// Adam with ReDo: every `--redo-every` steps, τ-dormant units re-drawn.
    AdamRedo,
    /// Adam with continual backprop: mature low-utility units replaced at `--cbp-rate`.
    AdamCbp,
}

impl Condition {
    /// The name on the command line and in the files.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Sgd => "sgd",
            Condition::Adam => "adam",
            Condition::AdamL2 => "adam-l2",
            Condition::AdamLeaky => "adam-leaky",
            Condition::AdamPrelu => "adam-prelu",
            Condition::AdamLayerNorm => "adam-layer-norm",
            Condition::AdamRedo => "adam-redo",
            Condition::AdamCbp => "adam-cbp",
        }
    }

    fn activation(self) -> Activation {
        match self {
            Condition::AdamLeaky => Activation::LeakyRelu,
            Condition::AdamPrelu => Activation::Prelu,
            _ => Activation::Relu,
        }
    }

    /// The condition in words, with its settings.
    pub fn describe(self, config: &PlasticityConfig) -> String {
        match self {
            Condition::Sgd => format!("SGD, momentum 0.9, lr {}", config.sgd_lr),
            Condition::Adam => format!("Adam, lr {}", config.lr),
            Condition::AdamL2 => format!("Adam with weight decay {}", config.weight_decay),
            Condition::AdamLeaky => "Adam, Leaky ReLU (0.01)".into(),
            Condition::AdamPrelu => "Adam, PReLU (per unit, initially 0.25)".into(),
            Condition::AdamLayerNorm => "Adam, layer normalisation before each ReLU".into(),
            Condition::AdamRedo => format!(
                "Adam with ReDo: tau {} dormant units re-drawn at steps {}, {} + {}, ... ({} training images scored)",
                config.redo_tau,
                config.redo_every / 2,
                config.redo_every / 2,
                config.redo_every,
                REDO_PROBE
            ),
            Condition::AdamCbp => format!(
                "Adam with continual backprop: replacement rate {}, maturity {} steps, decay {CBP_DECAY}",
                config.cbp_rate, config.cbp_maturity
            ),
        }
    }
}

/// How many training images of the current task ReDo scores units on.
pub const REDO_PROBE: usize = 256;

/// The settings of a plasticity study.
#[derive(Debug, Clone, Serialize)]
pub struct PlasticityConfig {
    pub conditions: Vec<Condition>,
    pub seeds: u64,
    pub seed_offset: u64,
    pub tasks: usize,
    /// Units in each of the three hidden layers.
    pub width: usize,
    /// Passes over the training images per task.
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// SGD's learning rate.
    pub sgd_lr: f64,
    /// `adam-l2`'s weight decay.
    pub weight_decay: f64,
    /// ReDo's period in steps (it fires half a period in, then every period).
    pub redo_every: usize,
    pub redo_tau: f64,
    /// Continual backprop's replacement rate: the share of mature units replaced per step.
    pub cbp_rate: f64,
    /// Steps before a unit may be replaced.
    pub cbp_maturity: u64,
    /// Also measure the accuracy on the first task after each task.
    pub forgetting: bool,
}

/// The hidden layers of the network (Dohare et al.'s Permuted MNIST network has three).
pub const HIDDEN_LAYERS: usize = 3;

/// One hidden layer's state after a task, on that task's test images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerMetrics {
    /// Units never positive on any test image.
    pub inactive_fraction: f64,
    /// Units with Sokar et al.'s score `<= 0.1`.
    #[serde(rename = "dormant_fraction_0.1")]
    pub dormant_fraction_01: f64,
    /// Units with score `<= 0.025`.
    #[serde(rename = "dormant_fraction_0.025")]
    pub dormant_fraction_0025: f64,
    /// Units active on fewer than 1% of the images.
    pub low_firing_fraction: f64,
    /// The effective rank of the layer's outputs.
    pub effective_rank: f64,
    /// The mean absolute incoming weight.
    pub mean_abs_weight: f64,
}

/// The network after one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    pub task: usize,
    /// On the task's own test images, after training on it.
    pub accuracy: f64,
    /// On the first task's test images (with `--forgetting`).
    pub first_task_accuracy: Option<f64>,
    /// Mean training loss over the task's steps.
    pub train_loss: f64,
    /// Units recycled during the task (ReDo, continual backprop).
    pub recycled: usize,
    pub layers: Vec<LayerMetrics>,
}

/// One condition and seed, task by task.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub condition: Condition,
    pub seed: u64,
    /// The loss stopped being finite (the tasks after it are missing).
    pub diverged: bool,
    pub tasks: Vec<TaskRecord>,
}

/// The permutation of `pixels` pixels of task `task` for seed `seed` (task 0: the
/// identity). The same for every condition of a seed, so the conditions see one sequence.
pub fn permutation(seed: u64, task: usize, pixels: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pixels).collect();
    if task > 0 {
        Rng::new(seed, 0x7e55_0000 + task as u64).shuffle(&mut order);
    }
    order
}

/// The images with their pixels in the task's order: pixel `j` of an output row is pixel
/// `permutation[j]` of the input row (row by row: a gather within each row).
pub fn permute(images: ArrayView2<'_, f32>, permutation: &[usize]) -> Array2<f32> {
    Array2::from_shape_fn((images.nrows(), permutation.len()), |(r, j)| {
        images[[r, permutation[j]]]
    })
}

/// Every run (condition x seed) in parallel on the current rayon pool; `progress` after
/// each task.
pub fn run_all(
    config: &PlasticityConfig,
    split: &Split,
    progress: &(dyn Fn() + Sync),
) -> Vec<RunResult> {
    let runs: Vec<(Condition, u64)> = config
        .conditions
        .iter()
        .flat_map(|&c| (config.seed_offset..config.seed_offset + config.seeds).map(move |s| (c, s)))
        .collect();
    runs.par_iter()
        .map(|&(condition, seed)| train(config, split, condition, seed, progress))
        .collect()
}

/// The network a condition starts from: `inputs -> width x 3 -> classes`, He-uniform
/// weights, zero biases.
pub fn network(
    condition: Condition,
    inputs: usize,
    width: usize,
    classes: usize,
    seed: u64,
) -> Mlp {
    let mut sizes = vec![inputs];
    sizes.extend([width; HIDDEN_LAYERS]);
    sizes.push(classes);
    let setup = Setup {
        uniform: true,
        norm: (condition == Condition::AdamLayerNorm).then_some(NormKind::Layer),
        ..Setup::default()
    };
    // The same initial weights for every condition of a seed.
    Mlp::with_setup(
        &sizes,
        condition.activation(),
        setup,
        &mut Rng::new(seed, 0),
    )
}

fn optimizer(config: &PlasticityConfig, condition: Condition, model: &mut Mlp) -> Optimizer {
    match condition {
        Condition::Sgd => Optimizer::new(OptimizerKind::Sgd, config.sgd_lr, model),
        Condition::AdamL2 => Optimizer::new(OptimizerKind::Adam, config.lr, model)
            .with_weight_decay(config.weight_decay),
        _ => Optimizer::new(OptimizerKind::Adam, config.lr, model),
    }
}

fn train(
    config: &PlasticityConfig,
    split: &Split,
    condition: Condition,
    seed: u64,
    progress: &(dyn Fn() + Sync),
) -> RunResult {
    let pixels = split.train.features.ncols();
    let mut model = network(condition, pixels, config.width, split.train.classes, seed);
    let mut optimizer = optimizer(config, condition, &mut model);
    // The batch order: the same for every condition of a seed.
    let mut order_rng = Rng::new(seed, 1);
    let mut recycle_rng = Rng::new(seed, 2);
    let mut cbp = (condition == Condition::AdamCbp).then(|| ContinualBackprop::new(&model));
    let mut result = RunResult {
        condition,
        seed,
        diverged: false,
        tasks: Vec::with_capacity(config.tasks),
    };
    let first_test = split.test.features.view();
    let samples = split.train.labels.len();
    let mut order: Vec<usize> = (0..samples).collect();
    let mut step = 0usize;
    for task in 0..config.tasks {
        let permutation = permutation(seed, task, pixels);
        let train_x = permute(split.train.features.view(), &permutation);
        let test_x = permute(split.test.features.view(), &permutation);
        let (mut total, mut batches, mut recycled) = (0.0, 0usize, 0usize);
        for _ in 0..config.epochs {
            order_rng.shuffle(&mut order);
            for rows in order.chunks(config.batch_size) {
                let x = train_x.select(Axis(0), rows);
                let labels: Vec<usize> = rows.iter().map(|&r| split.train.labels[r]).collect();
                let (loss, grads, forward) = model.training_step(x.view(), &labels, 0);
                if !loss.is_finite() {
                    result.diverged = true;
                    return result;
                }
                total += loss;
                batches += 1;
                optimizer.step(&mut model, &grads);
                step += 1;
                if let Some(cbp) = &mut cbp {
                    recycled += cbp.step(
                        config,
                        &mut model,
                        &mut optimizer,
                        &forward,
                        &mut recycle_rng,
                    );
                }
                if condition == Condition::AdamRedo
                    && step % config.redo_every == config.redo_every / 2
                {
                    let probe: Vec<usize> = (0..REDO_PROBE.min(samples))
                        .map(|_| recycle_rng.below(samples))
                        .collect();
                    let x = train_x.select(Axis(0), &probe);
                    recycled += redo(
                        &mut model,
                        &mut optimizer,
                        x.view(),
                        config.redo_tau,
                        &mut recycle_rng,
                    );
                }
            }
        }
        let (accuracy, layers) = measure(&model, test_x.view(), &split.test.labels);
        result.tasks.push(TaskRecord {
            task,
            accuracy,
            first_task_accuracy: config
                .forgetting
                .then(|| model.accuracy(first_test, &split.test.labels)),
            train_loss: total / batches.max(1) as f64,
            recycled,
            layers,
        });
        progress();
    }
    result
}

/// Per hidden layer, the monitor of `x`'s forward pass (active: pre-activation > 0;
/// magnitudes: the layer's output), and the forward pass.
fn monitors(model: &Mlp, x: ArrayView2<'_, f32>) -> (Vec<DeadUnitMonitor>, Forward) {
    let forward = model.forward(x, None);
    let monitors = forward
        .pre_activations
        .iter()
        .zip(&forward.inputs[1..])
        .map(|(z, h)| {
            let mut monitor = DeadUnitMonitor::new(z.ncols());
            // Built from the layer: the shapes match, an error cannot occur.
            let _ = monitor.observe_outputs(z, h, Axis(1));
            monitor
        })
        .collect();
    (monitors, forward)
}

/// The accuracy on `x` and every hidden layer's metrics.
pub fn measure(model: &Mlp, x: ArrayView2<'_, f32>, labels: &[usize]) -> (f64, Vec<LayerMetrics>) {
    let (monitors, forward) = monitors(model, x);
    let layers = monitors
        .iter()
        .zip(&forward.inputs[1..])
        .zip(&model.layers)
        .map(|((monitor, h), layer)| {
            let dormant = |tau| monitor.dormant_fraction(tau).unwrap_or(f64::NAN);
            LayerMetrics {
                inactive_fraction: monitor.inactive_fraction(),
                dormant_fraction_01: dormant(DORMANT_TAUS[0]),
                dormant_fraction_0025: dormant(DORMANT_TAUS[1]),
                low_firing_fraction: monitor
                    .low_firing_fraction(LOW_FIRING_RATE)
                    .unwrap_or(f64::NAN),
                effective_rank: effective_rank(h.view()).unwrap_or(f64::NAN),
                mean_abs_weight: layer.weight.iter().map(|w| f64::from(w.abs())).sum::<f64>()
                    / layer.weight.len().max(1) as f64,
            }
        })
        .collect();
    (accuracy_of(forward.logits.view(), labels), layers)
}

/// Gives unit `unit` of hidden layer `layer` a fresh start: incoming weights re-drawn
/// (He-uniform), bias 0, outgoing weights 0 (the next layer no longer sees it: the
/// network's output is what it was without the unit), and the optimiser's state for
/// those weights zeroed.
fn recycle(model: &mut Mlp, optimizer: &mut Optimizer, layer: usize, unit: usize, rng: &mut Rng) {
    let inputs = model.layers[layer].weight.nrows();
    let units = model.layers[layer].weight.ncols();
    let fresh = he_uniform(inputs, inputs, rng);
    model.layers[layer]
        .weight
        .column_mut(unit)
        .iter_mut()
        .zip(fresh)
        .for_each(|(w, v)| *w = v);
    model.layers[layer].bias[unit] = 0.0;
    let next = model.layers[layer + 1].weight.ncols();
    model.layers[layer + 1].weight.row_mut(unit).fill(0.0);
    let incoming = model.weight_tensor(layer);
    optimizer.reset(incoming, (0..inputs).map(|i| i * units + unit));
    optimizer.reset(incoming + 1, [unit]);
    optimizer.reset(
        model.weight_tensor(layer + 1),
        (0..next).map(|k| unit * next + k),
    );
}

/// ReDo (Sokar et al. 2023): scores every hidden unit on `x` and recycles those with
/// score `<= tau` (all layers scored on the same forward pass). Returns how many.
pub fn redo(
    model: &mut Mlp,
    optimizer: &mut Optimizer,
    x: ArrayView2<'_, f32>,
    tau: f64,
    rng: &mut Rng,
) -> usize {
    let (monitors, _) = monitors(model, x);
    let mut recycled = 0;
    // From the last layer back: a unit's outgoing weights are zeroed after the next
    // layer's re-drawn units got their incoming ones, so they stay zero.
    for (layer, monitor) in monitors.iter().enumerate().rev() {
        for unit in monitor.dormant_units(tau).unwrap_or_default() {
            recycle(model, optimizer, layer, unit, rng);
            recycled += 1;
        }
    }
    recycled
}

/// Continual backprop's per-unit state (Dohare et al. 2024), per hidden layer.
pub struct ContinualBackprop {
    /// Steps since the unit was (re)initialised.
    age: Vec<Vec<u64>>,
    /// Running contribution utility `u = η u + (1 - η) mean|h| Σ|w_out|`.
    utility: Vec<Vec<f64>>,
    /// Running mean activation (for the next layer's bias when the unit goes).
    mean: Vec<Vec<f64>>,
    /// Replacements owed, accumulated at `rate x eligible units` per step.
    owed: Vec<f64>,
}

impl ContinualBackprop {
    pub fn new(model: &Mlp) -> ContinualBackprop {
        let widths: Vec<usize> = model.layers[..model.hidden_layers()]
            .iter()
            .map(|l| l.bias.len())
            .collect();
        ContinualBackprop {
            age: widths.iter().map(|&n| vec![0; n]).collect(),
            utility: widths.iter().map(|&n| vec![0.0; n]).collect(),
            mean: widths.iter().map(|&n| vec![0.0; n]).collect(),
            owed: vec![0.0; widths.len()],
        }
    }

    /// After an optimiser step: updates the utilities from that step's `forward`, then
    /// replaces the owed number of mature units with the lowest (bias-corrected)
    /// utility, the next layer's bias absorbing each one's mean contribution. Returns
    /// how many were replaced.
    pub fn step(
        &mut self,
        config: &PlasticityConfig,
        model: &mut Mlp,
        optimizer: &mut Optimizer,
        forward: &Forward,
        rng: &mut Rng,
    ) -> usize {
        let mut replaced = 0;
        // From the last layer back, as ReDo, so that replaced units' outgoing weights stay 0.
        for layer in (0..self.age.len()).rev() {
            let h = &forward.inputs[layer + 1];
            let batch = h.nrows().max(1) as f64;
            let outgoing = &model.layers[layer + 1].weight;
            for unit in 0..self.age[layer].len() {
                let column = h.column(unit);
                let magnitude = column.iter().map(|v| f64::from(v.abs())).sum::<f64>() / batch;
                let mean = column.iter().map(|&v| f64::from(v)).sum::<f64>() / batch;
                let weight: f64 = outgoing.row(unit).iter().map(|w| f64::from(w.abs())).sum();
                self.age[layer][unit] += 1;
                self.utility[layer][unit] =
                    CBP_DECAY * self.utility[layer][unit] + (1.0 - CBP_DECAY) * magnitude * weight;
                self.mean[layer][unit] =
                    CBP_DECAY * self.mean[layer][unit] + (1.0 - CBP_DECAY) * mean;
            }
            let mut eligible: Vec<usize> = (0..self.age[layer].len())
                .filter(|&u| self.age[layer][u] > config.cbp_maturity)
                .collect();
            self.owed[layer] += config.cbp_rate * eligible.len() as f64;
            let count = (self.owed[layer].floor() as usize).min(eligible.len());
            if count == 0 {
                continue;
            }
            self.owed[layer] -= count as f64;
            let corrected = |s: &Self, u: usize, v: f64| {
                v / (1.0 - CBP_DECAY.powi(s.age[layer][u].min(1 << 20) as i32))
            };
            eligible.sort_by(|&a, &b| {
                corrected(self, a, self.utility[layer][a]).total_cmp(&corrected(
                    self,
                    b,
                    self.utility[layer][b],
                ))
            });
            for &unit in &eligible[..count] {
                let mean = corrected(self, unit, self.mean[layer][unit]) as f32;
                let next = &mut model.layers[layer + 1];
                let absorbed = next.weight.row(unit).mapv(|w| w * mean);
                next.bias += &absorbed;
                recycle(model, optimizer, layer, unit, rng);
                self.age[layer][unit] = 0;
                self.utility[layer][unit] = 0.0;
                self.mean[layer][unit] = 0.0;
                replaced += 1;
            }
        }
        replaced
    }
}

/// Bytes the runs hold at once (`parallel` of them), for the memory check.
pub fn memory_needed(config: &PlasticityConfig, split: &Split, parallel: usize) -> Option<u128> {
    let pixels = split.train.features.ncols() as u128;
    let images = (split.train.labels.len() + split.test.labels.len()) as u128;
    let width = config.width as u128;
    let parameters = pixels * width + 2 * width * width + width * 10 + 4 * width;
    // Per run: the permuted images, the parameters with gradients and two moments, the
    // test pass's activations.
    let per_run =
        4 * (images * pixels + 4 * parameters + 2 * images * width * HIDDEN_LAYERS as u128);
    per_run.checked_mul(parallel as u128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, stratified_split};

    fn config() -> PlasticityConfig {
        PlasticityConfig {
            conditions: vec![Condition::Adam],
            seeds: 1,
            seed_offset: 0,
            tasks: 3,
            width: 8,
            epochs: 1,
            batch_size: 16,
            lr: 1e-3,
            sgd_lr: 0.01,
            weight_decay: 1e-4,
            redo_every: 10,
            redo_tau: 0.1,
            cbp_rate: 0.05,
            cbp_maturity: 5,
            forgetting: true,
        }
    }

    /// A small data set: 16 "pixels", 4 classes, the class in which quarter is bright.
    fn tiny() -> Split {
        let mut rng = Rng::new(3, 3);
        let rows = 200;
        let labels: Vec<usize> = (0..rows).map(|i| i % 4).collect();
        let features = Array2::from_shape_fn((rows, 16), |(i, j)| {
            f64::from(u8::from(j / 4 == labels[i])) * 2.0 + rng.uniform()
        });
        stratified_split(
            &Dataset {
                features,
                labels,
                classes: 4,
            },
            0.2,
            0,
        )
        .unwrap()
    }

    #[test]
    fn permutations_are_bijections_fixed_by_seed_and_task() {
        assert_eq!(permutation(5, 0, 784), (0..784).collect::<Vec<_>>());
        let p = permutation(5, 3, 784);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..784).collect::<Vec<_>>());
        assert_ne!(p, (0..784).collect::<Vec<_>>());
        assert_eq!(p, permutation(5, 3, 784));
        assert_ne!(p, permutation(5, 4, 784));
        assert_ne!(p, permutation(6, 3, 784));
        // Applied to images: pixel j of a permuted row is pixel p[j] of the original.
        let images = Array2::from_shape_fn((3, 784), |(r, j)| (r * 1000 + j) as f32);
        let permuted = permute(images.view(), &p);
        assert_eq!(permuted, images.select(Axis(1), &p));
    }

    #[test]
    fn metrics_of_a_hand_made_layer() {
        // One hidden layer's weights set by hand on 4 inputs: unit 0 copies input 0 (active on
        // half the samples), unit 1 is never positive, unit 2 copies input 1 at a tenth of the
        // size, unit 3 is 1 on every sample.
        let mut model = network(Condition::Adam, 4, 4, 2, 0);
        let layer = &mut model.layers[0];
        layer.weight.fill(0.0);
        layer.bias.fill(0.0);
        layer.weight[[0, 0]] = 1.0;
        layer.weight[[1, 1]] = -1.0;
        layer.weight[[1, 2]] = 0.1;
        layer.bias[3] = 1.0;
        let x = Array2::from_shape_fn((100, 4), |(i, j)| match j {
            0 => {
                if i % 2 == 0 {
                    2.0
                } else {
                    -2.0
                }
            }
            1 => 1.0 + (i % 3) as f32,
            _ => 0.0,
        });
        let (_, layers) = measure(&model, x.view(), &vec![0; 100]);
        let first = &layers[0];
        assert_eq!(first.inactive_fraction, 0.25); // unit 1
        // Mean |h|: 1, 0, 0.2, 1; layer mean 0.55; scores 1.82, 0, 0.36, 1.82.
        assert_eq!(first.dormant_fraction_01, 0.25);
        assert_eq!(first.dormant_fraction_0025, 0.25);
        assert_eq!(first.low_firing_fraction, 0.25);
        let h = model.forward(x.view(), None).inputs[1].clone();
        assert_eq!(first.effective_rank, effective_rank(h.view()).unwrap());
        assert!(first.effective_rank > 1.0 && first.effective_rank < 3.0);
        assert!((first.mean_abs_weight - 2.1 / 16.0).abs() < 1e-9);
    }

    /// The output of `model` on `x`, bit for bit.
    fn logits(model: &Mlp, x: ArrayView2<'_, f32>) -> Vec<u32> {
        model
            .forward(x, None)
            .logits
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn redo_recycles_dormant_units_only_and_keeps_the_output_of_dead_ones() {
        let split = tiny();
        let mut model = network(Condition::Adam, 16, 8, 4, 1);
        let mut optimizer = Optimizer::new(OptimizerKind::Adam, 1e-3, &mut model);
        // Some steps, so that every optimiser state is non-zero.
        for _ in 0..3 {
            let (_, grads) =
                model.loss_and_gradients(split.train.features.view(), &split.train.labels, 0);
            optimizer.step(&mut model, &grads);
        }
        // Kill units 2 and 5 of layer 1: never positive on these inputs.
        for unit in [2, 5] {
            model.layers[1].weight.column_mut(unit).fill(0.0);
            model.layers[1].bias[unit] = -1.0;
        }
        let x = split.train.features.view();
        let before = model.clone();
        let states: Vec<Vec<f32>> = (0..model.parameters_mut().len())
            .map(|t| optimizer.state(t).0.to_vec())
            .collect();
        let recycled = redo(&mut model, &mut optimizer, x, 0.1, &mut Rng::new(0, 0));
        assert!(recycled >= 2);
        let (monitors, _) = monitors(&before, x);
        let dormant: Vec<Vec<usize>> = monitors
            .iter()
            .map(|m| m.dormant_units(0.1).unwrap())
            .collect();
        assert!(dormant[1].contains(&2) && dormant[1].contains(&5));
        assert_eq!(recycled, dormant.iter().map(Vec::len).sum::<usize>());
        // The output: that of the old network with the recycled units' outgoing weights zeroed.
        let mut zeroed = before.clone();
        for (layer, units) in dormant.iter().enumerate() {
            for &u in units {
                zeroed.layers[layer + 1].weight.row_mut(u).fill(0.0);
            }
        }
        assert_eq!(logits(&model, x), logits(&zeroed, x));
        let only_dead = dormant
            .iter()
            .enumerate()
            .all(|(l, units)| units.iter().all(|&u| l == 1 && (u == 2 || u == 5)));
        if only_dead {
            assert_eq!(
                logits(&model, x),
                logits(&before, x),
                "dead units contributed nothing"
            );
        }
        // Only the recycled units' weights and optimiser state changed.
        for layer in 0..HIDDEN_LAYERS {
            let units = model.layers[layer].bias.len();
            for unit in 0..units {
                let recycled = dormant[layer].contains(&unit);
                // Its incoming weights, but for those from recycled units (outgoing zero).
                let previous = layer.checked_sub(1).map(|l| &dormant[l]);
                let same_in = model.layers[layer]
                    .weight
                    .column(unit)
                    .iter()
                    .zip(before.layers[layer].weight.column(unit))
                    .enumerate()
                    .all(|(i, (a, b))| a == b || previous.is_some_and(|p| p.contains(&i)));
                // Its outgoing weights, but for those into recycled units (re-drawn).
                let next = dormant.get(layer + 1);
                let same_out = model.layers[layer + 1]
                    .weight
                    .row(unit)
                    .iter()
                    .zip(before.layers[layer + 1].weight.row(unit))
                    .enumerate()
                    .all(|(k, (a, b))| a == b || next.is_some_and(|n| n.contains(&k)));
                assert_eq!(!recycled, same_in && same_out, "layer {layer} unit {unit}");
                let tensor = model.weight_tensor(layer);
                let moment = optimizer.state(tensor).0;
                for i in 0..model.layers[layer].weight.nrows() {
                    let k = i * units + unit;
                    let reset = recycled || previous.is_some_and(|p| p.contains(&i));
                    assert_eq!(moment[k], if reset { 0.0 } else { states[tensor][k] });
                }
                if recycled {
                    assert_eq!(model.layers[layer].bias[unit], 0.0);
                    assert!(
                        model.layers[layer + 1]
                            .weight
                            .row(unit)
                            .iter()
                            .all(|&w| w == 0.0)
                    );
                }
            }
        }
    }

    #[test]
    fn cbp_replaces_mature_low_utility_units_and_its_bias_absorbs_their_mean() {
        let split = tiny();
        let mut cfg = config();
        cfg.cbp_rate = 0.2;
        cfg.cbp_maturity = 2;
        let mut model = network(Condition::AdamCbp, 16, 8, 4, 2);
        // Layer 3 (index 2): every unit active (bias 1), but unit 3 outputs a constant 0.5 (no
        // incoming weights) with tiny outgoing weights: the lowest utility, and a mean the
        // next bias absorbs exactly.
        model.layers[2].bias.fill(1.0);
        model.layers[2].weight.column_mut(3).fill(0.0);
        model.layers[2].bias[3] = 0.5;
        model.layers[3].weight.row_mut(3).fill(1e-4);
        // Learning rate 0: the weights change only by replacement.
        let mut optimizer = Optimizer::new(OptimizerKind::Adam, 0.0, &mut model);
        let mut cbp = ContinualBackprop::new(&model);
        let x = split.train.features.view();
        let labels = &split.train.labels;
        let mut rng = Rng::new(0, 0);
        for step in 1..=3 {
            if step == 3 {
                // Only the third layer's units are mature at step 3.
                cbp.age[0].fill(0);
                cbp.age[1].fill(0);
            }
            let (_, grads, forward) = model.training_step(x, labels, 0);
            optimizer.step(&mut model, &grads);
            let before = model.clone();
            let replaced = cbp.step(&cfg, &mut model, &mut optimizer, &forward, &mut rng);
            if step <= 2 {
                assert_eq!(replaced, 0, "no unit is mature before step 3");
                assert_eq!(model.layers[2].weight, before.layers[2].weight);
                continue;
            }
            // 0.2 x 8 eligible units owed: one, the lowest utility.
            assert_eq!(replaced, 1);
            assert_eq!(
                (cbp.age[2][3], cbp.utility[2][3], cbp.mean[2][3]),
                (0, 0.0, 0.0)
            );
            assert!(
                cbp.age[2]
                    .iter()
                    .enumerate()
                    .all(|(u, &a)| u == 3 || a == 3)
            );
            assert!(model.layers[2].weight.column(3) != before.layers[2].weight.column(3));
            assert_eq!(model.layers[2].bias[3], 0.0);
            assert!(model.layers[3].weight.row(3).iter().all(|&w| w == 0.0));
            for layer in 0..2 {
                assert_eq!(model.layers[layer].weight, before.layers[layer].weight);
            }
            for unit in (0..8).filter(|&u| u != 3) {
                assert_eq!(
                    model.layers[2].weight.column(unit),
                    before.layers[2].weight.column(unit)
                );
            }
            // The next bias absorbed 0.5 x the old outgoing weights: the output is unchanged.
            let expected =
                &before.layers[3].bias + &before.layers[3].weight.row(3).mapv(|w| 0.5 * w);
            assert!(
                model.layers[3]
                    .bias
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| (a - b).abs() < 1e-7)
            );
            let (old, new) = (
                before.forward(x, None).logits,
                model.forward(x, None).logits,
            );
            assert!(old.iter().zip(&new).all(|(a, b)| (a - b).abs() < 1e-5));
        }
    }

    #[test]
    fn a_three_task_run_records_every_metric() {
        let split = tiny();
        let mut cfg = config();
        cfg.epochs = 5;
        cfg.lr = 0.01;
        cfg.conditions = vec![
            Condition::Adam,
            Condition::AdamRedo,
            Condition::AdamCbp,
            Condition::AdamLayerNorm,
        ];
        let results = run_all(&cfg, &split, &|| ());
        assert_eq!(results.len(), 4);
        for r in &results {
            assert!(!r.diverged);
            assert_eq!(r.tasks.len(), 3);
            for t in &r.tasks {
                assert!((0.0..=1.0).contains(&t.accuracy));
                assert!(t.first_task_accuracy.is_some());
                assert_eq!(t.layers.len(), HIDDEN_LAYERS);
                for l in &t.layers {
                    assert!(l.effective_rank >= 0.0 && l.effective_rank <= 8.0 + 1e-9);
                    assert!((0.0..=1.0).contains(&l.inactive_fraction));
                }
            }
        }
        // Deterministic: the same again.
        let again = run_all(&cfg, &split, &|| ());
        assert_eq!(results[2].tasks[2].layers, again[2].tasks[2].layers);
        // The first task trains on the identity permutation: it learns this easy task.
        assert!(
            results[0].tasks[0].accuracy > 0.5,
            "{}",
            results[0].tasks[0].accuracy
        );
    }
}
