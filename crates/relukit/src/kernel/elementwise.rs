//! Element-by-element operations and the kernels that run them.
//!
//! An [`Elementwise`] operation writes any range of its result into a buffer; the
//! [`Write`] kernel runs it with ordinary stores, [`Stream`] with non-temporal ones
//! (computed a block at a time into an L1-resident buffer, then streamed out). An
//! [`Update`] changes data in place; [`Modify`] runs it. Ranges are positions in the
//! whole call, so a chunk of a threaded call, or an operation that depends on the
//! element's index (RReLU's random slopes), sees the same positions on any split.

use std::ops::Range;

use super::{TILE_BYTES, Tile, line_offset};
use crate::arch::{Kernel, Level};
use crate::element::sealed::ElementOps;

/// An element-by-element operation over inputs captured in the value.
pub(crate) trait Elementwise: Copy + Send + Sync {
    /// The output element.
    type Out: ElementOps;
    /// Writes elements `range` of the result into `dst` (`dst.len() == range.len()`).
    fn write<L: Level>(self, level: L, range: Range<usize>, dst: &mut [Self::Out]);
}

/// An in-place operation on elements of type `T`.
pub(crate) trait Update<T>: Copy + Send + Sync {
    /// Updates `data`, which holds the elements from position `start` of the call.
    fn update<L: Level>(self, level: L, start: usize, data: &mut [T]);
}

/// `out[i] = f(x[i])`.
#[derive(Clone, Copy)]
pub(crate) struct Unary<'a, T, F> {
    pub(crate) x: &'a [T],
    pub(crate) f: F,
}

impl<T, U, F> Elementwise for Unary<'_, T, F>
where
    T: Copy + Sync,
    U: ElementOps,
    F: Fn(T) -> U + Copy + Send + Sync,
{
    type Out = U;
    #[inline(always)]
    fn write<L: Level>(self, _: L, range: Range<usize>, dst: &mut [U]) {
        for (o, &v) in dst.iter_mut().zip(&self.x[range]) {
            *o = (self.f)(v);
        }
    }
}

/// `out[i] = f(a[i], b[i])`.
#[derive(Clone, Copy)]
pub(crate) struct Binary<'a, A, B, F> {
    pub(crate) a: &'a [A],
    pub(crate) b: &'a [B],
    pub(crate) f: F,
}

impl<A, B, U, F> Elementwise for Binary<'_, A, B, F>
where
    A: Copy + Sync,
    B: Copy + Sync,
    U: ElementOps,
    F: Fn(A, B) -> U + Copy + Send + Sync,
{
    type Out = U;
    #[inline(always)]
    fn write<L: Level>(self, _: L, range: Range<usize>, dst: &mut [U]) {
        let inputs = self.a[range.clone()].iter().zip(&self.b[range]);
        for (o, (&u, &v)) in dst.iter_mut().zip(inputs) {
            *o = (self.f)(u, v);
        }
    }
}

/// `out[i] = f(a[i], b[i], i)`: the formula sees each element's position in the call.
#[derive(Clone, Copy)]
pub(crate) struct Indexed<'a, A, B, F> {
    pub(crate) a: &'a [A],
    pub(crate) b: &'a [B],
    pub(crate) f: F,
}

impl<A, B, U, F> Elementwise for Indexed<'_, A, B, F>
where
    A: Copy + Sync,
    B: Copy + Sync,
    U: ElementOps,
    F: Fn(A, B, u64) -> U + Copy + Send + Sync,
{
    type Out = U;
    #[inline(always)]
    fn write<L: Level>(self, _: L, range: Range<usize>, dst: &mut [U]) {
        let start = range.start as u64;
        let inputs = self.a[range.clone()].iter().zip(&self.b[range]);
        for (i, (o, (&u, &v))) in dst.iter_mut().zip(inputs).enumerate() {
            *o = (self.f)(u, v, start + i as u64);
        }
    }
}

/// `data[i] = f(data[i])`.
#[derive(Clone, Copy)]
pub(crate) struct UnaryInPlace<F> {
    pub(crate) f: F,
}

impl<T, F> Update<T> for UnaryInPlace<F>
where
    T: Copy + Send,
    F: Fn(T) -> T + Copy + Send + Sync,
{
    #[inline(always)]
    fn update<L: Level>(self, _: L, _: usize, data: &mut [T]) {
        for v in data.iter_mut() {
            *v = (self.f)(*v);
        }
    }
}

/// `a[i] = f(a[i], b[i])`.
#[derive(Clone, Copy)]
pub(crate) struct BinaryInPlace<'a, B, F> {
    pub(crate) b: &'a [B],
    pub(crate) f: F,
}

impl<A, B, F> Update<A> for BinaryInPlace<'_, B, F>
where
    A: Copy + Send,
    B: Copy + Sync,
    F: Fn(A, B) -> A + Copy + Send + Sync,
{
    #[inline(always)]
    fn update<L: Level>(self, _: L, start: usize, data: &mut [A]) {
        for (u, &v) in data.iter_mut().zip(&self.b[start..]) {
            *u = (self.f)(*u, v);
        }
    }
}

/// `a[i] = f(a[i], b[i], i)`.
#[derive(Clone, Copy)]
pub(crate) struct IndexedInPlace<'a, B, F> {
    pub(crate) b: &'a [B],
    pub(crate) f: F,
}

impl<A, B, F> Update<A> for IndexedInPlace<'_, B, F>
where
    A: Copy + Send,
    B: Copy + Sync,
    F: Fn(A, B, u64) -> A + Copy + Send + Sync,
{
    #[inline(always)]
    fn update<L: Level>(self, _: L, start: usize, data: &mut [A]) {
        for (i, (u, &v)) in data.iter_mut().zip(&self.b[start..]).enumerate() {
            *u = (self.f)(*u, v, (start + i) as u64);
        }
    }
}

/// Writes `out`, elements `start..start + out.len()` of `op`'s result, with ordinary stores.
pub(crate) struct Write<'a, E: Elementwise> {
    pub(crate) op: E,
    pub(crate) start: usize,
    pub(crate) out: &'a mut [E::Out],
}

impl<E: Elementwise> Kernel for Write<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        // The first elements up to a 64-byte boundary on their own: a misaligned
        // 512-bit store splits a cache line, which halves the loop's speed in cache.
        let Write { op, start, out } = self;
        let (head, body) = out.split_at_mut(line_offset(out));
        op.write(level, start..start + head.len(), head);
        let start = start + head.len();
        op.write(level, start..start + body.len(), body)
    }
}

/// [`Write`] with non-temporal stores where the level has them: an ordinary head until
/// `out` is 64-byte aligned, then the body in rounds over `pages` 4 KiB pages at a time
/// (glibc's large `memcpy` writes four): each round computes 1 KiB of each page into a
/// [`Tile`] in L1 and streams it out, `wide` (512-bit) or in pairs of 256-bit stores;
/// an ordinary tail, and a store fence. With one page, the rounds are 2 KiB, one
/// stream. (Steps of 128 bytes to 1 KiB per page measured alike for a copy; the larger
/// ones cost an operation with per-call overhead, PReLU on 16-bit floats, less.)
pub(crate) struct Stream<'a, E: Elementwise> {
    pub(crate) op: E,
    pub(crate) start: usize,
    pub(crate) out: &'a mut [E::Out],
    pub(crate) pages: usize,
    pub(crate) wide: bool,
}

/// Bytes of one page.
const PAGE_BYTES: usize = 4096;

impl<E: Elementwise> Kernel for Stream<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        let Stream {
            op,
            start,
            out,
            pages,
            wide,
        } = self;
        if !L::STREAMS {
            return Write { op, start, out }.run(level);
        }
        let size = size_of::<E::Out>();
        let len = out.len();
        let head = line_offset(out);
        op.write(level, start..start + head, &mut out[..head]);
        let page = PAGE_BYTES / size;
        let step = if pages > 1 { 1024 } else { TILE_BYTES } / size;
        let round = if pages > 1 { pages * page } else { step };
        let body = (len - head) / round * round;
        let mut buffer = Tile::new();
        let tile = buffer.elements::<E::Out>(step);
        let base = out[head..].as_mut_ptr();
        for r in (0..body).step_by(round) {
            for offset in (0..round / pages).step_by(step) {
                for p in 0..pages {
                    let i = r + p * page + offset;
                    let from = start + head + i;
                    op.write(level, from..from + step, tile);
                    // SAFETY: `base + i` lies in `out[head..head + body]` with `step`
                    // elements after it (i + step <= r + round <= body); it is 64-byte
                    // aligned (head aligns `base`; `i` is a multiple of 64 bytes), and
                    // `step * size` is a multiple of 64 bytes; `out` is a unique borrow
                    // distinct from the buffer.
                    unsafe { level.stream_block(tile, base.add(i), wide) };
                }
            }
        }
        op.write(
            level,
            start + head + body..start + len,
            &mut out[head + body..],
        );
        level.store_fence();
    }
}

/// Updates `data`, elements `start..start + data.len()` of the call, in place.
pub(crate) struct Modify<'a, T, U: Update<T>> {
    pub(crate) op: U,
    pub(crate) start: usize,
    pub(crate) data: &'a mut [T],
}

impl<T, U: Update<T>> Kernel for Modify<'_, T, U> {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        // As in `Write`: the body starts on a cache line.
        let Modify { op, start, data } = self;
        let (head, body) = data.split_at_mut(line_offset(data));
        op.update(level, start, head);
        op.update(level, start + head.len(), body)
    }
}
