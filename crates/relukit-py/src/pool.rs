//! The thread pool the Python bindings run large calls on: sized by
//! `relukit.set_num_threads`, and rebuilt in a process that forked (rayon's threads do
//! not survive `fork`, so the child must never wait on the parent's pool).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::ThreadPool;

/// Threads asked for (0: one per core).
static WANTED: AtomicUsize = AtomicUsize::new(0);

struct Current {
    pid: u32,
    /// One pool per thread count asked for (relukit's own and PyTorch's may differ).
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

pub fn set_num_threads(threads: usize) {
    WANTED.store(threads, Ordering::SeqCst);
}

pub fn num_threads() -> usize {
    match WANTED.load(Ordering::SeqCst) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The pool of `threads` threads for this process, built on first use.
fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut current = CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if current.as_ref().is_some_and(|c| c.pid != pid) {
        // A forked child: the parent's worker threads do not exist here. Never touch
        // (or drop) those pools; leak them and build new ones.
        if let Some(old) = current.take() {
            std::mem::forget(old);
        }
    }
    let current = current.get_or_insert_with(|| Current {
        pid,
        pools: Vec::new(),
    });
    if let Some((_, pool)) = current.pools.iter().find(|(t, _)| *t == threads) {
        return Some(pool.clone());
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()?,
    );
    current.pools.push((threads, pool.clone()));
    Some(pool)
}

/// Runs `f`, a call on `len` elements of `T`, on the pool when it is large enough to be
/// split, else right here (below relukit's own threshold it never asks rayon anything,
/// so rayon's global pool is never started).
pub fn run<T, R: Send>(len: usize, f: impl FnOnce() -> R + Send) -> R {
    run_threads::<T, R>(num_threads(), len, f)
}

/// [`run`] on `threads` threads at most (relukit.torch passes PyTorch's intra-op count):
/// one thread never starts a pool.
pub fn run_threads<T, R: Send>(threads: usize, len: usize, f: impl FnOnce() -> R + Send) -> R {
    if threads <= 1 || len.saturating_mul(size_of::<T>()) < relukit::threads::parallel_min_bytes() {
        return f();
    }
    match pool(threads.min(relukit::threads::max_threads())) {
        Some(pool) => pool.install(f),
        None => f(),
    }
}
