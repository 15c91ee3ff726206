//! `prelu` and `prelu_backward` for any NumPy array: the arguments are converted and
//! checked here, then passed as views (`as_array()`) to `relukit::ndarray`, where shapes,
//! strides, layouts and weights are handled, with the interpreter lock released.

use ndarray::{Array1, ArrayBase, Axis, IxDyn, RawData};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use relukit::ndarray::ReluExt;
use relukit::{Float, f16};

use crate::arrays::{self, Dtype, Target};
use crate::errors::{axis_error, to_py, type_error, value_error};
use crate::pool;

/// Where the channels (or units) of an array are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// Along this axis.
    Axis(usize),
    /// Nowhere: an input of fewer than 2 dimensions has one channel (PyTorch's rule).
    One,
}

/// Normalises a Python axis (an integer, negative from the end) for `ndim` dimensions.
pub fn normalize_axis(function: &str, axis: &Bound<'_, PyAny>, ndim: usize) -> PyResult<usize> {
    let index: i64 = axis
        .call_method0("__index__")
        .and_then(|i| i.extract())
        .map_err(|_| {
            type_error(
                function,
                "axis",
                format_args!(
                    "must be an integer, got {}",
                    axis.get_type()
                        .name()
                        .map_or_else(|_| "?".into(), |n| n.to_string())
                ),
            )
        })?;
    let n = ndim as i64;
    if (-n..n).contains(&index) {
        Ok(index.rem_euclid(n.max(1)) as usize)
    } else {
        Err(axis_error(format!(
            "{function}: axis {index} is out of bounds for an array of dimension {ndim}"
        )))
    }
}

/// PReLU's channel axis: `axis` if given, else 1 for inputs of 2 or more dimensions and
/// none (one channel) for fewer, as PyTorch's `prelu`.
fn channel_axis(axis: Option<&Bound<'_, PyAny>>, ndim: usize) -> PyResult<Channels> {
    match axis {
        Some(axis) if !axis.is_none() => normalize_axis("prelu", axis, ndim).map(Channels::Axis),
        _ if ndim >= 2 => Ok(Channels::Axis(1)),
        _ => Ok(Channels::One),
    }
}

/// A view with an axis to put the channels on: an array of one channel (0-d or 1-D)
/// becomes 1-D, with every element in channel 0 of a one-element weight.
pub fn shaped<S: RawData>(
    view: ArrayBase<S, IxDyn>,
    channels: Channels,
) -> (ArrayBase<S, IxDyn>, Axis) {
    match channels {
        Channels::Axis(k) => (view, Axis(k)),
        Channels::One if view.ndim() == 0 => (view.insert_axis(Axis(0)), Axis(0)),
        Channels::One => (view, Axis(0)),
    }
}

/// The weight as a vector of `T`, checked against the one-channel rule.
fn weight_vector<T: Float + numpy::Element>(
    function: &str,
    weight: &Bound<'_, PyUntypedArray>,
    channels: Channels,
) -> PyResult<Array1<T>> {
    let weight = weight.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let w: Array1<T> = weight.as_array().iter().copied().collect();
    if channels == Channels::One && w.len() != 1 {
        return Err(value_error(
            function,
            format_args!(
                "`weight` has {} elements, but an input of fewer than 2 dimensions has one channel (PyTorch's rule): give one slope, or pass axis=0 for one slope per element of a 1-D input",
                w.len()
            ),
        ));
    }
    Ok(w)
}

/// Calls `$f::<T>(..)` for the element type of a converted float array.
macro_rules! by_dtype {
    ($dtype:expr, $f:ident($($arg:expr),*)) => {
        match $dtype {
            Dtype::F16 => $f::<f16>($($arg),*),
            Dtype::BF16 => $f::<relukit::bf16>($($arg),*),
            Dtype::F32 => $f::<f32>($($arg),*),
            Dtype::F64 => $f::<f64>($($arg),*),
        }
    };
}
pub(crate) use by_dtype;

/// PReLU, as PyTorch's: `x` where `x > 0`, `weight[c] * x` elsewhere (NaN stays NaN),
/// with `c` the index along `axis` (default: 1, or one shared channel for inputs of
/// fewer than 2 dimensions). Returns a new array in `x`'s memory order, or `out`.
#[pyfunction]
#[pyo3(signature = (x, weight, axis=None, out=None))]
pub fn prelu<'py>(
    x: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    const F: &str = "prelu";
    let input = x;
    let x = arrays::float_array(F, "x", x)?;
    let weight = arrays::real_array_as(F, "weight", weight, &x.dtype())?;
    let channels = channel_axis(axis, x.ndim())?;
    arrays::with_output(F, input, x, out, true, |x, target| {
        by_dtype!(Dtype::of(x), prelu_typed(x, &weight, channels, target))
    })
}

fn prelu_typed<T: Float + numpy::Element>(
    x: &Bound<'_, PyUntypedArray>,
    weight: &Bound<'_, PyUntypedArray>,
    channels: Channels,
    target: Target<'_>,
) -> PyResult<()> {
    let py = x.py();
    let w = weight_vector::<T>("prelu", weight, channels)?;
    let mut array = target.array.cast::<PyArrayDyn<T>>()?.try_readwrite()?;
    let len = array.len();
    let (out, axis) = shaped(array.as_array_mut(), channels);
    if target.inplace {
        let mut out = out;
        return py
            .detach(|| pool::run::<T, _>(len, || out.prelu_inplace(&w, axis)))
            .map_err(to_py);
    }
    let x = x.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let (x, _) = shaped(x.as_array(), channels);
    py.detach(|| pool::run::<T, _>(len, || relukit::ndarray::prelu_into(&x, &w, axis, out)))
        .map_err(to_py)
}

/// PReLU backward: `(grad_input, grad_weight)`; `grad_weight` has the shape of `weight`
/// and holds, per channel, the sum of `grad_output * x` where `x <= 0` (NaN `x`: NaN).
#[pyfunction]
#[pyo3(signature = (grad_output, x, weight, axis=None, out=None))]
pub fn prelu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    const F: &str = "prelu_backward";
    let py = x.py();
    let input = x;
    let mut x = arrays::float_array(F, "x", x)?;
    let dtype = x.dtype();
    let mut grad = arrays::real_array_as(F, "grad_output", grad_output, &dtype)?;
    let weight = arrays::real_array_as(F, "weight", weight, &dtype)?;
    let weight_shape = weight.shape().to_vec();
    let channels = channel_axis(axis, x.ndim())?;
    let outs = match out.filter(|o| !o.is_none()) {
        None => None,
        Some(o) => {
            let pair = o
                .cast::<PyTuple>()
                .ok()
                .filter(|t| t.len() == 2)
                .ok_or_else(|| type_error(F, "out", "must be a tuple (grad_input, grad_weight)"))?;
            let (gi, gw) = (pair.get_item(0)?, pair.get_item(1)?);
            let direct = arrays::check_out(F, "out[0]", &gi, x.shape(), &dtype)?;
            arrays::check_out(F, "out[1]", &gw, &weight_shape, &dtype)?;
            Some((gi, gw, direct))
        }
    };
    let grad_input = match &outs {
        Some((gi, _, true)) => gi.cast::<PyUntypedArray>()?.clone(),
        _ => arrays::empty_like(&x)?,
    };
    if arrays::may_share(&x, &grad_input)? {
        x = arrays::copy(&x)?;
    }
    if arrays::may_share(&grad, &grad_input)? {
        grad = arrays::copy(&grad)?;
    }
    let grad_weight = by_dtype!(
        Dtype::of(&x),
        prelu_backward_typed(&grad, &x, &weight, channels, &grad_input)
    )?;
    let grad_weight = arrays::reshape(&grad_weight, &weight_shape)?;
    match outs {
        Some((gi, gw, direct)) => {
            if !direct {
                arrays::copy_into(&gi, &grad_input)?;
            }
            arrays::copy_into(&gw, &grad_weight)?;
            PyTuple::new(py, [gi, gw])
        }
        None => PyTuple::new(
            py,
            [arrays::result(input, grad_input.into_any())?, grad_weight],
        ),
    }
}

fn prelu_backward_typed<'py, T: Float + numpy::Element>(
    grad: &Bound<'py, PyUntypedArray>,
    x: &Bound<'py, PyUntypedArray>,
    weight: &Bound<'py, PyUntypedArray>,
    channels: Channels,
    grad_input: &Bound<'py, PyUntypedArray>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    let w = weight_vector::<T>("prelu_backward", weight, channels)?;
    let mut grad_weight = Array1::from_elem(w.len(), T::ZERO);
    let x = x.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let g = grad.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let mut gi = grad_input.cast::<PyArrayDyn<T>>()?.try_readwrite()?;
    let len = x.len();
    let (x, axis) = shaped(x.as_array(), channels);
    let (g, _) = shaped(g.as_array(), channels);
    let (gi, _) = shaped(gi.as_array_mut(), channels);
    let gw = grad_weight.view_mut();
    py.detach(|| {
        pool::run::<T, _>(len, || {
            relukit::ndarray::prelu_backward_into(&g, &x, &w, axis, gi, gw)
        })
    })
    .map_err(to_py)?;
    Ok(PyArray1::from_owned_array(py, grad_weight).into_any())
}

/// The derivative of PReLU with respect to `x`: `1` where `x > 0`, `weight[c]` where
/// `x <= 0`, NaN where `x` is NaN; channels as in `prelu`.
#[pyfunction]
#[pyo3(signature = (x, weight, axis=None))]
pub fn prelu_derivative<'py>(
    x: &Bound<'py, PyAny>,
    weight: &Bound<'py, PyAny>,
    axis: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    const F: &str = "prelu_derivative";
    let input = x;
    let x = arrays::float_array(F, "x", x)?;
    let weight = arrays::real_array_as(F, "weight", weight, &x.dtype())?;
    let channels = channel_axis(axis, x.ndim())?;
    arrays::with_output(F, input, x, None, false, |x, target| {
        by_dtype!(
            Dtype::of(x),
            prelu_derivative_typed(x, &weight, channels, target)
        )
    })
}

fn prelu_derivative_typed<T: Float + numpy::Element>(
    x: &Bound<'_, PyUntypedArray>,
    weight: &Bound<'_, PyUntypedArray>,
    channels: Channels,
    target: Target<'_>,
) -> PyResult<()> {
    let py = x.py();
    let w = weight_vector::<T>("prelu_derivative", weight, channels)?;
    let x = x.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let len = x.len();
    let (x, axis) = shaped(x.as_array(), channels);
    let derivative = py
        .detach(|| pool::run::<T, _>(len, || x.prelu_derivative(&w, axis)))
        .map_err(to_py)?;
    let mut array = target.array.cast::<PyArrayDyn<T>>()?.try_readwrite()?;
    let (mut out, _) = shaped(array.as_array_mut(), channels);
    out.assign(&derivative);
    Ok(())
}
