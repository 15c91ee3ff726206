//! The x86-64 levels: one `#[target_feature]` trampoline each, in which a [`Kernel`]'s
//! loops compile to AVX2 or AVX-512 code, and the hand-written SIMD relukit has: the
//! non-temporal block store, and the 16-bit float Leaky ReLU/PReLU forward kernels in
//! `half.rs`.

mod half;

use std::arch::x86_64::{
    __m256i, __m512i, _mm_sfence, _mm256_load_si256, _mm256_stream_si256, _mm512_load_si512,
    _mm512_stream_si512,
};

use super::{Kernel, Level};
use crate::Float;
use crate::element::{Half, Slopes, half_bits, half_bits_mut};

/// The AVX2 (and F16C) level. Only [`run_avx2`] builds one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2(());

/// The AVX-512 (F, BW, VL, DQ) level. Only [`run_avx512`] builds one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

/// Runs `kernel` compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and F16C.
#[target_feature(enable = "avx,avx2,f16c")]
pub(super) unsafe fn run_avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run(Avx2(()))
}

/// Runs `kernel` compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX2, F16C and AVX-512 F, BW, VL and DQ.
#[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn run_avx512<K: Kernel>(kernel: K) -> K::Output {
    kernel.run(Avx512(()))
}

/// The 16-bit data and `f32` slopes of a Leaky ReLU call, where `T` is `f16` or `bf16`.
#[inline(always)]
fn half_call<'a, T: Float>(
    x: &'a [T],
    slopes: Slopes<'a, T::Compute>,
) -> Option<(Half, &'a [u16], Slopes<'a, f32>)> {
    let (kind, bits) = half_bits(x)?;
    Some((kind, bits, T::f32_slopes(slopes)?))
}

/// The level methods of a token type; `$half` is its module of 16-bit kernels.
macro_rules! level {
    ($token:ty, $half:ident, $wide:expr) => {
        impl Level for $token {
            const STREAMS: bool = true;

            #[inline(always)]
            unsafe fn stream_block<U: Copy>(self, src: &[U], dst: *mut U, wide: bool) {
                // SAFETY: the token proves AVX2 (and AVX-512 F where `$wide` is true);
                // the caller guarantees the alignment, length and validity the stores
                // need.
                unsafe {
                    if $wide && wide {
                        stream_block_512(src, dst)
                    } else {
                        stream_block(src, dst)
                    }
                }
            }

            #[inline(always)]
            fn store_fence(self) {
                // SAFETY: SFENCE is part of the x86-64 baseline (SSE).
                unsafe { _mm_sfence() }
            }

            #[inline(always)]
            fn leaky<T: Float>(
                self,
                x: &[T],
                slopes: Slopes<'_, T::Compute>,
                out: &mut [T],
            ) -> usize {
                match (half_call(x, slopes), half_bits_mut(out)) {
                    // SAFETY: the token proves the level's features.
                    (Some((kind, x, slopes)), Some((_, out))) => unsafe {
                        half::$half::leaky(kind, x, slopes, out)
                    },
                    _ => 0,
                }
            }

            #[inline(always)]
            fn leaky_inplace<T: Float>(
                self,
                data: &mut [T],
                slopes: Slopes<'_, T::Compute>,
            ) -> usize {
                match (T::f32_slopes(slopes), half_bits_mut(data)) {
                    // SAFETY: the token proves the level's features.
                    (Some(slopes), Some((kind, data))) => unsafe {
                        half::$half::leaky_inplace(kind, data, slopes)
                    },
                    _ => 0,
                }
            }
        }
    };
}
level!(Avx2, avx2, false);
level!(Avx512, avx512, true);

/// Copies `src` to `dst` with 256-bit non-temporal stores, two per cache line: what
/// AMD's Zen 4 streams fastest (512-bit streaming stores were slower there).
///
/// # Safety
/// The CPU supports AVX2; `src` and `dst` are 64-byte aligned, `dst` is valid for
/// `src.len()` elements, and the byte length is a multiple of 64.
#[target_feature(enable = "avx,avx2")]
unsafe fn stream_block<U: Copy>(src: &[U], dst: *mut U) {
    let vectors = std::mem::size_of_val(src) / 32;
    let src = src.as_ptr().cast::<__m256i>();
    let dst = dst.cast::<__m256i>();
    for i in (0..vectors).step_by(2) {
        // SAFETY: i + 1 < vectors (the byte length is a multiple of 64); both pointers
        // are 32-byte aligned and in bounds by the function's contract.
        unsafe {
            _mm256_stream_si256(dst.add(i), _mm256_load_si256(src.add(i)));
            _mm256_stream_si256(dst.add(i + 1), _mm256_load_si256(src.add(i + 1)));
        }
    }
}

/// Copies `src` to `dst` with 512-bit non-temporal stores, one per cache line: what
/// Intel's AVX-512 parts stream fastest.
///
/// # Safety
/// The CPU supports AVX-512 F; `src` and `dst` are 64-byte aligned, `dst` is valid for
/// `src.len()` elements, and the byte length is a multiple of 64.
#[target_feature(enable = "avx512f")]
unsafe fn stream_block_512<U: Copy>(src: &[U], dst: *mut U) {
    let lines = std::mem::size_of_val(src) / 64;
    let src = src.as_ptr().cast::<__m512i>();
    let dst = dst.cast::<__m512i>();
    for i in 0..lines {
        // SAFETY: i < lines; both pointers are 64-byte aligned and in bounds by the
        // function's contract.
        unsafe { _mm512_stream_si512(dst.add(i), _mm512_load_si512(src.add(i))) };
    }
}
