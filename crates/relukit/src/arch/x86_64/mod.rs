//! The x86-64 levels: the generic drivers compiled for AVX2 and for AVX-512, plus the
//! hand-written SIMD relukit has: the non-temporal block store, and the 16-bit float
//! Leaky ReLU/PReLU forward kernels in `half.rs`.

pub(crate) mod avx2;
pub(crate) mod avx512;
mod half;

/// Defines, in the invoking module, one `#[target_feature]` function per driver of
/// [`generic`](crate::arch::generic), each compiled with `$features`, and the streamed
/// variants that use the module's `stream_block`.
macro_rules! instantiate_drivers {
    ($features:literal, $half:path) => {
        use crate::Float;
        use crate::arch::generic::{self, Slopes};
        use crate::element::sealed::ElementOps;
        use std::ops::{Add, Range};

        #[target_feature(enable = $features)]
        pub(crate) fn map<T: Copy, U: Copy>(x: &[T], out: &mut [U], f: impl Fn(T) -> U) {
            generic::map(x, out, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn map_inplace<T: Copy>(data: &mut [T], f: impl Fn(T) -> T) {
            generic::map_inplace(data, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn zip<A: Copy, B: Copy, U: Copy>(
            a: &[A],
            b: &[B],
            out: &mut [U],
            f: impl Fn(A, B) -> U,
        ) {
            generic::zip(a, b, out, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn zip_inplace<A: Copy, B: Copy>(a: &mut [A], b: &[B], f: impl Fn(A, B) -> A) {
            generic::zip_inplace(a, b, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn zip_sum<A: Copy, B: Copy, U: Copy, C>(
            a: &[A],
            b: &[B],
            out: &mut [U],
            f: impl Fn(A, B) -> (U, C),
        ) -> f64
        where
            C: Copy + Default + Add<Output = C> + Into<f64>,
        {
            generic::zip_sum(a, b, out, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn zip3_accumulate<A: Copy, B: Copy, W: Copy, U: Copy, C>(
            a: &[A],
            b: &[B],
            w: &[W],
            out: &mut [U],
            acc: &mut [C],
            f: impl Fn(A, B, W) -> (U, C),
        ) where
            C: Copy + Add<Output = C>,
        {
            generic::zip3_accumulate(a, b, w, out, acc, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn map_accumulate<T: Copy, U: Copy, C: Copy + Add<Output = C>>(
            x: &[T],
            out: &mut [U],
            acc: &mut [C],
            f: impl Fn(T) -> (U, C),
        ) {
            generic::map_accumulate(x, out, acc, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn map_sum<T: Copy, U: Copy, C: Copy + Default + Add<Output = C>>(
            x: &[T],
            out: &mut [U],
            f: impl Fn(T) -> (U, C),
        ) -> C {
            generic::map_sum(x, out, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn sum<T: Copy, C: Copy + Default + Add<Output = C>>(
            x: &[T],
            f: impl Fn(T) -> C,
        ) -> C {
            generic::sum(x, f)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn map_streamed<T: Copy, U: ElementOps>(
            x: &[T],
            out: &mut [U],
            f: impl Fn(T) -> U,
        ) {
            let block = |range: Range<usize>, dst: &mut [U]| generic::map(&x[range], dst, &f);
            // SAFETY: `stream_block` writes exactly `src` to a 64-byte aligned `dst`,
            // which is what `streamed` requires of it.
            unsafe { generic::streamed(out, block, super::stream_block::<U>) };
            // Order the streamed stores before any later store, as non-temporal stores require.
            std::arch::x86_64::_mm_sfence();
        }

        #[target_feature(enable = $features)]
        pub(crate) fn zip_streamed<A: Copy, B: Copy, U: ElementOps>(
            a: &[A],
            b: &[B],
            out: &mut [U],
            f: impl Fn(A, B) -> U,
        ) {
            let block =
                |r: Range<usize>, dst: &mut [U]| generic::zip(&a[r.clone()], &b[r], dst, &f);
            // SAFETY: as in `map_streamed`.
            unsafe { generic::streamed(out, block, super::stream_block::<U>) };
            std::arch::x86_64::_mm_sfence();
        }

        /// Leaky ReLU / PReLU forward; the 16-bit floats use dedicated kernels.
        #[target_feature(enable = $features)]
        pub(crate) fn leaky<T: Float>(x: &[T], slopes: Slopes<'_, T::Compute>, out: &mut [T]) {
            use $half as half;
            match (T::half_bits(x, slopes), T::half_bits_mut(out, slopes)) {
                (Some((kind, x, slopes)), Some((_, out, _))) => half::leaky(kind, x, slopes, out),
                (_, None) | (None, _) => generic::leaky(x, slopes, out),
            }
        }

        #[target_feature(enable = $features)]
        pub(crate) fn leaky_inplace<T: Float>(data: &mut [T], slopes: Slopes<'_, T::Compute>) {
            use $half as half;
            // (Checked first, so that `data` is free again for the portable branch.)
            if T::half_bits(data, slopes).is_some() {
                if let Some((kind, data, slopes)) = T::half_bits_mut(data, slopes) {
                    return half::leaky_inplace(kind, data, slopes);
                }
            }
            generic::leaky_inplace(data, slopes)
        }

        #[target_feature(enable = $features)]
        pub(crate) fn leaky_streamed<T: Float>(
            x: &[T],
            slopes: Slopes<'_, T::Compute>,
            out: &mut [T],
        ) {
            let block = |r: Range<usize>, dst: &mut [T]| leaky(&x[r.clone()], slopes.slice(r), dst);
            // SAFETY: as in `map_streamed`.
            unsafe { generic::streamed(out, block, super::stream_block::<T>) };
            std::arch::x86_64::_mm_sfence();
        }
    };
}
pub(crate) use instantiate_drivers;

use std::arch::x86_64::{__m256i, _mm256_load_si256, _mm256_stream_si256};

/// Copies `src` to `dst` with 256-bit non-temporal stores, two per cache line. Both
/// levels use it: on the reference machine 512-bit streaming stores were slower from
/// DRAM than pairs of 256-bit ones.
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
