//! # relukit
//!
//! The rectified linear unit and its family — ReLU, Leaky ReLU, PReLU, RReLU, ReLU6,
//! clipped ReLU and threshold — forward, derivative and backward, over slices of `f32`, `f64`, [`half::f16`] and [`half::bf16`] (and, for
//! `relu`, `i8` to `i64`), at the speed of memory and exact to the bit.
//!
//! ```
//! let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
//! let mut y = [0.0f32; 5];
//! relukit::relu(&x, &mut y)?;
//! assert_eq!(y, [0.0, 0.0, 0.0, 1.0, 2.0]);
//!
//! // Backward: the gradient flows where x > 0.
//! let mut grad_input = [0.0f32; 5];
//! relukit::relu_backward(&[1.0; 5], &x, &mut grad_input)?;
//! assert_eq!(grad_input, [0.0, 0.0, 0.0, 1.0, 1.0]);
//! # Ok::<(), relukit::Error>(())
//! ```
//!
//! ## The functions
//!
//! | activation | forward | in place | derivative / backward |
//! |---|---|---|---|
//! | ReLU | [`relu`] | [`relu_inplace`] | [`relu_derivative`], [`relu_backward`], [`relu_backward_inplace`] |
//! | Leaky ReLU | [`leaky_relu`] | [`leaky_relu_inplace`] | [`leaky_relu_derivative`], [`leaky_relu_backward`], [`leaky_relu_backward_inplace`] |
//! | PReLU | [`prelu`] | [`prelu_inplace`] | [`prelu_derivative`], [`prelu_backward`] (input and weight gradients in one pass) |
//! | RReLU | [`rrelu`] | [`rrelu_inplace`] | [`rrelu_derivative`], [`rrelu_backward`], [`rrelu_backward_inplace`] |
//! | ReLU6 | [`relu6`] | [`relu6_inplace`] | [`relu6_derivative`], [`relu6_backward`], [`relu6_backward_inplace`] |
//! | clipped ReLU | [`clipped_relu`] | [`clipped_relu_inplace`] | [`clipped_relu_derivative`], [`clipped_relu_backward`], [`clipped_relu_backward_inplace`] |
//! | threshold | [`threshold`] | [`threshold_inplace`] | [`threshold_derivative`], [`threshold_backward`], [`threshold_backward_inplace`] |
//!
//! Outputs come last in every signature. Every function that can be given
//! inconsistent arguments returns `Result<_, `[`Error`]`>`; the message names the
//! argument and the expected and actual sizes, and nothing is written. No input panics
//! or reads out of bounds.
//!
//! ## Exact semantics
//!
//! | | `x > 0` | `x` is `+0`, `-0`, negative, `-inf` | `x` is NaN |
//! |---|---|---|---|
//! | `relu(x)` | `x` | `+0` | `x` (same bits) |
//! | `relu_derivative(x)` | `1` | `0` (the gradient at 0 is 0) | `x` |
//! | `relu_backward(g, x)` | `g` | `+0`, even if `g` is inf or NaN (a select, not a multiply) | `x` |
//! | `leaky_relu(x, a)` | `x` | `a * x` (so `-0.0` gives `-0.0` for `a > 0`) | `x` |
//! | `leaky_relu_backward(g, x, a)` | `g` | `a * g` | `x` |
//! | `prelu(x, w)` | `x` | `w[c] * x` | `x` |
//! | `prelu_backward` `grad_input` | `g` | `w[c] * g` | `x` |
//! | `prelu_backward` `grad_weight[c]` | — | `+= g * x` | `+= g * x` (NaN) |
//!
//! `+inf` stays `+inf`. Products of `f16`/`bf16` are computed in `f32` and rounded once
//! (to nearest even); `negative_slope` is an `f64` converted to the compute type (`f32`
//! for `f32`, `f16` and `bf16`), and a slope that is NaN or infinite there (`1e39` for
//! `f32`) is an error, so `±0` always maps to `±0`. PReLU's `grad_weight` has the same
//! bits for any instruction set, thread count and (in [`ndarray`](mod@ndarray)) memory
//! layout of the same logical data. `relu_backward` gives the same result whether it
//! is passed the forward input or the forward output, so an in-place forward pass is
//! safe in training. Unlike `x.max(0.0)` (which candle and burn's CPU backend use),
//! relukit never turns a NaN into 0. [`reference`](mod@reference) states all of this in code: every
//! fast path is tested against it bit for bit.
//!
//! ## Speed
//!
//! The loops are written once (drivers in `src/kernel/`) and compiled three times, through
//! one trampoline per level: portable, AVX2 and AVX-512. The best level the CPU has is chosen once per process
//! at run time, never by `target-cpu=native`; `RELUKIT_ISA=scalar|avx2|avx512` forces a
//! lower one (see [`active_isa`]). `f16`/`bf16` ReLU works on the raw 16-bit patterns;
//! out-of-place outputs past a threshold use non-temporal stores, and calls past another
//! run on the caller's rayon pool, so `rayon::ThreadPool::install` caps or serialises
//! them; both thresholds come from the CPU's caches ([`machine`]). PReLU's weight gradient has
//! the same bits whatever the thread count. Measured figures are in `BENCHMARKS.md`.
//!
//! ## When not to use it
//!
//! For a handful of elements, a plain loop is as fast. relukit does not fuse ReLU into
//! a matrix multiplication; if your framework does, keep that.

#![deny(missing_docs)]

pub mod activation;
mod arch;
pub mod check;
mod element;
mod error;
mod exec;
mod kernel;
mod layout;
pub mod machine;
mod monitor;
#[cfg(feature = "ndarray")]
pub mod ndarray;
mod ops;
mod params;
pub mod reference;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
pub mod threads;

#[cfg(test)]
mod tests;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;

pub use arch::{Isa, active_isa};
pub use element::{Element, Float};
pub use error::{Error, ErrorKind};
pub use half::{bf16, f16};
pub use layout::ChannelLayout;
pub use monitor::{DeadUnitMonitor, SplitPart};
pub use ops::clipped::{
    clipped_relu, clipped_relu_backward, clipped_relu_backward_inplace, clipped_relu_derivative,
    clipped_relu_inplace, relu6, relu6_backward, relu6_backward_inplace, relu6_derivative,
    relu6_inplace,
};
pub use ops::hardtanh::{
    hardtanh, hardtanh_backward, hardtanh_backward_inplace, hardtanh_derivative, hardtanh_inplace,
};
pub use ops::leaky::{
    leaky_relu, leaky_relu_backward, leaky_relu_backward_inplace, leaky_relu_derivative,
    leaky_relu_inplace,
};
pub use ops::prelu::{prelu, prelu_backward, prelu_derivative, prelu_inplace};
pub use ops::relu::{relu, relu_backward, relu_backward_inplace, relu_derivative, relu_inplace};
pub use ops::rrelu::{
    RreluMode, rrelu, rrelu_backward, rrelu_backward_inplace, rrelu_derivative, rrelu_inplace,
};
pub use ops::threshold::{
    threshold, threshold_backward, threshold_backward_inplace, threshold_derivative,
    threshold_inplace,
};
