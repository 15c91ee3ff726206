//! relukit for Python: the `relukit._relukit` extension module.
//!
//! Thin bindings: the ufuncs (`ufunc.rs`) are NumPy's own machinery over relukit's
//! kernels; PReLU and the dead-unit monitor take contiguous arrays that the Python layer
//! (`python/relukit/__init__.py`) has checked and converted, and run with the
//! interpreter lock released, on a fork-safe pool (`pool.rs`) for large calls.

mod pool;
mod ufunc;

use numpy::{PyArray1, PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use relukit::{ChannelLayout, Float, f16};

fn value_error(e: relukit::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Calls `f::<T>` for the float type of `x` (float16, float32 or float64).
macro_rules! by_dtype {
    ($x:expr, $f:ident($($arg:expr),*)) => {{
        if $x.extract::<PyReadonlyArrayDyn<'_, f32>>().is_ok() {
            $f::<f32>($($arg),*)
        } else if $x.extract::<PyReadonlyArrayDyn<'_, f64>>().is_ok() {
            $f::<f64>($($arg),*)
        } else if $x.extract::<PyReadonlyArrayDyn<'_, f16>>().is_ok() {
            $f::<f16>($($arg),*)
        } else {
            Err(PyTypeError::new_err("relukit: expected a float16, float32 or float64 array"))
        }
    }};
}

fn prelu_typed<T: Float + numpy::Element>(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    layout: ChannelLayout,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let (x, weight) = (
        x.extract::<PyReadonlyArrayDyn<'_, T>>()?,
        weight.extract::<PyReadonlyArrayDyn<'_, T>>()?,
    );
    let mut out = out.extract::<PyReadwriteArrayDyn<'_, T>>()?;
    let (x, weight, out) = (x.as_slice()?, weight.as_slice()?, out.as_slice_mut()?);
    py.detach(|| pool::run(x.len(), || relukit::prelu(x, weight, layout, out)))
        .map_err(value_error)
}

/// PReLU on C-contiguous arrays of one float type laid out as `[outer, channels, inner]`.
#[pyfunction]
fn _prelu(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    outer: usize,
    channels: usize,
    inner: usize,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let layout = ChannelLayout::new(outer, channels, inner);
    by_dtype!(x, prelu_typed(py, x, weight, layout, out))
}

fn prelu_backward_typed<T: Float + numpy::Element>(
    py: Python<'_>,
    arrays: [&Bound<'_, PyAny>; 5],
    layout: ChannelLayout,
) -> PyResult<()> {
    let [g, x, weight, gx, gw] = arrays;
    let (g, x, weight) = (
        g.extract::<PyReadonlyArrayDyn<'_, T>>()?,
        x.extract::<PyReadonlyArrayDyn<'_, T>>()?,
        weight.extract::<PyReadonlyArrayDyn<'_, T>>()?,
    );
    let (mut gx, mut gw) = (
        gx.extract::<PyReadwriteArrayDyn<'_, T>>()?,
        gw.extract::<PyReadwriteArrayDyn<'_, T>>()?,
    );
    let (g, x, weight, gx, gw) = (
        g.as_slice()?,
        x.as_slice()?,
        weight.as_slice()?,
        gx.as_slice_mut()?,
        gw.as_slice_mut()?,
    );
    py.detach(|| {
        pool::run(x.len(), || {
            relukit::prelu_backward(g, x, weight, layout, gx, gw)
        })
    })
    .map_err(value_error)
}

/// PReLU backward on C-contiguous arrays: writes `grad_input` and `grad_weight`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _prelu_backward(
    py: Python<'_>,
    grad_output: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    outer: usize,
    channels: usize,
    inner: usize,
    grad_input: &Bound<'_, PyAny>,
    grad_weight: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let layout = ChannelLayout::new(outer, channels, inner);
    by_dtype!(
        x,
        prelu_backward_typed(
            py,
            [grad_output, x, weight, grad_input, grad_weight],
            layout
        )
    )
}

/// The counting state of `relukit.DeadUnitMonitor` (the Python class wraps it).
#[pyclass(module = "relukit._relukit")]
struct Monitor {
    inner: relukit::DeadUnitMonitor,
}

fn observe_typed<T: Float + numpy::Element>(
    py: Python<'_>,
    monitor: &mut relukit::DeadUnitMonitor,
    data: &Bound<'_, PyAny>,
    out: Option<&Bound<'_, PyAny>>,
    layout: ChannelLayout,
) -> PyResult<()> {
    let data = data.extract::<PyReadonlyArrayDyn<'_, T>>()?;
    let data = data.as_slice()?;
    match out {
        Some(out) => {
            let mut out = out.extract::<PyReadwriteArrayDyn<'_, T>>()?;
            let out = out.as_slice_mut()?;
            py.detach(|| {
                pool::run(data.len(), || {
                    monitor.relu_observed_slice(data, out, layout)
                })
            })
            .map_err(value_error)
        }
        None => py
            .detach(|| pool::run(data.len(), || monitor.observe_slice(data, layout)))
            .map_err(value_error),
    }
}

#[pymethods]
impl Monitor {
    #[new]
    fn new(units: usize) -> Self {
        Monitor {
            inner: relukit::DeadUnitMonitor::new(units),
        }
    }

    /// Adds a C-contiguous float batch laid out as `[outer, units, inner]`; with `out`,
    /// also writes ReLU of it there (one pass).
    #[pyo3(signature = (data, outer, units, inner, out=None))]
    fn observe(
        &mut self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        outer: usize,
        units: usize,
        inner: usize,
        out: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let layout = ChannelLayout::new(outer, units, inner);
        let monitor = &mut self.inner;
        by_dtype!(data, observe_typed(py, monitor, data, out, layout))
    }

    fn units(&self) -> usize {
        self.inner.units()
    }
    fn dead_units(&self) -> Vec<usize> {
        self.inner.dead_units()
    }
    fn dead_fraction(&self) -> f64 {
        self.inner.dead_fraction()
    }
    fn activation_rate<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.inner.activation_rate())
    }
    fn nan_count(&self) -> u64 {
        self.inner.nan_count()
    }
    fn samples(&self) -> u64 {
        self.inner.samples()
    }
    fn batch_zero_fraction(&self) -> Option<f64> {
        self.inner.batch_zero_fraction()
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
    fn merge(&mut self, other: PyRef<'_, Monitor>) -> PyResult<()> {
        self.inner.merge(&other.inner).map_err(value_error)
    }
}

/// Threads for large calls (the default: one per core).
#[pyfunction]
fn set_num_threads(threads: usize) -> PyResult<()> {
    if threads == 0 {
        return Err(PyValueError::new_err(
            "set_num_threads: the number of threads must be at least 1",
        ));
    }
    pool::set_num_threads(threads);
    Ok(())
}

/// The number of threads large calls run on.
#[pyfunction]
fn get_num_threads() -> usize {
    pool::num_threads()
}

/// The instruction set the kernels use (`avx512`, `avx2` or `scalar`).
#[pyfunction]
fn active_isa() -> &'static str {
    relukit::active_isa().name()
}

#[pymodule]
fn _relukit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("relu", ufunc::relu(py)?)?;
    m.add("relu_derivative", ufunc::relu_derivative(py)?)?;
    m.add("relu_backward", ufunc::relu_backward(py)?)?;
    m.add("leaky_relu_ufunc", ufunc::leaky_relu(py)?)?;
    m.add("leaky_relu_backward_ufunc", ufunc::leaky_relu_backward(py)?)?;
    m.add_function(wrap_pyfunction!(_prelu, m)?)?;
    m.add_function(wrap_pyfunction!(_prelu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(active_isa, m)?)?;
    m.add_class::<Monitor>()?;
    Ok(())
}
