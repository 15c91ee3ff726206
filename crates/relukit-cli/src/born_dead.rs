//! Born-dead networks: a Monte Carlo reproduction of Lu, Shin, Su and Karniadakis,
//! "Dying ReLU and Initialization: Theory and Numerical Examples" (Communications in
//! Computational Physics 28(5), 2020; arXiv:1903.06733).
//!
//! A ReLU network with one input, `depth` hidden layers of `width` units and one linear
//! output is *born dead* when, right after initialisation, it is a constant function
//! on its input domain [-sqrt 3, sqrt 3]: some hidden layer outputs the same vector for
//! every input (in practice, all zeros), so no gradient can reach the layers below and
//! training cannot start. We initialise many networks and count. Each network is
//! evaluated on a grid of inputs; it is dead when the last hidden layer's outputs are
//! identical across the grid.
//!
//! Initialisations: He-normal weights with zero biases; He-normal weights and biases
//! (variance 2 / fan_in for both); and the paper's randomized asymmetric initialisation
//! (RAI), which draws one randomly chosen entry of each unit's `[weights, bias]` from
//! a positive distribution (Beta(2, 1)) and the others from a centred normal. Our RAI
//! normal has variance 1.5 / fan_in, so that the second moment of each unit's
//! parameters matches He's (2 in total); the paper derives its own constant.

use ndarray::{Array1, Array2};
use rayon::prelude::*;
use relukit::ndarray::ReluExt;
use serde::Serialize;

use crate::rng::Rng;

/// How the biases (and, for RAI, the weights) are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// He-normal weights, zero biases.
    #[value(alias = "he_zero_bias")]
    HeZeroBias,
    /// He-normal weights and biases.
    #[value(alias = "he_normal_bias")]
    HeNormalBias,
    /// Randomized asymmetric initialisation (Lu et al.).
    Rai,
}

impl Init {
    /// The initialisation in words, for charts.
    pub fn label(self) -> &'static str {
        match self {
            Init::HeZeroBias => "He, zero biases",
            Init::HeNormalBias => "He, normal biases",
            Init::Rai => "RAI (Lu et al.)",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Init::HeZeroBias => "he_zero_bias",
            Init::HeNormalBias => "he_normal_bias",
            Init::Rai => "rai",
        }
    }
}

/// The estimate of one cell of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub init: Init,
    pub width: usize,
    pub depth: usize,
    pub trials: usize,
    pub dead: usize,
    pub probability: f64,
    /// Wilson's 95% interval for the probability (it does not collapse at 0 or 1, as
    /// the normal approximation's standard error does).
    pub interval: (f64, f64),
}

/// Inputs on which each network is evaluated.
pub const GRID_POINTS: usize = 101;

/// One layer's parameters for `inputs -> outputs` under `init`.
pub fn layer(
    inputs: usize,
    outputs: usize,
    init: Init,
    rng: &mut Rng,
) -> (Array2<f32>, Array1<f32>) {
    let he = (2.0 / inputs as f64).sqrt();
    match init {
        Init::HeZeroBias | Init::HeNormalBias => {
            let w = Array2::from_shape_simple_fn((inputs, outputs), || (rng.normal() * he) as f32);
            let b = if init == Init::HeZeroBias {
                Array1::zeros(outputs)
            } else {
                Array1::from_shape_simple_fn(outputs, || (rng.normal() * he) as f32)
            };
            (w, b)
        }
        Init::Rai => {
            let sigma = (1.5 / inputs as f64).sqrt();
            let mut w =
                Array2::from_shape_simple_fn((inputs, outputs), || (rng.normal() * sigma) as f32);
            let mut b = Array1::from_shape_simple_fn(outputs, || (rng.normal() * sigma) as f32);
            for unit in 0..outputs {
                let k = rng.below(inputs + 1);
                let positive = rng.beta_2_1() as f32;
                if k == inputs {
                    b[unit] = positive;
                } else {
                    w[[k, unit]] = positive;
                }
            }
            (w, b)
        }
    }
}

/// The memory `parallel` networks of width `width` need at once, in bytes (`None` if
/// that overflows): a layer's weights and the activations on the grid.
pub fn memory_needed(width: usize, parallel: usize) -> Option<u128> {
    let width = width as u128;
    let floats = width
        .checked_mul(width)?
        .checked_add(width.checked_mul(4 * GRID_POINTS as u128)?)?;
    floats.checked_mul(4)?.checked_mul(parallel as u128)
}

/// Whether one freshly initialised network is constant on the input grid.
pub fn born_dead(width: usize, depth: usize, init: Init, rng: &mut Rng) -> bool {
    let limit = 3f32.sqrt();
    let mut a = Array2::from_shape_fn((GRID_POINTS, 1), |(i, _)| {
        -limit + 2.0 * limit * i as f32 / (GRID_POINTS - 1) as f32
    });
    let mut inputs = 1;
    for _ in 0..depth {
        let (w, b) = layer(inputs, width, init, rng);
        a = (a.dot(&w) + &b).relu();
        inputs = width;
        if a.iter().all(|&v| v == 0.0) {
            return true;
        }
    }
    let first = a.row(0).to_owned();
    a.rows().into_iter().all(|row| row == first)
}

/// Estimates every (init, width, depth) cell with `trials` networks each, in parallel.
/// Trial `t` of a cell uses its own stream of `seed`, so results do not depend on threads.
pub fn estimate(
    inits: &[Init],
    widths: &[usize],
    depths: &[usize],
    trials: usize,
    seed: u64,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &init in inits {
        for &width in widths {
            for &depth in depths {
                cells.push((init, width, depth));
            }
        }
    }
    cells
        .par_iter()
        .map(|&(init, width, depth)| {
            let dead = (0..trials)
                .into_par_iter()
                .filter(|&t| {
                    let stream = ((init as u64) << 48)
                        ^ ((width as u64) << 32)
                        ^ ((depth as u64) << 20)
                        ^ t as u64;
                    born_dead(width, depth, init, &mut Rng::new(seed, stream))
                })
                .count();
            let p = dead as f64 / trials.max(1) as f64;
            Cell {
                init,
                width,
                depth,
                trials,
                dead,
                probability: p,
                interval: crate::stats::wilson(dead, trials),
            }
        })
        .collect()
}

/// The markdown table: one row per (init, width), one column per depth.
pub fn table(cells: &[Cell], depths: &[usize]) -> String {
    let mut out = String::from("| initialisation | width |");
    for d in depths {
        out += &format!(" depth {d} |");
    }
    out += "\n|---|---|";
    out += &"---|".repeat(depths.len());
    out += "\n";
    let mut rows: Vec<(Init, usize)> = cells.iter().map(|c| (c.init, c.width)).collect();
    rows.dedup();
    for (init, width) in rows {
        out += &format!("| {} | {width} |", init.name());
        for &d in depths {
            match cells
                .iter()
                .find(|c| c.init == init && c.width == width && c.depth == d)
            {
                Some(c) => {
                    out += &format!(
                        " {:.3} [{:.3}, {:.3}] |",
                        c.probability, c.interval.0, c.interval.1
                    )
                }
                None => out += " |",
            }
        }
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width 1, zero biases: the first layer is alive on half the domain, and each
    /// further layer dies exactly when its one weight is negative, so a network of
    /// depth d is born dead with probability 1 - 2^-(d-1).
    #[test]
    fn width_one_matches_the_closed_form() {
        let trials = 4000;
        for (depth, cell) in [2, 3, 5, 8].into_iter().zip(estimate(
            &[Init::HeZeroBias],
            &[1],
            &[2, 3, 5, 8],
            trials,
            42,
        )) {
            let exact = 1.0 - 0.5f64.powi(depth - 1);
            let sigma = (exact * (1.0 - exact) / trials as f64).sqrt();
            assert!(
                (cell.probability - exact).abs() <= 4.0 * sigma,
                "depth {depth}: {} vs {exact} (sigma {sigma})",
                cell.probability
            );
        }
    }

    #[test]
    fn certain_cells_keep_an_interval() {
        // Width 1, depth 20: dead in practically every trial; the interval is not 1 ± 0.
        let cells = estimate(&[Init::HeZeroBias], &[1], &[20], 50, 3);
        let (lo, hi) = cells[0].interval;
        assert!(
            lo < cells[0].probability && lo > 0.9 && hi == 1.0,
            "{cells:?}"
        );
        assert!(table(&cells, &[20]).contains(&format!("[{lo:.3}, 1.000]")));
    }

    #[test]
    fn depth_kills_and_rai_helps() {
        let cells = estimate(&[Init::HeZeroBias, Init::Rai], &[2], &[2, 20], 600, 7);
        let p = |init, depth| {
            cells
                .iter()
                .find(|c| c.init == init && c.depth == depth)
                .map(|c| c.probability)
                .unwrap_or(f64::NAN)
        };
        assert!(
            p(Init::HeZeroBias, 20) > p(Init::HeZeroBias, 2) + 0.3,
            "{cells:?}"
        );
        assert!(p(Init::Rai, 20) < p(Init::HeZeroBias, 20), "{cells:?}");
    }

    #[test]
    fn estimates_do_not_depend_on_the_thread_count() {
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    estimate(&[Init::HeNormalBias], &[3], &[5], 300, 3)
                        .iter()
                        .map(|c| c.dead)
                        .collect::<Vec<_>>()
                })
        };
        assert_eq!(run(1), run(2));
    }
}
