//! Element-by-element operations and the kernels that run them.
//!
//! An [`Elementwise`] operation writes any range of its result into a buffer; the
//! [`Write`] kernel runs it with ordinary stores, [`Stream`] with non-temporal ones
//! (computed a block at a time into an L1-resident buffer, then streamed out). An
//! [`Update`] changes data in place; [`Modify`] runs it. Ranges are positions in the
//! whole call, so a chunk of a threaded call, or an operation that depends on the
//! element's index (RReLU's random slopes), sees the same positions on any split.

use std::ops::Range;

use crate::arch::{Kernel, Level};
use crate::element::sealed::ElementOps;

/// Elements per block of a streamed (non-temporal) output.
pub(crate) const STREAM_BLOCK: usize = 512;

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
        let range = self.start..self.start + self.out.len();
        self.op.write(level, range, self.out)
    }
}

/// [`Write`] with non-temporal stores where the level has them: an ordinary head until
/// `out` is 64-byte aligned, then blocks computed into an L1-resident buffer and
/// streamed out, then an ordinary tail, and a store fence.
pub(crate) struct Stream<'a, E: Elementwise> {
    pub(crate) op: E,
    pub(crate) start: usize,
    pub(crate) out: &'a mut [E::Out],
}

/// A block of output, aligned for whole-cache-line stores.
#[repr(C, align(64))]
struct StreamBuffer<U>([U; STREAM_BLOCK]);

impl<E: Elementwise> Kernel for Stream<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run<L: Level>(self, level: L) {
        let Stream { op, start, out } = self;
        if !L::STREAMS {
            return Write { op, start, out }.run(level);
        }
        let len = out.len();
        let head = out.as_ptr().align_offset(64).min(len);
        op.write(level, start..start + head, &mut out[..head]);
        let body = (len - head) / STREAM_BLOCK * STREAM_BLOCK;
        let mut buffer = StreamBuffer([E::Out::ZERO; STREAM_BLOCK]);
        for (i, block) in out[head..head + body]
            .chunks_exact_mut(STREAM_BLOCK)
            .enumerate()
        {
            let from = start + head + i * STREAM_BLOCK;
            op.write(level, from..from + STREAM_BLOCK, &mut buffer.0);
            // SAFETY: `block` starts a multiple of STREAM_BLOCK elements past the
            // aligned head, and STREAM_BLOCK * size_of::<E::Out>() is a multiple of 64,
            // so it is 64-byte aligned; it holds exactly STREAM_BLOCK elements and is a
            // unique borrow, distinct from the buffer.
            unsafe { level.stream_block(&buffer.0, block.as_mut_ptr()) };
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
        self.op.update(level, self.start, self.data)
    }
}
