//! [`DeadUnitMonitor`]: which units of a layer never fire.

use rayon::prelude::*;

use crate::arch::Simd;
use crate::exec::Exec;
use crate::kernel::reduce::{CountRows, MapSum, Streamed};
use crate::kernel::{Fence, Tile};
use crate::{ChannelLayout, Error, ErrorKind, Float};

/// Counts, per unit, over a window of batches, how often the unit was active
/// (pre-activation `> 0`), to find *dead* units: units that never fired.
///
/// **Dead is not sparse.** A ReLU layer where 90% of the outputs are zero in a batch is
/// *sparse*, and that is normal; a unit is *dead* when it is inactive for every sample
/// over the whole window (the definition of CS231n and Keras-contrib's dead-ReLU
/// callback), so no gradient reaches its weights and it cannot recover by itself. The
/// monitor reports both: [`dead_units`](Self::dead_units) over the window, and
/// [`batch_zero_fraction`](Self::batch_zero_fraction) for the last batch.
///
/// **Inactive is not always dead.** The monitor sees pre-activations only, so what it
/// finds are *inactive* units ([`inactive_units`](Self::inactive_units): never `> 0` in
/// the window, whatever the activation). Under ReLU an inactive unit gets a zero
/// gradient for every sample, so it is dead, and [`dead_units`](Self::dead_units) (the
/// same set) says so in ReLU's terms; under Leaky ReLU, PReLU or RReLU an inactive unit
/// still passes `slope * gradient` and is dead only if its slope is (nearly) zero: combine
/// `inactive_units` with the slopes you know.
///
/// A window is whatever you make it: [`reset`](Self::reset) at the start of each epoch
/// to ask "which units were dead this epoch". Monitors filled on different threads
/// combine with [`merge`](Self::merge). NaN pre-activations count as not active and are
/// counted separately ([`nan_count`](Self::nan_count)).
///
/// ```
/// use relukit::{ChannelLayout, DeadUnitMonitor};
/// // A batch of 3 samples of a layer of 4 units ([batch, units], row-major).
/// let pre_activations = [
///     -1.0f32, 2.0, -3.0, 0.5,
///     -0.5, 1.0, -1.0, -2.0,
///     -2.0, 3.0, f32::NAN, -1.0,
/// ];
/// let mut monitor = DeadUnitMonitor::new(4);
/// monitor.observe_slice(&pre_activations, ChannelLayout::new(3, 4, 1))?;
/// assert_eq!(monitor.inactive_units(), vec![0, 2]);   // never > 0 in the window
/// assert_eq!(monitor.dead_units(), vec![0, 2]);       // and so dead, under ReLU
/// assert_eq!(monitor.inactive_fraction(), 0.5);
/// assert_eq!(monitor.activation_rate()[1], 1.0);
/// assert_eq!(monitor.nan_count(), 1);
/// assert_eq!(monitor.batch_zero_fraction(), Some(7.0 / 12.0)); // zeros after ReLU
/// # Ok::<(), relukit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadUnitMonitor {
    active: Vec<u64>,
    nan: Vec<u64>,
    samples: u64,
    last_batch: Option<BatchCounts>,
}

/// Elements and zeros (after ReLU) of the last observed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct BatchCounts {
    elements: u64,
    zeros: u64,
}

/// Per-unit counts of one batch.
#[derive(Debug, Clone, Default)]
struct Counts {
    active: Vec<u64>,
    nan: Vec<u64>,
}

impl Counts {
    fn zeros(units: usize) -> Self {
        Counts {
            active: vec![0; units],
            nan: vec![0; units],
        }
    }

    fn add(mut self, other: Counts) -> Counts {
        for (a, b) in self.active.iter_mut().zip(other.active) {
            *a += b;
        }
        for (a, b) in self.nan.iter_mut().zip(other.nan) {
            *a += b;
        }
        self
    }

    /// Adds packed counts of one unit (active in the low 16 bits, NaN in the high 16).
    fn add_packed(&mut self, unit: usize, packed: u32) {
        self.active[unit] += (packed & 0xffff) as u64;
        self.nan[unit] += (packed >> 16) as u64;
    }
}

impl DeadUnitMonitor {
    /// A monitor for a layer of `units` units, with an empty window.
    ///
    /// # Panics
    /// Like `vec![0; units]`, if the counts (16 bytes per unit) cannot be allocated;
    /// [`try_new`](Self::try_new) returns an error instead.
    pub fn new(units: usize) -> Self {
        DeadUnitMonitor {
            active: vec![0; units],
            nan: vec![0; units],
            samples: 0,
            last_batch: None,
        }
    }

    /// [`new`](Self::new) for a `units` that comes from outside the program (a file, a
    /// user): the counts are allocated fallibly.
    ///
    /// # Errors
    /// [`ErrorKind::AllocationFailed`] if the 16 bytes per unit cannot be allocated.
    ///
    /// ```
    /// let err = relukit::DeadUnitMonitor::try_new(1 << 62).unwrap_err();
    /// assert_eq!(err.kind(), relukit::ErrorKind::AllocationFailed);
    /// ```
    pub fn try_new(units: usize) -> Result<Self, Error> {
        let zeros = || {
            let mut counts = Vec::new();
            counts.try_reserve_exact(units).map_err(|_| {
                Error::new(
                    ErrorKind::AllocationFailed,
                    format!(
                        "a monitor of {units} units needs {} bytes for its counts, which cannot be allocated",
                        (units as u128) * 16
                    ),
                )
            })?;
            counts.resize(units, 0u64);
            Ok::<_, Error>(counts)
        };
        Ok(DeadUnitMonitor {
            active: zeros()?,
            nan: zeros()?,
            samples: 0,
            last_batch: None,
        })
    }

    /// The number of units.
    pub fn units(&self) -> usize {
        self.active.len()
    }

    /// Adds one batch of pre-activations, laid out as `layout` describes with the units
    /// as its channels: `[batch, units]` is `ChannelLayout::new(batch, units, 1)`, an
    /// NCHW convolution output is `ChannelLayout::nchw(n, units, h, w)`.
    ///
    /// # Errors
    /// [`ErrorKind::LayoutMismatch`] if `layout` does not describe the data,
    /// [`ErrorKind::UnitMismatch`] if its channels are not this monitor's units. The
    /// monitor is unchanged then.
    pub fn observe_slice<T: Float>(
        &mut self,
        pre_activations: &[T],
        layout: ChannelLayout,
    ) -> Result<(), Error> {
        layout.check("pre_activations", pre_activations.len())?;
        self.check_units(layout.channels())?;
        let samples = self.check_samples(layout)?;
        let counts = count(&Exec::current(), pre_activations, None, layout);
        self.add_batch(counts, layout, samples, false);
        Ok(())
    }

    /// The samples a batch under `layout` adds (`outer * inner`), checked so that
    /// neither it nor the window's total overflows.
    pub(crate) fn check_samples(&self, layout: ChannelLayout) -> Result<u64, Error> {
        let per_batch = layout
            .outer()
            .checked_mul(layout.inner())
            .and_then(|n| u64::try_from(n).ok());
        match per_batch.and_then(|n| self.samples.checked_add(n).map(|_| n)) {
            Some(n) => Ok(n),
            None => Err(Error::new(
                ErrorKind::LayoutMismatch,
                format!(
                    "`layout` [outer {}, channels {}, inner {}] describes {} samples per unit, and the window holds {}: more than {} in all",
                    layout.outer(),
                    layout.channels(),
                    layout.inner(),
                    match layout.outer().checked_mul(layout.inner()) {
                        Some(n) => n.to_string(),
                        None => "more than usize::MAX".to_string(),
                    },
                    self.samples,
                    u64::MAX
                ),
            )),
        }
    }

    /// Checks that a batch has this monitor's number of units.
    pub(crate) fn check_units(&self, units: usize) -> Result<(), Error> {
        if units == self.units() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::UnitMismatch,
                format!(
                    "`pre_activations` has {units} units along the unit axis, but the monitor was made for {}",
                    self.units()
                ),
            ))
        }
    }

    /// Adds the counts of one batch of `samples` samples ([`check_samples`]'s result);
    /// `reversed` when unit `u` of the counts is unit `units - 1 - u` of the monitor (a
    /// unit axis with a negative stride).
    ///
    /// [`check_samples`]: Self::check_samples
    fn add_batch(&mut self, counts: Counts, layout: ChannelLayout, samples: u64, reversed: bool) {
        let units = self.units();
        for u in 0..units {
            let target = if reversed { units - 1 - u } else { u };
            self.active[target] += counts.active[u];
            self.nan[target] += counts.nan[u];
        }
        let elements = layout.len().unwrap_or(0) as u64;
        let nonzero: u64 = counts.active.iter().chain(&counts.nan).sum();
        self.samples += samples;
        self.last_batch = Some(BatchCounts {
            elements,
            zeros: elements - nonzero,
        });
    }

    /// The units never active (pre-activation never `> 0`) in the window, whatever the
    /// activation (none if nothing was observed).
    pub fn inactive_units(&self) -> Vec<usize> {
        if self.samples == 0 {
            return Vec::new();
        }
        (0..self.units()).filter(|&u| self.active[u] == 0).collect()
    }

    /// The share of units never active in the window (0 if nothing was observed).
    pub fn inactive_fraction(&self) -> f64 {
        if self.units() == 0 {
            0.0
        } else {
            self.inactive_units().len() as f64 / self.units() as f64
        }
    }

    /// The dead units of a **ReLU** layer: its inactive units, which get a zero gradient
    /// for every sample of the window. (For Leaky ReLU, PReLU or RReLU, an inactive unit
    /// is dead only where its slope is zero: see the type's docs.)
    pub fn dead_units(&self) -> Vec<usize> {
        self.inactive_units()
    }

    /// The share of dead units of a **ReLU** layer: [`inactive_fraction`](Self::inactive_fraction).
    pub fn dead_fraction(&self) -> f64 {
        self.inactive_fraction()
    }

    /// Per unit, the share of samples in the window where it was active (all zero if
    /// nothing was observed).
    pub fn activation_rate(&self) -> Vec<f64> {
        let samples = self.samples.max(1) as f64;
        self.active.iter().map(|&a| a as f64 / samples).collect()
    }

    /// Per unit, the number of samples in the window where it was active.
    pub fn active_counts(&self) -> &[u64] {
        &self.active
    }

    /// The number of NaN pre-activations in the window, all units together.
    pub fn nan_count(&self) -> u64 {
        self.nan.iter().sum()
    }

    /// Per unit, the number of NaN pre-activations in the window.
    pub fn nan_counts(&self) -> &[u64] {
        &self.nan
    }

    /// The number of samples each unit has seen in the window (for `[batch, units]`
    /// data, the number of rows; for NCHW, `n * h * w` per batch).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The share of zeros among the ReLU outputs of the last observed batch (batch
    /// sparsity, which is not death), or `None` before the first non-empty batch.
    pub fn batch_zero_fraction(&self) -> Option<f64> {
        self.last_batch
            .filter(|b| b.elements > 0)
            .map(|b| b.zeros as f64 / b.elements as f64)
    }

    /// Starts a new window (for example, a new epoch).
    pub fn reset(&mut self) {
        *self = DeadUnitMonitor::new(self.units());
    }

    /// Adds the window of `other` (filled on another thread, say) to this one. The last
    /// batches of both are taken together as one.
    ///
    /// # Errors
    /// [`ErrorKind::UnitMismatch`] if the monitors have different numbers of units;
    /// this monitor is unchanged then.
    pub fn merge(&mut self, other: &DeadUnitMonitor) -> Result<(), Error> {
        if other.units() != self.units() {
            return Err(Error::new(
                ErrorKind::UnitMismatch,
                format!(
                    "cannot merge a monitor of {} units into a monitor of {} units",
                    other.units(),
                    self.units()
                ),
            ));
        }
        if self.samples.checked_add(other.samples).is_none() {
            return Err(Error::new(
                ErrorKind::LayoutMismatch,
                format!(
                    "the merged window would hold more than {} samples per unit",
                    u64::MAX
                ),
            ));
        }
        for (a, b) in self.active.iter_mut().zip(&other.active) {
            *a += b;
        }
        for (a, b) in self.nan.iter_mut().zip(&other.nan) {
            *a += b;
        }
        self.samples += other.samples;
        self.last_batch = match (self.last_batch, other.last_batch) {
            (Some(a), Some(b)) => Some(BatchCounts {
                elements: a.elements + b.elements,
                zeros: a.zeros + b.zeros,
            }),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    /// ReLU of `input` into `output` while adding `input` as a batch of
    /// pre-activations laid out as `layout` (units as its channels), in one pass over
    /// memory.
    ///
    /// # Errors
    /// As [`observe_slice`](Self::observe_slice), and
    /// [`ErrorKind::LengthMismatch`] if `output` is not as long as `input`. Nothing is
    /// written and the monitor is unchanged then.
    ///
    /// ```
    /// use relukit::{ChannelLayout, DeadUnitMonitor};
    /// let x = [-1.0f32, 2.0, -3.0, 4.0]; // [batch 2, units 2]
    /// let mut y = [0.0f32; 4];
    /// let mut monitor = DeadUnitMonitor::new(2);
    /// monitor.relu_observed_slice(&x, &mut y, ChannelLayout::new(2, 2, 1))?;
    /// assert_eq!((y, monitor.dead_units()), ([0.0, 2.0, 0.0, 4.0], vec![0]));
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn relu_observed_slice<T: Float>(
        &mut self,
        input: &[T],
        output: &mut [T],
        layout: ChannelLayout,
    ) -> Result<(), Error> {
        layout.check("pre_activations", input.len())?;
        self.check_units(layout.channels())?;
        Error::check_len("output", output.len(), "pre_activations", input.len())?;
        self.relu_observed_slices(input, output, layout, false)
    }

    /// [`relu_observed_slice`](Self::relu_observed_slice) with the units possibly
    /// reversed in memory; the caller has checked the layout and the units.
    pub(crate) fn relu_observed_slices<T: Float>(
        &mut self,
        input: &[T],
        output: &mut [T],
        layout: ChannelLayout,
        reversed: bool,
    ) -> Result<(), Error> {
        let samples = self.check_samples(layout)?;
        let counts = count(&Exec::current(), input, Some(output), layout);
        self.add_batch(counts, layout, samples, reversed);
        Ok(())
    }

    /// Adds a batch whose units may run backwards in memory (the ndarray adapter).
    #[cfg(feature = "ndarray")]
    pub(crate) fn observe_layout<T: Float>(
        &mut self,
        data: &[T],
        layout: ChannelLayout,
        reversed: bool,
    ) -> Result<(), Error> {
        let samples = self.check_samples(layout)?;
        let counts = count(&Exec::current(), data, None, layout);
        self.add_batch(counts, layout, samples, reversed);
        Ok(())
    }
}

/// The serialised form: what [`DeadUnitMonitor::to_bytes`] writes.
mod bytes {
    /// The first bytes of every serialised monitor.
    pub const MAGIC: &[u8; 4] = b"RKDM";
    /// The format version this relukit writes and reads.
    pub const VERSION: u8 = 1;
    /// Magic, version, units, samples, last-batch flag, elements and zeros.
    pub const HEADER: usize = 4 + 1 + 8 + 8 + 1 + 8 + 8;
    /// The trailing checksum.
    pub const CHECKSUM: usize = 8;

    /// FNV-1a, 64 bits: catches truncation and flipped bits (not tampering).
    pub fn checksum(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
            (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// Reads little-endian `u64`s from a slice, front to back.
    pub struct Reader<'a>(pub &'a [u8]);

    impl Reader<'_> {
        pub fn u8(&mut self) -> u8 {
            let (first, rest) = self.0.split_at(1);
            self.0 = rest;
            first[0]
        }
        pub fn u64(&mut self) -> u64 {
            let (first, rest) = self.0.split_at(8);
            self.0 = rest;
            u64::from_le_bytes(first.try_into().unwrap_or_default())
        }
    }
}

impl DeadUnitMonitor {
    /// The monitor as bytes, to send a window filled in a worker process back to be
    /// [`merge`](Self::merge)d, or to store it. The format is stable: a magic number, a
    /// version byte, the counts as little-endian integers and a checksum;
    /// [`from_bytes`](Self::from_bytes) reads it back on any platform.
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
        let mut out = Vec::with_capacity(bytes::HEADER + 16 * self.units() + bytes::CHECKSUM);
        out.extend_from_slice(bytes::MAGIC);
        out.push(bytes::VERSION);
        out.extend_from_slice(&(self.units() as u64).to_le_bytes());
        out.extend_from_slice(&self.samples.to_le_bytes());
        let last = self.last_batch.unwrap_or_default();
        out.push(self.last_batch.is_some() as u8);
        out.extend_from_slice(&last.elements.to_le_bytes());
        out.extend_from_slice(&last.zeros.to_le_bytes());
        for count in self.active.iter().chain(&self.nan) {
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&bytes::checksum(&out).to_le_bytes());
        out
    }

    /// A monitor from the bytes [`to_bytes`](Self::to_bytes) wrote.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidData`] if the bytes are truncated or corrupted (a wrong
    /// checksum, counts that cannot come from observing data), or were written by a
    /// format version this relukit does not read.
    pub fn from_bytes(data: &[u8]) -> Result<DeadUnitMonitor, Error> {
        let invalid = |why: String| {
            Err(Error::new(
                ErrorKind::InvalidData,
                format!("not a serialised DeadUnitMonitor: {why}"),
            ))
        };
        if data.len() < bytes::HEADER + bytes::CHECKSUM {
            return invalid(format!(
                "{} bytes, fewer than the {} of an empty monitor",
                data.len(),
                bytes::HEADER + bytes::CHECKSUM
            ));
        }
        if &data[..4] != bytes::MAGIC {
            return invalid("it does not start with the magic bytes \"RKDM\"".into());
        }
        if data[4] != bytes::VERSION {
            return invalid(format!(
                "format version {}, but this relukit reads version {}",
                data[4],
                bytes::VERSION
            ));
        }
        let (body, tail) = data.split_at(data.len() - bytes::CHECKSUM);
        let mut reader = bytes::Reader(&body[5..]);
        let units = reader.u64();
        let expected = usize::try_from(units)
            .ok()
            .and_then(|u| u.checked_mul(16))
            .and_then(|n| n.checked_add(bytes::HEADER + bytes::CHECKSUM));
        if expected != Some(data.len()) {
            return invalid(format!(
                "{} bytes, but a monitor of {units} units takes {}",
                data.len(),
                expected.map_or("more than usize::MAX".to_string(), |n| n.to_string())
            ));
        }
        if tail != bytes::checksum(body).to_le_bytes() {
            return invalid("the checksum does not match (corrupted bytes)".into());
        }
        let samples = reader.u64();
        let has_last = reader.u8();
        let (elements, zeros) = (reader.u64(), reader.u64());
        let units = units as usize;
        let active: Vec<u64> = (0..units).map(|_| reader.u64()).collect();
        let nan: Vec<u64> = (0..units).map(|_| reader.u64()).collect();
        if has_last > 1 || zeros > elements || (has_last == 0 && (elements, zeros) != (0, 0)) {
            return invalid("the last batch's counts are inconsistent".into());
        }
        if let Some(u) =
            (0..units).find(|&u| active[u].checked_add(nan[u]).is_none_or(|n| n > samples))
        {
            return invalid(format!(
                "unit {u} is counted {} + {} times in a window of {samples} samples",
                active[u], nan[u]
            ));
        }
        Ok(DeadUnitMonitor {
            active,
            nan,
            samples,
            last_batch: (has_last == 1).then_some(BatchCounts { elements, zeros }),
        })
    }
}

/// A run of at least this many elements is counted on its own.
const RUN_MIN: usize = 256;
/// Elements counted in 16-bit halves of a `u32` before they are carried out: whole rows
/// per position, or pieces of a run.
const FOLD: usize = u16::MAX as usize;

/// Active in the low 16 bits, NaN in the high 16 bits (summed over at most [`FOLD`]
/// elements).
#[inline(always)]
fn code<T: Float>(x: T) -> u32 {
    (x.gt_zero() as u32) | ((x.is_nan() as u32) << 16)
}

/// Per-unit counts of `data` under `layout` (whose channels are the units), writing
/// ReLU of the data to `out` when given (with non-temporal stores where a ReLU call of
/// that size would use them). Parallel over whole rows above the threshold; integer
/// sums, so the result never depends on the split.
fn count<T: Float>(
    exec: &Exec,
    data: &[T],
    mut out: Option<&mut [T]>,
    layout: ChannelLayout,
) -> Counts {
    let (units, inner) = (layout.channels(), layout.inner());
    let period = units * inner;
    if data.is_empty() || period == 0 {
        return Counts::zeros(units);
    }
    let stream = match out.as_deref_mut() {
        Some(out) if exec.streams(out) => Some(exec.wide_stores),
        _ => None,
    };
    let rows_per_task = exec
        .chunk_len(data.len(), size_of::<T>())
        .map(|chunk| chunk.div_ceil(period).max(1));
    let rows =
        |data: &[T], out: Option<&mut [T]>| count_rows(exec.simd, data, out, units, inner, stream);
    match (rows_per_task, out) {
        (None, out) => rows(data, out),
        (Some(n), None) => data
            .par_chunks(n * period)
            .map(|data| rows(data, None))
            .reduce(|| Counts::zeros(units), Counts::add),
        (Some(n), Some(out)) => data
            .par_chunks(n * period)
            .zip(out.par_chunks_mut(n * period))
            .map(|(data, out)| rows(data, Some(out)))
            .reduce(|| Counts::zeros(units), Counts::add),
    }
}

/// [`count`] on whole rows of `units * inner` elements, on one thread.
fn count_rows<T: Float>(
    simd: Simd,
    data: &[T],
    mut out: Option<&mut [T]>,
    units: usize,
    inner: usize,
    stream: Option<bool>,
) -> Counts {
    let mut counts = Counts::zeros(units);
    let f = |x: T| (x.relu(), code(x));
    if inner >= RUN_MIN {
        // Each run belongs to one unit: one integer sum per piece of a run.
        let mut tile = Tile::new();
        for (r, run) in data.chunks(inner).enumerate() {
            for (p, x) in run.chunks(FOLD).enumerate() {
                let start = r * inner + p * FOLD;
                let out = out
                    .as_deref_mut()
                    .map(|out| &mut out[start..start + x.len()]);
                let stream = stream.map(|wide| Streamed {
                    wide,
                    tile: &mut tile,
                });
                let packed = simd.run(MapSum { x, out, f, stream });
                counts.add_packed(r % units, packed);
            }
        }
        if stream.is_some() {
            simd.run(Fence);
        }
        return counts;
    }
    // Units interleave: count per position of a row.
    let period = units * inner;
    let mut acc = vec![0u32; period];
    let block = period.saturating_mul(FOLD);
    for (b, rows) in data.chunks(block).enumerate() {
        let out = out
            .as_deref_mut()
            .map(|out| &mut out[b * block..b * block + rows.len()]);
        simd.run(CountRows {
            x: rows,
            out,
            acc: &mut acc,
            f,
            stream,
        });
        for (unit, unit_acc) in acc.chunks_mut(inner).enumerate() {
            for packed in unit_acc {
                counts.add_packed(unit, *packed);
                *packed = 0;
            }
        }
    }
    counts
}
