"""relukit on CUDA arrays: ReLU, Leaky ReLU and PReLU, forward and backward, on the GPU.

Every function here takes the arrays of any GPU library and returns that library's
arrays, computed by relukit's CUDA kernels with the same bits as the CPU functions:

>>> import cupy, relukit.cuda                                    # doctest: +SKIP
>>> relukit.cuda.relu(cupy.asarray([-2.0, -0.0, 3.0]))           # doctest: +SKIP
array([0., 0., 3.])

- a **CUDA array** is an object with ``__dlpack__`` whose ``__dlpack_device__()`` is a
  CUDA device (or CUDA managed memory), or with ``__cuda_array_interface__``: CuPy
  arrays, PyTorch CUDA tensors, Numba device arrays...;
- **the caller's stream**: the kernels are enqueued on the library's current stream
  (CuPy's ``cupy.cuda.get_current_stream()``, PyTorch's ``torch.cuda.current_stream()``;
  the legacy default stream for other libraries) and nothing waits for them. DLPack
  producers are told that stream (DLPack's stream protocol); an array that comes by
  ``__cuda_array_interface__`` with the stream it was made on gets an event wait;
- **results** are allocated through the caller's library (``empty_like``, on the
  input's device), in the input's memory order, or written to ``out=``, which may be
  the input itself (in place). There is no broadcasting and no casting on the GPU:
  operands have one shape and one dtype (float32, float64, float16, bfloat16);
- PyTorch CUDA tensors without ``out=`` go to ``relukit.torch``'s ops (differentiable;
  ``relu_derivative`` and calls with ``out=`` run here); other libraries run here.
  Host arrays (NumPy, lists, dask) run relukit's CPU functions, so code written against
  ``relukit.cuda`` runs on both.

``relukit.relu``, ``relukit.relu_derivative`` and ``relukit.relu_backward`` are NumPy
ufuncs and stay host-only: NumPy hands a CuPy array to CuPy's ``__array_ufunc__``,
which only runs CuPy's own ufuncs, and a CUDA tensor refuses NumPy's conversion. The
non-ufunc functions ``relukit.leaky_relu``, ``leaky_relu_backward``, ``prelu`` and
``prelu_backward`` send CUDA arrays here themselves.

Errors: ``TypeError`` for a dtype without kernels, a parameter that is not one number,
an operand that is not a CUDA array, a JAX array (immutable), or a library relukit
cannot allocate with (pass ``out=``); ``ValueError`` for mismatched shapes or devices, a
read-only ``out`` or one that partly overlaps an input (and the CPU functions' own
``ValueError`` messages for slopes and PReLU weights); ``RuntimeError`` naming what is
missing when there is no driver, no NVRTC or the driver is too old for it.
"""

from __future__ import annotations

from typing import Any

from . import _relukit
from ._dispatch import leaky_relu, leaky_relu_backward, on_gpu, prelu, prelu_backward
from ._layout import is_cuda_array

__all__ = [
    "is_cuda_array",
    "leaky_relu",
    "leaky_relu_backward",
    "prelu",
    "prelu_backward",
    "relu",
    "relu_backward",
    "relu_derivative",
]


def relu(x: Any, out: Any = None) -> Any:
    """ReLU, ``max(0, x)``: ``x`` for ``x > 0``, ``+0`` otherwise; NaN stays NaN.

    ``x`` a CUDA array (see the module); ``out`` a CUDA array of ``x``'s shape and dtype,
    possibly ``x`` itself. Returns the result, an array of ``x``'s library.

    >>> import numpy as np, relukit.cuda
    >>> relukit.cuda.relu(np.array([-1.0, 2.0]))   # a host array: the CPU ufunc
    array([0., 2.])
    """
    if not is_cuda_array(x):
        return _relukit.relu(x, out=out)
    return on_gpu("relu", (x,), (), out)


def relu_derivative(x: Any, out: Any = None) -> Any:
    """1 where ``x > 0``, 0 elsewhere; NaN stays NaN. As ``relu`` for arguments."""
    if not is_cuda_array(x):
        return _relukit.relu_derivative(x, out=out)
    return on_gpu("relu_derivative", (x,), (), out)


def relu_backward(grad_output: Any, x: Any, out: Any = None) -> Any:
    """``grad_output`` where ``x > 0``, ``+0`` elsewhere (a select: an infinite or NaN
    gradient where ``x <= 0`` gives 0); NaN where ``x`` is NaN. ``out`` may be
    ``grad_output``."""
    if not is_cuda_array(x):
        return _relukit.relu_backward(grad_output, x, out=out)
    return on_gpu("relu_backward", (grad_output, x), (), out)
