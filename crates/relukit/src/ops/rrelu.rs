//! RReLU (Xu et al. 2015, PyTorch's `rrelu`): in training, a slope drawn uniformly in
//! `[lower, upper)` for each element; in evaluation, the fixed slope
//! `(lower + upper) / 2`. The slopes come from a counter-based generator keyed by
//! `(seed, element index)` ([`reference::rrelu_slope`](crate::reference::rrelu_slope)):
//! the same on any thread count, chunking and instruction set, and drawn again by the
//! backward pass instead of being stored (PyTorch keeps a noise tensor as large as the
//! input).

use crate::activation::{
    self, Activation, drive_backward, drive_backward_inplace, drive_derivative, drive_forward,
    drive_forward_inplace, sealed,
};
use crate::ops::leaky::{self, LeakyRelu};
pub use crate::params::RreluMode;
use crate::{Error, Float, params, reference};

/// The slope of element `index` in training, in the compute type.
#[inline(always)]
fn slope<T: Float>(range: (T::Compute, T::Compute), seed: u64, index: u64) -> T::Compute {
    let (low, high) = range;
    low + (high - low) * T::unit_fraction(params::splitmix64(seed, index))
}

/// RReLU with its slope range and mode ([`rrelu`]). PyTorch's defaults are `lower =
/// 1/8`, `upper = 1/3`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rrelu {
    /// The smallest slope: finite in the compute type, not above `upper`.
    pub lower: f64,
    /// The largest slope: finite in the compute type.
    pub upper: f64,
    /// Slopes drawn per element (training) or their mean (evaluation).
    pub mode: RreluMode,
}

/// RReLU's parameters in the compute type: the slope range, the seed (training), the
/// mean slope (evaluation).
type RreluLanes<C> = ((C, C), u64, C);

impl Rrelu {
    /// In evaluation, Leaky ReLU with the mean slope: its kernels, its lanes.
    fn leaky<T: Float>((_, _, mean): RreluLanes<T::Compute>) -> (T::Compute, T) {
        (mean, T::narrow(mean))
    }
}

impl sealed::Sealed for Rrelu {}

/// The formulas are those of training (evaluation runs Leaky ReLU's).
impl Activation for Rrelu {
    const NAME: &'static str = "rrelu";
    type Lanes<T: Float> = RreluLanes<T::Compute>;
    fn lanes<T: Float>(&self) -> Result<RreluLanes<T::Compute>, Error> {
        let range = params::rrelu_range::<T>(self.lower, self.upper)?;
        let mean = params::rrelu_mean::<T>(self.lower, self.upper)?;
        let seed = match self.mode {
            RreluMode::Training { seed } => seed,
            RreluMode::Evaluation => 0,
        };
        Ok((range, seed, mean))
    }
    fn indexed(&self) -> bool {
        matches!(self.mode, RreluMode::Training { .. })
    }
    #[inline(always)]
    fn forward_lane<T: Float>((range, seed, _): RreluLanes<T::Compute>, x: T, i: u64) -> T {
        leaky::forward(x, slope::<T>(range, seed, i))
    }
    #[inline(always)]
    fn derivative_lane<T: Float>((range, seed, _): RreluLanes<T::Compute>, x: T, i: u64) -> T {
        leaky::derivative(x, T::narrow(slope::<T>(range, seed, i)))
    }
    #[inline(always)]
    fn backward_lane<T: Float>(
        (range, seed, _): RreluLanes<T::Compute>,
        grad: T,
        x: T,
        i: u64,
    ) -> T {
        leaky::backward(grad, x, slope::<T>(range, seed, i))
    }
    fn reference<T: Float>(&self, x: T, i: u64) -> T {
        reference::rrelu(x, self.lower, self.upper, self.mode, i)
    }
    fn reference_derivative<T: Float>(&self, x: T, i: u64) -> T {
        reference::rrelu_derivative(x, self.lower, self.upper, self.mode, i)
    }
    fn reference_backward<T: Float>(&self, grad: T, x: T, i: u64) -> T {
        reference::rrelu_backward(grad, x, self.lower, self.upper, self.mode, i)
    }
    fn run_forward<T: Float>(&self, lanes: Self::Lanes<T>, input: &[T], output: &mut [T]) {
        match self.mode {
            RreluMode::Training { .. } => drive_forward::<Self, T>(true, lanes, input, output),
            RreluMode::Evaluation => {
                LeakyRelu::default().run_forward(Self::leaky(lanes), input, output)
            }
        }
    }
    fn run_forward_inplace<T: Float>(&self, lanes: Self::Lanes<T>, data: &mut [T]) {
        match self.mode {
            RreluMode::Training { .. } => drive_forward_inplace::<Self, T>(true, lanes, data),
            RreluMode::Evaluation => {
                LeakyRelu::default().run_forward_inplace(Self::leaky(lanes), data)
            }
        }
    }
    fn run_derivative<T: Float>(&self, lanes: Self::Lanes<T>, input: &[T], output: &mut [T]) {
        match self.mode {
            RreluMode::Training { .. } => drive_derivative::<Self, T>(true, lanes, input, output),
            RreluMode::Evaluation => {
                drive_derivative::<LeakyRelu, T>(false, Self::leaky(lanes), input, output)
            }
        }
    }
    fn run_backward<T: Float>(
        &self,
        lanes: Self::Lanes<T>,
        grad_output: &[T],
        input: &[T],
        grad_input: &mut [T],
    ) {
        match self.mode {
            RreluMode::Training { .. } => {
                drive_backward::<Self, T>(true, lanes, grad_output, input, grad_input)
            }
            RreluMode::Evaluation => drive_backward::<LeakyRelu, T>(
                false,
                Self::leaky(lanes),
                grad_output,
                input,
                grad_input,
            ),
        }
    }
    fn run_backward_inplace<T: Float>(&self, lanes: Self::Lanes<T>, grad: &mut [T], input: &[T]) {
        match self.mode {
            RreluMode::Training { .. } => {
                drive_backward_inplace::<Self, T>(true, lanes, grad, input)
            }
            RreluMode::Evaluation => {
                drive_backward_inplace::<LeakyRelu, T>(false, Self::leaky(lanes), grad, input)
            }
        }
    }
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
    activation::forward(&Rrelu { lower, upper, mode }, input, output)
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
    activation::forward_inplace(&Rrelu { lower, upper, mode }, data)
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
    activation::derivative(&Rrelu { lower, upper, mode }, input, output)
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
    let rrelu = Rrelu { lower, upper, mode };
    activation::backward(&rrelu, grad_output, input, grad_input)
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
    activation::backward_inplace(&Rrelu { lower, upper, mode }, grad, input)
}
