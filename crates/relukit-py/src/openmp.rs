//! PyTorch's OpenMP team, borrowed for relukit.torch's elementwise calls.
//!
//! PyTorch runs its intra-op parallelism on an OpenMP team whose threads spin for a while
//! after each parallel region. A relukit call made right after a PyTorch op on rayon's
//! threads would compete with those spinning threads for the same cores (measured: 2-3x
//! slower on two cores); run on the same team, it finds them awake. The team is reached
//! through the OpenMP runtime PyTorch already loaded (`RTLD_NOLOAD`: nothing is loaded
//! here), by its `GOMP_parallel` entry point, which libgomp, LLVM's libomp and Intel's
//! libiomp5 all export.

use std::ffi::{c_int, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock};

use relukit::Error;

/// Why a split call failed.
pub enum Failure {
    /// A part returned this error.
    Error(Error),
    /// A part panicked (a bug: it is reported, never unwound through the C runtime).
    Panicked,
}

type Parallel = unsafe extern "C" fn(extern "C" fn(*mut c_void), *mut c_void, c_uint, c_uint);
type Query = unsafe extern "C" fn() -> c_int;

/// The entry points of an OpenMP runtime.
struct Runtime {
    parallel: Parallel,
    thread_num: Query,
    num_threads: Query,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Uses the OpenMP runtime at `path` if this process has already loaded it (PyTorch's);
/// whether relukit.torch now runs on its team.
#[cfg(unix)]
pub fn attach(path: &str) -> bool {
    if RUNTIME.get().is_some() {
        return true;
    }
    let Ok(path) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string; RTLD_NOLOAD only returns a handle
    // to a library already loaded (PyTorch's), loading nothing and running no code.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return false;
    }
    let symbol = |name: &std::ffi::CStr| {
        // SAFETY: a valid handle and a NUL-terminated name; dlsym only looks it up.
        let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!address.is_null()).then_some(address)
    };
    let (Some(parallel), Some(thread_num), Some(num_threads)) = (
        symbol(c"GOMP_parallel"),
        symbol(c"omp_get_thread_num"),
        symbol(c"omp_get_num_threads"),
    ) else {
        return false;
    };
    // SAFETY: these are the OpenMP runtime's functions of these C signatures
    // (`void GOMP_parallel(void (*)(void *), void *, unsigned, unsigned)`, `int
    // omp_get_thread_num(void)`, `int omp_get_num_threads(void)`), and the library stays
    // loaded: PyTorch holds it, and the handle is never closed.
    let runtime = unsafe {
        Runtime {
            parallel: std::mem::transmute::<*mut c_void, Parallel>(parallel),
            thread_num: std::mem::transmute::<*mut c_void, Query>(thread_num),
            num_threads: std::mem::transmute::<*mut c_void, Query>(num_threads),
        }
    };
    let _ = RUNTIME.set(runtime);
    true
}

#[cfg(not(unix))]
pub fn attach(_path: &str) -> bool {
    false
}

/// A call split over a team: `part(start, end)` for each thread's range.
struct Job<'a> {
    part: &'a (dyn Fn(usize, usize) -> Result<(), Error> + Sync),
    len: usize,
    align: usize,
    runtime: &'a Runtime,
    failure: Mutex<Option<Failure>>,
}

extern "C" fn run_part(data: *mut c_void) {
    // SAFETY: `data` is the `Job` that `split` passed to GOMP_parallel, alive until every
    // thread of the team has returned (GOMP_parallel returns after the region ends).
    let job = unsafe { &*(data as *const Job<'_>) };
    // SAFETY: OpenMP queries, called inside the parallel region.
    let (id, threads) = unsafe { ((job.runtime.thread_num)(), (job.runtime.num_threads)()) };
    let (id, threads) = (id.max(0) as usize, threads.max(1) as usize);
    let per = job.len.div_ceil(threads).next_multiple_of(job.align);
    let start = (id * per).min(job.len);
    let end = (start + per).min(job.len);
    if start >= end {
        return;
    }
    // A panic must not cross the C runtime: it becomes this call's error.
    let result = catch_unwind(AssertUnwindSafe(|| {
        relukit::threads::on_this_thread(|| (job.part)(start, end))
    }));
    let error = match result {
        Ok(Ok(())) => return,
        Ok(Err(error)) => Failure::Error(error),
        Err(_) => Failure::Panicked,
    };
    let mut failure = job.failure.lock().unwrap_or_else(|p| p.into_inner());
    failure.get_or_insert(error);
}

/// Whether relukit.torch runs on PyTorch's OpenMP team (a runtime is attached).
pub fn attached() -> bool {
    RUNTIME.get().is_some()
}

/// Runs `part` over `0..len` split into `threads` ranges (multiples of `align` elements
/// but the last) on the attached OpenMP team; `None` if no team is attached.
pub fn split(
    threads: usize,
    len: usize,
    align: usize,
    part: &(dyn Fn(usize, usize) -> Result<(), Error> + Sync),
) -> Option<Result<(), Failure>> {
    let runtime = RUNTIME.get()?;
    let job = Job {
        part,
        len,
        align,
        runtime,
        failure: Mutex::new(None),
    };
    // SAFETY: `run_part` has the signature GOMP_parallel expects and only reads `job`,
    // which outlives the call (GOMP_parallel returns when every thread is done).
    unsafe {
        (runtime.parallel)(
            run_part,
            &job as *const Job<'_> as *mut c_void,
            threads as c_uint,
            0,
        )
    };
    let failure = job.failure.into_inner().unwrap_or_else(|p| p.into_inner());
    Some(failure.map_or(Ok(()), Err))
}
