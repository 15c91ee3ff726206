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
"""

from __future__ import annotations

import math
import operator
from typing import Any, Optional, Tuple

import numpy as np

from ._relukit import (
    Monitor as _Monitor,
    _prelu,
    _prelu_backward,
    active_isa,
    get_num_threads,
    leaky_relu_backward_ufunc,
    leaky_relu_ufunc,
    relu,
    relu_backward,
    relu_derivative,
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

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _check_slope(negative_slope: Any) -> None:
    try:
        slopes = np.asarray(negative_slope, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}") from error
    if not np.all(np.isfinite(slopes)):
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r}")


def leaky_relu(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise; NaN stays NaN.

    ``negative_slope`` may be an array that broadcasts against ``x``; a NaN or infinite
    slope raises ValueError. Backed by the ufunc ``leaky_relu_ufunc(x, negative_slope)``.
    """
    _check_slope(negative_slope)
    return leaky_relu_ufunc(x, negative_slope, out=out)


def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any:
    """Leaky ReLU backward: ``grad_output`` where ``x > 0``, ``negative_slope * grad_output``
    where ``x <= 0``, NaN where ``x`` is NaN."""
    _check_slope(negative_slope)
    return leaky_relu_backward_ufunc(grad_output, x, negative_slope, out=out)


def _as_float_array(a: Any, name: str) -> np.ndarray:
    """A C-contiguous native-endian float16/32/64 array; integers and bools become float64."""
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: unsupported dtype {a.dtype} (expected a real number dtype)")
    if a.dtype not in _FLOATS:
        a = a.astype(np.float64)
    elif not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


def _axis(axis: Any, ndim: int, name: str = "axis") -> int:
    try:
        index = operator.index(axis)
    except TypeError as error:
        raise TypeError(f"{name} must be an integer, got {axis!r}") from error
    if not -ndim <= index < ndim:
        raise ValueError(f"{name} {index} is out of range for an array of {ndim} dimensions")
    return index % ndim


def _layout(shape: Tuple[int, ...], axis: int) -> Tuple[int, int, int]:
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])


def _weight(weight: Any, dtype: np.dtype, channels: int, shape: Tuple[int, ...], axis: int) -> np.ndarray:
    w = np.ascontiguousarray(np.asarray(weight).astype(dtype, copy=False).reshape(-1))
    if w.size not in (1, channels):
        raise ValueError(
            f"weight has {w.size} elements, expected 1 (a shared slope) or {channels} "
            f"(the length of axis {axis} of x, shape {shape})"
        )
    return w


def _into(result: np.ndarray, out: Any) -> np.ndarray:
    if out is None:
        return result
    if not isinstance(out, np.ndarray):
        raise TypeError("out must be a numpy.ndarray")
    if out.shape != result.shape:
        raise ValueError(f"out has shape {out.shape}, expected {result.shape}")
    out[...] = result
    return out


def prelu(x: Any, weight: Any, axis: int = 1, out: Any = None) -> np.ndarray:
    """PReLU as PyTorch defines it: ``x`` for ``x > 0``, ``weight[c] * x`` otherwise, with
    ``c`` the index along ``axis`` (one slope per channel), or one shared slope."""
    x = _as_float_array(x, "prelu")
    if x.ndim == 0:
        raise ValueError("prelu needs an array with at least one dimension (the channel axis)")
    axis = _axis(axis, x.ndim)
    outer, channels, inner = _layout(x.shape, axis)
    w = _weight(weight, x.dtype, channels, x.shape, axis)
    result = np.empty_like(x)
    _prelu(x, w, outer, channels, inner, result)
    return _into(result, out)


def prelu_backward(grad_output: Any, x: Any, weight: Any, axis: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """PReLU backward: ``(grad_input, grad_weight)``; ``grad_weight`` has the shape of
    ``weight`` and sums ``grad_output * x`` over each channel where ``x <= 0``."""
    x = _as_float_array(x, "prelu_backward")
    if x.ndim == 0:
        raise ValueError("prelu_backward needs an array with at least one dimension")
    g = np.ascontiguousarray(np.asarray(grad_output).astype(x.dtype, copy=False))
    if g.shape != x.shape:
        raise ValueError(f"grad_output has shape {g.shape}, expected {x.shape} (the shape of x)")
    axis = _axis(axis, x.ndim)
    outer, channels, inner = _layout(x.shape, axis)
    weight_shape = np.shape(weight)
    w = _weight(weight, x.dtype, channels, x.shape, axis)
    grad_input = np.empty_like(x)
    grad_weight = np.empty_like(w)
    _prelu_backward(g, x, w, outer, channels, inner, grad_input, grad_weight)
    return grad_input, grad_weight.reshape(weight_shape)


class DeadUnitMonitor:
    """Finds dead units: units never active (pre-activation > 0) over a window of batches.

    Dead is not sparse: ``batch_zero_fraction`` is the share of zero ReLU outputs in the
    last batch (sparsity), ``dead_units`` the units that never fired over the window
    (call ``reset()`` at each epoch). NaN pre-activations count as not active.
    """

    def __init__(self, units: int) -> None:
        self._monitor = _Monitor(operator.index(units))

    def observe(self, pre_activations: Any, axis: int = -1) -> None:
        """Adds a batch; ``axis`` is the axis of the units (the last one by default)."""
        data = _as_float_array(pre_activations, "observe")
        self._observe(data, axis, None)

    def _observe(self, data: np.ndarray, axis: int, out: Optional[np.ndarray]) -> None:
        if data.ndim == 0:
            raise ValueError("observe needs an array with at least one dimension (the unit axis)")
        axis = _axis(axis, data.ndim)
        outer, units, inner = _layout(data.shape, axis)
        try:
            self._monitor.observe(data, outer, units, inner, out)
        except ValueError as error:
            raise ValueError(f"{error} (array shape {data.shape}, axis {axis})") from None

    @property
    def units(self) -> int:
        return int(self._monitor.units())

    @property
    def dead_units(self) -> list[int]:
        return list(self._monitor.dead_units())

    @property
    def dead_fraction(self) -> float:
        return float(self._monitor.dead_fraction())

    @property
    def activation_rate(self) -> np.ndarray:
        return np.asarray(self._monitor.activation_rate())

    @property
    def nan_count(self) -> int:
        return int(self._monitor.nan_count())

    @property
    def samples(self) -> int:
        return int(self._monitor.samples())

    @property
    def batch_zero_fraction(self) -> Optional[float]:
        return self._monitor.batch_zero_fraction()

    def reset(self) -> None:
        """Starts a new window (for example, a new epoch)."""
        self._monitor.reset()

    def merge(self, other: "DeadUnitMonitor") -> None:
        """Adds the window of ``other`` (filled on another thread, say) to this one."""
        if not isinstance(other, DeadUnitMonitor):
            raise TypeError("merge expects a DeadUnitMonitor")
        self._monitor.merge(other._monitor)

    def __repr__(self) -> str:
        return f"DeadUnitMonitor(units={self.units}, samples={self.samples}, dead={len(self.dead_units)})"


def relu_observed(x: Any, monitor: DeadUnitMonitor, axis: int = -1) -> np.ndarray:
    """ReLU of ``x`` while ``monitor`` observes it (units along ``axis``), in one pass."""
    data = _as_float_array(x, "relu_observed")
    out = np.empty_like(data)
    monitor._observe(data, axis, out)
    return out
