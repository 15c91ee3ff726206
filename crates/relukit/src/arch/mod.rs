//! Instruction sets: detection (once per process), the `RELUKIT_ISA` override, and
//! dispatch from one safe call to the driver compiled for the chosen level.
//!
//! Layout: [`generic`] holds the loop drivers, written once; `x86_64/` compiles them
//! for AVX2 and AVX-512. Other targets use the generic drivers as they are (written so
//! the compiler vectorises them for the baseline target). To add a level, add a module
//! under `x86_64/` (or a new architecture folder), a variant to [`Isa`], and an arm in
//! the `dispatch!` macro below.

pub(crate) mod generic;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use std::ops::Add;
use std::sync::OnceLock;

use crate::Float;
use crate::element::sealed::ElementOps;
use generic::Slopes;

/// A code path relukit can run.
///
/// ```
/// // The path in use: the best the CPU has, unless RELUKIT_ISA asks for a lower one.
/// println!("relukit runs {}", relukit::active_isa());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// The portable path: plain Rust loops, vectorised by the compiler for the
    /// baseline of the target (SSE2 on x86-64). Selected with `RELUKIT_ISA=scalar`.
    Portable,
    /// x86-64 with AVX2 and F16C.
    Avx2,
    /// x86-64 with AVX-512 F, BW, VL and DQ.
    Avx512,
}

impl Isa {
    /// The name `RELUKIT_ISA` accepts: `scalar`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_supported()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best path this CPU supports.
    pub fn best() -> Isa {
        [Isa::Avx512, Isa::Avx2]
            .into_iter()
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Portable)
    }

    /// The path for a `RELUKIT_ISA` value: the named one if the CPU has it, else the
    /// best it has; `None` (unset) or an unknown name gives the best.
    fn from_request(request: Option<&str>) -> Isa {
        let best = Isa::best();
        let wanted = match request.map(str::trim) {
            Some("scalar" | "portable") => Isa::Portable,
            Some("avx2") => Isa::Avx2,
            _ => best,
        };
        if wanted.is_supported() { wanted } else { best }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The path the public functions use: chosen on first use from the CPU and the
/// `RELUKIT_ISA` environment variable (`scalar`, `avx2`, `avx512`), then fixed for the
/// life of the process. A request for a path the CPU lacks gives the best available.
pub fn active_isa() -> Isa {
    Simd::active().isa()
}

/// A proof that the CPU supports an [`Isa`]: only this module can build one, and only
/// for a supported level, which is what makes [`Simd`]'s dispatch sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Simd(Isa);

impl Simd {
    /// The path chosen for this process.
    pub(crate) fn active() -> Simd {
        static ACTIVE: OnceLock<Simd> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let request = std::env::var("RELUKIT_ISA").ok();
            Simd(Isa::from_request(request.as_deref()))
        })
    }

    /// Every path this CPU supports (for tests and benchmarks).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn supported() -> Vec<Simd> {
        [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .map(Simd)
            .collect()
    }

    pub(crate) fn isa(self) -> Isa {
        self.0
    }

    /// Whether this path has non-temporal stores.
    pub(crate) fn can_stream(self) -> bool {
        self.0 != Isa::Portable
    }
}

/// Calls driver `$name` of the level `$simd` proves available; the portable path
/// calls `$portable` (by default the generic driver of the same name).
macro_rules! dispatch {
    ($simd:expr, $name:ident($($arg:expr),*)) => {
        dispatch!($simd, $name($($arg),*), generic::$name($($arg),*))
    };
    ($simd:expr, $name:ident($($arg:expr),*), $portable:expr) => {
        match $simd.0 {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // SAFETY: a `Simd` holding `Isa::Avx512` is only built when the CPU
                // supports every feature the AVX-512 drivers are compiled with.
                unsafe { x86_64::avx512::$name($($arg),*) }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                // SAFETY: a `Simd` holding `Isa::Avx2` is only built when the CPU
                // supports AVX2.
                unsafe { x86_64::avx2::$name($($arg),*) }
            }
            _ => $portable,
        }
    };
}

/// The drivers, one safe method each; see [`generic`] for what each computes.
impl Simd {
    #[inline]
    pub(crate) fn map<T: Copy, U: Copy>(self, x: &[T], out: &mut [U], f: impl Fn(T) -> U) {
        dispatch!(self, map(x, out, f))
    }

    #[inline]
    pub(crate) fn map_inplace<T: Copy>(self, data: &mut [T], f: impl Fn(T) -> T) {
        dispatch!(self, map_inplace(data, f))
    }

    #[inline]
    pub(crate) fn zip<A: Copy, B: Copy, U: Copy>(
        self,
        a: &[A],
        b: &[B],
        out: &mut [U],
        f: impl Fn(A, B) -> U,
    ) {
        dispatch!(self, zip(a, b, out, f))
    }

    #[inline]
    pub(crate) fn zip_inplace<A: Copy, B: Copy>(self, a: &mut [A], b: &[B], f: impl Fn(A, B) -> A) {
        dispatch!(self, zip_inplace(a, b, f))
    }

    #[inline]
    pub(crate) fn zip_sum<A: Copy, B: Copy, U: Copy, C>(
        self,
        a: &[A],
        b: &[B],
        out: &mut [U],
        f: impl Fn(A, B) -> (U, C),
    ) -> f64
    where
        C: Copy + Default + Add<Output = C> + Into<f64>,
    {
        dispatch!(self, zip_sum(a, b, out, f))
    }

    #[inline]
    pub(crate) fn zip3_accumulate<A: Copy, B: Copy, W: Copy, U: Copy, C>(
        self,
        a: &[A],
        b: &[B],
        w: &[W],
        out: &mut [U],
        acc: &mut [C],
        f: impl Fn(A, B, W) -> (U, C),
    ) where
        C: Copy + Add<Output = C>,
    {
        dispatch!(self, zip3_accumulate(a, b, w, out, acc, f))
    }

    #[inline]
    pub(crate) fn map_accumulate<T: Copy, U: Copy, C: Copy + Add<Output = C>>(
        self,
        x: &[T],
        out: &mut [U],
        acc: &mut [C],
        f: impl Fn(T) -> (U, C),
    ) {
        dispatch!(self, map_accumulate(x, out, acc, f))
    }

    #[inline]
    pub(crate) fn map_sum<T: Copy, U: Copy, C: Copy + Default + Add<Output = C>>(
        self,
        x: &[T],
        out: &mut [U],
        f: impl Fn(T) -> (U, C),
    ) -> C {
        dispatch!(self, map_sum(x, out, f))
    }

    #[inline]
    pub(crate) fn sum<T: Copy, C: Copy + Default + Add<Output = C>>(
        self,
        x: &[T],
        f: impl Fn(T) -> C,
    ) -> C {
        dispatch!(self, sum(x, f))
    }

    /// [`Simd::map`] with non-temporal stores where the level has them.
    #[inline]
    pub(crate) fn map_streamed<T: Copy, U: ElementOps>(
        self,
        x: &[T],
        out: &mut [U],
        f: impl Fn(T) -> U,
    ) {
        dispatch!(self, map_streamed(x, out, f), generic::map(x, out, f))
    }

    /// [`Simd::zip`] with non-temporal stores where the level has them.
    #[inline]
    pub(crate) fn zip_streamed<A: Copy, B: Copy, U: ElementOps>(
        self,
        a: &[A],
        b: &[B],
        out: &mut [U],
        f: impl Fn(A, B) -> U,
    ) {
        dispatch!(self, zip_streamed(a, b, out, f), generic::zip(a, b, out, f))
    }
}

/// Leaky ReLU and PReLU forward: their own drivers, so that `f16` can use the
/// hardware conversions where the level has them.
impl Simd {
    #[inline]
    pub(crate) fn leaky<T: Float>(self, x: &[T], slopes: Slopes<'_, T::Compute>, out: &mut [T]) {
        dispatch!(self, leaky(x, slopes, out))
    }

    #[inline]
    pub(crate) fn leaky_inplace<T: Float>(self, data: &mut [T], slopes: Slopes<'_, T::Compute>) {
        dispatch!(self, leaky_inplace(data, slopes))
    }

    /// [`Simd::leaky`] with non-temporal stores where the level has them.
    #[inline]
    pub(crate) fn leaky_streamed<T: Float>(
        self,
        x: &[T],
        slopes: Slopes<'_, T::Compute>,
        out: &mut [T],
    ) {
        dispatch!(
            self,
            leaky_streamed(x, slopes, out),
            generic::leaky(x, slopes, out)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_back_to_what_the_cpu_has() {
        assert_eq!(Isa::from_request(Some("scalar")), Isa::Portable);
        assert_eq!(Isa::from_request(Some(" portable ")), Isa::Portable);
        assert_eq!(Isa::from_request(None), Isa::best());
        assert_eq!(Isa::from_request(Some("no-such-isa")), Isa::best());
        let avx2 = Isa::from_request(Some("avx2"));
        assert_eq!(
            avx2,
            if Isa::Avx2.is_supported() {
                Isa::Avx2
            } else {
                Isa::best()
            }
        );
        let avx512 = Isa::from_request(Some("avx512"));
        assert_eq!(avx512, Isa::best());
        assert!(
            Simd::supported()
                .iter()
                .all(|simd| simd.isa().is_supported())
        );
        assert!(Simd::supported().contains(&Simd(Isa::Portable)));
    }
}
