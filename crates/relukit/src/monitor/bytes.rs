//! The serialised form of a monitor: what [`DeadUnitMonitor::to_bytes`] writes.
//!
//! Little-endian throughout: the magic `RKDM`, a version byte, the units, the samples,
//! the last batch (a flag, its elements and zeros), in version 2 a flag for the
//! magnitude sums, the active counts, the NaN counts, in version 2 the sums (`f64` bits,
//! when the flag is 1), and an FNV-1a checksum of everything before it. Version 1 (no
//! magnitudes) is still read, as a monitor that counts only.

use super::{BatchCounts, DeadUnitMonitor, inconsistency};
use crate::{Error, ErrorKind};

/// The first bytes of every serialised monitor.
const MAGIC: &[u8; 4] = b"RKDM";
/// The format version this relukit writes.
const VERSION: u8 = 2;
/// Magic, version, units, samples, last-batch flag, elements and zeros.
const HEADER_V1: usize = 4 + 1 + 8 + 8 + 1 + 8 + 8;
/// The trailing checksum.
const CHECKSUM: usize = 8;

/// FNV-1a, 64 bits: catches truncation and flipped bits (not tampering).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Reads little-endian values from a slice, front to back; the caller has checked the
/// length.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_at(1);
        self.0 = rest;
        first[0]
    }
    fn u64(&mut self) -> u64 {
        let (first, rest) = self.0.split_at(8);
        self.0 = rest;
        u64::from_le_bytes(first.try_into().unwrap_or_default())
    }
    fn u64s(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.u64()).collect()
    }
}

impl DeadUnitMonitor {
    /// The monitor as bytes, to send a window filled in a worker process back to be
    /// [`merge`](Self::merge)d, or to store it. The format is stable: a magic number, a
    /// version byte, the counts (and magnitude sums, as `f64` bits) as little-endian
    /// integers and a checksum; [`from_bytes`](Self::from_bytes) reads it back on any
    /// platform, bit for bit.
    ///
    /// ```
    /// use relukit::{ChannelLayout, DeadUnitMonitor};
    /// let mut monitor = DeadUnitMonitor::new(2);
    /// monitor.observe_slice(&[1.0f32, -1.0], ChannelLayout::new(1, 2, 1))?;
    /// let copy = DeadUnitMonitor::from_bytes(&monitor.to_bytes())?;
    /// assert_eq!(copy, monitor);
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let per_unit = if self.magnitudes.is_some() { 24 } else { 16 };
        let mut out = Vec::with_capacity(HEADER_V1 + 1 + per_unit * self.units() + CHECKSUM);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.units() as u64).to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        let last = self.last_batch.unwrap_or_default();
        out.push(self.last_batch.is_some() as u8);
        out.extend_from_slice(&last.elements.to_le_bytes());
        out.extend_from_slice(&last.zeros.to_le_bytes());
        out.push(self.magnitudes.is_some() as u8);
        for count in self.active.iter().chain(&self.nan) {
            out.extend_from_slice(&count.to_le_bytes());
        }
        for sum in self.magnitudes.iter().flatten() {
            out.extend_from_slice(&sum.to_bits().to_le_bytes());
        }
        out.extend_from_slice(&checksum(&out).to_le_bytes());
        out
    }

    /// A monitor from the bytes [`to_bytes`](Self::to_bytes) wrote, in this format
    /// version (2) or the first (which has no magnitudes: the monitor counts only).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidData`] if the bytes are truncated or corrupted (a wrong
    /// checksum, counts or sums that cannot come from observing data), or were written
    /// by a format version this relukit does not read.
    pub fn from_bytes(data: &[u8]) -> Result<DeadUnitMonitor, Error> {
        let invalid = |why: String| {
            Err(Error::new(
                ErrorKind::InvalidData,
                format!("not a serialised DeadUnitMonitor: {why}"),
            ))
        };
        if data.len() < HEADER_V1 + CHECKSUM {
            return invalid(format!(
                "{} bytes, fewer than the {} of an empty monitor",
                data.len(),
                HEADER_V1 + CHECKSUM
            ));
        }
        if &data[..4] != MAGIC {
            return invalid("it does not start with the magic bytes \"RKDM\"".into());
        }
        let version = data[4];
        if version != 1 && version != VERSION {
            return invalid(format!(
                "format version {version}, but this relukit reads versions 1 and {VERSION}"
            ));
        }
        let (body, tail) = data.split_at(data.len() - CHECKSUM);
        let mut reader = Reader(&body[5..]);
        let units = reader.u64();
        // Version 2's flag byte, read ahead of the size check (the header holds it).
        let with_sums = match version {
            1 => 0,
            _ => body.get(HEADER_V1).copied().unwrap_or(0),
        };
        let (header, per_unit) = match (version, with_sums) {
            (1, _) => (HEADER_V1, 16),
            (_, 0) => (HEADER_V1 + 1, 16),
            _ => (HEADER_V1 + 1, 24),
        };
        let expected = usize::try_from(units)
            .ok()
            .and_then(|u| u.checked_mul(per_unit))
            .and_then(|n| n.checked_add(header + CHECKSUM));
        if expected != Some(data.len()) {
            return invalid(format!(
                "{} bytes, but a monitor of {units} units takes {} in format version {version}",
                data.len(),
                expected.map_or("more than usize::MAX".to_string(), |n| n.to_string())
            ));
        }
        if tail != checksum(body).to_le_bytes() {
            return invalid("the checksum does not match (corrupted bytes)".into());
        }
        let samples = reader.u64();
        let has_last = reader.u8();
        let (elements, zeros) = (reader.u64(), reader.u64());
        if version != 1 {
            reader.u8();
        }
        let units = units as usize;
        let active = reader.u64s(units);
        let nan = reader.u64s(units);
        let magnitudes = (with_sums == 1).then(|| {
            let bits = reader.u64s(units);
            bits.into_iter().map(f64::from_bits).collect::<Vec<_>>()
        });
        if with_sums > 1 {
            return invalid(format!("the magnitudes flag is {with_sums}, not 0 or 1"));
        }
        if has_last > 1 || zeros > elements || (has_last == 0 && (elements, zeros) != (0, 0)) {
            return invalid("the last batch's counts are inconsistent".into());
        }
        if let Some(why) = inconsistency(&active, &nan, samples, magnitudes.as_deref()) {
            return invalid(why);
        }
        Ok(DeadUnitMonitor {
            active,
            nan,
            magnitudes,
            samples,
            last_batch: (has_last == 1).then_some(BatchCounts { elements, zeros }),
        })
    }
}
