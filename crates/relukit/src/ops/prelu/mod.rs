//! PReLU: a learned slope per channel, forward and backward in one pass each.
//!
//! A call is first turned into a [`Plan`] that depends on the layout alone (`plan.rs`):
//! - **runs**: when `inner` is large (NCHW images) or the slope is shared, the buffer is
//!   a sequence of runs of `inner` elements with one slope each, and each run goes to
//!   the Leaky ReLU kernels with its slope;
//! - **periodic**: when `inner` is small (NHWC, `[batch, features]`), the slope of
//!   element `i` repeats with period `channels * inner`; the plan expands the slopes
//!   into a pattern (a whole number of periods) and the kernels read the pattern beside
//!   the data.
//!
//! The backward pass (`backward.rs`) sums the weight gradient in pieces fixed by the
//! layout, so it has the same bits on one thread or many.

mod backward;
mod plan;

pub(crate) use plan::Plan;
use plan::{BACKWARD_WIDTH, FORWARD_WIDTH};

use crate::element::Slopes;
use crate::exec::Exec;
use crate::kernel::{Binary, Stream, Write};
use crate::ops::leaky::{self, Leaky, LeakyInPlace};
use crate::{ChannelLayout, Error, Float};

/// Least length of a piece written with non-temporal stores (shorter pieces would
/// spend more on the aligned head, tail and fence than streaming saves).
const STREAM_PIECE_MIN: usize = 1 << 14;

// PReLU, as PyTorch's `prelu`: `x` for `x > 0`, `weight[c] * x` otherwise, where `c`
/// is the element's channel under `layout` (or `weight[0]` for every element when
/// `weight` has one element); a NaN comes back unchanged. Products are rounded once,
/// as in [`leaky_relu`](crate::leaky_relu).
///
/// # Errors
/// [`ErrorKind::LayoutMismatch`](crate::ErrorKind::LayoutMismatch) if `layout` does not
/// describe `input`; [`ErrorKind::WeightMismatch`](crate::ErrorKind::WeightMismatch) if
/// `weight` has neither 1 nor `channels` elements;
/// [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch) if `output` is not as
/// long as `input`. Nothing is written then.
///
/// ```
/// use relukit::ChannelLayout;
/// // One sample, 5 channels of one element each ([N, C] = [1, 5]).
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let weight = [0.5f32, 0.25, 0.5, 0.5, 0.5];
/// let mut y = [0.0f32; 5];
/// relukit::prelu(&x, &weight, ChannelLayout::new(1, 5, 1), &mut y)?;
/// assert_eq!(y, [-1.0, -0.25, 0.0, 1.0, 2.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn prelu<T: Float>(
    input: &[T],
    weight: &[T],
    layout: ChannelLayout,
    output: &mut [T],
) -> Result<(), Error> {
    layout.check("input", input.len())?;
    layout.check_weight(weight.len())?;
    Error::check_len("output", output.len(), "input", input.len())?;
    if !input.is_empty() {
        let plan = Plan::new(weight, layout, input.len(), FORWARD_WIDTH);
        forward(&Exec::current(), &plan, input, output);
    }
    Ok(())
}

/// Leaky ReLU / PReLU forward under `plan`, over the whole call.
pub(crate) fn forward<T: Float>(
    exec: &Exec,
    plan: &Plan<T::Compute>,
    input: &[T],
    output: &mut [T],
) {
    let stream = exec.streams(output);
    let run = |offset: usize, x: &[T], out: &mut [T]| {
        plan.for_each_piece(offset, x.len(), |range, slopes| {
            let (x, out) = (&x[range.clone()], &mut out[range]);
            let op = Leaky { x, slopes };
            if stream && x.len() >= STREAM_PIECE_MIN {
                let (pages, wide) = (exec.stream_pages, exec.wide_stores);
                exec.simd.run(Stream {
                    op,
                    start: 0,
                    out,
                    pages,
                    wide,
                })
            } else {
                exec.simd.run(Write { op, start: 0, out })
            }
        })
    };
    exec.for_chunks(input, output, run)
}

/// PReLU in place.
///
/// # Errors
/// As [`prelu`] (less the output check); the data is left as it was.
///
/// ```
/// use relukit::ChannelLayout;
/// let mut x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// relukit::prelu_inplace(&mut x, &[0.25f32], ChannelLayout::new(1, 5, 1))?;
/// assert_eq!(x, [-0.5, -0.25, 0.0, 1.0, 2.0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn prelu_inplace<T: Float>(
    data: &mut [T],
    weight: &[T],
    layout: ChannelLayout,
) -> Result<(), Error> {
    layout.check("data", data.len())?;
    layout.check_weight(weight.len())?;
    if !data.is_empty() {
        let plan = Plan::new(weight, layout, data.len(), FORWARD_WIDTH);
        forward_inplace(&Exec::current(), &plan, data);
    }
    Ok(())
}

/// [`forward`] in place.
pub(crate) fn forward_inplace<T: Float>(exec: &Exec, plan: &Plan<T::Compute>, data: &mut [T]) {
    let run = |offset: usize, data: &mut [T]| {
        plan.for_each_piece(offset, data.len(), |range, slopes| {
            let op = LeakyInPlace { slopes };
            exec.simd.run(crate::kernel::Modify {
                op,
                start: 0,
                data: &mut data[range],
            })
        })
    };
    exec.for_chunks_mut(data, run)
}

/// The derivative of PReLU with respect to its input at each element: `1` for `x > 0`,
/// `weight[c]` for `x <= 0` (the gradient at 0 is the slope, as in PyTorch), the NaN `x`
/// itself where `x` is NaN.
///
/// # Errors
/// As [`prelu`].
///
/// ```
/// use relukit::ChannelLayout;
/// let x = [-2.0f32, 0.0, 3.0, -1.0];
/// let mut d = [0.0f32; 4];
/// relukit::prelu_derivative(&x, &[0.5, 0.25], ChannelLayout::new(2, 2, 1), &mut d)?;
/// assert_eq!(d, [0.5, 0.25, 1.0, 0.25]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn prelu_derivative<T: Float>(
    input: &[T],
    weight: &[T],
    layout: ChannelLayout,
    output: &mut [T],
) -> Result<(), Error> {
    layout.check("input", input.len())?;
    layout.check_weight(weight.len())?;
    Error::check_len("output", output.len(), "input", input.len())?;
    if input.is_empty() {
        return Ok(());
    }
    let plan = Plan::from_slopes(weight.to_vec(), layout, input.len(), FORWARD_WIDTH);
    let exec = Exec::current();
    let run = |offset: usize, x: &[T], out: &mut [T]| {
        plan.for_each_piece(offset, x.len(), |range, slopes| {
            let (x, out) = (&x[range.clone()], &mut out[range]);
            match slopes {
                Slopes::One(s) => {
                    let op = crate::kernel::Unary {
                        x,
                        f: move |v| leaky::derivative(v, s),
                    };
                    exec.simd.run(Write { op, start: 0, out })
                }
                Slopes::Pattern(p) => {
                    let op = Binary {
                        a: x,
                        b: p,
                        f: leaky::derivative,
                    };
                    exec.simd.run(Write { op, start: 0, out })
                }
            }
        })
    };
    exec.for_chunks(input, output, run);
    Ok(())
}

/// PReLU backward, in one pass: writes `grad_input` (`grad_output` where `x > 0`,
/// `weight[c] * grad_output` where `x <= 0`, the NaN `x` where `x` is NaN) and
/// overwrites `grad_weight` with, for each channel `c`, the sum of
/// `grad_output * x` over the elements of `c` where `x <= 0` (a NaN `x` in the
/// channel makes it the positive quiet NaN). With a shared slope (`weight` of one element) the sum runs
/// over the whole buffer.
///
/// The sums are accumulated in `f64` for `f64` and in `f32` blocks carried in `f64`
/// for the other types, and have the same bits whatever the thread count.
/// (PyTorch accumulates into `.grad`; add `grad_weight` to yours if you need that.)
///
/// # Errors
/// As [`prelu`], plus [`ErrorKind::LengthMismatch`](crate::ErrorKind::LengthMismatch)
/// if `grad_output` or `grad_input` is not as long as `input`, and
/// [`ErrorKind::WeightMismatch`](crate::ErrorKind::WeightMismatch) if `grad_weight` is
/// not as long as `weight`. Nothing is written then.
///
/// ```
/// use relukit::ChannelLayout;
/// let x = [-2.0f32, -1.0, 0.0, 1.0, 2.0];
/// let grad_output = [1.0f32; 5];
/// let weight = [0.25f32];
/// let mut grad_input = [0.0f32; 5];
/// let mut grad_weight = [0.0f32; 1];
/// let layout = ChannelLayout::new(1, 5, 1);
/// relukit::prelu_backward(&grad_output, &x, &weight, layout, &mut grad_input, &mut grad_weight)?;
/// assert_eq!(grad_input, [0.25, 0.25, 0.25, 1.0, 1.0]);
/// assert_eq!(grad_weight, [-3.0]); // -2 + -1 + 0
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn prelu_backward<T: Float>(
    grad_output: &[T],
    input: &[T],
    weight: &[T],
    layout: ChannelLayout,
    grad_input: &mut [T],
    grad_weight: &mut [T],
) -> Result<(), Error> {
    layout.check("input", input.len())?;
    layout.check_weight(weight.len())?;
    Error::check_len("grad_output", grad_output.len(), "input", input.len())?;
    Error::check_len("grad_input", grad_input.len(), "input", input.len())?;
    Error::check_grad_weight(grad_weight.len(), weight.len())?;
    let exec = Exec::current();
    let sums = if input.is_empty() {
        vec![0.0; weight.len()]
    } else {
        match Plan::new(weight, layout, input.len(), BACKWARD_WIDTH) {
            Plan::Shared(slope) => {
                backward::runs(&exec, grad_output, input, grad_input, input.len(), &[slope])
            }
            Plan::Runs { inner, slopes } => {
                backward::runs(&exec, grad_output, input, grad_input, inner, &slopes)
            }
            Plan::Periodic {
                pattern,
                period,
                inner,
                channels,
            } => backward::periodic(
                &exec,
                grad_output,
                input,
                grad_input,
                &pattern,
                period,
                inner,
                channels,
            ),
        }
    };
    for (gw, sum) in grad_weight.iter_mut().zip(sums) {
        // Which NaN payload survives a sum depends on operand order, which the compiler
        // may swap: give one quiet NaN so the bits never depend on the path.
        *gw = T::from_f64(if sum.is_nan() { f64::NAN } else { sum });
    }
    Ok(())
}
