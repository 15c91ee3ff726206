//! `DeadUnitMonitor` and `relu_observed`: the Rust monitor as a Python class that copies,
//! pickles and merges, fed through `relukit::ndarray`.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
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

/// Finds dead units: units never active (pre-activation > 0) over a window of batches.
///
/// Dead is not sparse: `batch_zero_fraction` is the share of zero ReLU outputs in the
/// last batch (sparsity), `inactive_units` the units that never fired over the window
/// (call `reset()` at each epoch). Under ReLU those are dead (`dead_units`, the same
/// set); under Leaky ReLU or PReLU an inactive unit still passes `slope * gradient`.
/// NaN pre-activations count as not active. Monitors copy (`copy.copy` is
/// independent), pickle (fill them in worker processes) and `merge`. A monitor may be
/// shared between threads (``DataParallel``-style workers, hooks called from several
/// threads): calls on it are serialised by a lock, so every batch observed from any
/// thread is counted exactly once.
///
/// Parameters
/// ----------
/// units : int
///     The number of units (at least 1).
///
/// Raises
/// ------
/// TypeError, ValueError
///     A non-integer or non-positive `units`.
/// MemoryError
///     Counts for `units` units (16 bytes each) that cannot be allocated.
///
/// Examples
/// --------
/// >>> import numpy as np, relukit
/// >>> monitor = relukit.DeadUnitMonitor(3)
/// >>> monitor.observe(np.array([[1.0, -1.0, 0.0], [2.0, -3.0, 0.5]]))
/// >>> monitor.inactive_units, monitor.samples
/// ([1], 2)
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
    fn lock(&self) -> MutexGuard<'_, relukit::DeadUnitMonitor> {
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
    fn new(units: &Bound<'_, PyAny>) -> PyResult<Self> {
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
            Ok(units) if units >= 1 => relukit::DeadUnitMonitor::try_new(units)
                .map(Monitor::wrap)
                .map_err(to_py),
            _ => Err(PyValueError::new_err(format!("{rule}, got {units}"))),
        }
    }

    /// Adds a batch of pre-activations; `axis` is the axis of the units (default: 1, as
    /// PReLU's channels: `[batch, units]` and NCHW; the only axis of a 1-D input). Dask
    /// arrays are computed block by block into monitors merged here; CPU torch tensors
    /// are read in place.
    #[pyo3(signature = (pre_activations, axis=None))]
    fn observe(
        &self,
        pre_activations: &Bound<'_, PyAny>,
        axis: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if !pre_activations.is_instance_of::<PyUntypedArray>() {
            // Dask arrays and torch tensors: filled by the Python layer, merged here.
            let units = self.lock().units();
            let filled = pre_activations
                .py()
                .import("relukit._dispatch")?
                .call_method1("observe", (pre_activations, units, axis))?;
            if let Ok(other) = filled.cast::<Monitor>() {
                let other = other.get().snapshot();
                return self.lock().merge(&other).map_err(to_py);
            }
        }
        let data = arrays::float_array("observe", "pre_activations", pre_activations)?;
        let channels = unit_axis("observe", axis, data.ndim())?;
        by_dtype!(Dtype::of(&data), observe_typed(self, &data, channels))
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
    channels: Channels,
) -> PyResult<()> {
    let py = data.py();
    let data = data.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let len = data.len();
    let (view, axis) = shaped(data.as_array(), channels);
    // The lock is taken without the interpreter's: a thread waiting for it never blocks
    // the one that holds it.
    py.detach(|| pool::run::<T, _>(len, || monitor.lock().observe(&view, axis)))
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
