//! The loop drivers, written once.
//!
//! Every driver is `#[inline(always)]`: the portable path calls them directly, and
//! each x86-64 level instantiates them inside a `#[target_feature]` function, where
//! the same loops compile to AVX2 or AVX-512 code. The element formula comes in as a
//! closure (see [`lanes`](crate::lanes)). Callers guarantee equal lengths; the drivers
//! zip slices, so they never read or write out of bounds even if they did not.

use std::ops::{Add, Range};

use crate::element::sealed::ElementOps;
use crate::{Float, lanes};

/// Elements per block of a blocked sum. Each of the [`SUM_LANES`] accumulators sees
/// at most 256 terms of a block before the block's total goes into an `f64`.
pub(crate) const SUM_BLOCK: usize = 4096;

/// Independent accumulators in a blocked sum (one AVX-512 register of `f32`).
pub(crate) const SUM_LANES: usize = 16;

/// Elements per block of a streamed (non-temporal) output.
pub(crate) const STREAM_BLOCK: usize = 512;

/// `out[i] = f(x[i])`.
#[inline(always)]
pub(crate) fn map<T: Copy, U: Copy>(x: &[T], out: &mut [U], f: impl Fn(T) -> U) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `data[i] = f(data[i])`.
#[inline(always)]
pub(crate) fn map_inplace<T: Copy>(data: &mut [T], f: impl Fn(T) -> T) {
    for v in data.iter_mut() {
        *v = f(*v);
    }
}

/// `out[i] = f(a[i], b[i])`.
#[inline(always)]
pub(crate) fn zip<A: Copy, B: Copy, U: Copy>(
    a: &[A],
    b: &[B],
    out: &mut [U],
    f: impl Fn(A, B) -> U,
) {
    for ((o, &u), &v) in out.iter_mut().zip(a).zip(b) {
        *o = f(u, v);
    }
}

/// `a[i] = f(a[i], b[i])`.
#[inline(always)]
pub(crate) fn zip_inplace<A: Copy, B: Copy>(a: &mut [A], b: &[B], f: impl Fn(A, B) -> A) {
    for (u, &v) in a.iter_mut().zip(b) {
        *u = f(*u, v);
    }
}

/// `out[i] = f(a[i], b[i]).0`, returning the sum of the `.1` parts: blocks of
/// [`SUM_BLOCK`] elements summed in [`SUM_LANES`] accumulators of type `C` (element
/// `i` of a block goes to accumulator `i % SUM_LANES`), each block's total added to
/// an `f64`. The order is fixed by the data alone, so every instruction set gives the
/// same bits.
#[inline(always)]
pub(crate) fn zip_sum<A: Copy, B: Copy, U: Copy, C>(
    a: &[A],
    b: &[B],
    out: &mut [U],
    f: impl Fn(A, B) -> (U, C),
) -> f64
where
    C: Copy + Default + Add<Output = C> + Into<f64>,
{
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

/// `out[i] = f(a[i], b[i], w[i]).0` and `acc[i] += f(..).1`: PReLU backward over one
/// period of a channel pattern, accumulating per position.
#[inline(always)]
pub(crate) fn zip3_accumulate<A: Copy, B: Copy, W: Copy, U: Copy, C>(
    a: &[A],
    b: &[B],
    w: &[W],
    out: &mut [U],
    acc: &mut [C],
    f: impl Fn(A, B, W) -> (U, C),
) where
    C: Copy + Add<Output = C>,
{
    let inputs = a.iter().zip(b).zip(w);
    for ((((&a, &b), &w), o), s) in inputs.zip(out.iter_mut()).zip(acc.iter_mut()) {
        let (value, term) = f(a, b, w);
        *o = value;
        *s = *s + term;
    }
}

/// Which 16-bit float a bit pattern is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    F16,
    Bf16,
}

/// The slope of each element of a Leaky ReLU or PReLU forward call: one for all, or
/// one per element (a slice as long as the data).
#[derive(Debug, Clone, Copy)]
pub enum Slopes<'a, C> {
    One(C),
    Pattern(&'a [C]),
}

impl<'a, C: Copy> Slopes<'a, C> {
    /// The slopes of elements `range`.
    #[inline(always)]
    pub(crate) fn slice(self, range: Range<usize>) -> Slopes<'a, C> {
        match self {
            Slopes::One(s) => Slopes::One(s),
            Slopes::Pattern(p) => Slopes::Pattern(&p[range]),
        }
    }
}

/// Leaky ReLU (and PReLU forward) with the given slopes.
#[inline(always)]
pub(crate) fn leaky<T: Float>(x: &[T], slopes: Slopes<'_, T::Compute>, out: &mut [T]) {
    match slopes {
        Slopes::One(s) => map(x, out, move |v| lanes::leaky_relu(v, s)),
        Slopes::Pattern(p) => zip(x, p, out, lanes::leaky_relu),
    }
}

/// [`leaky`] in place.
#[inline(always)]
pub(crate) fn leaky_inplace<T: Float>(data: &mut [T], slopes: Slopes<'_, T::Compute>) {
    match slopes {
        Slopes::One(s) => map_inplace(data, move |v| lanes::leaky_relu(v, s)),
        Slopes::Pattern(p) => zip_inplace(data, p, lanes::leaky_relu),
    }
}

/// `out[i] = f(x[i]).0` and `acc[i] += f(x[i]).1`: a forward pass that also counts
/// per position (the fused ReLU of the dead-unit monitor).
#[inline(always)]
pub(crate) fn map_accumulate<T: Copy, U: Copy, C>(
    x: &[T],
    out: &mut [U],
    acc: &mut [C],
    f: impl Fn(T) -> (U, C),
) where
    C: Copy + Add<Output = C>,
{
    for ((&v, o), a) in x.iter().zip(out.iter_mut()).zip(acc.iter_mut()) {
        let (value, term) = f(v);
        *o = value;
        *a = *a + term;
    }
}

/// `out[i] = f(x[i]).0`, returning the sum of the `.1` parts (an integer count: integer
/// sums vectorise and do not depend on their order).
#[inline(always)]
pub(crate) fn map_sum<T: Copy, U: Copy, C>(x: &[T], out: &mut [U], f: impl Fn(T) -> (U, C)) -> C
where
    C: Copy + Default + Add<Output = C>,
{
    let mut total = C::default();
    for (&v, o) in x.iter().zip(out.iter_mut()) {
        let (value, term) = f(v);
        *o = value;
        total = total + term;
    }
    total
}

/// The sum of `f(x[i])` (an integer count).
#[inline(always)]
pub(crate) fn sum<T: Copy, C>(x: &[T], f: impl Fn(T) -> C) -> C
where
    C: Copy + Default + Add<Output = C>,
{
    x.iter().fold(C::default(), |total, &v| total + f(v))
}

/// A block of output, aligned for whole-cache-line stores.
#[repr(C, align(64))]
struct StreamBuffer<U>([U; STREAM_BLOCK]);

/// Writes `out` with non-temporal stores, where `block(range, dst)` computes elements
/// `range` of the result into `dst`: an ordinary head until `out` is 64-byte aligned,
/// then blocks computed into an L1-resident buffer and streamed out with `stream`,
/// then an ordinary tail. One buffer serves every operation and element type.
///
/// # Safety
/// `stream(src, dst)` must write `src` to `dst` and be safe to call with `dst`
/// 64-byte aligned and valid for `src.len()` elements, `src.len() == STREAM_BLOCK`.
/// The caller issues the store fence afterwards.
#[inline(always)]
pub(crate) unsafe fn streamed<U: ElementOps>(
    out: &mut [U],
    block: impl Fn(Range<usize>, &mut [U]),
    stream: unsafe fn(&[U], *mut U),
) {
    let len = out.len();
    let head = out.as_ptr().align_offset(64).min(len);
    block(0..head, &mut out[..head]);
    let body = (len - head) / STREAM_BLOCK * STREAM_BLOCK;
    let mut buffer = StreamBuffer([U::ZERO; STREAM_BLOCK]);
    for (i, out) in out[head..head + body]
        .chunks_exact_mut(STREAM_BLOCK)
        .enumerate()
    {
        let start = head + i * STREAM_BLOCK;
        block(start..start + STREAM_BLOCK, &mut buffer.0);
        // SAFETY: `out` starts a multiple of STREAM_BLOCK elements past the aligned
        // head, and STREAM_BLOCK * size_of::<U>() is a multiple of 64, so it is 64-byte
        // aligned; it holds exactly STREAM_BLOCK elements.
        unsafe { stream(&buffer.0, out.as_mut_ptr()) };
    }
    block(head + body..len, &mut out[head + body..]);
}
