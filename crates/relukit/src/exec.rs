//! Threads and store strategy: how one call is split over the caller's rayon pool, and
//! when outputs are written with non-temporal stores.
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
use crate::kernel::{Elementwise, Modify, Stream, Update, Write};
use crate::threads::PARALLEL_MIN;

/// Out-of-place outputs of at least this many bytes use non-temporal stores (about
/// the last-level cache of the reference machine; measured: see BENCHMARKS.md).
pub(crate) const STREAM_MIN_BYTES: usize = 32 << 20;

/// How one call runs: the instruction set and the two size thresholds.
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

    /// Calls `f(start, x, out)` on matching chunks of `x` and `out` (each `start`
    /// elements into the call): one chunk below the parallel threshold, else chunks on
    /// the caller's rayon pool.
    pub(crate) fn for_chunks<A: Sync, B: Send>(
        &self,
        x: &[A],
        out: &mut [B],
        f: impl Fn(usize, &[A], &mut [B]) + Sync,
    ) {
        match self.chunk_len(out.len()) {
            None => f(0, x, out),
            Some(chunk) => out
                .par_chunks_mut(chunk)
                .zip(x.par_chunks(chunk))
                .enumerate()
                .for_each(|(i, (out, x))| f(i * chunk, x, out)),
        }
    }

    /// [`for_chunks`](Self::for_chunks) over one buffer changed in place.
    pub(crate) fn for_chunks_mut<T: Send>(
        &self,
        data: &mut [T],
        f: impl Fn(usize, &mut [T]) + Sync,
    ) {
        match self.chunk_len(data.len()) {
            None => f(0, data),
            Some(chunk) => data
                .par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, data)| f(i * chunk, data)),
        }
    }

    /// Writes `op`'s result into `out` (its positions `0..out.len()`), on the chunks and
    /// with the stores this call's size calls for.
    pub(crate) fn write<E: Elementwise>(&self, op: E, out: &mut [E::Out]) {
        let stream = self.streams::<E::Out>(out.len());
        self.for_chunks_mut(out, |start, out| {
            if stream {
                self.simd.run(Stream { op, start, out })
            } else {
                self.simd.run(Write { op, start, out })
            }
        })
    }

    /// Applies `op` to `data` in place.
    pub(crate) fn update<T: Send, U: Update<T>>(&self, op: U, data: &mut [T]) {
        self.for_chunks_mut(data, |start, data| {
            self.simd.run(Modify { op, start, data })
        })
    }
}
