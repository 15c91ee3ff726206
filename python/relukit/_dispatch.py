"""The router: every non-ufunc function of the package, defined once here, routes its
arguments by ``_layout.kind`` (the ufuncs dispatch by NumPy's own protocols):

- NumPy arrays and whatever NumPy converts run the extension's CPU functions; anything
  NumPy cannot make into real numbers is a TypeError raised there;
- another library's CUDA array runs relukit-cuda's kernels (``_gpu``) and comes back an
  array of its library; a CUDA tensor without ``out=`` goes to relukit.torch's
  differentiable ops instead;
- a torch tensor goes to ``relukit.torch`` and comes back a tensor;
- a dask array stays lazy (``_dask``).

The layers below (``_layout``, ``_family``, ``_dask``, ``_gpu``, ``relukit.torch``) never
import this module; ``relukit`` and ``relukit.cuda`` re-export its functions. Nothing
here imports torch or dask: relukit.torch is loaded by ``_torch()`` when the first tensor
arrives (torch is then already imported), so both stay optional.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

from . import _dask, _family, _gpu, _relukit
from ._layout import is_cuda_array, kind, no_out
from ._relukit import DeadUnitMonitor, relu

_no_gpu = _family.no_gpu


def _torch() -> Any:
    """relukit.torch's side of these functions (``relukit/torch/_interop.py``), imported
    on first use: only a tensor, so an installed and imported torch, leads here."""
    return importlib.import_module("relukit.torch._interop")


def on_gpu(function: str, inputs: tuple, parameters: tuple, out: Any) -> Any:
    """``function`` on CUDA arrays: a CUDA tensor without ``out=`` through relukit.torch's
    differentiable op of that name (``relu_derivative`` has none: it runs here), every
    other CUDA array on relukit-cuda's kernels, written to ``out`` or to an array of its
    library."""
    x = inputs[-1]
    if out is None and kind(x) == "torch" and function != "relu_derivative":
        return getattr(_torch(), function)(*inputs, *parameters)
    return getattr(_gpu, function)(*inputs, *parameters, out=out)


def observe(x: Any, units: int, axis: Optional[int], outputs: Any = None, magnitudes: bool = True) -> Any:
    """For ``DeadUnitMonitor.observe``: a filled monitor (summing magnitudes or not, as
    the one it is merged into) for dask arrays and tensors (the extension merges it), or
    None for what NumPy converts."""
    k = kind(x)
    if k == "dask":
        return _dask.observe(x, units, axis, outputs, magnitudes)
    if k == "cuda":
        raise TypeError(
            "DeadUnitMonitor.observe: a CUDA array; the monitor counts on the CPU (relukit.torch.DeadUnitTracker "
            "counts CUDA tensors on the GPU): copy it to the host first"
        )
    if k == "torch":
        return _torch().observe(x, units, axis, outputs, magnitudes)
    return None


def _on_gpu_with_scalars(function: str, inputs: tuple, parameters: tuple, out: Any) -> Any:
    """``on_gpu`` for a registry function: on the GPU each parameter is one real number."""
    return on_gpu(function, inputs, tuple(_gpu.scalar(function, p) for p in parameters), out)


# The NumPy functions of the activations with parameters, built from the extension's
# registry whole (signature, defaults, docstring with its example; see ``_family``), CUDA
# arrays routed to the GPU where relukit-cuda has the form.
leaky_relu, leaky_relu_derivative, leaky_relu_backward = _family.functions("leaky_relu", _on_gpu_with_scalars)
clipped_relu, clipped_relu_derivative, clipped_relu_backward = _family.functions("clipped_relu", _on_gpu_with_scalars)
threshold, threshold_derivative, threshold_backward = _family.functions("threshold", _on_gpu_with_scalars)
hardtanh, hardtanh_derivative, hardtanh_backward = _family.functions("hardtanh", _on_gpu_with_scalars)


def prelu(x: Any, weight: Any, axis: Any = None, out: Any = None) -> Any:
    """PReLU, as PyTorch's: ``x`` where ``x > 0``, ``weight[c] * x`` elsewhere (NaN stays
    NaN), ``c`` the index along ``axis``.

    Parameters
    ----------
    x : array_like, torch.Tensor or dask array
        The input, of any float type (bool and integers compute in float64).
    weight : array_like
        One slope per channel, or one shared by all.
    axis : int, optional
        The channel axis: default 1; an input of fewer than 2 dimensions has one channel
        (give one slope, or ``axis=0`` for one per element).
    out : numpy.ndarray, optional
        Written in place (``same_kind`` casting) and returned.

    Returns
    -------
    The result in ``x``'s memory order and type: a NumPy array, a tensor for a tensor
    (through ``relukit.torch``), an array of its library for another CUDA array
    (through ``relukit.cuda``), a lazy dask array for a dask array.

    Raises
    ------
    TypeError
        For non-real dtypes or objects NumPy cannot convert.
    ValueError
        For a weight of the wrong length or a slope that is not finite in the compute type.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.prelu(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), 0.25)
    array([-0.5 , -0.25,  0.  ,  1.  ,  2.  ])
    """
    if is_cuda_array(x):
        return on_gpu("prelu", (x,), (weight, axis), out)
    k = kind(x)
    if k != "numpy":
        no_out("prelu", x, out)
        return _torch().prelu(x, weight, axis) if k == "torch" else _dask.prelu(x, weight, axis)
    return _relukit.prelu(x, weight, axis=axis, out=out)


def prelu_backward(grad_output: Any, x: Any, weight: Any, axis: Any = None, out: Any = None) -> Any:
    """PReLU's backward pass: ``(grad_input, grad_weight)``.

    Parameters
    ----------
    grad_output : array_like
        The gradient of the loss with respect to ``prelu(x, weight)``; ``x``'s shape.
    x, weight, axis
        As in ``prelu``.
    out : tuple of two ndarrays, optional
        ``(grad_input, grad_weight)``, written in place (``same_kind`` casting).

    Returns
    -------
    grad_input : ndarray
        ``x``'s shape, dtype and memory order.
    grad_weight : ndarray
        ``weight``'s shape, ``x``'s dtype.

    Raises
    ------
    TypeError, ValueError
        As ``prelu``; also a ``grad_output`` of another shape.

    Notes
    -----
    ``grad_input`` is ``grad_output`` where ``x > 0`` and ``weight[c] * grad_output``
    elsewhere (NaN where ``x`` is NaN); ``grad_weight`` has ``weight``'s shape and holds,
    per channel, the sum of ``grad_output * x`` where ``x <= 0``, reduced in a fixed
    order (the same bits at any thread count and memory layout). Channels as in ``prelu``.
    ``out=(grad_input, grad_weight)`` writes both in place. Tensors go to
    ``relukit.torch``; for dask arrays both results are lazy, ``grad_weight`` a tree
    reduction of per-block partial sums (each rounded to the dtype, summed in float64).

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.prelu_backward(np.ones(3), np.array([-2.0, 1.0, -1.0]), 0.5)
    (array([0.5, 1. , 0.5]), array(-3.))
    """
    if is_cuda_array(x):
        return on_gpu("prelu_backward", (grad_output, x), (weight, axis), out)
    k = kind(x)
    if k != "numpy":
        no_out("prelu_backward", x, out)
        if k == "torch":
            return _torch().prelu_backward(grad_output, x, weight, axis)
        return _dask.prelu_backward(grad_output, x, weight, axis)
    return _relukit.prelu_backward(grad_output, x, weight, axis=axis, out=out)


def prelu_derivative(x: Any, weight: Any, axis: Any = None) -> Any:
    """PReLU's derivative with respect to ``x``: 1 where ``x > 0``, ``weight[c]`` where
    ``x <= 0``, NaN where ``x`` is NaN; channels as in ``prelu``; dask arrays stay lazy.

    Parameters
    ----------
    x, weight, axis
        As in ``prelu``.

    Returns
    -------
    ndarray, tensor or dask array
        ``x``'s shape and dtype.

    Raises
    ------
    TypeError, ValueError
        As ``prelu``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.prelu_derivative(np.array([-2.0, 0.0, 3.0]), 0.25)
    array([0.25, 0.25, 1.  ])
    """
    k = kind(x)
    if k == "cuda":
        raise _no_gpu("prelu_derivative")
    if k == "dask":
        return _dask.prelu_derivative(x, weight, axis)
    if k == "torch":
        return _torch().prelu_derivative(x, weight, axis)
    return _relukit.prelu_derivative(x, weight, axis=axis)


def relu_observed(x: Any, monitor: DeadUnitMonitor, axis: Any = None, out: Any = None) -> Any:
    """ReLU of ``x`` while ``monitor`` counts, per unit, the inputs that were positive, in
    one pass over the data. Units are along ``axis``: default 1 (``[batch, units]`` and
    NCHW, the same rule as PReLU's channels), the only axis of a 1-D input.

    Parameters
    ----------
    x : array_like, torch.Tensor or dask array
        Pre-activations.
    monitor : DeadUnitMonitor
        Of as many units as ``x`` has along ``axis``; its counts grow.
    axis : int, optional
    out : ndarray, optional

    Returns
    -------
    ``relu(x)``, of ``x``'s type.

    Raises
    ------
    ValueError
        A monitor of another number of units.

    A dask array is observed now (computed block by block, merged into ``monitor``) and
    its ReLU returned lazily, so it is computed a second time when you compute the
    result; a CPU tensor is read in place and a tensor returned.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> m = relukit.DeadUnitMonitor(2)
    >>> relukit.relu_observed(np.array([[-1.0, 2.0], [-3.0, 0.5]]), m)
    array([[0. , 2. ],
           [0. , 0.5]])
    >>> m.inactive_units
    [0]
    """
    k = kind(x)
    if k == "numpy":
        return _relukit.relu_observed(x, monitor, axis=axis, out=out)
    if k == "cuda":
        raise _no_gpu("relu_observed")
    no_out("relu_observed", x, out)
    monitor.observe(x, axis=axis)
    if k == "torch":
        return _torch().relu(x)
    return relu(x)


def rrelu(
    x: Any,
    lower: float = 0.125,
    upper: float = 0.3333333333333333,
    training: bool = True,
    seed: Any = None,
    out: Any = None,
) -> Any:
    if kind(x) == "dask":
        no_out("rrelu", x, out)
        return _dask.rrelu("rrelu", (x,), lower, upper, training, seed)
    return _relukit.rrelu(x, lower, upper, training, seed, out=out)


def rrelu_derivative(
    x: Any, lower: float = 0.125, upper: float = 0.3333333333333333, training: bool = True, seed: Any = None
) -> Any:
    if kind(x) == "dask":
        return _dask.rrelu("rrelu_derivative", (x,), lower, upper, training, seed)
    return _relukit.rrelu_derivative(x, lower, upper, training, seed)


def rrelu_backward(
    grad_output: Any,
    x: Any,
    lower: float = 0.125,
    upper: float = 0.3333333333333333,
    training: bool = True,
    seed: Any = None,
    out: Any = None,
) -> Any:
    if kind(x) == "dask" or kind(grad_output) == "dask":
        no_out("rrelu_backward", x, out)
        return _dask.rrelu("rrelu_backward", (grad_output, x), lower, upper, training, seed)
    return _relukit.rrelu_backward(grad_output, x, lower, upper, training, seed, out=out)


# Dask arrays stay lazy; the documentation is the extension's.
rrelu.__doc__ = _relukit.rrelu.__doc__
rrelu_derivative.__doc__ = _relukit.rrelu_derivative.__doc__
rrelu_backward.__doc__ = _relukit.rrelu_backward.__doc__
