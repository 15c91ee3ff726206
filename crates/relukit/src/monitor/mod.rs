//! [`DeadUnitMonitor`]: which units of a layer never fire, fire rarely, or are dormant.

mod bytes;
mod count;

use crate::exec::Exec;
use crate::{ChannelLayout, Error, ErrorKind, Float};
use count::{Batch, Magnitudes, split_align, tally, tally_rows};

/// Counts, per unit, over a window of batches, how often the unit was active
/// (pre-activation `> 0`) and sums the magnitude `|h|` of its output, to find the units
/// the literature calls dead, low-firing and dormant.
///
/// **The metrics, side by side** (a unit is one neuron of `[batch, units]` data, or one
/// channel of NCHW data, over all its positions):
///
/// | method | a unit is listed when | source |
/// |---|---|---|
/// | [`inactive_units`](Self::inactive_units), [`dead_units`](Self::dead_units) | never active in the window | CS231n, Keras-contrib; Lu et al. 2020; Dohare et al. 2024 |
/// | [`low_firing_units(rate)`](Self::low_firing_units) | active on fewer than `rate` of the samples (`0.01`) | Dohare et al. 2024 |
/// | [`dormant_units(tau)`](Self::dormant_units) | its [score](Self::scores) `E\|h_i\| / mean_k E\|h_k\|` is `<= tau` (`0.025`, `0.1`) | Sokar et al. 2023 (ReDo) |
/// | [`batch_zero_fraction`](Self::batch_zero_fraction) | (a layer's share of zero outputs in the last batch: sparsity) | Mirzadeh et al. 2023 |
///
/// **Dead is not sparse.** A ReLU layer where 90% of the outputs are zero in a batch is
/// *sparse*, and that is normal; a unit is *dead* when it is inactive for every sample
/// over the whole window, so no gradient reaches its weights and it cannot recover by
/// itself.
///
/// **Inactive is not always dead.** Active means pre-activation `x > 0`, whatever the
/// activation, so [`inactive_units`](Self::inactive_units) are the units never `> 0`.
/// Under ReLU an inactive unit gets a zero gradient for every sample, so it is dead, and
/// [`dead_units`](Self::dead_units) (the same set) says so in ReLU's terms; under Leaky
/// ReLU, PReLU or RReLU an inactive unit still passes `slope * gradient` and is dead only
/// if its slope is (nearly) zero: combine `inactive_units` with the slopes you know.
///
/// **Magnitudes are of the activation's output.** [`observe_slice`](Self::observe_slice)
/// and the fused [`relu_observed_slice`](Self::relu_observed_slice) take `h = relu(x)`;
/// for Leaky ReLU, PReLU or RReLU give the layer's outputs too
/// ([`observe_outputs_slice`](Self::observe_outputs_slice)), so their negative side
/// counts towards `|h|`. The sums are `f64`, in an order fixed by the batch's logical
/// layout alone: the same bits on any thread count, instruction set and memory layout.
/// NaN pre-activations count as not active and are counted apart
/// ([`nan_count`](Self::nan_count)); NaN outputs add nothing to the sums.
///
/// A window is whatever you make it: [`reset`](Self::reset) at the start of each epoch
/// to ask "which units were dead this epoch". Monitors filled on different threads or
/// processes combine with [`merge`](Self::merge) and travel as bytes
/// ([`to_bytes`](Self::to_bytes)).
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
/// assert_eq!(monitor.firing_rates()[1], 1.0);
/// assert_eq!(monitor.nan_count(), 1);
/// assert_eq!(monitor.batch_zero_fraction(), Some(7.0 / 12.0)); // zeros after ReLU
/// // Mean |h| per unit: 0, 2, 0, 1/6; the layer's mean 13/24.
/// assert_eq!(monitor.magnitude_sums(), Some(&[0.0, 6.0, 0.0, 0.5][..]));
/// assert_eq!(monitor.dormant_units(0.1)?, vec![0, 2]);
/// assert_eq!(monitor.dormant_units(0.5)?, vec![0, 2, 3]); // 3's score: 4/13
/// assert_eq!(monitor.low_firing_units(0.5)?, vec![0, 2, 3]); // active on 0, 0, 1/3
/// # Ok::<(), relukit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DeadUnitMonitor {
    active: Vec<u64>,
    nan: Vec<u64>,
    /// Per unit, the sum of `|h|` over the window; `None` for a monitor that counts only.
    magnitudes: Option<Vec<f64>>,
    samples: u64,
    last_batch: Option<BatchCounts>,
}

/// Equal when every count is and every magnitude sum has the same bits.
impl PartialEq for DeadUnitMonitor {
    fn eq(&self, other: &Self) -> bool {
        let bits = |m: &Option<Vec<f64>>| {
            m.as_ref()
                .map(|m| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        };
        self.active == other.active
            && self.nan == other.nan
            && self.samples == other.samples
            && self.last_batch == other.last_batch
            && bits(&self.magnitudes) == bits(&other.magnitudes)
    }
}

impl Eq for DeadUnitMonitor {}

/// Elements and zeros (after ReLU) of the last observed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct BatchCounts {
    elements: u64,
    zeros: u64,
}

/// `units` zeros, allocated fallibly.
fn try_zeros<T: Clone + Default>(units: usize, bytes_per_unit: usize) -> Result<Vec<T>, Error> {
    let mut values = Vec::new();
    values.try_reserve_exact(units).map_err(|_| {
        Error::new(
            ErrorKind::AllocationFailed,
            format!(
                "a monitor of {units} units needs {} bytes for its counts, which cannot be allocated",
                (units as u128) * bytes_per_unit as u128
            ),
        )
    })?;
    values.resize(units, T::default());
    Ok(values)
}

/// One part of an observation split by its caller
/// ([`DeadUnitMonitor::observe_split`]): `part(first, last)` counts rows `first..last`
/// of the batch, on the thread that calls it.
pub type SplitPart<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// Why per-unit counts and sums cannot come from observing data, if they cannot: a
/// unit counted more than `samples` times, or a sum that is negative, `-0.0` or NaN
/// (NaN outputs add nothing). Lengths are the caller's to check.
fn inconsistency(
    active: &[u64],
    nan: &[u64],
    samples: u64,
    sums: Option<&[f64]>,
) -> Option<String> {
    if let Some(u) =
        (0..active.len()).find(|&u| active[u].checked_add(nan[u]).is_none_or(|n| n > samples))
    {
        return Some(format!(
            "unit {u} is counted {} + {} times in a window of {samples} samples",
            active[u], nan[u]
        ));
    }
    sums.and_then(|m| m.iter().position(|s| s.is_nan() || s.is_sign_negative()))
        .map(|u| format!("unit {u}'s magnitude sum is negative or NaN"))
}

impl DeadUnitMonitor {
    /// A monitor for a layer of `units` units, with an empty window: counts and
    /// magnitude sums (24 bytes per unit).
    ///
    /// # Panics
    /// Like `vec![0; units]`, if the counts cannot be allocated;
    /// [`try_new`](Self::try_new) returns an error instead.
    pub fn new(units: usize) -> Self {
        DeadUnitMonitor {
            active: vec![0; units],
            nan: vec![0; units],
            magnitudes: Some(vec![0.0; units]),
            samples: 0,
            last_batch: None,
        }
    }

    /// A monitor that counts only (16 bytes per unit, and the fastest fused ReLU): no
    /// magnitude sums, so no [`scores`](Self::scores) or
    /// [`dormant_units`](Self::dormant_units).
    ///
    /// ```
    /// let monitor = relukit::DeadUnitMonitor::counts_only(3);
    /// assert_eq!((monitor.magnitude_sums(), monitor.scores()), (None, None));
    /// ```
    pub fn counts_only(units: usize) -> Self {
        DeadUnitMonitor {
            active: vec![0; units],
            nan: vec![0; units],
            magnitudes: None,
            samples: 0,
            last_batch: None,
        }
    }

    /// [`new`](Self::new) for a `units` that comes from outside the program (a file, a
    /// user): the counts are allocated fallibly.
    ///
    /// # Errors
    /// [`ErrorKind::AllocationFailed`] if the 24 bytes per unit cannot be allocated.
    ///
    /// ```
    /// let err = relukit::DeadUnitMonitor::try_new(1 << 62).unwrap_err();
    /// assert_eq!(err.kind(), relukit::ErrorKind::AllocationFailed);
    /// ```
    pub fn try_new(units: usize) -> Result<Self, Error> {
        Ok(DeadUnitMonitor {
            magnitudes: Some(try_zeros(units, 24)?),
            ..DeadUnitMonitor::try_counts_only(units)?
        })
    }

    /// [`counts_only`](Self::counts_only), allocated fallibly.
    ///
    /// # Errors
    /// [`ErrorKind::AllocationFailed`] if the 16 bytes per unit cannot be allocated.
    pub fn try_counts_only(units: usize) -> Result<Self, Error> {
        Ok(DeadUnitMonitor {
            active: try_zeros(units, 16)?,
            nan: try_zeros(units, 16)?,
            magnitudes: None,
            samples: 0,
            last_batch: None,
        })
    }

    /// A monitor holding a window counted elsewhere: per unit the samples that were
    /// positive (`active`) and NaN (`nan`), the samples per unit, and the sums of `|h|`
    /// (`None` for a monitor that counts only). This is how counts made on a GPU, or
    /// reduced across processes, come back to the metrics; the last batch is unknown
    /// ([`batch_zero_fraction`](Self::batch_zero_fraction) is `None`).
    ///
    /// # Errors
    /// [`ErrorKind::LengthMismatch`] if `nan` or `magnitudes` is not as long as
    /// `active`; [`ErrorKind::OutOfRange`] if a unit is counted more than `samples`
    /// times (active and NaN together), or a sum is negative, `-0.0` or NaN (sums of
    /// magnitudes never are).
    ///
    /// ```
    /// let monitor = relukit::DeadUnitMonitor::from_counts(vec![0, 3], vec![0, 0], 4, Some(vec![0.0, 6.0]))?;
    /// assert_eq!((monitor.dead_units(), monitor.firing_rates()), (vec![0], vec![0.0, 0.75]));
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn from_counts(
        active: Vec<u64>,
        nan: Vec<u64>,
        samples: u64,
        magnitudes: Option<Vec<f64>>,
    ) -> Result<Self, Error> {
        let lengths = [Some(nan.len()), magnitudes.as_ref().map(Vec::len)];
        if let Some(n) = lengths.into_iter().flatten().find(|&n| n != active.len()) {
            return Err(Error::new(
                ErrorKind::LengthMismatch,
                format!(
                    "a monitor of {} units (active counts) got {n} NaN counts or sums",
                    active.len()
                ),
            ));
        }
        if let Some(why) = inconsistency(&active, &nan, samples, magnitudes.as_deref()) {
            return Err(Error::new(ErrorKind::OutOfRange, why));
        }
        Ok(DeadUnitMonitor {
            active,
            nan,
            magnitudes,
            samples,
            last_batch: None,
        })
    }

    /// The number of units.
    pub fn units(&self) -> usize {
        self.active.len()
    }

    /// Adds one batch of pre-activations `x` of a ReLU layer (magnitudes `|relu(x)|`),
    /// laid out as `layout` describes with the units as its channels: `[batch, units]` is
    /// `ChannelLayout::new(batch, units, 1)`, an NCHW convolution output is
    /// `ChannelLayout::nchw(n, units, h, w)`.
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
        self.check_batch(pre_activations, None, layout)?;
        self.observe_layout(pre_activations, None, layout, false)
    }

    /// Adds one batch of pre-activations together with the layer's outputs `h` (any
    /// activation: Leaky ReLU, PReLU, RReLU...): active is still `x > 0`, the magnitudes
    /// are `|h|`.
    ///
    /// # Errors
    /// As [`observe_slice`](Self::observe_slice), and [`ErrorKind::LengthMismatch`] if
    /// `outputs` is not as long as `pre_activations`.
    ///
    /// ```
    /// use relukit::{ChannelLayout, DeadUnitMonitor};
    /// let x = [-1.0f32, 2.0, -4.0, 1.0]; // [batch 2, units 2]
    /// let mut h = [0.0f32; 4];
    /// relukit::leaky_relu(&x, 0.5, &mut h)?;
    /// let mut monitor = DeadUnitMonitor::new(2);
    /// monitor.observe_outputs_slice(&x, &h, ChannelLayout::new(2, 2, 1))?;
    /// assert_eq!(monitor.inactive_units(), vec![0]);
    /// assert_eq!(monitor.magnitude_sums(), Some(&[2.5, 3.0][..])); // |-0.5| + |-2|
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn observe_outputs_slice<T: Float>(
        &mut self,
        pre_activations: &[T],
        outputs: &[T],
        layout: ChannelLayout,
    ) -> Result<(), Error> {
        self.check_batch(pre_activations, Some(outputs.len()), layout)?;
        self.observe_layout(pre_activations, Some(outputs), layout, false)
    }

    /// [`observe_outputs_slice`](Self::observe_outputs_slice) (or
    /// [`observe_slice`](Self::observe_slice), with `outputs` None) on the caller's
    /// threads: `split(rows, align, part)` must call `part(first, last)` on ranges of
    /// rows (the `outer` axis of `layout`) that cover `0..rows` once each, every `first` a
    /// multiple of `align`, on any threads, in any order, and return when all are done.
    /// The parts come back together in row order: the counts and the sums have the bits
    /// of one call on any split. This is how a caller runs the monitor on a thread team
    /// it already has (PyTorch's OpenMP team, for relukit.torch's tracker).
    ///
    /// # Errors
    /// As [`observe_outputs_slice`](Self::observe_outputs_slice), and
    /// [`ErrorKind::LayoutMismatch`] if the parts did not cover the rows once each (the
    /// monitor is unchanged then).
    ///
    /// ```
    /// use relukit::{ChannelLayout, DeadUnitMonitor};
    /// let x: Vec<f32> = (0..600).map(|i| (i % 7) as f32 - 3.0).collect(); // [300, 2]
    /// let layout = ChannelLayout::new(300, 2, 1);
    /// let (mut whole, mut split) = (DeadUnitMonitor::new(2), DeadUnitMonitor::new(2));
    /// whole.observe_slice(&x, layout)?;
    /// split.observe_split(&x, None, layout, &|rows, align, part| {
    ///     let middle = (rows / 2).next_multiple_of(align).min(rows);
    ///     std::thread::scope(|s| {
    ///         s.spawn(|| part(middle, rows));
    ///         part(0, middle);
    ///     });
    /// })?;
    /// assert_eq!(split, whole);
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn observe_split<T: Float>(
        &mut self,
        pre_activations: &[T],
        outputs: Option<&[T]>,
        layout: ChannelLayout,
        split: &dyn Fn(usize, usize, &SplitPart<'_>),
    ) -> Result<(), Error> {
        self.check_batch(pre_activations, outputs.map(<[T]>::len), layout)?;
        let samples = self.check_samples(layout)?;
        let (units, inner, rows) = (layout.channels(), layout.inner(), layout.outer());
        let magnitudes = self.magnitudes_of(outputs);
        let align = split_align(self.magnitudes.is_some(), inner);
        let parts = std::sync::Mutex::new(Vec::new());
        let bad = std::sync::atomic::AtomicBool::new(false);
        let part = |first: usize, last: usize| {
            if first > last || last > rows || !first.is_multiple_of(align) {
                bad.store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            let batch = tally_rows(pre_activations, units, inner, magnitudes, first, last);
            let mut parts = parts.lock().unwrap_or_else(|p| p.into_inner());
            parts.push((first, last, batch));
        };
        if units * inner == 0 || rows == 0 {
            part(0, rows);
        } else {
            split(rows, align, &part);
        }
        let mut parts = parts.into_inner().unwrap_or_else(|p| p.into_inner());
        parts.sort_by_key(|&(first, last, _)| (first, last));
        let mut next = 0;
        let mut batch = Batch::empty(units);
        for (first, last, part) in parts {
            if first != next {
                bad.store(true, std::sync::atomic::Ordering::Relaxed);
                break;
            }
            next = last;
            batch = batch.then(part);
        }
        if bad.into_inner() || next != rows {
            return Err(Error::new(
                ErrorKind::LayoutMismatch,
                format!(
                    "observe_split: the parts did not cover rows 0..{rows} once each, starting at multiples of {align}"
                ),
            ));
        }
        self.add_batch(batch, layout, samples, false);
        Ok(())
    }

    /// That `layout` describes the pre-activations, its channels are this monitor's
    /// units, and the outputs (their length, when given) are as long.
    fn check_batch<T>(
        &self,
        pre_activations: &[T],
        outputs: Option<usize>,
        layout: ChannelLayout,
    ) -> Result<(), Error> {
        layout.check("pre_activations", pre_activations.len())?;
        self.check_units(layout.channels())?;
        match outputs {
            Some(n) => Error::check_len("outputs", n, "pre_activations", pre_activations.len()),
            None => Ok(()),
        }
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

    /// Whether this monitor sums magnitudes (it was not made by
    /// [`counts_only`](Self::counts_only) or read from a version 1 file).
    pub fn has_magnitudes(&self) -> bool {
        self.magnitudes.is_some()
    }

    /// How this monitor takes the magnitudes of a batch.
    fn magnitudes_of<'a, T>(&self, outputs: Option<&'a [T]>) -> Magnitudes<'a, T> {
        match (&self.magnitudes, outputs) {
            (None, _) => Magnitudes::Skip,
            (Some(_), None) => Magnitudes::OfRelu,
            (Some(_), Some(h)) => Magnitudes::Of(h),
        }
    }

    /// Adds a batch (`samples` from [`check_samples`](Self::check_samples));
    /// `reversed` when unit `u` of the batch is unit `units - 1 - u` of the monitor (a
    /// unit axis with a negative stride).
    fn add_batch(&mut self, batch: Batch, layout: ChannelLayout, samples: u64, reversed: bool) {
        let units = self.units();
        let target = |u: usize| if reversed { units - 1 - u } else { u };
        for u in 0..units {
            self.active[target(u)] += batch.counts.active[u];
            self.nan[target(u)] += batch.counts.nan[u];
        }
        if let Some(sums) = &mut self.magnitudes {
            for piece in batch.pieces.chunks_exact(units.max(1)) {
                for (u, &m) in piece.iter().enumerate() {
                    sums[target(u)] += m;
                }
            }
        }
        let elements = layout.len().unwrap_or(0) as u64;
        let nonzero: u64 = batch.counts.active.iter().chain(&batch.counts.nan).sum();
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
        self.share(self.inactive_units().len())
    }

    /// `listed` units as a share of the layer's (0 for a layer of no units).
    fn share(&self, listed: usize) -> f64 {
        if self.units() == 0 {
            0.0
        } else {
            listed as f64 / self.units() as f64
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
    pub fn firing_rates(&self) -> Vec<f64> {
        let samples = self.samples.max(1) as f64;
        self.active.iter().map(|&a| a as f64 / samples).collect()
    }

    /// [`firing_rates`](Self::firing_rates), under its earlier name.
    pub fn activation_rate(&self) -> Vec<f64> {
        self.firing_rates()
    }

    /// The units active on fewer than `rate` of the window's samples (Dohare et al.
    /// 2024 use `0.01`); none if nothing was observed. Inactive units are among them
    /// for any `rate > 0`.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if `rate` is not in `[0, 1]`.
    pub fn low_firing_units(&self, rate: f64) -> Result<Vec<usize>, Error> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!("`rate` must be in [0, 1] (a share of the samples), got {rate}"),
            ));
        }
        if self.samples == 0 {
            return Ok(Vec::new());
        }
        // active / samples < rate, without rounding the quotient.
        let limit = rate * self.samples as f64;
        Ok((0..self.units())
            .filter(|&u| (self.active[u] as f64) < limit)
            .collect())
    }

    /// Per unit, the sum of the output's magnitude `|h|` over the window (`None` for a
    /// monitor that counts only).
    pub fn magnitude_sums(&self) -> Option<&[f64]> {
        self.magnitudes.as_deref()
    }

    /// Per unit, Sokar et al.'s (2023) score: the unit's mean `|h|` over the window
    /// divided by the layer's mean of those means, `s_i = E|h_i| / mean_k E|h_k|`
    /// (`sum_i / mean_k sum_k`: the sample counts cancel). Where every unit's mean is
    /// 0 every score is 0; `None` for a monitor that counts only.
    pub fn scores(&self) -> Option<Vec<f64>> {
        let sums = self.magnitudes.as_ref()?;
        let mean = sums.iter().sum::<f64>() / sums.len().max(1) as f64;
        Some(
            sums.iter()
                .map(|&s| if mean == 0.0 { 0.0 } else { s / mean })
                .collect(),
        )
    }

    /// The τ-dormant units (Sokar et al. 2023): [score](Self::scores) `<= tau` (they use
    /// `0.025` and `0.1`); none if nothing was observed.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if `tau` is not in `(0, 1]`;
    /// [`ErrorKind::NoMagnitudes`] for a monitor that counts only.
    pub fn dormant_units(&self, tau: f64) -> Result<Vec<usize>, Error> {
        if !(tau > 0.0 && tau <= 1.0) {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!("`tau` must be in (0, 1] (a share of the layer's mean score), got {tau}"),
            ));
        }
        let Some(scores) = self.scores() else {
            return Err(Error::new(
                ErrorKind::NoMagnitudes,
                "dormant units need the outputs' magnitudes, and this monitor counts only (made by `counts_only` or read from a version 1 file)".into(),
            ));
        };
        if self.samples == 0 {
            return Ok(Vec::new());
        }
        Ok((0..self.units()).filter(|&u| scores[u] <= tau).collect())
    }

    /// The share of τ-dormant units: [`dormant_units`](Self::dormant_units).
    ///
    /// # Errors
    /// As [`dormant_units`](Self::dormant_units).
    pub fn dormant_fraction(&self, tau: f64) -> Result<f64, Error> {
        Ok(self.share(self.dormant_units(tau)?.len()))
    }

    /// The share of low-firing units: [`low_firing_units`](Self::low_firing_units).
    ///
    /// # Errors
    /// As [`low_firing_units`](Self::low_firing_units).
    pub fn low_firing_fraction(&self, rate: f64) -> Result<f64, Error> {
        Ok(self.share(self.low_firing_units(rate)?.len()))
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
        *self = match self.magnitudes {
            Some(_) => DeadUnitMonitor::new(self.units()),
            None => DeadUnitMonitor::counts_only(self.units()),
        };
    }

    /// Adds the window of `other` (filled on another thread, say) to this one: counts
    /// add, and magnitude sums add (`self + other`, in that order). The last batches of
    /// both are taken together as one. Merging into a monitor that counts only drops
    /// `other`'s magnitudes.
    ///
    /// # Errors
    /// [`ErrorKind::UnitMismatch`] if the monitors have different numbers of units;
    /// [`ErrorKind::NoMagnitudes`] if this monitor sums magnitudes and `other` does
    /// not. This monitor is unchanged then.
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
        if self.magnitudes.is_some() && other.magnitudes.is_none() {
            return Err(Error::new(
                ErrorKind::NoMagnitudes,
                "cannot merge a monitor that counts only into one that sums magnitudes (its sums would be wrong)".into(),
            ));
        }
        for (a, b) in self.active.iter_mut().zip(&other.active) {
            *a += b;
        }
        for (a, b) in self.nan.iter_mut().zip(&other.nan) {
            *a += b;
        }
        if let (Some(a), Some(b)) = (&mut self.magnitudes, &other.magnitudes) {
            for (a, b) in a.iter_mut().zip(b) {
                *a += b;
            }
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
        let (units, inner) = (layout.channels(), layout.inner());
        let magnitudes = self.magnitudes_of(None);
        let batch = tally(
            &Exec::current(),
            input,
            Some(output),
            units,
            inner,
            magnitudes,
        );
        self.add_batch(batch, layout, samples, reversed);
        Ok(())
    }

    /// Adds a batch (with its outputs, if given) whose units may run backwards in
    /// memory; the caller has checked the layout, the units and the lengths.
    pub(crate) fn observe_layout<T: Float>(
        &mut self,
        data: &[T],
        outputs: Option<&[T]>,
        layout: ChannelLayout,
        reversed: bool,
    ) -> Result<(), Error> {
        let samples = self.check_samples(layout)?;
        let (units, inner) = (layout.channels(), layout.inner());
        let magnitudes = self.magnitudes_of(outputs);
        let batch = tally(&Exec::current(), data, None, units, inner, magnitudes);
        self.add_batch(batch, layout, samples, reversed);
        Ok(())
    }
}
