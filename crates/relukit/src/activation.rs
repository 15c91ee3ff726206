//! One definition per activation, and every form of it derived from that definition.
//!
//! An [`Activation`] is a value that carries an activation's parameters (`LeakyRelu {
//! negative_slope: 0.01 }`, `Hardtanh { min_val: -1.0, max_val: 1.0 }`). Its definition
//! (in `ops/`, one module per activation) is four things: how its parameters are checked
//! and converted for an element type, its three element formulas (forward, derivative,
//! backward: the branch-free lane forms the kernels vectorise), and its reference (the
//! plain scalar contract of [`reference`](crate::reference) the formulas are tested
//! against). From it, this module derives the five slice functions every activation has:
//!
//! | function | computes |
//! |---|---|
//! | [`forward`] | `output[i] = f(input[i])` |
//! | [`forward_inplace`] | `data[i] = f(data[i])` |
//! | [`derivative`] | `output[i] = f'(input[i])` |
//! | [`backward`] | `grad_input[i] = grad_output[i] * f'(input[i])` (a select where `f'` is 0 or 1) |
//! | [`backward_inplace`] | the same, written over the gradient |
//!
//! and the named functions of the crate root (`relukit::hardtanh`, ...) are these with
//! the activation's parameters as arguments; `ReluExt::activation` and its siblings are
//! the same over `ndarray` arrays, and the Python package's ufuncs are generic over this
//! trait too. The family is closed (the trait is sealed): a new member is a module in
//! `ops/` (ARCHITECTURE.md lists its other touch points).
//!
//! ```
//! use relukit::activation::{self, Hardtanh, LeakyRelu};
//!
//! let x = [-2.0f32, -0.5, 0.5, 2.0];
//! let mut y = [0.0f32; 4];
//! activation::forward(&Hardtanh { min_val: -1.0, max_val: 1.0 }, &x, &mut y)?;
//! assert_eq!(y, [-1.0, -0.5, 0.5, 1.0]);
//!
//! let leaky = LeakyRelu { negative_slope: 0.5 };
//! let mut grad = [1.0f32; 4];
//! activation::backward_inplace(&leaky, &mut grad, &x)?;
//! assert_eq!(grad, [0.5, 0.5, 1.0, 1.0]);
//! # Ok::<(), relukit::Error>(())
//! ```

use std::fmt::Debug;

use crate::exec::Exec;
use crate::kernel::elementwise::{Indexed, IndexedInPlace};
use crate::kernel::{Binary, BinaryInPlace, Unary, UnaryInPlace};
use crate::{Error, Float};

pub use crate::ops::clipped::{ClippedRelu, Relu6};
pub use crate::ops::hardtanh::Hardtanh;
pub use crate::ops::leaky::LeakyRelu;
pub use crate::ops::relu::Relu;
pub use crate::ops::rrelu::Rrelu;
pub use crate::ops::threshold::Threshold;

pub(crate) mod sealed {
    /// Keeps the family closed: only relukit's activations implement [`Activation`](super::Activation).
    pub trait Sealed {}
}

/// A member of the ReLU family with its parameters: see the [module](self) for what is
/// derived from it.
///
/// The methods marked hidden are the definition the kernels use; call the functions of
/// this module (or the crate root's named ones) instead.
pub trait Activation: sealed::Sealed + Copy + Send + Sync + Debug {
    /// PyTorch's name of the function (`torch.nn.functional.<NAME>`), which is relukit's.
    const NAME: &'static str;

    /// The parameters converted for elements of type `T`, as the formulas take them.
    #[doc(hidden)]
    type Lanes<T: Float>: Copy + Send + Sync;

    /// Checks the parameters and converts them for `T`: the one place each is checked.
    ///
    /// # Errors
    /// The activation's parameter errors (see its named forward function).
    #[doc(hidden)]
    fn lanes<T: Float>(&self) -> Result<Self::Lanes<T>, Error>;

    /// Whether the formulas read the element's position in the call (RReLU's slopes in
    /// training); the others are called with position 0.
    #[doc(hidden)]
    fn indexed(&self) -> bool {
        false
    }

    /// The forward formula for element `index` of the call.
    #[doc(hidden)]
    fn forward_lane<T: Float>(lanes: Self::Lanes<T>, x: T, index: u64) -> T;

    /// The derivative formula.
    #[doc(hidden)]
    fn derivative_lane<T: Float>(lanes: Self::Lanes<T>, x: T, index: u64) -> T;

    /// The backward formula: the input gradient from the output gradient and `x` (the
    /// forward input, or its output where [`backward`] says so).
    #[doc(hidden)]
    fn backward_lane<T: Float>(lanes: Self::Lanes<T>, grad: T, x: T, index: u64) -> T;

    /// The contract of the forward pass for one element ([`reference`](crate::reference)).
    ///
    /// # Panics
    /// If the parameters are invalid (the slice functions return the error instead).
    fn reference<T: Float>(&self, x: T, index: u64) -> T;

    /// The contract of the derivative for one element.
    ///
    /// # Panics
    /// As [`reference`](Self::reference).
    fn reference_derivative<T: Float>(&self, x: T, index: u64) -> T;

    /// The contract of the backward pass for one element.
    ///
    /// # Panics
    /// As [`reference`](Self::reference).
    fn reference_backward<T: Float>(&self, grad: T, x: T, index: u64) -> T;

    /// Runs the forward pass (parameters and lengths checked). Every `run_` method
    /// defaults to the lane formula through the loop drivers; an activation with a
    /// dedicated kernel (Leaky ReLU's 16-bit conversions) or several (RReLU's two modes)
    /// overrides it.
    #[doc(hidden)]
    fn run_forward<T: Float>(&self, lanes: Self::Lanes<T>, input: &[T], output: &mut [T]) {
        drive_forward::<Self, T>(self.indexed(), lanes, input, output)
    }

    /// Runs the forward pass in place.
    #[doc(hidden)]
    fn run_forward_inplace<T: Float>(&self, lanes: Self::Lanes<T>, data: &mut [T]) {
        drive_forward_inplace::<Self, T>(self.indexed(), lanes, data)
    }

    /// Runs the derivative.
    #[doc(hidden)]
    fn run_derivative<T: Float>(&self, lanes: Self::Lanes<T>, input: &[T], output: &mut [T]) {
        drive_derivative::<Self, T>(self.indexed(), lanes, input, output)
    }

    /// Runs the backward pass.
    #[doc(hidden)]
    fn run_backward<T: Float>(
        &self,
        lanes: Self::Lanes<T>,
        grad_output: &[T],
        input: &[T],
        grad_input: &mut [T],
    ) {
        drive_backward::<Self, T>(self.indexed(), lanes, grad_output, input, grad_input)
    }

    /// Runs the backward pass over the gradient.
    #[doc(hidden)]
    fn run_backward_inplace<T: Float>(&self, lanes: Self::Lanes<T>, grad: &mut [T], input: &[T]) {
        drive_backward_inplace::<Self, T>(self.indexed(), lanes, grad, input)
    }
}

/// The forward pass of `activation`: `output[i] = f(input[i])`.
///
/// # Errors
/// The activation's parameter errors; [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch)
/// if `output` is not as long as `input`. Nothing is written then.
pub fn forward<A: Activation, T: Float>(
    activation: &A,
    input: &[T],
    output: &mut [T],
) -> Result<(), Error> {
    let lanes = activation.lanes::<T>()?;
    Error::check_len("output", output.len(), "input", input.len())?;
    activation.run_forward(lanes, input, output);
    Ok(())
}

/// [`forward`] in place.
///
/// # Errors
/// The activation's parameter errors; the data is left as it was.
pub fn forward_inplace<A: Activation, T: Float>(
    activation: &A,
    data: &mut [T],
) -> Result<(), Error> {
    let lanes = activation.lanes::<T>()?;
    activation.run_forward_inplace(lanes, data);
    Ok(())
}

/// The derivative of `activation` at each element: `output[i] = f'(input[i])`, with
/// PyTorch's choice at the kinks (see each activation) and the NaN `input[i]` itself
/// where it is NaN.
///
/// # Errors
/// As [`forward`].
pub fn derivative<A: Activation, T: Float>(
    activation: &A,
    input: &[T],
    output: &mut [T],
) -> Result<(), Error> {
    let lanes = activation.lanes::<T>()?;
    Error::check_len("output", output.len(), "input", input.len())?;
    activation.run_derivative(lanes, input, output);
    Ok(())
}

/// The backward pass of `activation`: the gradient with respect to `input` from
/// `grad_output`. Where the derivative is 0 or 1 this is a select, not a product (an
/// infinite or NaN gradient where `f'` is 0 still gives `+0`); where `input` is NaN the
/// result is that NaN. For ReLU, ReLU6, clipped ReLU, hardtanh, and Leaky ReLU/RReLU with
/// positive slopes, `input` may be the forward output instead of the forward input (the
/// same result), so a forward pass in place loses nothing.
///
/// # Errors
/// The activation's parameter errors; [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch)
/// if the three lengths differ. Nothing is written then.
pub fn backward<A: Activation, T: Float>(
    activation: &A,
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
) -> Result<(), Error> {
    let lanes = activation.lanes::<T>()?;
    Error::check_len("input", input.len(), "grad_output", grad_output.len())?;
    Error::check_len(
        "grad_input",
        grad_input.len(),
        "grad_output",
        grad_output.len(),
    )?;
    activation.run_backward(lanes, grad_output, input, grad_input);
    Ok(())
}

/// [`backward`] writing the input gradient over `grad` (which holds the output gradient).
///
/// # Errors
/// As [`backward`].
pub fn backward_inplace<A: Activation, T: Float>(
    activation: &A,
    grad: &mut [T],
    input: &[T],
) -> Result<(), Error> {
    let lanes = activation.lanes::<T>()?;
    Error::check_len("input", input.len(), "grad", grad.len())?;
    activation.run_backward_inplace(lanes, grad, input);
    Ok(())
}

// ---- the loop drivers over the lane formulas (positions passed where `indexed`) ----

pub(crate) fn drive_forward<A: Activation, T: Float>(
    indexed: bool,
    lanes: A::Lanes<T>,
    input: &[T],
    output: &mut [T],
) {
    let exec = Exec::current();
    if indexed {
        let f = move |x, _, i| A::forward_lane(lanes, x, i);
        exec.write(
            Indexed {
                a: input,
                b: input,
                f,
            },
            output,
        )
    } else {
        let f = move |x| A::forward_lane(lanes, x, 0);
        exec.write(Unary { x: input, f }, output)
    }
}

pub(crate) fn drive_forward_inplace<A: Activation, T: Float>(
    indexed: bool,
    lanes: A::Lanes<T>,
    data: &mut [T],
) {
    let exec = Exec::current();
    if indexed {
        // The in-place driver reads a second input beside the data; a slice of `()`
        // allocates and reads nothing.
        let units = vec![(); data.len()];
        let f = move |x, _: (), i| A::forward_lane(lanes, x, i);
        exec.update(IndexedInPlace { b: &units, f }, data)
    } else {
        let f = move |x| A::forward_lane(lanes, x, 0);
        exec.update(UnaryInPlace { f }, data)
    }
}

pub(crate) fn drive_derivative<A: Activation, T: Float>(
    indexed: bool,
    lanes: A::Lanes<T>,
    input: &[T],
    output: &mut [T],
) {
    let exec = Exec::current();
    if indexed {
        let f = move |x, _, i| A::derivative_lane(lanes, x, i);
        exec.write(
            Indexed {
                a: input,
                b: input,
                f,
            },
            output,
        )
    } else {
        let f = move |x| A::derivative_lane(lanes, x, 0);
        exec.write(Unary { x: input, f }, output)
    }
}

pub(crate) fn drive_backward<A: Activation, T: Float>(
    indexed: bool,
    lanes: A::Lanes<T>,
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
) {
    let exec = Exec::current();
    if indexed {
        let f = move |g, x, i| A::backward_lane(lanes, g, x, i);
        exec.write(
            Indexed {
                a: grad_output,
                b: input,
                f,
            },
            grad_input,
        )
    } else {
        let f = move |g, x| A::backward_lane(lanes, g, x, 0);
        exec.write(
            Binary {
                a: grad_output,
                b: input,
                f,
            },
            grad_input,
        )
    }
}

pub(crate) fn drive_backward_inplace<A: Activation, T: Float>(
    indexed: bool,
    lanes: A::Lanes<T>,
    grad: &mut [T],
    input: &[T],
) {
    let exec = Exec::current();
    if indexed {
        let f = move |g, x, i| A::backward_lane(lanes, g, x, i);
        exec.update(IndexedInPlace { b: input, f }, grad)
    } else {
        let f = move |g, x| A::backward_lane(lanes, g, x, 0);
        exec.update(BinaryInPlace { b: input, f }, grad)
    }
}
