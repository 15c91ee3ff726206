//! A small multilayer perceptron on ndarray, with relukit's kernels for every
//! activation forward and backward: the network the study trains.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use relukit::RreluMode;
use relukit::ndarray::{
    ReluExt, leaky_relu_backward, prelu_backward, relu_backward, rrelu_backward,
};
use serde::Serialize;

use crate::rng::Rng;

/// The activation of every hidden layer. (Runs seed their batch order with the
/// discriminant: new activations go at the end, so earlier results stay the same.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// x for x > 0, 0.01 x otherwise.
    #[value(alias = "leaky_relu")]
    LeakyRelu,
    /// x for x > 0, a x otherwise, with a learned slope `a` per unit (initially 0.25).
    Prelu,
    /// x for x > 0, x / 5.5 otherwise (Xu et al.'s "very leaky" ReLU).
    #[value(alias = "very_leaky_relu")]
    VeryLeakyRelu,
    /// x for x > 0, a x otherwise, `a` drawn per element in [1/8, 1/3) while training,
    /// 11/48 (the mean) in evaluation (Xu et al.; PyTorch's defaults).
    Rrelu,
}

impl Activation {
    /// The activation's name in words, for charts.
    pub fn label(self) -> &'static str {
        match self {
            Activation::Relu => "ReLU",
            Activation::LeakyRelu => "Leaky ReLU",
            Activation::VeryLeakyRelu => "very leaky ReLU",
            Activation::Prelu => "PReLU",
            Activation::Rrelu => "RReLU",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::VeryLeakyRelu => "very_leaky_relu",
            Activation::Prelu => "prelu",
            Activation::Rrelu => "rrelu",
        }
    }

    /// The fixed negative slope of the leaky activations.
    fn slope(self) -> Option<f64> {
        match self {
            Activation::LeakyRelu => Some(LEAKY_SLOPE),
            Activation::VeryLeakyRelu => Some(VERY_LEAKY_SLOPE),
            _ => None,
        }
    }
}

/// Leaky ReLU's slope in the study (PyTorch's default).
pub const LEAKY_SLOPE: f64 = 0.01;
/// The "very leaky" ReLU's slope (Xu et al. 2015: 1/5.5).
pub const VERY_LEAKY_SLOPE: f64 = 1.0 / 5.5;
/// RReLU's range (Xu et al. 2015 draw `1/a` with `a` in [3, 8]; PyTorch's defaults).
pub const RRELU_RANGE: (f64, f64) = (1.0 / 8.0, 1.0 / 3.0);
/// PReLU's initial slope (He et al. 2015, and PyTorch's default).
pub const PRELU_INIT: f32 = 0.25;

/// One fully connected layer: `inputs x outputs` weights, biases, and for a PReLU
/// hidden layer one slope per unit.
#[derive(Debug, Clone)]
pub struct Layer {
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
    pub slope: Option<Array1<f32>>,
    /// Batch or layer normalisation between the linear map and the activation (hidden
    /// layers of a network built with it).
    pub norm: Option<BatchNorm>,
}

/// Which statistics a normalisation standardises with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// Each unit over the batch (Ioffe and Szegedy 2015), with running averages for
    /// evaluation.
    Batch,
    /// Each sample over the layer's units (Ba et al. 2016), the same in training and
    /// evaluation.
    Layer,
}

/// Normalisation of a layer's pre-activations, then a scale `gamma` and a shift `beta`
/// per unit. Batch normalisation (Ioffe and Szegedy 2015): in training, each unit
/// standardised over the batch; in evaluation, with the running averages instead.
/// Layer normalisation (Ba et al. 2016): each sample standardised over the units.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub kind: NormKind,
    pub gamma: Array1<f32>,
    pub beta: Array1<f32>,
    /// Running mean and (unbiased) variance of batch normalisation, updated after each
    /// training step (unused by layer normalisation; empty in gradients).
    pub running_mean: Array1<f32>,
    pub running_var: Array1<f32>,
}

/// Added to the variance before the square root.
const NORM_EPS: f32 = 1e-5;
/// Weight of the newest batch in the running averages.
const NORM_MOMENTUM: f32 = 0.1;

/// How a network's hidden layers are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Setup {
    /// Every hidden bias (He initialisation only).
    pub hidden_bias: f32,
    /// Lu et al.'s randomized asymmetric initialisation for the hidden layers instead of
    /// He's (the output layer stays He).
    pub rai: bool,
    /// He-uniform weights (`U(-b, b)`, `b = sqrt(6 / fan_in)`) instead of He-normal, in
    /// every layer.
    pub uniform: bool,
    /// Batch or layer normalisation before every hidden activation.
    pub norm: Option<NormKind>,
}

/// He-uniform weights of one unit (or any `n` weights) with `fan_in` inputs.
pub fn he_uniform(fan_in: usize, n: usize, rng: &mut Rng) -> Vec<f32> {
    let bound = (6.0 / fan_in as f64).sqrt();
    (0..n)
        .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
        .collect()
}

/// Hidden layers with `activation`, then a linear output layer (softmax cross-entropy).
#[derive(Debug, Clone)]
pub struct Mlp {
    pub layers: Vec<Layer>,
    pub activation: Activation,
}

/// What the forward pass keeps for the backward pass.
pub struct Forward {
    /// The input of each layer (the data, then each hidden activation).
    pub inputs: Vec<Array2<f32>>,
    /// The pre-activations of each hidden layer (after batch normalisation, if any:
    /// what the activation sees).
    pub pre_activations: Vec<Array2<f32>>,
    pub logits: Array2<f32>,
    /// Per hidden layer with batch normalisation, in training: the standardised values,
    /// `1 / sqrt(var + eps)`, and the batch's mean and unbiased variance.
    pub norm: Vec<Option<NormCache>>,
}

/// What batch normalisation keeps from a training forward pass.
pub struct NormCache {
    pub standardised: Array2<f32>,
    pub inv_std: Array1<f32>,
    pub mean: Array1<f32>,
    pub var: Array1<f32>,
}

/// Gradients, one entry per layer, shaped as the parameters, and the batch statistics
/// that update the running averages.
pub struct Gradients {
    pub layers: Vec<Layer>,
    pub batch_stats: Vec<Option<(Array1<f32>, Array1<f32>)>>,
}

impl Mlp {
    /// He-normal weights (standard deviation sqrt(2 / fan_in)) with every hidden bias
    /// `setup.hidden_bias`, or RAI; output biases 0; PReLU slopes 0.25; with batch
    /// normalisation (`gamma` 1, `beta` 0) if `setup` says so.
    pub fn with_setup(sizes: &[usize], activation: Activation, setup: Setup, rng: &mut Rng) -> Mlp {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let (inputs, outputs) = (pair[0], pair[1]);
                let std = (2.0 / inputs as f64).sqrt();
                let hidden = i + 2 < sizes.len();
                let (weight, bias) = if hidden && setup.rai {
                    crate::born_dead::layer(inputs, outputs, crate::born_dead::Init::Rai, rng)
                } else {
                    let weight = if setup.uniform {
                        Array2::from_shape_vec(
                            (inputs, outputs),
                            he_uniform(inputs, inputs * outputs, rng),
                        )
                        .unwrap_or_else(|_| Array2::zeros((inputs, outputs)))
                    } else {
                        Array2::from_shape_simple_fn((inputs, outputs), || {
                            (rng.normal() * std) as f32
                        })
                    };
                    (
                        weight,
                        Array1::from_elem(outputs, if hidden { setup.hidden_bias } else { 0.0 }),
                    )
                };
                Layer {
                    weight,
                    bias,
                    slope: (hidden && activation == Activation::Prelu)
                        .then(|| Array1::from_elem(outputs, PRELU_INIT)),
                    norm: setup.norm.filter(|_| hidden).map(|kind| BatchNorm {
                        kind,
                        gamma: Array1::ones(outputs),
                        beta: Array1::zeros(outputs),
                        running_mean: Array1::zeros(outputs),
                        running_var: Array1::ones(outputs),
                    }),
                }
            })
            .collect();
        Mlp { layers, activation }
    }

    /// Folds a training step's batch statistics into the running averages.
    pub fn update_running_stats(&mut self, stats: &[Option<(Array1<f32>, Array1<f32>)>]) {
        for (layer, stat) in self.layers.iter_mut().zip(stats) {
            if let (Some(norm), Some((mean, var))) = (&mut layer.norm, stat)
                && norm.kind == NormKind::Batch
            {
                norm.running_mean =
                    &norm.running_mean * (1.0 - NORM_MOMENTUM) + mean * NORM_MOMENTUM;
                norm.running_var = &norm.running_var * (1.0 - NORM_MOMENTUM) + var * NORM_MOMENTUM;
            }
        }
    }

    /// The number of hidden layers.
    pub fn hidden_layers(&self) -> usize {
        self.layers.len() - 1
    }

    /// RReLU's mode in hidden layer `layer`: a seed from the step's `noise` in training,
    /// the mean slope in evaluation (`None`).
    fn rrelu_mode(noise: Option<u64>, layer: usize) -> RreluMode {
        match noise {
            Some(step) => RreluMode::Training {
                seed: step ^ (layer as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            },
            None => RreluMode::Evaluation,
        }
    }

    /// Forward pass over a batch (one sample per row); `noise` is the training step's
    /// seed for RReLU's slopes (`None`: evaluation).
    pub fn forward(&self, x: ArrayView2<'_, f32>, noise: Option<u64>) -> Forward {
        let mut inputs = vec![x.to_owned()];
        let mut pre_activations = Vec::new();
        let mut norm_caches = Vec::new();
        for (i, layer) in self.layers[..self.hidden_layers()].iter().enumerate() {
            let linear = inputs
                .last()
                .map(|a| a.dot(&layer.weight) + &layer.bias)
                .unwrap_or_default();
            let (z, cache) = match &layer.norm {
                None => (linear, None),
                Some(norm) => normalise(linear, norm, noise.is_some()),
            };
            norm_caches.push(cache);
            let (lower, upper) = RRELU_RANGE;
            let a = match (self.activation, &layer.slope) {
                (Activation::Relu, _) => z.relu(),
                (Activation::LeakyRelu | Activation::VeryLeakyRelu, _) => {
                    let slope = self.activation.slope().unwrap_or(LEAKY_SLOPE);
                    z.leaky_relu(slope).unwrap_or_else(|_| z.clone())
                }
                (Activation::Prelu, Some(slope)) => {
                    z.prelu(slope, Axis(1)).unwrap_or_else(|_| z.clone())
                }
                (Activation::Rrelu, _) => z
                    .rrelu(lower, upper, Self::rrelu_mode(noise, i))
                    .unwrap_or_else(|_| z.clone()),
                (Activation::Prelu, None) => z.relu(),
            };
            pre_activations.push(z);
            inputs.push(a);
        }
        let last = &self.layers[self.hidden_layers()];
        let logits = inputs
            .last()
            .map(|a| a.dot(&last.weight) + &last.bias)
            .unwrap_or_default();
        Forward {
            inputs,
            pre_activations,
            logits,
            norm: norm_caches,
        }
    }

    /// Mean softmax cross-entropy of a training batch and its gradients; `noise` seeds
    /// RReLU's slopes for this step.
    pub fn loss_and_gradients(
        &self,
        x: ArrayView2<'_, f32>,
        labels: &[usize],
        noise: u64,
    ) -> (f64, Gradients) {
        let (loss, gradients, _) = self.training_step(x, labels, noise);
        (loss, gradients)
    }

    /// [`Mlp::loss_and_gradients`], with the training forward pass it went back through
    /// (its activations: what continual backprop's utilities are computed from).
    pub fn training_step(
        &self,
        x: ArrayView2<'_, f32>,
        labels: &[usize],
        noise: u64,
    ) -> (f64, Gradients, Forward) {
        let mut forward = self.forward(x, Some(noise));
        let (loss, mut delta) = softmax_cross_entropy(forward.logits.view(), labels);
        let mut grads: Vec<Layer> = Vec::with_capacity(self.layers.len());
        // The slope and normalisation gradients of hidden layer i - 1, found while going
        // back through layer i.
        let mut slope_grad = None;
        let mut norm_grad = None;
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let input = &forward.inputs[i];
            grads.push(Layer {
                weight: input.t().dot(&delta),
                bias: delta.sum_axis(Axis(0)),
                slope: slope_grad.take(),
                norm: norm_grad.take(),
            });
            if i == 0 {
                break;
            }
            // Back through the activation of hidden layer i - 1.
            let upstream = delta.dot(&layer.weight.t());
            let z = &forward.pre_activations[i - 1];
            let (lower, upper) = RRELU_RANGE;
            delta = match (self.activation, &self.layers[i - 1].slope) {
                (Activation::LeakyRelu | Activation::VeryLeakyRelu, _) => {
                    let slope = self.activation.slope().unwrap_or(LEAKY_SLOPE);
                    leaky_relu_backward(&upstream, z, slope)
                }
                (Activation::Rrelu, _) => {
                    let mode = Self::rrelu_mode(Some(noise), i - 1);
                    rrelu_backward(&upstream, z, lower, upper, mode)
                }
                (Activation::Prelu, Some(slope)) => prelu_backward(&upstream, z, slope, Axis(1))
                    .map(|(dz, dslope)| {
                        slope_grad = Some(dslope);
                        dz
                    }),
                (Activation::Relu | Activation::Prelu, _) => relu_backward(&upstream, z),
            }
            .unwrap_or_else(|_| Array2::zeros(z.raw_dim()));
            if let (Some(norm), Some(cache)) = (&self.layers[i - 1].norm, &forward.norm[i - 1]) {
                let (dz, grad) = normalise_backward(&delta, norm, cache);
                delta = dz;
                norm_grad = Some(grad);
            }
        }
        grads.reverse();
        let batch_stats = forward
            .norm
            .iter_mut()
            .map(|c| c.take().map(|c| (c.mean, c.var)))
            .chain(std::iter::once(None))
            .collect();
        (
            loss,
            Gradients {
                layers: grads,
                batch_stats,
            },
            forward,
        )
    }

    /// Accuracy of the predictions (argmax of the logits) on a data set.
    pub fn accuracy(&self, x: ArrayView2<'_, f32>, labels: &[usize]) -> f64 {
        accuracy_of(self.forward(x, None).logits.view(), labels)
    }

    /// The index, in [`Mlp::parameters_mut`]'s order, of layer `layer`'s weights (its
    /// bias is the next one).
    pub fn weight_tensor(&self, layer: usize) -> usize {
        self.layers[..layer]
            .iter()
            .map(|l| 2 + usize::from(l.slope.is_some()) + 2 * usize::from(l.norm.is_some()))
            .sum()
    }

    /// Every parameter tensor as a flat slice, in a fixed order (for the optimisers).
    pub fn parameters_mut(&mut self) -> Vec<&mut [f32]> {
        let mut all = Vec::new();
        for layer in &mut self.layers {
            all.push(layer.weight.as_slice_mut().unwrap_or_default());
            all.push(layer.bias.as_slice_mut().unwrap_or_default());
            if let Some(slope) = &mut layer.slope {
                all.push(slope.as_slice_mut().unwrap_or_default());
            }
            if let Some(norm) = &mut layer.norm {
                all.push(norm.gamma.as_slice_mut().unwrap_or_default());
                all.push(norm.beta.as_slice_mut().unwrap_or_default());
            }
        }
        all
    }
}

/// Batch normalisation forward: with the batch's statistics in training (returning
/// what the backward pass needs), with the running averages in evaluation.
fn normalise(z: Array2<f32>, norm: &BatchNorm, training: bool) -> (Array2<f32>, Option<NormCache>) {
    if norm.kind == NormKind::Layer {
        return layer_normalise(z, norm, training);
    }
    let rows = z.nrows().max(1) as f32;
    let (mean, var) = if training {
        let mean = z.sum_axis(Axis(0)) / rows;
        let centred = &z - &mean;
        let var = (&centred * &centred).sum_axis(Axis(0)) / rows;
        (mean, var)
    } else {
        (norm.running_mean.clone(), norm.running_var.clone())
    };
    let inv_std = var.mapv(|v| 1.0 / (v + NORM_EPS).sqrt());
    let standardised = (&z - &mean) * &inv_std;
    let out = &standardised * &norm.gamma + &norm.beta;
    let cache = training.then(|| NormCache {
        // The running variance is unbiased (n / (n - 1) times the batch's).
        var: if rows > 1.0 {
            &var * (rows / (rows - 1.0))
        } else {
            var.clone()
        },
        standardised,
        inv_std,
        mean,
    });
    (out, cache)
}

/// Layer normalisation forward: each row standardised over its units (the cache's
/// `inv_std`, `mean` and `var` are per row).
fn layer_normalise(
    z: Array2<f32>,
    norm: &BatchNorm,
    training: bool,
) -> (Array2<f32>, Option<NormCache>) {
    let units = z.ncols().max(1) as f32;
    let mean = z.sum_axis(Axis(1)) / units;
    let centred = &z - &mean.view().insert_axis(Axis(1));
    let var = (&centred * &centred).sum_axis(Axis(1)) / units;
    let inv_std = var.mapv(|v| 1.0 / (v + NORM_EPS).sqrt());
    let standardised = centred * inv_std.view().insert_axis(Axis(1));
    let out = &standardised * &norm.gamma + &norm.beta;
    let cache = training.then_some(NormCache {
        standardised,
        inv_std,
        mean,
        var,
    });
    (out, cache)
}

/// Normalisation backward: the gradient at its input and those of `gamma` and `beta`,
/// from the gradient `dy` at its output.
fn normalise_backward(
    dy: &Array2<f32>,
    norm: &BatchNorm,
    cache: &NormCache,
) -> (Array2<f32>, BatchNorm) {
    if norm.kind == NormKind::Layer {
        // The batch formula with the roles of the axes swapped: sums over each row's units.
        let units = dy.ncols().max(1) as f32;
        let d_standardised = dy * &norm.gamma;
        let sum = d_standardised.sum_axis(Axis(1)).insert_axis(Axis(1));
        let dot = (&d_standardised * &cache.standardised)
            .sum_axis(Axis(1))
            .insert_axis(Axis(1));
        let dz = (&d_standardised * units - &sum - &cache.standardised * &dot)
            * cache.inv_std.view().insert_axis(Axis(1))
            / units;
        let grad = BatchNorm {
            kind: norm.kind,
            gamma: (dy * &cache.standardised).sum_axis(Axis(0)),
            beta: dy.sum_axis(Axis(0)),
            running_mean: Array1::zeros(0),
            running_var: Array1::zeros(0),
        };
        return (dz, grad);
    }
    let rows = dy.nrows().max(1) as f32;
    let d_gamma = (dy * &cache.standardised).sum_axis(Axis(0));
    let d_beta = dy.sum_axis(Axis(0));
    let d_standardised = dy * &norm.gamma;
    let sum = d_standardised.sum_axis(Axis(0));
    let dot = (&d_standardised * &cache.standardised).sum_axis(Axis(0));
    let dz = (&d_standardised * rows - &sum - &cache.standardised * &dot) * &cache.inv_std / rows;
    let grad = BatchNorm {
        kind: norm.kind,
        gamma: d_gamma,
        beta: d_beta,
        running_mean: Array1::zeros(0),
        running_var: Array1::zeros(0),
    };
    (dz, grad)
}

impl Gradients {
    /// Every gradient tensor as a flat slice, in the order of [`Mlp::parameters_mut`].
    pub fn flat(&self) -> Vec<&[f32]> {
        let mut all = Vec::new();
        for layer in &self.layers {
            all.push(layer.weight.as_slice().unwrap_or_default());
            all.push(layer.bias.as_slice().unwrap_or_default());
            if let Some(slope) = &layer.slope {
                all.push(slope.as_slice().unwrap_or_default());
            }
            if let Some(norm) = &layer.norm {
                all.push(norm.gamma.as_slice().unwrap_or_default());
                all.push(norm.beta.as_slice().unwrap_or_default());
            }
        }
        all
    }
}

/// The share of rows of `logits` whose largest entry is at the row's label (0 for no rows).
pub fn accuracy_of(logits: ArrayView2<'_, f32>, labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let correct = logits
        .outer_iter()
        .zip(labels)
        .filter(|(row, label)| argmax(*row) == **label)
        .count();
    correct as f64 / labels.len() as f64
}

fn argmax(row: ArrayView1<'_, f32>) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Mean cross-entropy of softmax(logits) and its gradient with respect to the logits.
pub fn softmax_cross_entropy(logits: ArrayView2<'_, f32>, labels: &[usize]) -> (f64, Array2<f32>) {
    let batch = labels.len().max(1) as f32;
    let mut grad = logits.to_owned();
    let mut loss = 0.0f64;
    for (mut row, &label) in grad.outer_iter_mut().zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum: f32 = row.sum();
        row.mapv_inplace(|v| v / sum);
        loss -= (row[label].max(f32::MIN_POSITIVE) as f64).ln();
        row[label] -= 1.0;
        row.mapv_inplace(|v| v / batch);
    }
    (loss / batch as f64, grad)
}

/// The optimisers of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (beta1 0.9, beta2 0.999, epsilon 1e-8).
    Adam,
    /// Stochastic gradient descent with momentum 0.9.
    Sgd,
}

/// Optimiser state, one buffer pair per parameter tensor. No weight decay unless
/// [`Optimizer::with_weight_decay`] asks for it (the study has none: in particular none on
/// PReLU slopes, as He et al. recommend).
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f32,
    weight_decay: f32,
    step: i32,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, lr: f64, model: &mut Mlp) -> Optimizer {
        let shapes: Vec<usize> = model.parameters_mut().iter().map(|p| p.len()).collect();
        Optimizer {
            kind,
            lr: lr as f32,
            weight_decay: 0.0,
            step: 0,
            first: shapes.iter().map(|&n| vec![0.0; n]).collect(),
            second: shapes.iter().map(|&n| vec![0.0; n]).collect(),
        }
    }

    /// L2 regularisation as PyTorch's `weight_decay`: `decay * parameter` added to every
    /// gradient before the update.
    pub fn with_weight_decay(mut self, decay: f64) -> Optimizer {
        self.weight_decay = decay as f32;
        self
    }

    /// Zeroes the state (Adam's moments, SGD's momentum) of `elements` of parameter
    /// tensor `tensor` ([`Mlp::parameters_mut`]'s order): what recycling a unit does.
    pub fn reset(&mut self, tensor: usize, elements: impl IntoIterator<Item = usize>) {
        let (m, v) = (&mut self.first[tensor], &mut self.second[tensor]);
        for i in elements {
            m[i] = 0.0;
            v[i] = 0.0;
        }
    }

    /// The state of parameter tensor `tensor`: first and second moments (SGD: momentum and
    /// zeros).
    #[cfg(test)]
    pub fn state(&self, tensor: usize) -> (&[f32], &[f32]) {
        (&self.first[tensor], &self.second[tensor])
    }

    /// The learning rate of the next steps (a warm-up changes it every step).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr as f32;
    }

    pub fn step(&mut self, model: &mut Mlp, grads: &Gradients) {
        self.step += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let correction1 = 1.0 - b1.powi(self.step);
        let correction2 = 1.0 - b2.powi(self.step);
        let (lr, decay) = (self.lr, self.weight_decay);
        let params = model.parameters_mut();
        for (k, (param, grad)) in params.into_iter().zip(grads.flat()).enumerate() {
            let (m, v) = (&mut self.first[k][..], &mut self.second[k][..]);
            // One loop per case, over zipped slices, so that the compiler vectorises it.
            // The gradient is left as it is without weight decay (`g + 0 * p` is not `g`
            // for p = inf or g = -0.0).
            let with_decay = |g: f32, p: f32| if decay == 0.0 { g } else { g + decay * p };
            match self.kind {
                OptimizerKind::Adam => {
                    for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m).zip(v) {
                        let g = with_decay(g, *p);
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *p -= lr * (*m / correction1) / ((*v / correction2).sqrt() + eps);
                    }
                }
                OptimizerKind::Sgd => {
                    for ((p, &g), m) in param.iter_mut().zip(grad).zip(m) {
                        let g = with_decay(g, *p);
                        *m = 0.9 * *m + g;
                        *p -= lr * *m;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central finite differences against the analytic gradient of every parameter
    /// tensor (PReLU slopes included), skipping perturbations that cross a kink.
    fn check_gradients(activation: Activation) {
        check_gradients_with(activation, None);
    }

    fn check_gradients_with(activation: Activation, norm: Option<NormKind>) {
        let mut rng = Rng::new(11, 3);
        let setup = Setup {
            hidden_bias: 0.1,
            norm,
            ..Setup::default()
        };
        let mut model = Mlp::with_setup(&[5, 6, 6, 3], activation, setup, &mut rng);
        for layer in &mut model.layers {
            if let Some(norm) = &mut layer.norm {
                // Away from the defaults, so that every term of the gradient matters.
                norm.gamma
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, g)| *g = 0.7 + 0.1 * i as f32);
                norm.beta
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = 0.05 * i as f32 - 0.1);
            }
        }
        if let Some(slope) = &mut model.layers[0].slope {
            slope
                .iter_mut()
                .enumerate()
                .for_each(|(i, s)| *s = 0.1 + 0.05 * i as f32);
        }
        let x = Array2::from_shape_simple_fn((8, 5), || rng.normal() as f32);
        let labels: Vec<usize> = (0..8).map(|i| i % 3).collect();
        let (_, grads) = model.loss_and_gradients(x.view(), &labels, 7);
        let analytic: Vec<Vec<f32>> = grads.flat().iter().map(|g| g.to_vec()).collect();
        let pattern = |m: &Mlp| -> Vec<bool> {
            m.forward(x.view(), Some(7))
                .pre_activations
                .iter()
                .flat_map(|z| z.iter().map(|&v| v > 0.0).collect::<Vec<_>>())
                .collect()
        };
        // Weights and biases of 3 layers, a slope vector per hidden layer for PReLU, gamma
        // and beta per hidden layer with batch normalisation.
        let expected_tensors =
            6 + if activation == Activation::Prelu {
                2
            } else {
                0
            } + if norm.is_some() { 4 } else { 0 };
        assert_eq!(analytic.len(), expected_tensors);
        let total: usize = analytic.iter().map(Vec::len).sum();
        let eps = 1e-3f32;
        let mut checked = 0;
        for (k, grad) in analytic.iter().enumerate() {
            for (i, &analytic_value) in grad.iter().enumerate() {
                let mut plus = model.clone();
                plus.parameters_mut()[k][i] += eps;
                let mut minus = model.clone();
                minus.parameters_mut()[k][i] -= eps;
                if pattern(&plus) != pattern(&minus) {
                    continue;
                }
                let loss = |m: &Mlp| {
                    softmax_cross_entropy(m.forward(x.view(), Some(7)).logits.view(), &labels).0
                };
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * eps as f64);
                let error = (numeric - analytic_value as f64).abs();
                assert!(
                    error <= 2e-3 + 2e-2 * numeric.abs(),
                    "{activation:?}: tensor {k} element {i}: analytic {analytic_value} numeric {numeric}"
                );
                checked += 1;
            }
        }
        assert!(
            checked * 10 >= total * 9,
            "only {checked} of {total} parameters were checked"
        );
    }

    #[test]
    fn relu_gradients_match_finite_differences() {
        check_gradients(Activation::Relu);
    }

    #[test]
    fn batch_norm_gradients_match_finite_differences() {
        check_gradients_with(Activation::Relu, Some(NormKind::Batch));
        check_gradients_with(Activation::Prelu, Some(NormKind::Batch));
    }

    #[test]
    fn layer_norm_gradients_match_finite_differences() {
        check_gradients_with(Activation::Relu, Some(NormKind::Layer));
        check_gradients_with(Activation::LeakyRelu, Some(NormKind::Layer));
    }

    #[test]
    fn layer_norm_standardises_each_sample_in_training_and_evaluation() {
        let mut rng = Rng::new(5, 2);
        let setup = Setup {
            norm: Some(NormKind::Layer),
            ..Setup::default()
        };
        let model = Mlp::with_setup(&[4, 16, 2], Activation::Relu, setup, &mut rng);
        let x = Array2::from_shape_simple_fn((8, 4), || (rng.normal() * 3.0 + 1.0) as f32);
        for noise in [Some(1), None] {
            let z = &model.forward(x.view(), noise).pre_activations[0];
            for row in z.rows() {
                let mean = row.mean().unwrap();
                let var = row.mapv(|v| (v - mean).powi(2)).mean().unwrap();
                assert!(
                    mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                    "{mean} {var}"
                );
            }
        }
    }

    #[test]
    fn he_uniform_weights_lie_in_their_bound_with_the_right_variance() {
        let mut rng = Rng::new(2, 2);
        let setup = Setup {
            uniform: true,
            ..Setup::default()
        };
        let model = Mlp::with_setup(&[600, 300, 10], Activation::Relu, setup, &mut rng);
        for layer in &model.layers {
            let fan_in = layer.weight.nrows() as f64;
            let bound = (6.0 / fan_in).sqrt() as f32;
            assert!(layer.weight.iter().all(|w| w.abs() <= bound));
            let var = layer
                .weight
                .iter()
                .map(|&w| f64::from(w).powi(2))
                .sum::<f64>()
                / layer.weight.len() as f64;
            // U(-b, b) has variance b^2 / 3 = 2 / fan_in, He's.
            assert!((var * fan_in / 2.0 - 1.0).abs() < 0.05, "{var}");
            assert!(layer.bias.iter().all(|&b| b == 0.0));
        }
    }

    #[test]
    fn weight_decay_adds_the_parameter_to_the_gradient_and_reset_zeroes_state() {
        let mut rng = Rng::new(3, 3);
        let mut model = Mlp::with_setup(&[3, 4, 2], Activation::Relu, Setup::default(), &mut rng);
        let mut decayed = model.clone();
        let x = Array2::from_shape_simple_fn((5, 3), || rng.normal() as f32);
        let labels = [0, 1, 0, 1, 1];
        let (_, grads) = model.loss_and_gradients(x.view(), &labels, 0);
        // SGD's first step is `lr * (g + decay * p)`: with decay, each parameter moves
        // by lr * decay * p more.
        let mut plain = Optimizer::new(OptimizerKind::Sgd, 0.1, &mut model);
        let mut with_decay =
            Optimizer::new(OptimizerKind::Sgd, 0.1, &mut decayed).with_weight_decay(0.5);
        let before = model.clone();
        plain.step(&mut model, &grads);
        with_decay.step(&mut decayed, &grads);
        let w = |m: &Mlp| m.layers[0].weight.clone();
        let expected = w(&model) - &(w(&before) * 0.05);
        assert!(
            w(&decayed)
                .iter()
                .zip(&expected)
                .all(|(a, b)| (a - b).abs() < 1e-6)
        );
        // reset zeroes the given elements' state only.
        let tensor = model.weight_tensor(1);
        assert_eq!(tensor, 2);
        plain.reset(tensor, [1, 3]);
        let (momentum, _) = plain.state(tensor);
        let g = grads.flat()[tensor];
        for (i, &m) in momentum.iter().enumerate() {
            assert_eq!(m, if i == 1 || i == 3 { 0.0 } else { g[i] }, "{i}");
        }
    }

    #[test]
    fn batch_norm_standardises_in_training_and_uses_running_averages_after() {
        let mut rng = Rng::new(5, 1);
        let setup = Setup {
            norm: Some(NormKind::Batch),
            ..Setup::default()
        };
        let mut model = Mlp::with_setup(&[4, 8, 2], Activation::Relu, setup, &mut rng);
        let x = Array2::from_shape_simple_fn((64, 4), || (rng.normal() * 3.0 + 1.0) as f32);
        let z = &model.forward(x.view(), Some(1)).pre_activations[0];
        for unit in z.columns() {
            let mean = unit.mean().unwrap();
            let var = unit.mapv(|v| (v - mean).powi(2)).mean().unwrap();
            assert!(
                mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
                "{mean} {var}"
            );
        }
        // In evaluation, before any update, the running averages are 0 and 1: identity.
        let eval = model.forward(x.view(), None);
        let linear = x.dot(&model.layers[0].weight) + &model.layers[0].bias;
        let expected = linear.mapv(|v| v / (1.0 + NORM_EPS).sqrt());
        assert!(
            eval.pre_activations[0]
                .iter()
                .zip(&expected)
                .all(|(a, b)| (a - b).abs() < 1e-4)
        );
        // After many updates with the same batch, they converge to the batch's statistics.
        let labels = vec![0; 64];
        for _ in 0..200 {
            let (_, grads) = model.loss_and_gradients(x.view(), &labels, 1);
            model.update_running_stats(&grads.batch_stats);
        }
        let train = model.forward(x.view(), Some(1)).pre_activations[0].clone();
        let eval = model.forward(x.view(), None).pre_activations[0].clone();
        // Unbiased against biased variance: a factor sqrt(63 / 64) apart at most.
        assert!(
            train
                .iter()
                .zip(&eval)
                .all(|(a, b)| (a - b).abs() < 0.02 * (1.0 + a.abs()))
        );
    }

    #[test]
    fn rai_initialises_the_hidden_layers() {
        let mut rng = Rng::new(9, 9);
        let setup = Setup {
            hidden_bias: -3.0,
            rai: true,
            ..Setup::default()
        };
        let model = Mlp::with_setup(&[20, 30, 30, 5], Activation::Relu, setup, &mut rng);
        for layer in &model.layers[..2] {
            // One positive entry from Beta(2, 1) per unit, among weights and bias: at
            // least one positive parameter per unit, and the -3 bias ignored.
            for unit in 0..layer.bias.len() {
                let positive =
                    layer.weight.column(unit).iter().any(|&w| w > 0.0) || layer.bias[unit] > 0.0;
                assert!(positive);
            }
            assert!(layer.bias.iter().all(|&b| b > -2.0));
        }
        assert!(
            model.layers[2].bias.iter().all(|&b| b == 0.0),
            "the output layer is He's"
        );
    }

    #[test]
    fn leaky_relu_gradients_match_finite_differences() {
        check_gradients(Activation::LeakyRelu);
    }

    #[test]
    fn prelu_gradients_match_finite_differences() {
        check_gradients(Activation::Prelu);
    }

    #[test]
    fn very_leaky_relu_gradients_match_finite_differences() {
        check_gradients(Activation::VeryLeakyRelu);
    }

    /// With the step's noise fixed, RReLU is a fixed piecewise-linear function: its
    /// gradients (slopes drawn again in the backward pass) match finite differences.
    #[test]
    fn rrelu_gradients_match_finite_differences() {
        check_gradients(Activation::Rrelu);
    }

    #[test]
    fn he_initialisation_has_the_right_scale() {
        let mut rng = Rng::new(1, 1);
        let model = Mlp::with_setup(
            &[400, 300, 10],
            Activation::Relu,
            Setup {
                hidden_bias: -3.0,
                ..Setup::default()
            },
            &mut rng,
        );
        let w = &model.layers[0].weight;
        let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var - 2.0 / 400.0).abs() < 0.0005, "{var}");
        assert!(model.layers[0].bias.iter().all(|&b| b == -3.0));
        assert!(model.layers[1].bias.iter().all(|&b| b == 0.0));
    }
}
