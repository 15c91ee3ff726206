//! RReLU (Xu et al. 2015, PyTorch's `rrelu`): in training, a slope drawn uniformly in
//! `[lower, upper)` for each element; in evaluation, the fixed slope
//! `(lower + upper) / 2`. The slopes come from a counter-based generator keyed by
//! `(seed, element index)` ([`reference::rrelu_slope`](crate::reference::rrelu_slope)):
//! the same on any thread count, chunking and instruction set, and drawn again by the
//! backward pass instead of being stored (PyTorch keeps a noise tensor as large as the
//! input).

use crate::element::Slopes;
use crate::exec::Exec;
use crate::kernel::elementwise::{Indexed, IndexedInPlace};
use crate::kernel::{Binary, BinaryInPlace};
use crate::ops::leaky::{self, Leaky, LeakyInPlace};
use crate::{Error, Float, params};

/// Whether RReLU draws its slopes or uses their mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RreluMode {
    /// Training: element `i` of the call gets the slope drawn from `(seed, i)`. Pass the
    /// same seed to the backward pass; a new seed per step gives new noise.
    Training {
        /// The key of the generator.
        seed: u64,
    },
    /// Evaluation: every element gets the slope `(lower + upper) / 2`.
    Evaluation,
}

/// The slope of element `index` in training, in the compute type.
#[inline(always)]
fn slope<T: Float>(range: (T::Compute, T::Compute), seed: u64, index: u64) -> T::Compute {
    let (low, high) = range;
    low + (high - low) * T::unit_fraction(params::splitmix64(seed, index))
}

/// RReLU. In training (`RreluMode::Training { seed }`), element `i` is `x` for `x > 0`
/// and `slope(seed, i) * x` otherwise, with the slope uniform in `[lower, upper)`; in
/// evaluation, Leaky ReLU with the slope `(lower + upper) / 2`. A NaN comes back
/// unchanged; products are computed in the compute type and rounded once. PyTorch's
/// defaults are `lower = 1/8`, `upper = 1/3`.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`](crate::ErrorKind::NonFiniteSlope) if `lower` or `upper`
/// is not finite in the compute type; [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange)
/// if `lower > upper`; [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if
/// `output` is not as long as `input`. Nothing is written then.
///
/// ```
/// use relukit::RreluMode;
/// let x = [-1.0f32; 4];
/// let mut y = [0.0f32; 4];
/// relukit::rrelu(&x, 0.125, 1.0 / 3.0, RreluMode::Training { seed: 7 }, &mut y)?;
/// assert!(y.iter().all(|&v| (-1.0 / 3.0..=-0.125).contains(&v)));
/// relukit::rrelu(&x, 0.125, 0.375, RreluMode::Evaluation, &mut y)?;
/// assert_eq!(y, [-0.25; 4]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn rrelu<T: Float>(
    input: &[T],
    lower: f64,
    upper: f64,
    mode: RreluMode,
    output: &mut [T],
) -> Result<(), Error> {
    let range = params::rrelu_range::<T>(lower, upper)?;
    let mean = params::rrelu_mean::<T>(lower, upper)?;
    Error::check_len("output", output.len(), "input", input.len())?;
    match mode {
        RreluMode::Training { seed } => {
            let f = move |x, _, i| leaky::forward(x, slope::<T>(range, seed, i));
            Exec::current().write(
                Indexed {
                    a: input,
                    b: input,
                    f,
                },
                output,
            )
        }
        RreluMode::Evaluation => {
            let op = Leaky {
                x: input,
                slopes: Slopes::One(mean),
            };
            Exec::current().write(op, output)
        }
    }
    Ok(())
}

/// [`rrelu`] in place.
///
/// # Errors
/// As [`rrelu`]; the data is left as it was.
pub fn rrelu_inplace<T: Float>(
    data: &mut [T],
    lower: f64,
    upper: f64,
    mode: RreluMode,
) -> Result<(), Error> {
    let range = params::rrelu_range::<T>(lower, upper)?;
    let mean = params::rrelu_mean::<T>(lower, upper)?;
    match mode {
        RreluMode::Training { seed } => {
            // The in-place driver reads a second input beside the data; a slice of `()`
            // allocates and reads nothing.
            let f = move |x, _: (), i| leaky::forward(x, slope::<T>(range, seed, i));
            let units = vec![(); data.len()];
            Exec::current().update(IndexedInPlace { b: &units, f }, data)
        }
        RreluMode::Evaluation => Exec::current().update(
            LeakyInPlace {
                slopes: Slopes::One(mean),
            },
            data,
        ),
    }
    Ok(())
}

/// The derivative of RReLU at each element: `1` where `x > 0`, the element's slope (the
/// one [`rrelu`] used with the same mode) rounded to the element type where `x <= 0`,
/// the NaN `x` where `x` is NaN.
///
/// # Errors
/// As [`rrelu`].
pub fn rrelu_derivative<T: Float>(
    input: &[T],
    lower: f64,
    upper: f64,
    mode: RreluMode,
    output: &mut [T],
) -> Result<(), Error> {
    let range = params::rrelu_range::<T>(lower, upper)?;
    let mean = params::rrelu_mean::<T>(lower, upper)?;
    Error::check_len("output", output.len(), "input", input.len())?;
    match mode {
        RreluMode::Training { seed } => {
            let f = move |x, _, i| leaky::derivative(x, T::narrow(slope::<T>(range, seed, i)));
            Exec::current().write(
                Indexed {
                    a: input,
                    b: input,
                    f,
                },
                output,
            )
        }
        RreluMode::Evaluation => {
            let mean = T::narrow(mean);
            let f = move |x| leaky::derivative(x, mean);
            Exec::current().write(crate::kernel::Unary { x: input, f }, output)
        }
    }
    Ok(())
}

/// RReLU backward: `grad_output` where `input > 0`, the element's slope (drawn again from
/// the seed) times `grad_output` where `input <= 0`, the NaN `input` where it is NaN.
///
/// # Errors
/// As [`rrelu`], and [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if
/// the three lengths differ.
pub fn rrelu_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    lower: f64,
    upper: f64,
    mode: RreluMode,
    grad_input: &mut [T],
) -> Result<(), Error> {
    let range = params::rrelu_range::<T>(lower, upper)?;
    let mean = params::rrelu_mean::<T>(lower, upper)?;
    Error::check_len("input", input.len(), "grad_output", grad_output.len())?;
    Error::check_len(
        "grad_input",
        grad_input.len(),
        "grad_output",
        grad_output.len(),
    )?;
    match mode {
        RreluMode::Training { seed } => {
            let f = move |g, x, i| leaky::backward(g, x, slope::<T>(range, seed, i));
            Exec::current().write(
                Indexed {
                    a: grad_output,
                    b: input,
                    f,
                },
                grad_input,
            )
        }
        RreluMode::Evaluation => {
            let f = move |g, x| leaky::backward(g, x, mean);
            Exec::current().write(
                Binary {
                    a: grad_output,
                    b: input,
                    f,
                },
                grad_input,
            )
        }
    }
    Ok(())
}

/// [`rrelu_backward`] writing the input gradient over `grad`.
///
/// # Errors
/// As [`rrelu_backward`].
pub fn rrelu_backward_inplace<T: Float>(
    grad: &mut [T],
    input: &[T],
    lower: f64,
    upper: f64,
    mode: RreluMode,
) -> Result<(), Error> {
    let range = params::rrelu_range::<T>(lower, upper)?;
    let mean = params::rrelu_mean::<T>(lower, upper)?;
    Error::check_len("input", input.len(), "grad", grad.len())?;
    match mode {
        RreluMode::Training { seed } => {
            let f = move |g, x, i| leaky::backward(g, x, slope::<T>(range, seed, i));
            Exec::current().update(IndexedInPlace { b: input, f }, grad)
        }
        RreluMode::Evaluation => {
            let f = move |g, x| leaky::backward(g, x, mean);
            Exec::current().update(BinaryInPlace { b: input, f }, grad)
        }
    }
    Ok(())
}
