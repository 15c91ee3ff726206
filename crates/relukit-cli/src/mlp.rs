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
    LeakyRelu,
    /// x for x > 0, a x otherwise, with a learned slope `a` per unit (initially 0.25).
    Prelu,
    /// x for x > 0, x / 5.5 otherwise (Xu et al.'s "very leaky" ReLU).
    VeryLeakyRelu,
    /// x for x > 0, a x otherwise, `a` drawn per element in [1/8, 1/3) while training,
    /// 11/48 (the mean) in evaluation (Xu et al.; PyTorch's defaults).
    Rrelu,
}

impl Activation {
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
    /// The pre-activations of each hidden layer.
    pub pre_activations: Vec<Array2<f32>>,
    pub logits: Array2<f32>,
}

/// Gradients, one entry per layer, shaped as the parameters.
pub struct Gradients {
    pub layers: Vec<Layer>,
}

impl Mlp {
    /// He-normal weights (standard deviation sqrt(2 / fan_in)), every hidden bias set
    /// to `hidden_bias`, output biases 0, PReLU slopes 0.25.
    pub fn new(sizes: &[usize], activation: Activation, hidden_bias: f32, rng: &mut Rng) -> Mlp {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let (inputs, outputs) = (pair[0], pair[1]);
                let std = (2.0 / inputs as f64).sqrt();
                let hidden = i + 2 < sizes.len();
                Layer {
                    weight: Array2::from_shape_simple_fn((inputs, outputs), || {
                        (rng.normal() * std) as f32
                    }),
                    bias: Array1::from_elem(outputs, if hidden { hidden_bias } else { 0.0 }),
                    slope: (hidden && activation == Activation::Prelu)
                        .then(|| Array1::from_elem(outputs, PRELU_INIT)),
                }
            })
            .collect();
        Mlp { layers, activation }
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
        for (i, layer) in self.layers[..self.hidden_layers()].iter().enumerate() {
            let z = inputs
                .last()
                .map(|a| a.dot(&layer.weight) + &layer.bias)
                .unwrap_or_default();
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
        let forward = self.forward(x, Some(noise));
        let (loss, mut delta) = softmax_cross_entropy(forward.logits.view(), labels);
        let mut grads: Vec<Layer> = Vec::with_capacity(self.layers.len());
        // The slope gradient of hidden layer i - 1, found while going back through layer i.
        let mut slope_grad = None;
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let input = &forward.inputs[i];
            grads.push(Layer {
                weight: input.t().dot(&delta),
                bias: delta.sum_axis(Axis(0)),
                slope: slope_grad.take(),
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
        }
        grads.reverse();
        (loss, Gradients { layers: grads })
    }

    /// Accuracy of the predictions (argmax of the logits) on a data set.
    pub fn accuracy(&self, x: ArrayView2<'_, f32>, labels: &[usize]) -> f64 {
        if labels.is_empty() {
            return 0.0;
        }
        let logits = self.forward(x, None).logits;
        let correct = logits
            .outer_iter()
            .zip(labels)
            .filter(|(row, label)| argmax(*row) == **label)
            .count();
        correct as f64 / labels.len() as f64
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
        }
        all
    }
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
        }
        all
    }
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

/// Optimiser state, one buffer pair per parameter tensor. No weight decay (in
/// particular none on PReLU slopes, as He et al. recommend).
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f32,
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
            step: 0,
            first: shapes.iter().map(|&n| vec![0.0; n]).collect(),
            second: shapes.iter().map(|&n| vec![0.0; n]).collect(),
        }
    }

    pub fn step(&mut self, model: &mut Mlp, grads: &Gradients) {
        self.step += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let correction1 = 1.0 - b1.powi(self.step);
        let correction2 = 1.0 - b2.powi(self.step);
        let params = model.parameters_mut();
        for (k, (param, grad)) in params.into_iter().zip(grads.flat()).enumerate() {
            let (m, v) = (&mut self.first[k], &mut self.second[k]);
            for i in 0..param.len() {
                let g = grad[i];
                match self.kind {
                    OptimizerKind::Adam => {
                        m[i] = b1 * m[i] + (1.0 - b1) * g;
                        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                        param[i] -=
                            self.lr * (m[i] / correction1) / ((v[i] / correction2).sqrt() + eps);
                    }
                    OptimizerKind::Sgd => {
                        m[i] = 0.9 * m[i] + g;
                        param[i] -= self.lr * m[i];
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
        let mut rng = Rng::new(11, 3);
        let mut model = Mlp::new(&[5, 6, 6, 3], activation, 0.1, &mut rng);
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
        // Weights and biases of 3 layers, and a slope vector per hidden layer for PReLU.
        let expected_tensors = if activation == Activation::Prelu {
            8
        } else {
            6
        };
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
        let model = Mlp::new(&[400, 300, 10], Activation::Relu, -3.0, &mut rng);
        let w = &model.layers[0].weight;
        let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var - 2.0 / 400.0).abs() < 0.0005, "{var}");
        assert!(model.layers[0].bias.iter().all(|&b| b == -3.0));
        assert!(model.layers[1].bias.iter().all(|&b| b == 0.0));
    }
}
