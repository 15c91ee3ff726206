//! PReLU: a learned slope per channel, forward and backward in one pass each.
//!
//! A call is first turned into a [`Plan`] that depends on the layout alone:
//! - **runs**: when `inner` is large (NCHW images) or the slope is shared, the buffer is
//!   a sequence of runs of `inner` elements with one slope each, and each run goes to
//!   the Leaky ReLU kernels with its slope;
//! - **periodic**: when `inner` is small (NHWC, `[batch, features]`), the slope of
//!   element `i` repeats with period `channels * inner`; the plan expands the slopes
//!   into a pattern of at least [`PERIOD_MIN`] elements (a whole number of periods) and
//!   the kernels read the pattern beside the data.
//!
//! The weight gradient is summed in pieces fixed by the layout, never by the thread
//! count: runs are cut into [`SEGMENT`]-element pieces, periodic buffers into at most
//! [`MAX_STRIPES`] stripes of whole periods. Each piece's partial sum is computed in
//! the compute type by blocks and carried in `f64`, and the partials are combined in
//! piece order, so the result has the same bits on one thread or many.

use std::ops::Range;

use rayon::prelude::*;

use crate::arch::generic::Slopes;
use crate::parallel::Exec;
use crate::{ChannelLayout, Error, Float, lanes};

/// `inner` from which each run is processed on its own (below it, the fixed cost of
/// a kernel call per run outweighs reading a slope pattern beside the data).
const RUN_MIN: usize = 2048;
/// Least length of an expanded slope pattern (4 KiB of `f32`: the pattern and the
/// backward pass's accumulators stay in L1 beside the streaming data).
const PERIOD_MIN: usize = 1024;
/// Least length of a piece written with non-temporal stores (shorter pieces would
/// spend more on the aligned head, tail and fence than streaming saves).
const STREAM_PIECE_MIN: usize = 1 << 14;
/// Fixed piece of a run whose partial weight gradient is kept (a multiple of the
/// blocked-sum block).
const SEGMENT: usize = 1 << 16;
/// Least number of elements per stripe of a periodic buffer.
const STRIPE_MIN: usize = 1 << 18;
/// Most stripes of a periodic buffer.
const MAX_STRIPES: usize = 64;
/// Rows of a periodic buffer summed per position in the compute type before the
/// position sums are carried into `f64`.
const ROWS_PER_FOLD: usize = 256;
/// Most `f64` partial sums kept over all stripes.
const PARTIAL_BUDGET: usize = 1 << 22;

/// How the slopes map onto the flat buffer.
pub(crate) enum Plan<C> {
    /// One slope for every element.
    Shared(C),
    /// Run `r` (elements `r*inner..(r+1)*inner`) has slope `slopes[r % slopes.len()]`.
    Runs { inner: usize, slopes: Vec<C> },
    /// Element `i` has slope `pattern[i % pattern.len()]`; the pattern is a whole
    /// number of periods of `channels * inner` elements.
    Periodic {
        pattern: Vec<C>,
        period: usize,
        inner: usize,
        channels: usize,
    },
}

impl<C: Copy> Plan<C> {
    fn new<T: Float<Compute = C>>(weight: &[T], layout: ChannelLayout, len: usize) -> Self {
        let slopes: Vec<C> = weight.iter().map(|w| w.widen()).collect();
        if weight.len() == 1 || layout.channels() == 1 {
            return Plan::Runs {
                inner: len.max(1),
                slopes: vec![slopes[0]],
            };
        }
        let (channels, inner) = (layout.channels(), layout.inner());
        if inner >= RUN_MIN {
            return Plan::Runs { inner, slopes };
        }
        let period = channels * inner;
        let width = period * PERIOD_MIN.min(len).div_ceil(period).max(1);
        // One period, then copies of it.
        let mut pattern = Vec::with_capacity(width);
        if inner == 1 {
            pattern.extend_from_slice(&slopes);
        } else {
            for &slope in &slopes {
                pattern.extend(std::iter::repeat_n(slope, inner));
            }
        }
        while pattern.len() < width {
            pattern.extend_from_within(..period);
        }
        Plan::Periodic {
            pattern,
            period,
            inner,
            channels,
        }
    }

    /// Calls `f(local_range, slopes)` for each piece of `offset..offset + len`.
    fn for_each_piece(
        &self,
        offset: usize,
        len: usize,
        mut f: impl FnMut(Range<usize>, Slopes<'_, C>),
    ) {
        let mut i = 0;
        match self {
            Plan::Shared(slope) => f(0..len, Slopes::One(*slope)),
            Plan::Runs { inner, slopes } => {
                while i < len {
                    let run = (offset + i) / inner;
                    let end = ((run + 1) * inner - offset).min(len);
                    f(i..end, Slopes::One(slopes[run % slopes.len()]));
                    i = end;
                }
            }
            Plan::Periodic { pattern, .. } => {
                let mut j = offset % pattern.len();
                while i < len {
                    let take = (pattern.len() - j).min(len - i);
                    f(i..i + take, Slopes::Pattern(&pattern[j..j + take]));
                    i += take;
                    j = 0;
                }
            }
        }
    }
}

/// PReLU, as PyTorch's `prelu`: `x` for `x > 0`, `weight[c] * x` otherwise, where `c`
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
    prelu_with(&Exec::current(), input, weight, layout, output)
}

pub(crate) fn prelu_with<T: Float>(
    exec: &Exec,
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
    forward(exec, &Plan::new(weight, layout, input.len()), input, output);
    Ok(())
}

/// Leaky ReLU / PReLU forward under `plan`, over the whole call.
pub(crate) fn forward<T: Float>(
    exec: &Exec,
    plan: &Plan<T::Compute>,
    input: &[T],
    output: &mut [T],
) {
    let stream = exec.streams::<T>(output.len());
    let run = |offset: usize, x: &[T], out: &mut [T]| {
        plan.for_each_piece(offset, x.len(), |range, slopes| {
            let (x, out) = (&x[range.clone()], &mut out[range]);
            if stream && x.len() >= STREAM_PIECE_MIN {
                exec.simd.leaky_streamed(x, slopes, out)
            } else {
                exec.simd.leaky(x, slopes, out)
            }
        })
    };
    match exec.chunk_len(input.len()) {
        None => run(0, input, output),
        Some(chunk) => output
            .par_chunks_mut(chunk)
            .zip(input.par_chunks(chunk))
            .enumerate()
            .for_each(|(i, (out, x))| run(i * chunk, x, out)),
    }
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
    prelu_inplace_with(&Exec::current(), data, weight, layout)
}

pub(crate) fn prelu_inplace_with<T: Float>(
    exec: &Exec,
    data: &mut [T],
    weight: &[T],
    layout: ChannelLayout,
) -> Result<(), Error> {
    layout.check("data", data.len())?;
    layout.check_weight(weight.len())?;
    if data.is_empty() {
        return Ok(());
    }
    forward_inplace(exec, &Plan::new(weight, layout, data.len()), data);
    Ok(())
}

/// [`forward`] in place.
pub(crate) fn forward_inplace<T: Float>(exec: &Exec, plan: &Plan<T::Compute>, data: &mut [T]) {
    let run = |offset: usize, data: &mut [T]| {
        plan.for_each_piece(offset, data.len(), |range, slopes| {
            exec.simd.leaky_inplace(&mut data[range], slopes)
        })
    };
    match exec.chunk_len(data.len()) {
        None => run(0, data),
        Some(chunk) => data
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, data)| run(i * chunk, data)),
    }
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
    prelu_backward_with(
        &Exec::current(),
        grad_output,
        input,
        weight,
        layout,
        grad_input,
        grad_weight,
    )
}

pub(crate) fn prelu_backward_with<T: Float>(
    exec: &Exec,
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
    if grad_weight.len() != weight.len() {
        return Err(Error::new(
            crate::ErrorKind::WeightMismatch,
            format!(
                "`grad_weight` has {} elements, expected {} (the length of `weight`)",
                grad_weight.len(),
                weight.len()
            ),
        ));
    }
    let sums = if input.is_empty() {
        vec![0.0; weight.len()]
    } else {
        match Plan::new(weight, layout, input.len()) {
            Plan::Shared(slope) => {
                runs_backward(exec, grad_output, input, grad_input, input.len(), &[slope])
            }
            Plan::Runs { inner, slopes } => {
                runs_backward(exec, grad_output, input, grad_input, inner, &slopes)
            }
            Plan::Periodic {
                pattern,
                period,
                inner,
                channels,
            } => periodic_backward(
                exec,
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

/// Backward over runs: one partial sum per [`SEGMENT`]-piece of each run, combined in
/// order into one sum per slope.
fn runs_backward<T: Float>(
    exec: &Exec,
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
    inner: usize,
    slopes: &[T::Compute],
) -> Vec<f64> {
    let piece = |g: &[T], x: &[T], out: &mut [T], s: T::Compute| {
        exec.simd
            .zip_sum(g, x, out, move |g, x| lanes::prelu_backward(g, x, s))
    };
    let slope = |run: usize| slopes[run % slopes.len()];
    let partials: Vec<f64> = if exec.chunk_len(input.len()).is_none() {
        let runs = grad_input
            .chunks_mut(inner)
            .zip(input.chunks(inner))
            .zip(grad_output.chunks(inner));
        runs.enumerate()
            .flat_map(|(r, ((out, x), g))| {
                let pieces = out
                    .chunks_mut(SEGMENT)
                    .zip(x.chunks(SEGMENT))
                    .zip(g.chunks(SEGMENT));
                pieces.map(move |((out, x), g)| piece(g, x, out, slope(r)))
            })
            .collect()
    } else {
        let runs = grad_input
            .par_chunks_mut(inner)
            .zip(input.par_chunks(inner))
            .zip(grad_output.par_chunks(inner))
            .enumerate();
        if inner <= SEGMENT {
            runs.with_min_len(SEGMENT / inner)
                .map(|(r, ((out, x), g))| piece(g, x, out, slope(r)))
                .collect()
        } else {
            runs.flat_map(|(r, ((out, x), g))| {
                let pieces = out
                    .par_chunks_mut(SEGMENT)
                    .zip(x.par_chunks(SEGMENT))
                    .zip(g.par_chunks(SEGMENT));
                pieces.map(move |((out, x), g)| piece(g, x, out, slope(r)))
            })
            .collect()
        }
    };
    let pieces_per_run = inner.div_ceil(SEGMENT);
    let mut sums = vec![0.0f64; slopes.len()];
    for (i, partial) in partials.iter().enumerate() {
        sums[(i / pieces_per_run) % slopes.len()] += partial;
    }
    sums
}

/// Backward over a periodic buffer: stripes of whole pattern rows, each summing per
/// pattern position for up to [`ROWS_PER_FOLD`] rows before folding the positions into
/// per-channel `f64` sums; stripes combined in order.
#[allow(clippy::too_many_arguments)]
fn periodic_backward<T: Float>(
    exec: &Exec,
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
    pattern: &[T::Compute],
    period: usize,
    inner: usize,
    channels: usize,
) -> Vec<f64> {
    let len = input.len();
    let width = pattern.len();
    let rows = len.div_ceil(width);
    let stripes = (len / STRIPE_MIN)
        .clamp(1, MAX_STRIPES)
        .min(rows)
        .min((PARTIAL_BUDGET / channels).max(1));
    // Cut the three buffers at whole rows into `stripes` pieces.
    let mut pieces = Vec::with_capacity(stripes);
    let (mut rest_out, mut rest_x, mut rest_g) = (grad_input, input, grad_output);
    let mut start = 0;
    for s in 1..=stripes {
        let end = (s * rows / stripes * width).min(len);
        let (out, tail) = rest_out.split_at_mut(end - start);
        let (x, x_tail) = rest_x.split_at(end - start);
        let (g, g_tail) = rest_g.split_at(end - start);
        pieces.push((out, x, g));
        (rest_out, rest_x, rest_g, start) = (tail, x_tail, g_tail, end);
    }
    let stripe = |(out, x, g): (&mut [T], &[T], &[T])| -> Vec<f64> {
        let mut sums = vec![0.0f64; channels];
        let mut acc = vec![T::Compute::default(); width];
        let block = ROWS_PER_FOLD * width;
        for ((out, x), g) in out
            .chunks_mut(block)
            .zip(x.chunks(block))
            .zip(g.chunks(block))
        {
            for ((out, x), g) in out
                .chunks_mut(width)
                .zip(x.chunks(width))
                .zip(g.chunks(width))
            {
                let n = x.len();
                exec.simd.zip3_accumulate(
                    g,
                    x,
                    &pattern[..n],
                    out,
                    &mut acc[..n],
                    lanes::prelu_backward,
                );
            }
            // Position j of the pattern belongs to channel (j % period) / inner.
            for period_acc in acc.chunks_exact(period) {
                if inner == 1 {
                    for (sum, &a) in sums.iter_mut().zip(period_acc) {
                        *sum += a.into();
                    }
                } else {
                    for (sum, channel_acc) in sums.iter_mut().zip(period_acc.chunks_exact(inner)) {
                        *sum += channel_acc
                            .iter()
                            .fold(0.0f64, |total, &a| total + a.into());
                    }
                }
            }
            acc.fill(T::Compute::default());
        }
        sums
    };
    let partials: Vec<Vec<f64>> = if exec.chunk_len(len).is_none() {
        pieces.into_iter().map(stripe).collect()
    } else {
        pieces.into_par_iter().map(stripe).collect()
    };
    let mut sums = vec![0.0f64; channels];
    for partial in &partials {
        for (sum, p) in sums.iter_mut().zip(partial) {
            *sum += p;
        }
    }
    sums
}
