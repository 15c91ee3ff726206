//! For relukit's own tests, benchmarks and fuzz targets (feature `testing`, not part of
//! the public API): run calls on the calling thread with another instruction set and
//! other size thresholds than the machine's, to reach every code path on small inputs.
//!
//! ```
//! use relukit::testing::{Config, with};
//! let config = Config { isa: relukit::Isa::Portable, parallel_min: 64, stream_min_bytes: 0 };
//! let mut y = [0.0f32; 3];
//! with(config, || relukit::relu(&[-1.0, 0.5, 2.0], &mut y))?;
//! assert_eq!(y, [0.0, 0.5, 2.0]);
//! # Ok::<(), relukit::Error>(())
//! ```

use std::cell::Cell;

use crate::Isa;
use crate::arch::Simd;
use crate::parallel::Exec;

/// How the calls inside [`with`] run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The instruction set (one the CPU lacks falls back to the best it has).
    pub isa: Isa,
    /// Calls of at least this many elements run on the rayon pool.
    pub parallel_min: usize,
    /// Out-of-place outputs of at least this many bytes use non-temporal stores.
    pub stream_min_bytes: usize,
}

thread_local! {
    static OVERRIDE: Cell<Option<Exec>> = const { Cell::new(None) };
}

/// Runs `f` with every relukit call made on this thread configured by `config`.
pub fn with<R>(config: Config, f: impl FnOnce() -> R) -> R {
    let exec = Exec {
        simd: Simd::supported()
            .into_iter()
            .find(|simd| simd.isa() == config.isa)
            .unwrap_or_else(Simd::active),
        parallel_min: config.parallel_min,
        stream_min_bytes: config.stream_min_bytes,
    };
    /// Restores the previous override even if `f` panics.
    struct Restore(Option<Exec>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(exec))));
    f()
}

/// The instruction sets this CPU can run.
pub fn supported_isas() -> Vec<Isa> {
    Simd::supported().into_iter().map(Simd::isa).collect()
}

/// The configuration set by [`with`] on this thread, if any.
pub(crate) fn current() -> Option<Exec> {
    OVERRIDE.with(Cell::get)
}
