//! The `relukit` program as a library: [`run`] is the whole program (the binary calls
//! it, and so can the Python package's `relukit` command); [`data`] is public for the
//! fuzz target of the CSV reader, [`rank`] for whoever wants the program's effective rank.
//!
//! `relukit` (or `relukit study`) trains small networks on the 8x8 digits with ReLU,
//! Leaky ReLU and PReLU (and, on request, very leaky ReLU and RReLU) under conditions that
//! kill units (a high learning rate, negative biases) and ones that prevent it (warm-up,
//! batch normalisation, RAI), and reports how many units die;
//! `relukit born-dead` reproduces Lu et al.'s born-dead probabilities; `relukit
//! plasticity` shows loss of plasticity on Permuted MNIST (Dohare et al. 2024) with the
//! fixes beside it (weight decay, Leaky ReLU, PReLU, layer norm, ReDo, continual
//! backprop); `relukit plot`
//! draws the functions; `relukit bench` measures the kernels.

mod bench;
mod bench_cuda;
mod born_dead;
mod charts;
mod cli;
pub mod data;
mod limits;
mod mlp;
mod plasticity;
mod plasticity_report;
mod plot;
pub mod rank;
mod report;
mod rng;
mod staging;
mod stats;
mod study;

pub use cli::run;
