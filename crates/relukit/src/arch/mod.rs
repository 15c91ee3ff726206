//! Instruction sets: detection (once per process), the `RELUKIT_ISA` override, and the
//! one dispatch point from safe code to a loop compiled for the chosen level.
//!
//! An operation is a [`Kernel`]: a value whose `run` method is written once, generic
//! over a [`Level`]. [`Simd::run`] calls it through one `#[target_feature]` trampoline
//! per level (in `x86_64/`), where its loops, inlined, compile to AVX2 or AVX-512 code;
//! the portable level calls it directly. A `Level` value is a token that proves the
//! CPU supports it, and carries what the compiler cannot produce by itself:
//! non-temporal stores and the 16-bit Leaky ReLU conversions.
//!
//! To add a level: a token type implementing [`Level`], its trampoline, a variant of
//! [`Isa`] with its detection in [`Isa::is_supported`], and an arm in [`Simd::run`].

#[cfg(target_arch = "x86_64")]
mod x86_64;

use std::sync::OnceLock;

use crate::Float;
use crate::element::Slopes;

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

/// What an instruction-set level gives the loop drivers beyond the code the compiler
/// vectorises by itself. A value of a `Level` type proves the CPU supports the level
/// (only this module and its children construct one, and only for a supported level).
pub(crate) trait Level: Copy {
    /// Whether the level has non-temporal stores.
    const STREAMS: bool;

    /// Writes `src` to `dst`, with non-temporal stores where the level has them:
    /// 512-bit ones if `wide` (and the level has them), else pairs of 256-bit ones.
    ///
    /// # Safety
    /// `dst` is valid for writes of `src.len()` elements and does not overlap `src`;
    /// where [`STREAMS`](Self::STREAMS), `src` and `dst` are 64-byte aligned and hold a
    /// multiple of 64 bytes.
    unsafe fn stream_block<U: Copy>(self, src: &[U], dst: *mut U, wide: bool);

    /// Orders the non-temporal stores before any later store.
    fn store_fence(self) {}

    /// Leaky ReLU / PReLU forward with dedicated instructions for the element type,
    /// where the level has some (the 16-bit floats' conversions): writes the leading
    /// elements it can and returns how many; the caller finishes the rest with the
    /// portable formula (all of them where the level has nothing: 0).
    #[inline(always)]
    fn leaky<T: Float>(self, _x: &[T], _slopes: Slopes<'_, T::Compute>, _out: &mut [T]) -> usize {
        0
    }

    /// [`leaky`](Self::leaky) in place.
    #[inline(always)]
    fn leaky_inplace<T: Float>(self, _data: &mut [T], _slopes: Slopes<'_, T::Compute>) -> usize {
        0
    }
}

/// An operation over slices, written once: [`Simd::run`] compiles `run` for each level.
/// Its loops must be `#[inline(always)]` so that they are compiled inside the level's
/// trampoline.
pub(crate) trait Kernel {
    /// What the operation returns.
    type Output;
    /// Runs the operation on `level`.
    fn run<L: Level>(self, level: L) -> Self::Output;
}

/// The portable level: no `#[target_feature]`, no hand-written SIMD.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

impl Level for Portable {
    const STREAMS: bool = false;

    #[inline(always)]
    unsafe fn stream_block<U: Copy>(self, src: &[U], dst: *mut U, _wide: bool) {
        // SAFETY: the caller guarantees `dst` is valid for `src.len()` elements and does
        // not overlap `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
    }
}

/// A proof that the CPU supports an [`Isa`]: only this module builds one, and only for a
/// supported level, which is what makes [`Simd::run`] sound.
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

    /// Every path this CPU supports.
    #[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
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

    /// Runs `kernel` compiled for this level: the one dispatch point of the crate.
    #[inline]
    pub(crate) fn run<K: Kernel>(self, kernel: K) -> K::Output {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // SAFETY: a `Simd` holding `Isa::Avx512` is only built when the CPU
                // supports every feature the AVX-512 trampoline enables.
                unsafe { x86_64::run_avx512(kernel) }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                // SAFETY: a `Simd` holding `Isa::Avx2` is only built when the CPU
                // supports AVX2 and F16C.
                unsafe { x86_64::run_avx2(kernel) }
            }
            _ => kernel.run(Portable),
        }
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
