//! Leaky ReLU and PReLU forward for the 16-bit floats, with dedicated conversions.
//!
//! The portable conversions in `half_bits` vectorise, but cost about twenty
//! instructions per vector each way and, for `bf16`, word/doubleword packing that is
//! slow on some cores. Here `f16` uses the F16C/AVX-512 conversion instructions and
//! `bf16` widens by interleaving with zeros and narrows by packing (both in-lane, so
//! the order comes back as it was). Results are the same bits as the portable path
//! (the tests check): the hardware rounds to nearest even and quiets NaNs as the `half`
//! crate does, and only lanes where `x <= 0` (never NaN) take the product. The kernels
//! return how many elements they did: the AVX2 ones whole vectors (the caller finishes
//! the tail with the portable formula), the AVX-512 ones every element (the last ones
//! with masked loads and stores, so a short or misaligned piece costs one vector, not
//! an element-by-element loop).

use std::arch::x86_64::*;

use crate::element::{Half, Slopes};

/// The length a call may touch: no more than any of its buffers holds.
fn bound(len: usize, slopes: Slopes<'_, f32>) -> usize {
    match slopes {
        Slopes::One(_) => len,
        Slopes::Pattern(p) => len.min(p.len()),
    }
}

/// `bf16` products of 32-bit lanes, rounded to nearest even and shifted into the low
/// half. No NaN case is needed: both factors are widened `bf16` values or a slope, so
/// a NaN product (a NaN weight, or `0 * -inf`) is already quiet and has zero low bits,
/// and rounding leaves it as `half::bf16::from_f32` would.
macro_rules! round_to_bf16 {
    ($product:expr, $set1:ident, $and:ident, $add:ident, $srli:ident) => {{
        let p = $product;
        let lsb = $and($srli::<16>(p), $set1(1));
        $srli::<16>($add($add(p, $set1(0x7fff)), lsb))
    }};
}

/// The entry points of a level: `leaky` and `leaky_inplace`, calling the level's
/// `f16_kernel` or `bf16_kernel` (both `unsafe fn(x, out, len, slopes) -> done`); each
/// returns the number of leading elements it wrote.
macro_rules! entry_points {
    ($features:literal) => {
        #[target_feature(enable = $features)]
        pub(crate) fn leaky(
            kind: Half,
            x: &[u16],
            slopes: Slopes<'_, f32>,
            out: &mut [u16],
        ) -> usize {
            let len = bound(x.len().min(out.len()), slopes);
            let kernel = match kind {
                Half::F16 => f16_kernel,
                Half::Bf16 => bf16_kernel,
            };
            // SAFETY: the level's features are enabled here; both slices hold `len`
            // elements and, being a shared and a unique borrow, do not overlap.
            unsafe { kernel(x.as_ptr(), out.as_mut_ptr(), len, slopes) }
        }

        #[target_feature(enable = $features)]
        pub(crate) fn leaky_inplace(
            kind: Half,
            data: &mut [u16],
            slopes: Slopes<'_, f32>,
        ) -> usize {
            let len = bound(data.len(), slopes);
            let p = data.as_mut_ptr();
            let kernel = match kind {
                Half::F16 => f16_kernel,
                Half::Bf16 => bf16_kernel,
            };
            // SAFETY: the level's features are enabled here; input and output are the
            // same `len` elements, each read before it is written.
            unsafe { kernel(p, p, len, slopes) }
        }
    };
}

pub(super) mod avx2 {
    use super::*;

    /// Lanes where `x <= 0`: +0.0, or sign set and not NaN (`infinity` is the pattern
    /// of +inf for the type).
    #[inline]
    #[target_feature(enable = "avx,avx2,f16c")]
    fn takes_product(h: __m128i, infinity: __m128i) -> __m128i {
        let zero = _mm_setzero_si128();
        let nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), infinity);
        let negative = _mm_andnot_si128(nan, _mm_cmplt_epi16(h, zero));
        _mm_or_si128(negative, _mm_cmpeq_epi16(h, zero))
    }

    /// Writes the leading whole vectors of `len` elements; returns how many.
    ///
    /// # Safety
    /// `x`, `out` valid for `len` elements, equal or not overlapping; a pattern holds
    /// at least `len` slopes.
    #[target_feature(enable = "avx,avx2,f16c")]
    unsafe fn f16_kernel(
        x: *const u16,
        out: *mut u16,
        len: usize,
        slopes: Slopes<'_, f32>,
    ) -> usize {
        let mut i = 0;
        while i + 8 <= len {
            // SAFETY: i + 8 <= len: every load and store is in bounds.
            unsafe {
                let h = _mm_loadu_si128(x.add(i).cast());
                let slope = match slopes {
                    Slopes::One(s) => _mm256_set1_ps(s),
                    Slopes::Pattern(p) => _mm256_loadu_ps(p.as_ptr().add(i)),
                };
                let product = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_mul_ps(
                    _mm256_cvtph_ps(h),
                    slope,
                ));
                let take = takes_product(h, _mm_set1_epi16(0x7c00));
                _mm_storeu_si128(out.add(i).cast(), _mm_blendv_epi8(h, product, take));
            }
            i += 8;
        }
        i
    }

    /// # Safety
    /// As [`f16_kernel`].
    #[target_feature(enable = "avx,avx2,f16c")]
    unsafe fn bf16_kernel(
        x: *const u16,
        out: *mut u16,
        len: usize,
        slopes: Slopes<'_, f32>,
    ) -> usize {
        let zero = _mm256_setzero_si256();
        let mut i = 0;
        while i + 16 <= len {
            // SAFETY: i + 16 <= len: every load and store is in bounds.
            unsafe {
                let h = _mm256_loadu_si256(x.add(i).cast());
                // Elements 0-3 and 8-11 widen into `low`, 4-7 and 12-15 into `high`.
                let (low_slope, high_slope) = match slopes {
                    Slopes::One(s) => (_mm256_set1_ps(s), _mm256_set1_ps(s)),
                    Slopes::Pattern(p) => {
                        let (a, b) = (
                            _mm256_loadu_ps(p.as_ptr().add(i)),
                            _mm256_loadu_ps(p.as_ptr().add(i + 8)),
                        );
                        (
                            _mm256_permute2f128_ps::<0x20>(a, b),
                            _mm256_permute2f128_ps::<0x31>(a, b),
                        )
                    }
                };
                let low = _mm256_castps_si256(_mm256_mul_ps(
                    _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, h)),
                    low_slope,
                ));
                let high = _mm256_castps_si256(_mm256_mul_ps(
                    _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, h)),
                    high_slope,
                ));
                let low = round_to_bf16!(
                    low,
                    _mm256_set1_epi32,
                    _mm256_and_si256,
                    _mm256_add_epi32,
                    _mm256_srli_epi32
                );
                let high = round_to_bf16!(
                    high,
                    _mm256_set1_epi32,
                    _mm256_and_si256,
                    _mm256_add_epi32,
                    _mm256_srli_epi32
                );
                let product = _mm256_packus_epi32(low, high);
                let infinity = _mm_set1_epi16(0x7f80);
                let take_low = takes_product(_mm256_castsi256_si128(h), infinity);
                let take_high = takes_product(_mm256_extracti128_si256::<1>(h), infinity);
                let take =
                    _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(take_low), take_high);
                _mm256_storeu_si256(out.add(i).cast(), _mm256_blendv_epi8(h, product, take));
            }
            i += 16;
        }
        i
    }

    entry_points!("avx,avx2,f16c");
}

pub(super) mod avx512 {
    use super::*;

    /// Lanes where `x <= 0`: the patterns from -0.0 down to -inf, or +0.0.
    #[inline]
    #[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
    fn takes_product(h: __m512i, infinity: i16) -> __mmask32 {
        let negative = _mm512_cmple_epu16_mask(
            _mm512_sub_epi16(h, _mm512_set1_epi16(0x8000u16 as i16)),
            _mm512_set1_epi16(infinity),
        );
        negative | _mm512_cmpeq_epi16_mask(h, _mm512_setzero_si512())
    }

    /// Writes the leading whole vectors of `len` elements; returns how many.
    ///
    /// # Safety
    /// `x`, `out` valid for `len` elements, equal or not overlapping; a pattern holds
    /// at least `len` slopes.
    /// Leaky ReLU of 32 `f16` bit patterns with their slopes (low and high 16).
    #[inline]
    #[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
    fn f16_vector(h: __m512i, low_slope: __m512, high_slope: __m512) -> __m512i {
        const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        let low = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
        let high = _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(h));
        let low = _mm512_cvtps_ph::<ROUND>(_mm512_mul_ps(low, low_slope));
        let high = _mm512_cvtps_ph::<ROUND>(_mm512_mul_ps(high, high_slope));
        let product = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high);
        _mm512_mask_blend_epi16(takes_product(h, 0x7c00), h, product)
    }

    /// The slopes of elements `i..i + 32` (those in `mask`; 0 elsewhere), as the low
    /// and high 16 of a vector.
    ///
    /// # Safety
    /// Every element of `p` at `i + k` for a `k` set in `mask` is in bounds.
    #[inline]
    #[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
    unsafe fn slopes_at(slopes: Slopes<'_, f32>, i: usize, mask: __mmask32) -> (__m512, __m512) {
        match slopes {
            Slopes::One(s) => (_mm512_set1_ps(s), _mm512_set1_ps(s)),
            // SAFETY: the caller guarantees the masked elements are in bounds.
            Slopes::Pattern(p) => unsafe {
                (
                    _mm512_maskz_loadu_ps(mask as __mmask16, p.as_ptr().add(i)),
                    _mm512_maskz_loadu_ps((mask >> 16) as __mmask16, p.as_ptr().add(i + 16)),
                )
            },
        }
    }

    /// The mask of the `n < 32` first lanes.
    #[inline]
    fn first(n: usize) -> __mmask32 {
        ((1u64 << n) - 1) as __mmask32
    }

    #[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
    unsafe fn f16_kernel(
        x: *const u16,
        out: *mut u16,
        len: usize,
        slopes: Slopes<'_, f32>,
    ) -> usize {
        let mut i = 0;
        while i + 32 <= len {
            // SAFETY: i + 32 <= len: every load and store is in bounds.
            unsafe {
                let h = _mm512_loadu_si512(x.add(i).cast());
                let (low, high) = slopes_at(slopes, i, !0);
                _mm512_storeu_si512(out.add(i).cast(), f16_vector(h, low, high));
            }
            i += 32;
        }
        if i < len {
            // The last elements with masked loads and stores (lanes past `len` are
            // neither read nor written).
            let mask = first(len - i);
            // SAFETY: the masked lanes are elements i..len, in bounds.
            unsafe {
                let h = _mm512_maskz_loadu_epi16(mask, x.add(i).cast());
                let (low, high) = slopes_at(slopes, i, mask);
                _mm512_mask_storeu_epi16(out.add(i).cast(), mask, f16_vector(h, low, high));
            }
        }
        len
    }

    /// Leaky ReLU of 32 `bf16` bit patterns with their slopes in element order (low
    /// and high 16).
    #[inline]
    #[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
    fn bf16_vector(h: __m512i, slopes: Slopes<'_, f32>, a: __m512, b: __m512) -> __m512i {
        let zero = _mm512_setzero_si512();
        // Within each 128-bit lane, elements 0-3 widen into `low` and 4-7 into `high`.
        let (low_slope, high_slope) = match slopes {
            Slopes::One(_) => (a, b),
            Slopes::Pattern(_) => {
                let low_index =
                    _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
                let high_index =
                    _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
                (
                    _mm512_permutex2var_ps(a, low_index, b),
                    _mm512_permutex2var_ps(a, high_index, b),
                )
            }
        };
        let low = _mm512_castps_si512(_mm512_mul_ps(
            _mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, h)),
            low_slope,
        ));
        let high = _mm512_castps_si512(_mm512_mul_ps(
            _mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, h)),
            high_slope,
        ));
        let low = round_to_bf16!(
            low,
            _mm512_set1_epi32,
            _mm512_and_si512,
            _mm512_add_epi32,
            _mm512_srli_epi32
        );
        let high = round_to_bf16!(
            high,
            _mm512_set1_epi32,
            _mm512_and_si512,
            _mm512_add_epi32,
            _mm512_srli_epi32
        );
        let product = _mm512_packus_epi32(low, high);
        _mm512_mask_blend_epi16(takes_product(h, 0x7f80), h, product)
    }

    #[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
    unsafe fn bf16_kernel(
        x: *const u16,
        out: *mut u16,
        len: usize,
        slopes: Slopes<'_, f32>,
    ) -> usize {
        let mut i = 0;
        while i + 32 <= len {
            // SAFETY: i + 32 <= len: every load and store is in bounds.
            unsafe {
                let h = _mm512_loadu_si512(x.add(i).cast());
                let (a, b) = slopes_at(slopes, i, !0);
                _mm512_storeu_si512(out.add(i).cast(), bf16_vector(h, slopes, a, b));
            }
            i += 32;
        }
        if i < len {
            // The last elements with masked loads and stores, as for f16.
            let mask = first(len - i);
            // SAFETY: the masked lanes are elements i..len, in bounds.
            unsafe {
                let h = _mm512_maskz_loadu_epi16(mask, x.add(i).cast());
                let (a, b) = slopes_at(slopes, i, mask);
                let result = bf16_vector(h, slopes, a, b);
                _mm512_mask_storeu_epi16(out.add(i).cast(), mask, result);
            }
        }
        len
    }

    entry_points!("avx,avx2,f16c,avx512f,avx512bw,avx512vl");
}
