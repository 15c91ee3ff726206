//! `DeadUnitMonitor` and `relu_observed`: the Rust monitor as a Python class that copies,
//! pickles and merges, fed through `relukit::ndarray`.

use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use relukit::{Float, f16};
use std::sync::{Mutex, MutexGuard};

use crate::arrays::{self, Dtype};
use crate::errors::to_py;
use crate::pool;
use crate::prelu::{Channels, by_dtype, normalize_axis, shaped};

/// The unit axis of `ndim` dimensions: `axis` (default -1, the last); a 0-d array (one
/// sample of one unit) takes the default only.
fn unit_axis(function: &str, axis: Option<&Bound<'_, PyAny>>, ndim: usize) -> PyResult<Channels> {
    match axis.filter(|a| !a.is_none()) {
        None if ndim == 0 => Ok(Channels::One),
        None if ndim == 1 => Ok(Channels::Axis(0)),
        None => Ok(Channels::Axis(1)),
        Some(axis) => normalize_axis(function, axis, ndim).map(Channels::Axis),
    }
}

/// Finds dead, low-firing and dormant units of a layer over a window of batches.
///
/// Per unit it counts the samples where the unit was active (pre-activation > 0) and
/// sums the magnitude of its output ``|h|`` (float64, in an order fixed by the batch's
/// logical layout: the same bits on any thread count and memory layout), so that the
/// metrics of the literature sit side by side:
///
/// - ``inactive_units`` / ``dead_units``: never active in the window (Lu et al. 2020;
///   Dohare et al. 2024). Under ReLU those are dead; under Leaky ReLU or PReLU an
///   inactive unit still passes ``slope * gradient``.
/// - ``low_firing_units(rate)``: active on fewer than ``rate`` of the samples (Dohare et
///   al. 2024: 0.01).
/// - ``dormant_units(tau)``: Sokar et al.'s (2023) score ``E|h_i| / mean_k E|h_k|`` is
///   ``<= tau`` (0.025 or 0.1); ``scores()`` gives the scores.
/// - ``batch_zero_fraction``: the share of zero outputs in the last batch (sparsity,
///   which is not death: Mirzadeh et al. 2023).
///
/// ``h`` is ReLU's output unless ``observe`` is given the layer's ``outputs`` (Leaky
/// ReLU, PReLU, RReLU: their negative side counts). NaN pre-activations count as not
/// active; NaN outputs add nothing to the sums. Call ``reset()`` at each epoch. Monitors
/// copy (``copy.copy`` is independent), pickle (fill them in worker processes) and
/// ``merge``. A monitor may be shared between threads: calls on it are serialised by a
/// lock, so every batch observed from any thread is counted exactly once.
///
/// Parameters
/// ----------
/// units : int
///     The number of units (at least 1).
/// magnitudes : bool, default True
///     Sum the outputs' magnitudes (24 bytes per unit); False counts only (16 bytes,
///     the fastest ``relu_observed``, no ``scores`` or ``dormant_units``).
///
/// Raises
/// ------
/// TypeError, ValueError
///     A non-integer or non-positive `units`.
/// MemoryError
///     Counts for `units` units that cannot be allocated.
///
/// Examples
/// --------
/// >>> import numpy as np, relukit
/// >>> monitor = relukit.DeadUnitMonitor(3)
/// >>> monitor.observe(np.array([[1.0, -1.0, 0.0], [2.0, -3.0, 0.5]]))
/// >>> monitor.inactive_units, monitor.samples
/// ([1], 2)
/// >>> monitor.scores()  # mean |h| per unit 1.5, 0, 0.25; the layer's mean 7/12
/// array([2.57142857, 0.        , 0.42857143])
/// >>> monitor.dormant_units(0.5), monitor.low_firing_units(0.75)
/// ([1, 2], [1, 2])
#[pyclass(module = "relukit", name = "DeadUnitMonitor", frozen)]
pub struct Monitor {
    inner: Mutex<relukit::DeadUnitMonitor>,
}

impl Monitor {
    fn wrap(inner: relukit::DeadUnitMonitor) -> Self {
        Monitor {
            inner: Mutex::new(inner),
        }
    }

    /// The monitor, locked. A panic while it was held cannot leave it half updated
    /// (every update is computed first, then applied), so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, relukit::DeadUnitMonitor> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the monitor's state.
    fn snapshot(&self) -> relukit::DeadUnitMonitor {
        self.lock().clone()
    }
}

#[pymethods]
impl Monitor {
    #[new]
    #[pyo3(signature = (units, magnitudes=true))]
    fn new(units: &Bound<'_, PyAny>, magnitudes: bool) -> PyResult<Self> {
        let rule = "units must be a positive integer (the number of units of the layer)";
        let units: i128 = units
            .call_method0("__index__")
            .and_then(|u| u.extract())
            .map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "{rule}, got {}",
                    units.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                ))
            })?;
        match usize::try_from(units) {
            Ok(units) if units >= 1 && !magnitudes => {
                relukit::DeadUnitMonitor::try_counts_only(units)
                    .map(Monitor::wrap)
                    .map_err(to_py)
            }
            Ok(units) if units >= 1 => relukit::DeadUnitMonitor::try_new(units)
                .map(Monitor::wrap)
                .map_err(to_py),
            _ => Err(PyValueError::new_err(format!("{rule}, got {units}"))),
        }
    }

    /// Adds a batch of pre-activations; `axis` is the axis of the units (default: 1, as
    /// PReLU's channels: `[batch, units]` and NCHW; the only axis of a 1-D input).
    /// `outputs`, the layer's outputs of the same shape and dtype, give the magnitudes
    /// `|h|` (else `relu(pre_activations)`). Dask arrays are computed block by block
    /// into monitors merged here (their sums in block order); CPU torch tensors are read
    /// in place.
    #[pyo3(signature = (pre_activations, axis=None, outputs=None))]
    fn observe(
        &self,
        pre_activations: &Bound<'_, PyAny>,
        axis: Option<&Bound<'_, PyAny>>,
        outputs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outputs = outputs.filter(|o| !o.is_none());
        if !pre_activations.is_instance_of::<PyUntypedArray>() {
            // Dask arrays and torch tensors: filled by the Python layer, merged here.
            let (units, magnitudes) = {
                let inner = self.lock();
                (inner.units(), inner.has_magnitudes())
            };
            let filled = pre_activations
                .py()
                .import("relukit._dispatch")?
                .call_method1(
                    "observe",
                    (pre_activations, units, axis, outputs, magnitudes),
                )?;
            if let Ok(other) = filled.cast::<Monitor>() {
                let other = other.get().snapshot();
                return self.lock().merge(&other).map_err(to_py);
            }
        }
        let data = arrays::float_array("observe", "pre_activations", pre_activations)?;
        let channels = unit_axis("observe", axis, data.ndim())?;
        let Some(outputs) = outputs else {
            return by_dtype!(Dtype::of(&data), observe_typed(self, &data, None, channels));
        };
        let outputs = arrays::float_array("observe", "outputs", outputs)?;
        if !outputs.dtype().is_equiv_to(&data.dtype()) {
            return Err(crate::errors::type_error(
                "DeadUnitMonitor.observe",
                "outputs",
                format!(
                    "has dtype {}, but `pre_activations` has {}: give both in one dtype",
                    outputs.dtype(),
                    data.dtype()
                ),
            ));
        }
        by_dtype!(
            Dtype::of(&data),
            observe_typed(self, &data, Some(&outputs), channels)
        )
    }

    /// Whether the monitor sums magnitudes (False for `magnitudes=False`, or a monitor
    /// read from a version 1 file).
    #[getter]
    fn has_magnitudes(&self) -> bool {
        self.lock().has_magnitudes()
    }
    /// Per unit, the sum of `|h|` over the window (float64), or None without magnitudes.
    #[getter]
    fn magnitude_sums<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f64>>> {
        self.lock()
            .magnitude_sums()
            .map(|sums| PyArray1::from_slice(py, sums))
    }
    /// Per unit, the share of samples of the window where it was active (as
    /// `activation_rate`).
    fn firing_rates<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.lock().firing_rates())
    }
    /// Per unit, Sokar et al.'s score `E|h_i| / mean_k E|h_k|` (all 0 where every
    /// unit's mean is 0). ValueError for a monitor that counts only.
    fn scores<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        // One lock: the error comes from the same state as the missing scores.
        let inner = self.lock();
        match inner.scores() {
            Some(scores) => Ok(PyArray1::from_vec(py, scores)),
            None => Err(to_py(inner.dormant_units(1.0).unwrap_err())),
        }
    }
    /// The τ-dormant units: score `<= tau`, `tau` in (0, 1] (Sokar et al.: 0.025, 0.1).
    #[pyo3(signature = (tau=0.1))]
    fn dormant_units(&self, tau: f64) -> PyResult<Vec<usize>> {
        self.lock().dormant_units(tau).map_err(to_py)
    }
    /// The share of τ-dormant units.
    #[pyo3(signature = (tau=0.1))]
    fn dormant_fraction(&self, tau: f64) -> PyResult<f64> {
        self.lock().dormant_fraction(tau).map_err(to_py)
    }
    /// The units active on fewer than `rate` of the samples, `rate` in [0, 1] (Dohare
    /// et al.: 0.01).
    #[pyo3(signature = (rate=0.01))]
    fn low_firing_units(&self, rate: f64) -> PyResult<Vec<usize>> {
        self.lock().low_firing_units(rate).map_err(to_py)
    }
    /// The share of low-firing units.
    #[pyo3(signature = (rate=0.01))]
    fn low_firing_fraction(&self, rate: f64) -> PyResult<f64> {
        self.lock().low_firing_fraction(rate).map_err(to_py)
    }

    /// The number of units.
    #[getter]
    fn units(&self) -> usize {
        self.lock().units()
    }
    /// The units never active (pre-activation never > 0) in the window, any activation.
    #[getter]
    fn inactive_units(&self) -> Vec<usize> {
        self.lock().inactive_units()
    }
    /// The share of units never active in the window.
    #[getter]
    fn inactive_fraction(&self) -> f64 {
        self.lock().inactive_fraction()
    }
    /// The dead units of a ReLU layer: its inactive units (zero gradient on every sample).
    #[getter]
    fn dead_units(&self) -> Vec<usize> {
        self.lock().dead_units()
    }
    /// The share of dead units of a ReLU layer (`inactive_fraction`).
    #[getter]
    fn dead_fraction(&self) -> f64 {
        self.lock().dead_fraction()
    }
    /// Per unit, the share of samples of the window where it was active.
    #[getter]
    fn activation_rate<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.lock().activation_rate())
    }
    /// Per unit, the number of samples of the window where it was active.
    #[getter]
    fn active_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        PyArray1::from_slice(py, self.lock().active_counts())
    }
    /// The number of NaN pre-activations in the window.
    #[getter]
    fn nan_count(&self) -> u64 {
        self.lock().nan_count()
    }
    /// The number of samples each unit has seen in the window.
    #[getter]
    fn samples(&self) -> u64 {
        self.lock().samples()
    }
    /// The share of zeros among the ReLU outputs of the last batch (None before one).
    #[getter]
    fn batch_zero_fraction(&self) -> Option<f64> {
        self.lock().batch_zero_fraction()
    }

    /// Starts a new window (for example, a new epoch).
    fn reset(&self) {
        self.lock().reset()
    }

    /// Adds the window of `other` to this one. Merging a monitor with itself doubles
    /// its counts, as merging it with a copy of itself does.
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, Self>) -> PyResult<()> {
        // A copy first: merging a monitor with itself must not hold its lock twice.
        let other = other.get().snapshot();
        slf.get().lock().merge(&other).map_err(to_py)
    }

    /// The monitor as bytes (a stable format with a version byte and a checksum).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lock().to_bytes())
    }

    /// A monitor from the bytes `to_bytes` wrote; ValueError if they are corrupt.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &[u8]) -> PyResult<Self> {
        let inner = relukit::DeadUnitMonitor::from_bytes(data).map_err(to_py)?;
        if inner.units() == 0 {
            // The constructor's rule: a monitor has at least one unit.
            return Err(PyValueError::new_err(
                "DeadUnitMonitor.from_bytes: the bytes describe a monitor of 0 units; a monitor has at least one unit",
            ));
        }
        Ok(Monitor::wrap(inner))
    }

    /// A monitor holding a window counted elsewhere (on a GPU, or reduced across
    /// processes): per unit the positive and the NaN samples, the samples per unit and
    /// the sums of `|h|` (None: a monitor that counts only). ValueError for counts that
    /// observing data cannot give (a unit counted more than `samples` times, a negative
    /// or NaN sum, lengths that differ, no unit).
    #[classmethod]
    #[pyo3(signature = (active_counts, samples, magnitude_sums=None, nan_counts=None))]
    fn from_counts(
        _cls: &Bound<'_, PyType>,
        active_counts: Vec<i128>,
        samples: i128,
        magnitude_sums: Option<Vec<f64>>,
        nan_counts: Option<Vec<i128>>,
    ) -> PyResult<Self> {
        let counts = |name: &str, values: Vec<i128>| -> PyResult<Vec<u64>> {
            values
                .into_iter()
                .map(|v| {
                    u64::try_from(v).map_err(|_| {
                        PyValueError::new_err(format!(
                            "DeadUnitMonitor.from_counts: {name} must be counts from 0 to 2**64 - 1, got {v}"
                        ))
                    })
                })
                .collect()
        };
        let active = counts("active_counts", active_counts)?;
        if active.is_empty() {
            return Err(PyValueError::new_err(
                "DeadUnitMonitor.from_counts: active_counts is empty; a monitor has at least one unit",
            ));
        }
        let nan = match nan_counts {
            Some(nan) => counts("nan_counts", nan)?,
            None => vec![0; active.len()],
        };
        let samples = counts("samples", vec![samples])?[0];
        relukit::DeadUnitMonitor::from_counts(active, nan, samples, magnitude_sums)
            .map(Monitor::wrap)
            .map_err(to_py)
    }

    fn __copy__(&self) -> Self {
        Monitor::wrap(self.snapshot())
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        Monitor::wrap(self.snapshot())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Monitor>() {
            Ok(other) if std::ptr::eq(self, other.get()) => true,
            Ok(other) => self.snapshot() == other.get().snapshot(),
            Err(_) => false,
        }
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.get().to_bytes(slf.py()),)))
    }

    fn __repr__(&self) -> String {
        let inner = self.lock();
        format!(
            "DeadUnitMonitor(units={}, samples={}, dead={})",
            inner.units(),
            inner.samples(),
            inner.dead_units().len()
        )
    }
}

fn observe_typed<T: Float + numpy::Element>(
    monitor: &Monitor,
    data: &Bound<'_, PyUntypedArray>,
    outputs: Option<&Bound<'_, PyUntypedArray>>,
    channels: Channels,
) -> PyResult<()> {
    let py = data.py();
    let data = data.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let outputs = match outputs {
        Some(h) => Some(h.cast::<PyArrayDyn<T>>()?.try_readonly()?),
        None => None,
    };
    let len = data.len();
    let (view, axis) = shaped(data.as_array(), channels);
    let h = outputs.as_ref().map(|h| shaped(h.as_array(), channels).0);
    // The lock is taken without the interpreter's: a thread waiting for it never blocks
    // the one that holds it.
    py.detach(|| {
        pool::run::<T, _>(len, || match &h {
            None => monitor.lock().observe(&view, axis),
            Some(h) => monitor.lock().observe_outputs(&view, h, axis),
        })
    })
    .map_err(to_py)
}

/// ReLU of `x` while `monitor` observes it (units along `axis`: default 1, or the only
/// axis of a 1-D input), in one pass. Returns a new array in `x`'s memory order, or `out`.
#[pyfunction]
#[pyo3(signature = (x, monitor, axis=None, out=None))]
pub fn relu_observed<'py>(
    x: &Bound<'py, PyAny>,
    monitor: &Bound<'py, Monitor>,
    axis: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    const F: &str = "relu_observed";
    let input = x;
    let x = arrays::float_array(F, "x", x)?;
    let channels = unit_axis(F, axis, x.ndim())?;
    let monitor = monitor.get();
    arrays::with_output(F, input, x, out, false, |x, target| {
        by_dtype!(
            Dtype::of(x),
            relu_observed_typed(monitor, x, channels, &target.array)
        )
    })
}

fn relu_observed_typed<T: Float + numpy::Element>(
    monitor: &Monitor,
    x: &Bound<'_, PyUntypedArray>,
    channels: Channels,
    target: &Bound<'_, PyUntypedArray>,
) -> PyResult<()> {
    let py = x.py();
    let x = x.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let mut target = target.cast::<PyArrayDyn<T>>()?.try_readwrite()?;
    let len = x.len();
    let (x, axis) = shaped(x.as_array(), channels);
    let (out, _) = shaped(target.as_array_mut(), channels);
    py.detach(|| {
        pool::run::<T, _>(len, || {
            relukit::ndarray::relu_observed_into(&x, out, &mut monitor.lock(), axis)
        })
    })
    .map_err(to_py)
}
