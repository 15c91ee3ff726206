//! Threads and store strategy: how one call is split over the caller's rayon pool,
//! and when outputs are written with non-temporal stores.
//!
//! Calls below [`PARALLEL_MIN`] elements run on the calling thread; larger ones are cut
//! into contiguous chunks (multiples of 64 elements, so chunk starts keep the buffer's
//! alignment) and run on the rayon pool the call is made from, so
//! `ThreadPool::install` caps or serialises them. Out-of-place outputs of at least
//! [`STREAM_MIN_BYTES`] are written with non-temporal stores: at that size the output
//! cannot stay in cache anyway, and skipping the read-for-ownership saves a third of
//! the traffic.

use rayon::prelude::*;

use crate::arch::Simd;
use crate::element::sealed::ElementOps;

use crate::threads::PARALLEL_MIN;

/// Out-of-place outputs of at least this many bytes use non-temporal stores (about
/// the last-level cache of the reference machine; measured: see BENCHMARKS.md).
pub(crate) const STREAM_MIN_BYTES: usize = 32 << 20;

/// How one call runs: the instruction set and the two size thresholds. Public
/// functions use [`Exec::current`]; tests build others to reach every path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exec {
    pub(crate) simd: Simd,
    pub(crate) parallel_min: usize,
    pub(crate) stream_min_bytes: usize,
}

impl Exec {
    /// How calls run: the machine's level and thresholds (or, in tests, what
    /// [`testing::with`](crate::testing::with) set).
    pub(crate) fn current() -> Exec {
        #[cfg(any(test, feature = "testing"))]
        if let Some(exec) = crate::testing::current() {
            return exec;
        }
        Exec {
            simd: Simd::active(),
            parallel_min: PARALLEL_MIN,
            stream_min_bytes: STREAM_MIN_BYTES,
        }
    }

    /// The chunk length for a parallel run over `len` elements, or `None` to run serially.
    pub(crate) fn chunk_len(&self, len: usize) -> Option<usize> {
        // Small calls never touch rayon (no pool is started, which also keeps a
        // process that forked after using relukit safe for them).
        if len < self.parallel_min.max(2) {
            return None;
        }
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return None;
        }
        // A few chunks per thread balance uneven progress; none smaller than half the
        // serial threshold, so the per-chunk overhead stays negligible.
        let chunk = len.div_ceil(threads * 4).max(self.parallel_min / 2).max(64);
        Some(chunk.next_multiple_of(64))
    }

    /// Whether an out-of-place output of `len` elements of `U` is streamed.
    pub(crate) fn streams<U>(&self, len: usize) -> bool {
        self.simd.can_stream() && len.saturating_mul(size_of::<U>()) >= self.stream_min_bytes
    }
}

/// `out[i] = f(x[i])` over the whole call.
pub(crate) fn map<T, U, F>(exec: &Exec, x: &[T], out: &mut [U], f: F)
where
    T: Copy + Sync,
    U: ElementOps,
    F: Fn(T) -> U + Copy + Send + Sync,
{
    let stream = exec.streams::<U>(out.len());
    let run = |x: &[T], out: &mut [U]| {
        if stream {
            exec.simd.map_streamed(x, out, f)
        } else {
            exec.simd.map(x, out, f)
        }
    };
    match exec.chunk_len(out.len()) {
        None => run(x, out),
        Some(chunk) => out
            .par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(out, x)| run(x, out)),
    }
}

/// `data[i] = f(data[i])` over the whole call.
pub(crate) fn map_inplace<T, F>(exec: &Exec, data: &mut [T], f: F)
where
    T: Copy + Send + Sync,
    F: Fn(T) -> T + Copy + Send + Sync,
{
    match exec.chunk_len(data.len()) {
        None => exec.simd.map_inplace(data, f),
        Some(chunk) => data
            .par_chunks_mut(chunk)
            .for_each(|data| exec.simd.map_inplace(data, f)),
    }
}

/// `out[i] = f(a[i], b[i])` over the whole call.
pub(crate) fn zip<A, B, U, F>(exec: &Exec, a: &[A], b: &[B], out: &mut [U], f: F)
where
    A: Copy + Sync,
    B: Copy + Sync,
    U: ElementOps,
    F: Fn(A, B) -> U + Copy + Send + Sync,
{
    let stream = exec.streams::<U>(out.len());
    let run = |a: &[A], b: &[B], out: &mut [U]| {
        if stream {
            exec.simd.zip_streamed(a, b, out, f)
        } else {
            exec.simd.zip(a, b, out, f)
        }
    };
    match exec.chunk_len(out.len()) {
        None => run(a, b, out),
        Some(chunk) => out
            .par_chunks_mut(chunk)
            .zip(a.par_chunks(chunk))
            .zip(b.par_chunks(chunk))
            .for_each(|((out, a), b)| run(a, b, out)),
    }
}

/// `a[i] = f(a[i], b[i])` over the whole call.
pub(crate) fn zip_inplace<A, B, F>(exec: &Exec, a: &mut [A], b: &[B], f: F)
where
    A: Copy + Send + Sync,
    B: Copy + Sync,
    F: Fn(A, B) -> A + Copy + Send + Sync,
{
    match exec.chunk_len(a.len()) {
        None => exec.simd.zip_inplace(a, b, f),
        Some(chunk) => a
            .par_chunks_mut(chunk)
            .zip(b.par_chunks(chunk))
            .for_each(|(a, b)| exec.simd.zip_inplace(a, b, f)),
    }
}
