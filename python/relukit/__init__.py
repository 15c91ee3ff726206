"""relukit: ReLU, Leaky ReLU and PReLU for NumPy, exact to the bit and faster than np.maximum.

``relu``, ``relu_derivative`` and ``relu_backward`` are genuine NumPy ufuncs (``out=``,
``where=``, broadcasting, ``dtype=``, dask arrays...), backed by the relukit Rust kernels:

>>> import numpy as np, relukit
>>> relukit.relu(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
array([0., 0., 0., 1., 2.])

Semantics (every dtype): ``relu(x)`` is ``x`` for ``x > 0`` and ``+0`` otherwise
(``-0.0`` gives ``+0.0``, unlike NumPy's own float16 ``maximum``); NaN stays NaN with its
bits; the gradient at 0 is 0; backward passes select, so an infinite or NaN gradient
where ``x <= 0`` gives 0. Float16 products are computed in float32 and rounded once.

``prelu``, ``prelu_backward``, ``relu_observed`` and ``DeadUnitMonitor`` take any array
NumPy can make (any memory layout, views, scalars); they check and convert their
arguments in the Rust extension, which raises ``TypeError`` for non-real dtypes,
``ValueError`` for inconsistent arguments and NumPy's ``AxisError`` for a bad axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._relukit import (
    DeadUnitMonitor,
    _check_parameters,
    _register_bfloat16,
    active_isa,
    clipped_relu_backward_ufunc,
    clipped_relu_derivative_ufunc,
    clipped_relu_ufunc,
    get_num_threads,
    leaky_relu_backward_ufunc,
    leaky_relu_derivative_ufunc,
    leaky_relu_ufunc,
    prelu,
    prelu_backward,
    prelu_derivative,
    relu,
    relu6,
    relu6_backward,
    relu6_derivative,
    relu_backward,
    relu_derivative,
    relu_observed,
    rrelu,
    rrelu_backward,
    rrelu_derivative,
    set_num_threads,
    threshold_backward_ufunc,
    threshold_derivative_ufunc,
    threshold_ufunc,
)

__all__ = [
    "DeadUnitMonitor",
    "active_isa",
    "clipped_relu",
    "clipped_relu_backward",
    "clipped_relu_backward_ufunc",
    "clipped_relu_derivative",
    "clipped_relu_derivative_ufunc",
    "clipped_relu_ufunc",
    "get_num_threads",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_backward_ufunc",
    "leaky_relu_derivative",
    "leaky_relu_derivative_ufunc",
    "leaky_relu_ufunc",
    "prelu",
    "prelu_backward",
    "prelu_derivative",
    "relu",
    "relu6",
    "relu6_backward",
    "relu6_derivative",
    "relu_backward",
    "relu_derivative",
    "relu_observed",
    "rrelu",
    "rrelu_backward",
    "rrelu_derivative",
    "set_num_threads",
    "threshold",
    "threshold_backward",
    "threshold_backward_ufunc",
    "threshold_derivative",
    "threshold_derivative_ufunc",
    "threshold_ufunc",
]

__version__ = "0.1.0"

try:  # bfloat16 arrays are ml_dtypes' dtype: their loops exist only when it is installed
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    _ml_dtypes = None
else:
    _register_bfloat16(
        {
            name: globals()[name]
            for name in (
                "relu",
                "relu_derivative",
                "relu_backward",
                "relu6",
                "relu6_derivative",
                "relu6_backward",
                "leaky_relu_ufunc",
                "leaky_relu_derivative_ufunc",
                "leaky_relu_backward_ufunc",
                "clipped_relu_ufunc",
                "clipped_relu_derivative_ufunc",
                "clipped_relu_backward_ufunc",
                "threshold_ufunc",
                "threshold_derivative_ufunc",
                "threshold_backward_ufunc",
            )
        }
    )


def _dtype(operand: Any) -> np.dtype:
    """An operand's dtype, without computing it (a dask array has one)."""
    dtype = getattr(operand, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(operand).dtype


def _call(ufunc: np.ufunc, data: tuple, parameters: dict, out: Any) -> Any:
    """Calls a ufunc with float64 parameter operands after checking every parameter value
    in the compute type of the loop the ufunc will run (float32 for float16 and float32
    data), with relukit's own rules and messages (ValueError): the loops cannot raise."""
    values = []
    for name, value in parameters.items():
        if value is None:
            raise TypeError(f"{name} must be a real number or an array of them, got None")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be real, got dtype {array.dtype}")
        values.append(array.astype(np.float64))
    try:
        loop = ufunc.resolve_dtypes(tuple(_dtype(d) for d in data) + (np.dtype(np.float64),) * len(values) + (None,))
    except (TypeError, ValueError):
        loop = None  # the ufunc raises its own error for these operands
    if loop is not None:
        if all(v.ndim == 0 for v in values):
            rows = [[float(v) for v in values]]  # the common case, without NumPy's overhead
        else:
            stacked = np.stack(np.broadcast_arrays(*values), axis=-1).reshape(-1, len(values))
            rows = np.unique(stacked, axis=0).tolist()
        _check_parameters(ufunc.__name__, loop[0], rows)
    return ufunc(*data, *values, out=out)


def leaky_relu(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise; NaN stays NaN.

    ``negative_slope`` may be an array that broadcasts against ``x``; a slope that is NaN
    or infinite in the compute type (``1e39`` for float32) raises ValueError. Backed by
    the ufunc ``leaky_relu_ufunc(x, negative_slope)``.
    """
    return _call(leaky_relu_ufunc, (x,), {"negative_slope": negative_slope}, out)


def leaky_relu_derivative(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """The derivative of Leaky ReLU: 1 for ``x > 0``, ``negative_slope`` for ``x <= 0``
    (the gradient at 0 is the slope, as PyTorch's), NaN stays NaN."""
    return _call(leaky_relu_derivative_ufunc, (x,), {"negative_slope": negative_slope}, out)


def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """Leaky ReLU backward: ``grad_output`` where ``x > 0``, ``negative_slope * grad_output``
    where ``x <= 0``, NaN where ``x`` is NaN."""
    return _call(leaky_relu_backward_ufunc, (grad_output, x), {"negative_slope": negative_slope}, out)


def clipped_relu(x: Any, ceiling: Any = 6.0, out: Any = None) -> Any:
    """Clipped ReLU, ``min(max(0, x), ceiling)``: ``+0`` for ``x <= 0`` (``-0.0`` too),
    ``ceiling`` for ``x >= ceiling``, NaN stays NaN. ``ceiling`` is converted to the data's
    type; a NaN or negative ceiling raises ValueError. ``relu6`` is the ufunc for 6."""
    return _call(clipped_relu_ufunc, (x,), {"ceiling": ceiling}, out)


def clipped_relu_derivative(x: Any, ceiling: Any = 6.0, out: Any = None) -> Any:
    """1 for ``0 < x < ceiling``, 0 elsewhere (both kinks included), NaN stays NaN."""
    return _call(clipped_relu_derivative_ufunc, (x,), {"ceiling": ceiling}, out)


def clipped_relu_backward(grad_output: Any, x: Any, ceiling: Any = 6.0, out: Any = None) -> Any:
    """``grad_output`` for ``0 < x < ceiling``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    return _call(clipped_relu_backward_ufunc, (grad_output, x), {"ceiling": ceiling}, out)


def threshold(x: Any, threshold: Any, value: Any, out: Any = None) -> Any:
    """PyTorch's ``threshold``: ``x`` where ``x > threshold`` (NaN stays NaN), ``value``
    elsewhere; both converted to the data's type, a NaN one raises ValueError."""
    return _call(threshold_ufunc, (x,), {"threshold": threshold, "value": value}, out)


def threshold_derivative(x: Any, threshold: Any, out: Any = None) -> Any:
    """1 where ``x > threshold``, 0 elsewhere, NaN stays NaN."""
    return _call(threshold_derivative_ufunc, (x,), {"threshold": threshold}, out)


def threshold_backward(grad_output: Any, x: Any, threshold: Any, out: Any = None) -> Any:
    """PyTorch's ``threshold_backward``: ``grad_output`` where ``x > threshold``, ``+0``
    elsewhere (a select), NaN where ``x`` is NaN."""
    return _call(threshold_backward_ufunc, (grad_output, x), {"threshold": threshold}, out)
