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

use crate::{Error, ErrorKind};

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
