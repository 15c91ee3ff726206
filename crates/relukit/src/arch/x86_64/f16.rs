//! `f16` Leaky ReLU and PReLU forward with the hardware conversions (F16C's
//! `vcvtph2ps`/`vcvtps2ph`, and their 512-bit AVX-512 forms). The portable conversions
//! in `half_bits` vectorise, but take about 20 instructions per vector each way; these
//! take one. Results are the same bits (the tests check), since the hardware rounds to
//! nearest even and quiets NaNs exactly as the `half` crate does.

use std::arch::x86_64::*;

use half::f16;

use crate::arch::generic::Slopes;
use crate::lanes;

/// The elements a tail loop finishes, one at a time, with the portable formula.
///
/// # Safety
/// `x` and `out` are valid for `range.end` elements (they may be the same pointer);
/// a `Slopes::Pattern` holds at least `range.end` slopes.
unsafe fn tail(
    x: *const u16,
    out: *mut u16,
    range: std::ops::Range<usize>,
    slopes: Slopes<'_, f32>,
) {
    for i in range {
        let slope = match slopes {
            Slopes::One(s) => s,
            Slopes::Pattern(p) => p[i],
        };
        // SAFETY: i < range.end, in bounds by the function's contract.
        unsafe {
            let v = f16::from_bits(*x.add(i));
            *out.add(i) = lanes::leaky_relu(v, slope).to_bits();
        }
    }
}

/// Eight elements per step: convert, multiply, convert back, and keep the original
/// bits wherever `x <= 0` does not hold (positive values and NaNs).
///
/// # Safety
/// The CPU has AVX2 and F16C; `x` and `out` are valid for `len` elements and are the
/// same pointer or do not overlap; a `Slopes::Pattern` holds at least `len` slopes.
#[target_feature(enable = "avx,avx2,f16c")]
unsafe fn kernel_avx2(x: *const u16, out: *mut u16, len: usize, slopes: Slopes<'_, f32>) {
    let zero = _mm_setzero_si128();
    let magnitude = _mm_set1_epi16(0x7fff);
    let infinity = _mm_set1_epi16(0x7c00);
    let mut i = 0;
    while i + 8 <= len {
        // SAFETY: i + 8 <= len: the loads, the store and the slope load are in bounds.
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
            let nan = _mm_cmpgt_epi16(_mm_and_si128(h, magnitude), infinity);
            let negative = _mm_andnot_si128(nan, _mm_cmplt_epi16(h, zero));
            let take = _mm_or_si128(negative, _mm_cmpeq_epi16(h, zero));
            _mm_storeu_si128(out.add(i).cast(), _mm_blendv_epi8(h, product, take));
        }
        i += 8;
    }
    // SAFETY: the tail is within `len`, as the caller guarantees.
    unsafe { tail(x, out, i..len, slopes) }
}

/// Thirty-two elements per step: one 512-bit load and store and one mask for the
/// select, two conversions each way.
///
/// # Safety
/// As [`kernel_avx2`], with AVX-512 F, BW and VL.
#[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn kernel_avx512(x: *const u16, out: *mut u16, len: usize, slopes: Slopes<'_, f32>) {
    const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let zero = _mm512_setzero_si512();
    let sign = _mm512_set1_epi16(0x8000u16 as i16);
    let infinity = _mm512_set1_epi16(0x7c00);
    let mut i = 0;
    while i + 32 <= len {
        // SAFETY: i + 32 <= len: the loads, the store and the slope loads are in bounds.
        unsafe {
            let h = _mm512_loadu_si512(x.add(i).cast());
            let (low_slope, high_slope) = match slopes {
                Slopes::One(s) => (_mm512_set1_ps(s), _mm512_set1_ps(s)),
                Slopes::Pattern(p) => (
                    _mm512_loadu_ps(p.as_ptr().add(i)),
                    _mm512_loadu_ps(p.as_ptr().add(i + 16)),
                ),
            };
            let low = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
            let high = _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(h));
            let low = _mm512_cvtps_ph::<ROUND>(_mm512_mul_ps(low, low_slope));
            let high = _mm512_cvtps_ph::<ROUND>(_mm512_mul_ps(high, high_slope));
            let product = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low), high);
            // x <= 0: the patterns -0.0 down to -inf (0x8000..=0xfc00), or +0.0.
            let negative = _mm512_cmple_epu16_mask(_mm512_sub_epi16(h, sign), infinity);
            let take = negative | _mm512_cmpeq_epi16_mask(h, zero);
            _mm512_storeu_si512(out.add(i).cast(), _mm512_mask_blend_epi16(take, h, product));
        }
        i += 32;
    }
    // SAFETY: the tail is within `len`, as the caller guarantees.
    unsafe { tail(x, out, i..len, slopes) }
}

/// The length a call may touch: no more than any of its buffers holds.
fn bound(len: usize, slopes: Slopes<'_, f32>) -> usize {
    match slopes {
        Slopes::One(_) => len,
        Slopes::Pattern(p) => len.min(p.len()),
    }
}

#[target_feature(enable = "avx,avx2,f16c")]
pub(super) fn leaky_avx2(x: &[u16], slopes: Slopes<'_, f32>, out: &mut [u16]) {
    let len = bound(x.len().min(out.len()), slopes);
    // SAFETY: AVX2 and F16C are enabled here; both slices hold `len` elements and,
    // being a shared and a unique borrow, do not overlap.
    unsafe { kernel_avx2(x.as_ptr(), out.as_mut_ptr(), len, slopes) }
}

#[target_feature(enable = "avx,avx2,f16c")]
pub(super) fn leaky_inplace_avx2(data: &mut [u16], slopes: Slopes<'_, f32>) {
    let len = bound(data.len(), slopes);
    let out = data.as_mut_ptr();
    // SAFETY: AVX2 and F16C are enabled here; input and output are the same `len`
    // elements, each read before it is written.
    unsafe { kernel_avx2(out, out, len, slopes) }
}

#[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
pub(super) fn leaky_avx512(x: &[u16], slopes: Slopes<'_, f32>, out: &mut [u16]) {
    let len = bound(x.len().min(out.len()), slopes);
    // SAFETY: the AVX-512 features are enabled here; the slices hold `len` elements and
    // do not overlap.
    unsafe { kernel_avx512(x.as_ptr(), out.as_mut_ptr(), len, slopes) }
}

#[target_feature(enable = "avx,avx2,f16c,avx512f,avx512bw,avx512vl")]
pub(super) fn leaky_inplace_avx512(data: &mut [u16], slopes: Slopes<'_, f32>) {
    let len = bound(data.len(), slopes);
    let out = data.as_mut_ptr();
    // SAFETY: the AVX-512 features are enabled here; input and output are the same
    // `len` elements, each read before it is written.
    unsafe { kernel_avx512(out, out, len, slopes) }
}
