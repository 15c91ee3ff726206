//! `rrelu`, `rrelu_derivative` and `rrelu_backward` for any NumPy array, through
//! `relukit::ndarray` (element `i` in C order gets the slope of index `i`, whatever the
//! memory layout).

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use relukit::ndarray::ReluExt;
use relukit::{Float, RreluMode, f16};

use crate::arrays::{self, Dtype, Target};
use crate::errors::{to_py, type_error, value_error};
use crate::pool;
use crate::prelu::by_dtype;

/// The mode of a call: training needs a seed (the same for the backward pass).
fn mode(function: &str, training: bool, seed: Option<&Bound<'_, PyAny>>) -> PyResult<RreluMode> {
    match (training, seed.filter(|s| !s.is_none())) {
        (false, _) => Ok(RreluMode::Evaluation),
        (true, None) => Err(value_error(
            function,
            "training needs a `seed` (an integer; pass the same one to rrelu_backward, and a new one for new noise)",
        )),
        (true, Some(seed)) => {
            let seed: i128 = seed
                .call_method0("__index__")
                .and_then(|s| s.extract())
                .map_err(|_| type_error(function, "seed", "must be an integer"))?;
            u64::try_from(seed)
                .map(|seed| RreluMode::Training { seed })
                .map_err(|_| {
                    value_error(
                        function,
                        format_args!("`seed` must be between 0 and 2**64 - 1, got {seed}"),
                    )
                })
        }
    }
}

/// RReLU (Xu et al. 2015; PyTorch's `rrelu`, with its default range [1/8, 1/3)).
///
/// In training, element `i` (in C order) is `x` for `x > 0` and `slope_i * x` otherwise,
/// `slope_i` uniform in `[lower, upper)` drawn from `(seed, i)` by a counter-based
/// generator (the backward pass draws it again: no noise array is kept); in evaluation,
/// the fixed slope `(lower + upper) / 2`. NaN stays NaN.
///
/// Parameters
/// ----------
/// x : array_like
/// lower, upper : float
///     The slopes' range; `lower <= upper`, both finite in the compute type.
/// training : bool, default True
/// seed : int, optional
///     Required in training (0 to 2**64 - 1); pass the same to `rrelu_backward`.
/// out : ndarray, optional
///
/// Returns
/// -------
/// ndarray
///     `x`'s shape, dtype and memory order.
///
/// Raises
/// ------
/// ValueError
///     Training without a seed, a bad range.
///
/// Examples
/// --------
/// >>> import numpy as np, relukit
/// >>> relukit.rrelu(np.array([-4.0, 2.0]), 0.25, 0.75, training=False)
/// array([-2.,  2.])
/// >>> y = relukit.rrelu(np.array([-4.0, 2.0]), seed=7)
/// >>> bool(-4 / 3 < y[0] <= -0.5)
/// True
#[pyfunction]
#[pyo3(signature = (x, lower=0.125, upper=0.3333333333333333, training=true, seed=None, out=None))]
pub fn rrelu<'py>(
    x: &Bound<'py, PyAny>,
    lower: f64,
    upper: f64,
    training: bool,
    seed: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    const F: &str = "rrelu";
    let mode = mode(F, training, seed)?;
    let input = x;
    let x = arrays::float_array(F, "x", x)?;
    arrays::with_output(F, input, x, out, true, |x, target| {
        by_dtype!(
            Dtype::of(x),
            forward_typed(x, lower, upper, mode, target, false)
        )
    })
}

/// The derivative of RReLU: `1` where `x > 0`, the element's slope where `x <= 0`, NaN
/// where `x` is NaN (the same mode and seed as the forward call).
///
/// Parameters
/// ----------
/// x : array_like
/// lower, upper, training, seed
///     As in `rrelu`.
///
/// Returns
/// -------
/// ndarray
///
/// Raises
/// ------
/// ValueError
///     As `rrelu`.
///
/// Examples
/// --------
/// >>> import numpy as np, relukit
/// >>> relukit.rrelu_derivative(np.array([-4.0, 2.0]), 0.25, 0.75, training=False)
/// array([0.5, 1. ])
#[pyfunction]
#[pyo3(signature = (x, lower=0.125, upper=0.3333333333333333, training=true, seed=None))]
pub fn rrelu_derivative<'py>(
    x: &Bound<'py, PyAny>,
    lower: f64,
    upper: f64,
    training: bool,
    seed: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    const F: &str = "rrelu_derivative";
    let mode = mode(F, training, seed)?;
    let input = x;
    let x = arrays::float_array(F, "x", x)?;
    arrays::with_output(F, input, x, None, false, |x, target| {
        by_dtype!(
            Dtype::of(x),
            forward_typed(x, lower, upper, mode, target, true)
        )
    })
}

fn forward_typed<T: Float + numpy::Element>(
    x: &Bound<'_, PyUntypedArray>,
    lower: f64,
    upper: f64,
    mode: RreluMode,
    target: Target<'_>,
    derivative: bool,
) -> PyResult<()> {
    let py = x.py();
    let mut array = target.array.cast::<PyArrayDyn<T>>()?.try_readwrite()?;
    let len = array.len();
    let mut out = array.as_array_mut();
    if target.inplace {
        return py
            .detach(|| pool::run::<T, _>(len, || out.rrelu_inplace(lower, upper, mode)))
            .map_err(to_py);
    }
    let x = x.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let x = x.as_array();
    py.detach(|| {
        pool::run::<T, _>(len, || {
            if derivative {
                x.rrelu_derivative(lower, upper, mode)
                    .map(|d| out.assign(&d))
            } else {
                relukit::ndarray::rrelu_into(&x, lower, upper, mode, out)
            }
        })
    })
    .map_err(to_py)
}

/// RReLU backward: `grad_output` where `x > 0`, the element's slope (drawn again from
/// the seed) times `grad_output` where `x <= 0`, NaN where `x` is NaN.
///
/// Parameters
/// ----------
/// grad_output, x : array_like
///     Of the same shape.
/// lower, upper, training, seed
///     As in the forward call.
/// out : ndarray, optional
///
/// Returns
/// -------
/// ndarray
///
/// Raises
/// ------
/// ValueError
///     As `rrelu`, or shapes that differ.
///
/// Examples
/// --------
/// >>> import numpy as np, relukit
/// >>> x = np.array([-4.0, 2.0])
/// >>> g = relukit.rrelu_backward(np.ones(2), x, seed=3)
/// >>> bool(g[0] * x[0] == relukit.rrelu(x, seed=3)[0])
/// True
#[pyfunction]
#[pyo3(signature = (grad_output, x, lower=0.125, upper=0.3333333333333333, training=true, seed=None, out=None))]
#[allow(clippy::too_many_arguments)]
pub fn rrelu_backward<'py>(
    grad_output: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    lower: f64,
    upper: f64,
    training: bool,
    seed: Option<&Bound<'py, PyAny>>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    const F: &str = "rrelu_backward";
    let mode = mode(F, training, seed)?;
    let input = x;
    let x = arrays::float_array(F, "x", x)?;
    let mut grad = arrays::real_array_as(F, "grad_output", grad_output, &x.dtype())?;
    arrays::with_output(F, input, x, out, false, |x, target| {
        if arrays::may_share(&grad, &target.array)? {
            grad = arrays::copy(&grad)?;
        }
        by_dtype!(
            Dtype::of(x),
            backward_typed(&grad, x, lower, upper, mode, &target.array)
        )
    })
}

fn backward_typed<T: Float + numpy::Element>(
    grad: &Bound<'_, PyUntypedArray>,
    x: &Bound<'_, PyUntypedArray>,
    lower: f64,
    upper: f64,
    mode: RreluMode,
    target: &Bound<'_, PyUntypedArray>,
) -> PyResult<()> {
    let py = x.py();
    let x = x.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let g = grad.cast::<PyArrayDyn<T>>()?.try_readonly()?;
    let mut array = target.cast::<PyArrayDyn<T>>()?.try_readwrite()?;
    let len = x.len();
    let (x, g, out) = (x.as_array(), g.as_array(), array.as_array_mut());
    py.detach(|| {
        pool::run::<T, _>(len, || {
            relukit::ndarray::rrelu_backward_into(&g, &x, lower, upper, mode, out)
        })
    })
    .map_err(to_py)
}
