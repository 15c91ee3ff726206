//! For relukit's own tests, benchmarks and fuzz targets (feature `testing`, not part of
//! the public API): run calls on the calling thread with another instruction set and
//! other size thresholds than the machine's, to reach every code path on small inputs.
//!
//! ```
//! use relukit::testing::{Config, with};
//! let config = Config { isa: relukit::Isa::Portable, parallel_min_bytes: 256, stream_min_bytes: 0 };
//! let mut y = [0.0f32; 3];
//! with(config, || relukit::relu(&[-1.0, 0.5, 2.0], &mut y))?;
//! assert_eq!(y, [0.0, 0.5, 2.0]);
//! # Ok::<(), relukit::Error>(())
//! ```

use crate::Isa;
use crate::arch::Simd;
use crate::exec::Exec;

/// How the calls inside [`with`] run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The instruction set (one the CPU lacks falls back to the best it has).
    pub isa: Isa,
    /// Calls whose output has at least this many bytes run on the rayon pool.
    pub parallel_min_bytes: usize,
    /// Out-of-place outputs of at least this many bytes use non-temporal stores (even
    /// where their pages were never touched).
    pub stream_min_bytes: usize,
}

/// Runs `f` with every relukit call made on this thread configured by `config`.
pub fn with<R>(config: Config, f: impl FnOnce() -> R) -> R {
    let exec = Exec {
        simd: Simd::supported()
            .into_iter()
            .find(|simd| simd.isa() == config.isa)
            .unwrap_or_else(Simd::active),
        parallel_min_bytes: config.parallel_min_bytes,
        stream_min_bytes: config.stream_min_bytes,
        plain_when_fresh: false,
        ..Exec::machine()
    };
    exec.overriding(f)
}

/// The instruction sets this CPU can run.
pub fn supported_isas() -> Vec<Isa> {
    Simd::supported().into_iter().map(Simd::isa).collect()
}

/// Every way a call can run on this machine: each instruction set, serial or threaded
/// (from 256 bytes of output; threaded ones must run inside a pool of several threads),
/// with ordinary or non-temporal stores.
pub fn configs(threaded: bool) -> Vec<Config> {
    let mut all = Vec::new();
    for isa in supported_isas() {
        for stream in [false, true] {
            all.push(Config {
                isa,
                parallel_min_bytes: if threaded { 256 } else { usize::MAX },
                stream_min_bytes: if stream { 0 } else { usize::MAX },
            });
        }
    }
    all
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} threaded={} streamed={}",
            self.isa,
            self.parallel_min_bytes != usize::MAX,
            self.stream_min_bytes == 0
        )
    }
}

/// The tests' random numbers: SplitMix64 (the generator behind RReLU's slopes), small and
/// deterministic, so every failure reproduces from its seed.
#[derive(Debug, Clone)]
pub struct Rng {
    seed: u64,
    drawn: u64,
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { seed, drawn: 0 }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.drawn += 1;
        crate::params::splitmix64(self.seed, self.drawn - 1)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [-1, 1), with 52 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}
