//! The passes behind the monitor: per-unit counts (and magnitudes) of one batch, fused
//! with ReLU when an output is given.
//!
//! The order in which a batch's magnitudes are summed is fixed by its logical layout
//! `[outer, units, inner]` alone, so the sums have the same bits on any thread count and
//! instruction set (the ndarray adapter passes other memory layouts in logical order):
//! - `inner >= 256` (a run of samples per unit and row, NCHW): each run is summed in
//!   32 lanes (element `i` to lane `i % 32`, each from `+0.0`), the
//!   lanes pairwise; the run's total is one *piece*.
//! - otherwise (units interleave, `[batch, units]`): rows go in blocks of
//!   [`BLOCK_ROWS`] rows from the batch's first; in a block, each position of a row is
//!   summed over groups of four rows (the four pairwise, the groups in order, a short
//!   last group row by row), then each unit's positions in order: one piece per block.
//!
//! The monitor adds the pieces of a batch to its sums in order.

use rayon::prelude::*;

use crate::Float;
use crate::arch::{Kernel, Level, Simd};
use crate::exec::Exec;
use crate::kernel::reduce::{CountRows, LaneSum, MapSum, RunLanes, Streamed};
use crate::kernel::{Fence, Tile};

/// A run of at least this many elements is counted on its own.
const RUN_MIN: usize = 256;
/// Elements counted in 16-bit halves of a `u32` before they are carried out: whole rows
/// per position, or pieces of a run.
const FOLD: usize = u16::MAX as usize;
/// A run's elements counted, then summed, at a time: the second pass reads them from L1
/// (8 KiB of f32 and as much output: within the 32 KiB or more of L1 data cache of the
/// x86-64 and Arm cores relukit runs on). 8192 re-read from L2: NCHW at 64 MiB took 1.55x
/// ReLU's time against 1.2-1.5x now (machine A).
const RUN_PIECE: usize = 2048;
/// Rows per block of interleaved units when magnitudes are summed (a multiple of four):
/// one piece of sums per block.
const BLOCK_ROWS: usize = 256;
/// About this many elements per pass over a block (a pass is read again for its
/// magnitudes: from L1, as [`RUN_PIECE`]).
const PASS_ELEMENTS: usize = 4096;

/// Rows per pass of a block of interleaved units: a multiple of four (passes do not cut
/// the groups of four rows), at most a block.
fn pass_rows(period: usize) -> usize {
    (PASS_ELEMENTS / period / 4 * 4).clamp(4, BLOCK_ROWS)
}

/// Per-unit counts of one batch.
#[derive(Debug, Clone, Default)]
pub(super) struct Counts {
    pub(super) active: Vec<u64>,
    pub(super) nan: Vec<u64>,
}

impl Counts {
    fn zeros(units: usize) -> Self {
        Counts {
            active: vec![0; units],
            nan: vec![0; units],
        }
    }

    /// Adds packed counts of one unit (active in the low 16 bits, NaN in the high 16).
    fn add_packed(&mut self, unit: usize, packed: u32) {
        self.active[unit] += (packed & 0xffff) as u64;
        self.nan[unit] += (packed >> 16) as u64;
    }
}

/// What one batch adds to a monitor: its counts and, when summed, the pieces of its
/// magnitudes (`units` sums per piece, pieces in order).
#[derive(Debug, Clone, Default)]
pub(super) struct Batch {
    pub(super) counts: Counts,
    pub(super) pieces: Vec<f64>,
}

impl Batch {
    pub(super) fn empty(units: usize) -> Self {
        Batch {
            counts: Counts::zeros(units),
            pieces: Vec::new(),
        }
    }

    /// `self` followed by `next` (the batch's next rows).
    pub(super) fn then(mut self, next: Batch) -> Batch {
        for (a, b) in self.counts.active.iter_mut().zip(next.counts.active) {
            *a += b;
        }
        for (a, b) in self.counts.nan.iter_mut().zip(next.counts.nan) {
            *a += b;
        }
        self.pieces.extend(next.pieces);
        self
    }
}

/// Where a batch's magnitudes `|h|` come from.
#[derive(Clone, Copy)]
pub(super) enum Magnitudes<'a, T> {
    /// Not summed (a monitor that counts only).
    Skip,
    /// `h = relu(x)`, from the pre-activations themselves.
    OfRelu,
    /// `h` given: the activation's outputs, element for element.
    Of(&'a [T]),
}

/// `|relu(x)|` as `f64`; NaN adds nothing (it is counted apart).
#[inline(always)]
fn relu_magnitude<T: Float>(x: T) -> f64 {
    if x.gt_zero() { x.widen().into() } else { 0.0 }
}

/// `|h|` as `f64`; NaN adds nothing.
#[inline(always)]
fn magnitude<T: Float>(h: T) -> f64 {
    if h.is_nan() {
        0.0
    } else {
        let h: f64 = h.widen().into();
        h.abs()
    }
}

/// Active in the low 16 bits, NaN in the high 16 bits (summed over at most [`FOLD`]
/// elements).
#[inline(always)]
fn code<T: Float>(x: T) -> u32 {
    (x.gt_zero() as u32) | ((x.is_nan() as u32) << 16)
}

/// Counts (and magnitudes) of `data` under `[outer, units, inner]`, writing ReLU of the
/// data to `out` when given (with non-temporal stores where a ReLU call of that size
/// would use them). Parallel over whole rows (whole blocks when summing) above the
/// threshold; the counts are integers and the pieces come back in order, so the result
/// never depends on the split.
pub(super) fn tally<T: Float>(
    exec: &Exec,
    data: &[T],
    out: Option<&mut [T]>,
    units: usize,
    inner: usize,
    magnitudes: Magnitudes<'_, T>,
) -> Batch {
    match magnitudes {
        Magnitudes::Skip => split(exec, data, out, units, inner, None::<(&[T], fn(T) -> f64)>),
        Magnitudes::OfRelu => split(exec, data, out, units, inner, Some((data, relu_magnitude))),
        Magnitudes::Of(h) => split(exec, data, out, units, inner, Some((h, magnitude))),
    }
}

/// The rows a caller's split of a batch must start at a multiple of (see
/// [`DeadUnitMonitor::observe_split`](super::DeadUnitMonitor::observe_split)): whole
/// blocks when summing interleaved units, else any row.
pub(super) fn split_align(summing: bool, inner: usize) -> usize {
    if summing && inner < RUN_MIN {
        BLOCK_ROWS
    } else {
        1
    }
}

/// [`tally`] of rows `first..last` of `data` (rows of `units * inner`), on this thread.
pub(super) fn tally_rows<T: Float>(
    data: &[T],
    units: usize,
    inner: usize,
    magnitudes: Magnitudes<'_, T>,
    first: usize,
    last: usize,
) -> Batch {
    let period = units * inner;
    let (start, end) = (first * period, last * period);
    let magnitudes = match magnitudes {
        Magnitudes::Of(h) => Magnitudes::Of(&h[start..end]),
        m => m,
    };
    let here = Exec {
        parallel_min_bytes: usize::MAX, // the caller's split is the only one
        ..Exec::current()
    };
    tally(&here, &data[start..end], None, units, inner, magnitudes)
}

/// [`tally`] with the magnitudes `m(source[i])`, split over threads.
fn split<T: Float, M: Fn(T) -> f64 + Copy + Sync>(
    exec: &Exec,
    data: &[T],
    mut out: Option<&mut [T]>,
    units: usize,
    inner: usize,
    sums: Option<(&[T], M)>,
) -> Batch {
    let period = units * inner;
    if data.is_empty() || period == 0 {
        return Batch::empty(units);
    }
    let stream = match out.as_deref_mut() {
        Some(out) if exec.streams(out) => Some(exec.wide_stores),
        _ => None,
    };
    let block = split_align(sums.is_some(), inner);
    let rows_per_task = exec
        .chunk_len(data.len(), size_of::<T>())
        .map(|chunk| chunk.div_ceil(period).max(1).next_multiple_of(block));
    let rows = |data: &[T], out: Option<&mut [T]>, at: usize| {
        let sums = sums.map(|(source, m)| (&source[at..at + data.len()], m));
        rows(exec.simd, data, out, units, inner, stream, sums)
    };
    match (rows_per_task, out) {
        (None, out) => rows(data, out, 0),
        (Some(n), None) => data
            .par_chunks(n * period)
            .enumerate()
            .map(|(t, data)| rows(data, None, t * n * period))
            .reduce(|| Batch::empty(units), Batch::then),
        (Some(n), Some(out)) => data
            .par_chunks(n * period)
            .zip(out.par_chunks_mut(n * period))
            .enumerate()
            .map(|(t, (data, out))| rows(data, Some(out), t * n * period))
            .reduce(|| Batch::empty(units), Batch::then),
    }
}

/// [`tally`] on whole rows of `units * inner` elements, on one thread.
fn rows<T: Float, M: Fn(T) -> f64 + Copy>(
    simd: Simd,
    data: &[T],
    mut out: Option<&mut [T]>,
    units: usize,
    inner: usize,
    stream: Option<bool>,
    sums: Option<(&[T], M)>,
) -> Batch {
    let mut batch = Batch::empty(units);
    let f = |x: T| (x.relu(), code(x));
    if inner >= RUN_MIN {
        // Each run belongs to one unit: one integer sum per piece of a run. The whole
        // loop is one kernel (one dispatch, everything inlined for the level), not one
        // dispatch per piece: short runs (NCHW 16x16) paid a call per run twice.
        simd.run(Runs {
            data,
            out,
            units,
            inner,
            stream,
            sums,
            batch: &mut batch,
        });
        return batch;
    }
    // Units interleave: count (and sum) per position of a row, in passes of a few rows
    // (the magnitudes of a pass read from cache); the sums' pieces are whole blocks.
    let period = units * inner;
    let (rows_per_block, rows_per_pass) = match sums {
        Some(_) => (BLOCK_ROWS, pass_rows(period)),
        None => (FOLD, FOLD),
    };
    let block = period * rows_per_block;
    let mut acc = vec![0u32; period];
    let mut magnitudes = vec![0.0f64; if sums.is_some() { period } else { 0 }];
    let mut folded = 0;
    for (b, rows) in data.chunks(block).enumerate() {
        for (p, pass) in rows.chunks(period * rows_per_pass).enumerate() {
            if folded + rows_per_pass > FOLD {
                carry(&mut batch.counts, &mut acc, inner);
                folded = 0;
            }
            let start = b * block + p * period * rows_per_pass;
            let range = start..start + pass.len();
            let out = out.as_deref_mut().map(|out| &mut out[range.clone()]);
            simd.run(CountRows {
                x: pass,
                out,
                acc: &mut acc,
                f,
                stream,
            });
            folded += rows_per_pass;
            if let Some((source, m)) = sums {
                simd.run(CountRows {
                    x: &source[range],
                    out: None::<&mut [T]>,
                    acc: &mut magnitudes,
                    f: |h: T| (h, m(h)),
                    stream: None,
                });
            }
        }
        if sums.is_some() {
            // Each unit's positions in order (one position per unit: the sum itself, as
            // `0.0 + m` is `m` for the non-negative sums), then every position cleared
            // at once (a fill per unit costs a call per unit).
            if inner == 1 {
                batch.pieces.extend_from_slice(&magnitudes);
            } else {
                batch.pieces.extend(
                    magnitudes
                        .chunks(inner)
                        .map(|positions| positions.iter().fold(0.0, |sum, &m| sum + m)),
                );
            }
            magnitudes.fill(0.0);
        }
    }
    carry(&mut batch.counts, &mut acc, inner);
    batch
}

/// The runs of [`rows`] (`inner >= RUN_MIN`: each run one unit's), as one kernel.
struct Runs<'a, T, M> {
    data: &'a [T],
    out: Option<&'a mut [T]>,
    units: usize,
    inner: usize,
    stream: Option<bool>,
    sums: Option<(&'a [T], M)>,
    batch: &'a mut Batch,
}

impl<T: Float, M: Fn(T) -> f64 + Copy> Kernel for Runs<'_, T, M> {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        let Runs {
            data,
            mut out,
            units,
            inner,
            stream,
            sums,
            batch,
        } = self;
        let f = |x: T| (x.relu(), code(x));
        let piece = if sums.is_some() { RUN_PIECE } else { FOLD };
        let mut tile = Tile::new();
        for (r, run) in data.chunks(inner).enumerate() {
            let mut lanes = RunLanes::new();
            for (p, x) in run.chunks(piece).enumerate() {
                let start = r * inner + p * piece;
                let range = start..start + x.len();
                let out = out.as_deref_mut().map(|out| &mut out[range.clone()]);
                let stream = stream.map(|wide| Streamed {
                    wide,
                    tile: &mut tile,
                });
                let packed = MapSum { x, out, f, stream }.run(level);
                batch.counts.add_packed(r % units, packed);
                if let Some((source, m)) = sums {
                    let (x, lanes) = (&source[range], &mut lanes);
                    LaneSum { x, lanes, f: m }.run(level);
                }
            }
            if sums.is_some() {
                batch.pieces.push(lanes.total());
            }
        }
        if stream.is_some() {
            Fence.run(level);
        }
    }
}

/// Moves the packed counts per position into the per-unit counts.
fn carry(counts: &mut Counts, acc: &mut [u32], inner: usize) {
    for (unit, unit_acc) in acc.chunks_mut(inner).enumerate() {
        for packed in unit_acc {
            counts.add_packed(unit, *packed);
            *packed = 0;
        }
    }
}
