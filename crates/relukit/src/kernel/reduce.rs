//! Loops that write and sum (or count) in one pass: PReLU's backward pass and the
//! dead-unit monitor. Every order of summation is fixed by the data alone, so each
//! instruction set gives the same bits.

use std::ops::Add;

use super::{TILE_BYTES, Tile, line_offset};
use crate::arch::{Kernel, Level};
use crate::element::sealed::ElementOps;

/// Elements per block of a blocked sum. Each of the [`SUM_LANES`] accumulators sees
/// at most 256 terms of a block before the block's total goes into an `f64`.
pub(crate) const SUM_BLOCK: usize = 4096;

/// Independent accumulators in a blocked sum (one AVX-512 register of `f32`).
pub(crate) const SUM_LANES: usize = 16;

/// `out[i] = f(a[i], b[i]).0`, returning the sum of the `.1` parts: blocks of
/// [`SUM_BLOCK`] elements summed in [`SUM_LANES`] accumulators of type `C` (element `i`
/// of a block goes to accumulator `i % SUM_LANES`), each block's total, reduced in a
/// fixed tree, added to an `f64`.
pub(crate) struct ZipSum<'a, A, B, U, F> {
    pub(crate) a: &'a [A],
    pub(crate) b: &'a [B],
    pub(crate) out: &'a mut [U],
    pub(crate) f: F,
}

impl<A, B, U, C, F> Kernel for ZipSum<'_, A, B, U, F>
where
    A: Copy,
    B: Copy,
    U: Copy,
    C: Copy + Default + Add<Output = C> + Into<f64>,
    F: Fn(A, B) -> (U, C),
{
    type Output = f64;
    #[inline(always)]
    fn run<L: Level>(self, _: L) -> f64 {
        let ZipSum { a, b, out, f } = self;
        let mut total = 0.0f64;
        for ((a, b), out) in a
            .chunks(SUM_BLOCK)
            .zip(b.chunks(SUM_BLOCK))
            .zip(out.chunks_mut(SUM_BLOCK))
        {
            let mut lanes = [C::default(); SUM_LANES];
            let mut a_lanes = a.chunks_exact(SUM_LANES);
            let mut b_lanes = b.chunks_exact(SUM_LANES);
            let mut out_lanes = out.chunks_exact_mut(SUM_LANES);
            for ((a, b), out) in (&mut a_lanes).zip(&mut b_lanes).zip(&mut out_lanes) {
                for k in 0..SUM_LANES {
                    let (value, term) = f(a[k], b[k]);
                    out[k] = value;
                    lanes[k] = lanes[k] + term;
                }
            }
            let tail = a_lanes.remainder().iter().zip(b_lanes.remainder());
            for (k, ((&a, &b), o)) in tail.zip(out_lanes.into_remainder()).enumerate() {
                let (value, term) = f(a, b);
                *o = value;
                lanes[k] = lanes[k] + term;
            }
            total += reduce_lanes(lanes).into();
        }
        total
    }
}

/// Pairwise sum of the accumulators, in a fixed tree.
#[inline(always)]
fn reduce_lanes<C: Copy + Add<Output = C>>(mut lanes: [C; SUM_LANES]) -> C {
    let mut width = SUM_LANES / 2;
    while width > 0 {
        for k in 0..width {
            lanes[k] = lanes[k] + lanes[k + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// Rows of a periodic buffer: `a`, `b` and `out` hold whole rows of `acc.len()`
/// elements; `out[r][j] = f(a[r][j], b[r][j], w[j]).0` and `acc[j]` gains the rows'
/// terms `f(..).1`. PReLU backward over a channel pattern, accumulating per position.
/// Rows go [`ROWS_AT_ONCE`] at a time (their terms summed pairwise, then added to
/// `acc[j]`), so each accumulator is loaded and stored once per group: the order of the
/// sum depends on the row count alone.
pub(crate) struct RowsAccumulate<'a, A, B, W, U, C, F> {
    pub(crate) a: &'a [A],
    pub(crate) b: &'a [B],
    pub(crate) w: &'a [W],
    pub(crate) out: &'a mut [U],
    pub(crate) acc: &'a mut [C],
    pub(crate) f: F,
}

/// [`ROWS_AT_ONCE`] rows of [`RowsAccumulate`]: `a`, `b` and `out` hold that many rows
/// of `acc.len()` elements (`w` at least one row). A function of its own so that the
/// compiler knows (from the argument types) that the buffers do not overlap, which it
/// could not check at run time for this many streams and would not vectorise.
#[inline(always)]
fn rows_at_once<A, B, W, U, C, F>(a: &[A], b: &[B], w: &[W], out: &mut [U], acc: &mut [C], f: F)
where
    A: Copy,
    B: Copy,
    W: Copy,
    U: Copy,
    C: Copy + Add<Output = C>,
    F: Fn(A, B, W) -> (U, C),
{
    let width = acc.len();
    let len = ROWS_AT_ONCE * width;
    assert!(a.len() == len && b.len() == len && out.len() == len && w.len() >= width);
    let (a, b, w, out, acc) = (
        a.as_ptr(),
        b.as_ptr(),
        w.as_ptr(),
        out.as_mut_ptr(),
        acc.as_mut_ptr(),
    );
    for j in 0..width {
        // SAFETY: `j < width`, within `w` and `acc`; `r * width + j < len`, within `a`,
        // `b` and `out` (all checked above).
        unsafe {
            let w = *w.add(j);
            let mut sum = None;
            for r in 0..ROWS_AT_ONCE {
                let at = r * width + j;
                let (value, term) = f(*a.add(at), *b.add(at), w);
                *out.add(at) = value;
                sum = Some(match sum {
                    None => term,
                    Some(sum) => sum + term,
                });
            }
            if let Some(sum) = sum {
                *acc.add(j) = *acc.add(j) + sum;
            }
        }
    }
}

/// Rows [`RowsAccumulate`] takes in one pass.
pub(crate) const ROWS_AT_ONCE: usize = 4;

impl<A, B, W, U, C, F> Kernel for RowsAccumulate<'_, A, B, W, U, C, F>
where
    A: Copy,
    B: Copy,
    W: Copy,
    U: Copy,
    C: Copy + Add<Output = C>,
    F: Fn(A, B, W) -> (U, C) + Copy,
{
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, _: L) {
        let RowsAccumulate {
            a,
            b,
            w,
            out,
            acc,
            f,
        } = self;
        let width = acc.len();
        if width == 0 {
            return;
        }
        let len = a.len();
        let (b, out, w) = (&b[..len], &mut out[..len], &w[..width]);
        let group = ROWS_AT_ONCE * width;
        let whole = len / group * group;
        let (a_groups, a_rest) = a.split_at(whole);
        let (b_groups, b_rest) = b.split_at(whole);
        let (out_groups, out_rest) = out.split_at_mut(whole);
        for ((a, b), out) in a_groups
            .chunks_exact(group)
            .zip(b_groups.chunks_exact(group))
            .zip(out_groups.chunks_exact_mut(group))
        {
            rows_at_once(a, b, w, out, acc, f);
        }
        for ((a, b), out) in a_rest
            .chunks(width)
            .zip(b_rest.chunks(width))
            .zip(out_rest.chunks_mut(width))
        {
            let inputs = a.iter().zip(b).zip(w);
            for ((((&a, &b), &w), o), s) in inputs.zip(out.iter_mut()).zip(acc.iter_mut()) {
                let (value, term) = f(a, b, w);
                *o = value;
                *s = *s + term;
            }
        }
    }
}

/// The fused ReLU of the dead-unit monitor over rows whose positions interleave the
/// units: `x` holds rows of `acc.len()` elements (the last may be short); for each,
/// `out[i] = f(x[i]).0` and `acc[j] += f(x[i]).1` at its position `j`; without `out`,
/// only the count. Rows go [`ROWS_AT_ONCE`] at a time, so each accumulator is loaded
/// and stored once per group. With `stream: Some(wide)`, `out` is written through a
/// [`Tile`] with non-temporal stores (where the level has them, and `out` and its rows
/// are 64-byte aligned).
pub(crate) struct CountRows<'a, T, U, C, F> {
    pub(crate) x: &'a [T],
    pub(crate) out: Option<&'a mut [U]>,
    pub(crate) acc: &'a mut [C],
    pub(crate) f: F,
    pub(crate) stream: Option<bool>,
}

impl<T, U, C, F> Kernel for CountRows<'_, T, U, C, F>
where
    T: Copy,
    U: ElementOps,
    C: Copy + Add<Output = C>,
    F: Fn(T) -> (U, C) + Copy,
{
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        let CountRows {
            x,
            out,
            acc,
            f,
            stream,
        } = self;
        let width = acc.len();
        if width == 0 {
            return;
        }
        let group = ROWS_AT_ONCE * width;
        let whole = x.len() / group * group;
        let (x_groups, x_rest) = x.split_at(whole);
        let Some(out) = out else {
            for x in x_groups.chunks_exact(group) {
                let [x0, x1, x2, x3] = split_rows(x, width);
                count_four(x0, x1, x2, x3, acc, f);
            }
            for x in x_rest.chunks(width) {
                for (&v, a) in x.iter().zip(acc.iter_mut()) {
                    *a = *a + f(v).1;
                }
            }
            return;
        };
        let (out_groups, out_rest) = out[..x.len()].split_at_mut(whole);
        // Streamed where every row starts at the same offset from a cache line: each row
        // then has an ordinary head up to its first line, whole lines streamed from a
        // tile, and an ordinary tail.
        let per_line = 64 / size_of::<U>();
        let wide = stream.filter(|_| L::STREAMS && width.is_multiple_of(per_line));
        let head = line_offset(&out_groups[..width.min(out_groups.len())]).min(width);
        let columns = TILE_BYTES / 2 / size_of::<U>();
        let mut tiles = (Tile::new(), Tile::new());
        for (x, out) in x_groups
            .chunks_exact(group)
            .zip(out_groups.chunks_exact_mut(group))
        {
            let [x0, x1, x2, x3] = split_rows(x, width);
            let (out01, out23) = out.split_at_mut(2 * width);
            let (out0, out1) = out01.split_at_mut(width);
            let (out2, out3) = out23.split_at_mut(width);
            let Some(wide) = wide else {
                map_four(x0, x1, x2, x3, out0, out1, out2, out3, acc, f);
                continue;
            };
            let ((h0, x0), (h1, x1)) = (x0.split_at(head), x1.split_at(head));
            let ((h2, x2), (h3, x3)) = (x2.split_at(head), x3.split_at(head));
            let (o0, out0) = out0.split_at_mut(head);
            let (o1, out1) = out1.split_at_mut(head);
            let (o2, out2) = out2.split_at_mut(head);
            let (o3, out3) = out3.split_at_mut(head);
            let (acc_head, acc) = acc.split_at_mut(head);
            map_four(h0, h1, h2, h3, o0, o1, o2, o3, acc_head, f);
            // Blocks of whole lines: a tile row per output row (two tiles, in L1).
            let (t0, t1) = tiles.0.elements::<U>(2 * columns).split_at_mut(columns);
            let (t2, t3) = tiles.1.elements::<U>(2 * columns).split_at_mut(columns);
            for c in (0..width - head).step_by(columns) {
                let n = columns.min(width - head - c);
                let lines = n / per_line * per_line;
                let b = c..c + n;
                let (t0, t1, t2, t3) = (&mut t0[..n], &mut t1[..n], &mut t2[..n], &mut t3[..n]);
                map_four(
                    &x0[b.clone()],
                    &x1[b.clone()],
                    &x2[b.clone()],
                    &x3[b.clone()],
                    t0,
                    t1,
                    t2,
                    t3,
                    &mut acc[b.clone()],
                    f,
                );
                for (t, out) in [
                    (t0, &mut *out0),
                    (t1, &mut *out1),
                    (t2, &mut *out2),
                    (t3, &mut *out3),
                ] {
                    let out = &mut out[b.clone()];
                    // SAFETY: `out[..lines]` is 64-byte aligned (rows start `head`
                    // elements before a line, and `c` is a multiple of whole lines) and
                    // whole lines long; so is the tile row, a separate buffer.
                    unsafe { level.stream_block(&t[..lines], out.as_mut_ptr(), wide) };
                    out[lines..].copy_from_slice(&t[lines..]);
                }
            }
        }
        if wide.is_some() {
            level.store_fence();
        }
        for (x, out) in x_rest.chunks(width).zip(out_rest.chunks_mut(width)) {
            let acc = &mut acc[..x.len()];
            for ((&v, o), a) in x.iter().zip(out.iter_mut()).zip(acc.iter_mut()) {
                let (value, term) = f(v);
                *o = value;
                *a = *a + term;
            }
        }
    }
}

/// The [`ROWS_AT_ONCE`] rows of `width` elements in `x`.
#[inline(always)]
fn split_rows<T>(x: &[T], width: usize) -> [&[T]; ROWS_AT_ONCE] {
    let (x01, x23) = x.split_at(2 * width);
    let (x0, x1) = x01.split_at(width);
    let (x2, x3) = x23.split_at(width);
    [x0, x1, x2, x3]
}

/// Four rows of [`CountRows`] with outputs. Each buffer is an argument of its own so
/// that the compiler knows they do not overlap (it would not vectorise otherwise).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn map_four<T: Copy, U, C: Copy + Add<Output = C>>(
    x0: &[T],
    x1: &[T],
    x2: &[T],
    x3: &[T],
    out0: &mut [U],
    out1: &mut [U],
    out2: &mut [U],
    out3: &mut [U],
    acc: &mut [C],
    f: impl Fn(T) -> (U, C),
) {
    let n = acc.len();
    let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
    let (out0, out1, out2, out3) = (
        &mut out0[..n],
        &mut out1[..n],
        &mut out2[..n],
        &mut out3[..n],
    );
    for j in 0..n {
        let (v0, t0) = f(x0[j]);
        let (v1, t1) = f(x1[j]);
        let (v2, t2) = f(x2[j]);
        let (v3, t3) = f(x3[j]);
        out0[j] = v0;
        out1[j] = v1;
        out2[j] = v2;
        out3[j] = v3;
        acc[j] = acc[j] + ((t0 + t1) + (t2 + t3));
    }
}

/// [`map_four`] without outputs.
#[inline(always)]
fn count_four<T: Copy, U, C: Copy + Add<Output = C>>(
    x0: &[T],
    x1: &[T],
    x2: &[T],
    x3: &[T],
    acc: &mut [C],
    f: impl Fn(T) -> (U, C),
) {
    let n = acc.len();
    let (x0, x1, x2, x3) = (&x0[..n], &x1[..n], &x2[..n], &x3[..n]);
    for j in 0..n {
        let terms = (f(x0[j]).1 + f(x1[j]).1) + (f(x2[j]).1 + f(x3[j]).1);
        acc[j] = acc[j] + terms;
    }
}

/// The fused ReLU of the dead-unit monitor over one run of a single unit: `out[i] =
/// f(x[i]).0` and the sum of `f(x[i]).1` (without `out`, only the sum). With `stream:
/// Some(..)`, `out` is written through a [`Tile`] with non-temporal stores where the
/// level has them (an ordinary head until it is 64-byte aligned, and tail); the caller
/// runs [`Fence`](super::Fence) after its last call (a fence per call, for short runs,
/// costs a quarter of the time).
pub(crate) struct MapSum<'a, T, U, F> {
    pub(crate) x: &'a [T],
    pub(crate) out: Option<&'a mut [U]>,
    pub(crate) f: F,
    pub(crate) stream: Option<Streamed<'a>>,
}

/// How a fused pass streams its output: `wide` non-temporal stores from `tile`, a
/// buffer the caller keeps across calls (zeroing one costs as much as a short run).
pub(crate) struct Streamed<'a> {
    pub(crate) wide: bool,
    pub(crate) tile: &'a mut Tile,
}

impl<T, U, C, F> Kernel for MapSum<'_, T, U, F>
where
    T: Copy,
    U: ElementOps,
    C: Copy + Default + Add<Output = C>,
    F: Fn(T) -> (U, C) + Copy,
{
    type Output = C;
    #[inline(always)]
    fn run<L: Level>(self, level: L) -> C {
        let MapSum { x, out, f, stream } = self;
        let Some(out) = out else {
            return x.iter().fold(C::default(), |total, &v| total + f(v).1);
        };
        let out = &mut out[..x.len()];
        let map = |x: &[T], out: &mut [U]| {
            let mut total = C::default();
            for (&v, o) in x.iter().zip(out.iter_mut()) {
                let (value, term) = f(v);
                *o = value;
                total = total + term;
            }
            total
        };
        let Some(Streamed { wide, tile }) = stream.filter(|_| L::STREAMS) else {
            return map(x, out);
        };
        let head = line_offset(out);
        let per_line = 64 / size_of::<U>();
        let body = (out.len() - head) / per_line * per_line;
        let (head_out, rest) = out.split_at_mut(head);
        let (body_out, tail_out) = rest.split_at_mut(body);
        let mut total = map(&x[..head], head_out);
        let step = TILE_BYTES / size_of::<U>();
        let tile = tile.elements::<U>(step);
        for (x, out) in x[head..head + body]
            .chunks(step)
            .zip(body_out.chunks_mut(step))
        {
            let tile = &mut tile[..x.len()];
            total = total + map(x, tile);
            // SAFETY: `out` is 64-byte aligned (the head aligns the body; blocks are
            // whole tiles) and whole lines long (so is the body); the tile is a
            // separate buffer, aligned and as long.
            unsafe { level.stream_block(tile, out.as_mut_ptr(), wide) };
        }
        total + map(&x[head + body..], tail_out)
    }
}

/// Accumulators of a run's sum in [`RUN_LANES`] lanes: element `i` of the run goes to
/// lane `i % RUN_LANES`, each lane summed in order from `+0.0`. The run may come in
/// pieces of any length: `next` is the lane of the next element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunLanes {
    sums: [f64; RUN_LANES],
    next: usize,
}

/// Lanes of [`RunLanes`]: enough independent additions (four AVX-512 registers of
/// `f64`) to hide an addition's latency, the same on every level.
pub(crate) const RUN_LANES: usize = 32;

impl RunLanes {
    pub(crate) fn new() -> Self {
        RunLanes {
            sums: [0.0; RUN_LANES],
            next: 0,
        }
    }

    /// The run's total: the lanes summed pairwise in a fixed tree.
    pub(crate) fn total(self) -> f64 {
        let mut lanes = self.sums;
        let mut width = RUN_LANES / 2;
        while width > 0 {
            for k in 0..width {
                lanes[k] += lanes[k + width];
            }
            width /= 2;
        }
        lanes[0]
    }
}

/// Adds `f(x[i])` for a piece `x` of a run to its [`RunLanes`].
pub(crate) struct LaneSum<'a, T, F> {
    pub(crate) x: &'a [T],
    pub(crate) lanes: &'a mut RunLanes,
    pub(crate) f: F,
}

impl<T: Copy, F: Fn(T) -> f64> Kernel for LaneSum<'_, T, F> {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, _: L) {
        let LaneSum { x, lanes, f } = self;
        // Up to the next lane 0, one at a time; then whole rounds of the lanes, in a
        // local copy (registers: the compiler vectorises the round).
        let lead = ((RUN_LANES - lanes.next) % RUN_LANES).min(x.len());
        let (head, rest) = x.split_at(lead);
        for &v in head {
            lanes.sums[lanes.next] += f(v);
            lanes.next = (lanes.next + 1) % RUN_LANES;
        }
        if rest.is_empty() {
            return;
        }
        let mut sums = lanes.sums;
        let mut rounds = rest.chunks_exact(RUN_LANES);
        for round in &mut rounds {
            // The terms first, then the additions: two simple steps the compiler
            // vectorises (one, with the conversion inside, it leaves scalar).
            let mut terms = [0.0f64; RUN_LANES];
            for k in 0..RUN_LANES {
                terms[k] = f(round[k]);
            }
            for k in 0..RUN_LANES {
                sums[k] += terms[k];
            }
        }
        let tail = rounds.remainder();
        for (k, &v) in tail.iter().enumerate() {
            sums[k] += f(v);
        }
        lanes.sums = sums;
        lanes.next = tail.len();
    }
}
