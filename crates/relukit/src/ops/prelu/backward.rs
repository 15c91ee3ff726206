//! PReLU backward: the input gradient and the weight gradient in one pass, with the
//! weight gradient summed in pieces fixed by the layout, never by the thread count:
//! runs are cut into [`SEGMENT`]-element pieces, periodic buffers into at most
//! [`MAX_STRIPES`] stripes of whole periods. Each piece's partial sum is computed in
//! the compute type by blocks and carried in `f64`, and the partials are combined in
//! piece order, so the result has the same bits on one thread or many.

use rayon::prelude::*;

use crate::Float;
use crate::exec::Exec;
use crate::kernel::reduce::{RowsAccumulate, ZipSum};
use crate::ops::leaky;

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

/// PReLU backward for one element: `(grad_input, contribution to grad_weight)`. The
/// contribution is `grad * x` wherever `x > 0` does not hold, so a NaN `x` makes its
/// channel's sum NaN.
#[inline(always)]
fn element<T: Float>(grad: T, x: T, slope: T::Compute) -> (T, T::Compute) {
    let contribution = if x.gt_zero() {
        T::Compute::default()
    } else {
        grad.widen() * x.widen()
    };
    (leaky::backward(grad, x, slope), contribution)
}

/// Backward over runs: one partial sum per [`SEGMENT`]-piece of each run, combined in
/// order into one sum per slope.
pub(crate) fn runs<T: Float>(
    exec: &Exec,
    grad_output: &[T],
    input: &[T],
    grad_input: &mut [T],
    inner: usize,
    slopes: &[T::Compute],
) -> Vec<f64> {
    let piece = |g: &[T], x: &[T], out: &mut [T], s: T::Compute| {
        let f = move |g, x| element(g, x, s);
        exec.simd.run(ZipSum { a: g, b: x, out, f })
    };
    let slope = |run: usize| slopes[run % slopes.len()];
    let partials: Vec<f64> = if exec.chunk_len(input.len(), size_of::<T>()).is_none() {
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
pub(crate) fn periodic<T: Float>(
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
            exec.simd.run(RowsAccumulate {
                a: g,
                b: x,
                w: pattern,
                out,
                acc: &mut acc,
                f: element,
            });
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
    let partials: Vec<Vec<f64>> = if exec.chunk_len(len, size_of::<T>()).is_none() {
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
