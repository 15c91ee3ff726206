//! Threads and store strategy: how one call is split over the caller's rayon pool, and
//! when outputs are written with non-temporal stores; the thresholds come from the
//! machine ([`Machine`]).
//!
//! Calls whose output is smaller than [`Machine::parallel_min_bytes`] run on the calling
//! thread; larger ones are cut into contiguous chunks (multiples of 64 elements, so chunk
//! starts keep the buffer's alignment) and run on the rayon pool the call is made from,
//! so `ThreadPool::install` caps or serialises them. Out-of-place outputs of at least
//! [`Machine::stream_min_bytes`] are written with non-temporal stores (skipping the
//! read-for-ownership saves a third of the traffic), unless their pages were never
//! touched: writing a fresh page costs a page fault and a zeroed page in cache, after
//! which ordinary stores are faster.

use crate::arch::Simd;
use crate::kernel::{Elementwise, Modify, Stream, Update, Write};
use crate::machine::Machine;
use rayon::prelude::*;

#[cfg(any(test, feature = "testing"))]
thread_local! {
    /// The configuration [`Exec::overriding`] set on this thread, if any.
    static OVERRIDE: std::cell::Cell<Option<Exec>> = const { std::cell::Cell::new(None) };
}

/// How one call runs: the instruction set, the thresholds and the streaming style.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exec {
    pub(crate) simd: Simd,
    pub(crate) parallel_min_bytes: usize,
    pub(crate) stream_min_bytes: usize,
    /// Pages a streamed output writes at a time.
    pub(crate) stream_pages: usize,
    /// Whether non-temporal stores are 512 bits wide (else pairs of 256-bit ones).
    pub(crate) wide_stores: bool,
    /// Whether outputs whose pages were never touched get ordinary stores (the tests
    /// turn this off to reach the streamed path on any buffer).
    pub(crate) plain_when_fresh: bool,
}

impl Exec {
    /// How calls run: the machine's level and thresholds (or, in tests, what
    /// [`Exec::overriding`] set on this thread).
    pub(crate) fn current() -> Exec {
        #[cfg(any(test, feature = "testing"))]
        if let Some(exec) = OVERRIDE.with(std::cell::Cell::get) {
            return exec;
        }
        Exec::machine()
    }

    /// Runs `f` with every call made on this thread configured by `self` (for
    /// [`testing::with`](crate::testing::with)); the previous configuration comes back
    /// afterwards, even if `f` panics.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn overriding<R>(self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Exec>);
        impl Drop for Restore {
            fn drop(&mut self) {
                OVERRIDE.with(|o| o.set(self.0));
            }
        }
        let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(self))));
        f()
    }

    /// The machine's own configuration.
    pub(crate) fn machine() -> Exec {
        let machine = Machine::get();
        let simd = Simd::active();
        Exec {
            simd,
            parallel_min_bytes: machine.parallel_min_bytes(),
            stream_min_bytes: machine.stream_min_bytes(),
            stream_pages: machine.stream_pages(),
            wide_stores: machine.vendor() == crate::machine::Vendor::Intel,
            plain_when_fresh: true,
        }
    }

    /// The chunk length for a parallel run over `len` elements of `size` bytes, or
    /// `None` to run serially.
    pub(crate) fn chunk_len(&self, len: usize, size: usize) -> Option<usize> {
        // Small calls never touch rayon (no pool is started, which also keeps a
        // process that forked after using relukit safe for them).
        if len < 2
            || len.saturating_mul(size) < self.parallel_min_bytes
            || crate::threads::kept_on_this_thread()
        {
            return None;
        }
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return None;
        }
        // A few chunks per thread balance uneven progress; none smaller than half the
        // threshold, so the per-chunk overhead stays negligible.
        let min_chunk = self.parallel_min_bytes / size.max(1) / 2;
        let chunk = len.div_ceil(threads * 4).max(min_chunk).max(64);
        Some(chunk.next_multiple_of(64))
    }

    /// Whether an out-of-place output `out` is streamed: large enough, on a level with
    /// non-temporal stores, and already touched (see [`fresh`]).
    pub(crate) fn streams<U>(&self, out: &[U]) -> bool {
        self.simd.can_stream()
            && size_of_val(out) >= self.stream_min_bytes
            && !(self.plain_when_fresh && fresh(out))
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
        match self.chunk_len(out.len(), size_of::<B>()) {
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
        match self.chunk_len(data.len(), size_of::<T>()) {
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
        let stream = self.streams(out);
        self.for_chunks_mut(out, |start, out| {
            if stream {
                self.simd.run(Stream {
                    op,
                    start,
                    out,
                    pages: self.stream_pages,
                    wide: self.wide_stores,
                })
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

/// Whether `out`'s memory was never touched (Linux: a page at its start, middle or end
/// is not resident). A fresh page is faulted in, zeroed and cached by its first store, so
/// a non-temporal store there only evicts it again: ordinary stores are faster (measured).
#[cfg(target_os = "linux")]
pub(crate) fn fresh<U>(out: &[U]) -> bool {
    const PAGE: usize = 4096;
    let bytes = size_of_val(out);
    if bytes < 3 * PAGE {
        return false;
    }
    let start = out.as_ptr() as usize;
    [start, start + bytes / 2, start + bytes - 1]
        .into_iter()
        .any(|at| {
            let page = at & !(PAGE - 1);
            let mut resident = 0u8;
            // SAFETY: `page` is the start of a page holding bytes of `out`, mapped for as
            // long as `out` is borrowed; mincore only reads the mapping's state and writes
            // one byte (one page's status) into `resident`.
            let status = unsafe { libc::mincore(page as *mut libc::c_void, 1, &mut resident) };
            status == 0 && resident & 1 == 0
        })
}

/// Asks Linux to back the whole 2 MiB pages of `out`, an allocation its caller has
/// not touched yet, with transparent huge pages (NumPy does the same for its arrays
/// from 4 MiB). A large fresh output then costs one page fault per 2 MiB instead of
/// per 4 KiB: measured, a 64 MiB allocating ReLU ran 2.4 times faster on one thread.
/// Smaller outputs, and systems where huge pages are off, are left alone.
#[cfg(target_os = "linux")]
#[cfg_attr(not(feature = "ndarray"), allow(dead_code))]
pub(crate) fn advise_huge_pages<U>(out: &[U]) {
    const HUGE: usize = 2 << 20;
    if size_of_val(out) < 2 * HUGE {
        return;
    }
    let start = (out.as_ptr() as usize).next_multiple_of(HUGE);
    let end = (out.as_ptr() as usize + size_of_val(out)) & !(HUGE - 1);
    if end > start {
        // SAFETY: `start..end` lies within `out`'s allocation, which stays mapped while
        // it is borrowed; MADV_HUGEPAGE only changes how the kernel backs the range
        // (its contents, zeros here, are kept) and cannot fail in a way that matters:
        // the result is ignored.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

/// Elsewhere, nothing to advise.
#[cfg(not(target_os = "linux"))]
pub(crate) fn advise_huge_pages<U>(_: &[U]) {}

/// Elsewhere, memory is taken as touched.
#[cfg(not(target_os = "linux"))]
pub(crate) fn fresh<U>(_: &[U]) -> bool {
    false
}
