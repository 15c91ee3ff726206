//! How relukit uses threads, for programs and bindings that size their own pools.
//!
//! A call whose output is smaller than [`parallel_min_bytes`] runs on the calling thread
//! and never touches rayon; a larger one is cut into contiguous chunks that run on the
//! rayon pool the call is made from (`ThreadPool::install` caps or serialises it). The
//! threshold comes from the machine's caches ([`Machine`](crate::machine::Machine)). A
//! pool larger than [`max_threads`] only adds switching: [`check_threads`] refuses such
//! counts.
//!
//! ```
//! let threads = relukit::threads::check_threads(2)?;
//! let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
//! let x = vec![-1.0f32; relukit::threads::parallel_min_bytes()];
//! let mut y = vec![0.0f32; x.len()];
//! pool.install(|| relukit::relu(&x, &mut y))?; // above the threshold: split over 2 threads
//! # Ok::<(), relukit::Error>(())
//! ```

use std::cell::Cell;

use crate::{Error, ErrorKind};

thread_local! {
    /// Whether calls on this thread stay on it (inside [`on_this_thread`]).
    static ON_THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every relukit call made in it on the calling thread, whatever its size
/// (no rayon task is started): for a caller that splits the work over threads of its
/// own, such as each thread of an OpenMP team or a framework's pool working on its part
/// of a buffer. Results are the same bits (chunking never changes a result).
///
/// ```
/// let x = vec![-1.0f32; 4 * relukit::threads::parallel_min_bytes()];
/// let mut y = vec![0.0f32; x.len()];
/// relukit::threads::on_this_thread(|| relukit::relu(&x, &mut y))?; // one thread, any size
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn on_this_thread<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ON_THIS_THREAD.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(ON_THIS_THREAD.with(|c| c.replace(true)));
    f()
}

/// Whether the calling thread is inside [`on_this_thread`].
pub(crate) fn kept_on_this_thread() -> bool {
    ON_THIS_THREAD.with(|c| c.get())
}

/// Calls whose output has fewer bytes than this run on one thread: the L2 size on Intel,
/// twice it elsewhere (see [`Machine`](crate::machine::Machine); `RELUKIT_PARALLEL_MIN_BYTES`
/// overrides it).
pub fn parallel_min_bytes() -> usize {
    crate::machine::Machine::get().parallel_min_bytes()
}

/// Threads per core beyond which a pool is refused.
const MAX_THREADS_PER_CORE: usize = 8;

/// The most threads [`check_threads`] accepts: 8 per core of this machine.
pub fn max_threads() -> usize {
    MAX_THREADS_PER_CORE * std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `threads` if it is between 1 and [`max_threads`].
///
/// # Errors
/// [`ErrorKind::OutOfRange`] otherwise, with the limit in the message.
pub fn check_threads(threads: usize) -> Result<usize, Error> {
    let max = max_threads();
    if (1..=max).contains(&threads) {
        Ok(threads)
    } else {
        Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "the number of threads must be between 1 and {max} ({MAX_THREADS_PER_CORE} per core of this machine), got {threads}"
            ),
        ))
    }
}
