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
    threads: usize,
    pool: Arc<ThreadPool>,
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

/// The pool for this process and thread count, built on first use.
fn pool() -> Option<Arc<ThreadPool>> {
    let threads = num_threads();
    let pid = std::process::id();
    let mut current = CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match current.as_ref() {
        Some(c) if c.pid == pid && c.threads == threads => return Some(c.pool.clone()),
        Some(c) if c.pid != pid => {
            // A forked child: the parent's worker threads do not exist here. Never touch
            // (or drop) that pool; leak it and build a new one.
            if let Some(old) = current.take() {
                std::mem::forget(old);
            }
        }
        _ => {}
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()?,
    );
    *current = Some(Current {
        pid,
        threads,
        pool: pool.clone(),
    });
    Some(pool)
}

/// Runs `f`, a call on `len` elements of `T`, on the pool when it is large enough to be
/// split, else right here (below relukit's own threshold it never asks rayon anything,
/// so rayon's global pool is never started).
pub fn run<T, R: Send>(len: usize, f: impl FnOnce() -> R + Send) -> R {
    if len.saturating_mul(size_of::<T>()) < relukit::threads::parallel_min_bytes() {
        return f();
    }
    match pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}
