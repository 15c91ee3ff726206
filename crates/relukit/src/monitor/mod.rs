//! [`DeadUnitMonitor`]: which units of a layer never fire, fire rarely, or are dormant.

mod bytes;
mod count;

use crate::exec::Exec;
use crate::{ChannelLayout, Error, ErrorKind, Float};
use count::{Batch, Magnitudes, tally};

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
        layout.check("pre_activations", pre_activations.len())?;
        self.check_units(layout.channels())?;
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
        layout.check("pre_activations", pre_activations.len())?;
        self.check_units(layout.channels())?;
        Error::check_len(
            "outputs",
            outputs.len(),
            "pre_activations",
            pre_activations.len(),
        )?;
        self.observe_layout(pre_activations, Some(outputs), layout, false)
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
