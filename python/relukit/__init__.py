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
    active_isa,
    get_num_threads,
    leaky_relu_backward_ufunc,
    leaky_relu_ufunc,
    prelu,
    prelu_backward,
    relu,
    relu_backward,
    relu_derivative,
    relu_observed,
    set_num_threads,
)

__all__ = [
    "DeadUnitMonitor",
    "active_isa",
    "get_num_threads",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_backward_ufunc",
    "leaky_relu_ufunc",
    "prelu",
    "prelu_backward",
    "relu",
    "relu_backward",
    "relu_derivative",
    "relu_observed",
    "set_num_threads",
]

__version__ = "0.1.0"


def _dtype(operand: Any) -> np.dtype:
    """An operand's dtype, without computing it (a dask array has one)."""
    dtype = getattr(operand, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(operand).dtype


def _check_slope(ufunc: np.ufunc, negative_slope: Any, *operands: Any) -> None:
    """A real slope, finite in the compute type of the loop ``ufunc`` will run (float32
    for float16 and float32 data), as the Rust functions check it."""
    if negative_slope is None:
        raise TypeError("negative_slope must be a real number or an array of them, got None")
    slopes = np.asarray(negative_slope)
    if slopes.dtype.kind not in "biuf":
        raise TypeError(f"negative_slope must be real, got dtype {slopes.dtype}")
    try:
        loop = ufunc.resolve_dtypes(tuple(_dtype(o) for o in operands) + (np.dtype(np.float64), None))
    except (TypeError, ValueError):
        return  # the ufunc raises its own error for these operands
    compute = np.dtype(np.float32) if loop[0] in (np.float16, np.float32) else np.dtype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(slopes.astype(compute))
    if not np.all(finite):
        raise ValueError(f"negative_slope must be finite in {compute} (the compute type of the data), got {negative_slope!r}")


def leaky_relu(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise; NaN stays NaN.

    ``negative_slope`` may be an array that broadcasts against ``x``; a slope that is NaN
    or infinite in the compute type (``1e39`` for float32) raises ValueError. Backed by
    the ufunc ``leaky_relu_ufunc(x, negative_slope)``.
    """
    _check_slope(leaky_relu_ufunc, negative_slope, x)
    return leaky_relu_ufunc(x, negative_slope, out=out)


def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """Leaky ReLU backward: ``grad_output`` where ``x > 0``, ``negative_slope * grad_output``
    where ``x <= 0``, NaN where ``x`` is NaN."""
    _check_slope(leaky_relu_backward_ufunc, negative_slope, grad_output, x)
    return leaky_relu_backward_ufunc(grad_output, x, negative_slope, out=out)
