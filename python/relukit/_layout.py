"""What kind of array an argument is, and the layout rules every layer shares.

The package's bottom layer with ``_family``: it imports nothing of relukit's but the
extension, and nothing optional (torch, dask and CuPy are recognised by their types'
modules, never imported).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

DLPACK_CUDA = (2, 13)  # DLPack's kDLCUDA and kDLCUDAManaged


def is_cuda_array(x: Any) -> bool:
    """Whether ``x`` is memory of a GPU that relukit's kernels can read: ``__dlpack__``
    on a CUDA device (or CUDA managed memory), or ``__cuda_array_interface__``.

    >>> import numpy as np, relukit.cuda
    >>> relukit.cuda.is_cuda_array(np.zeros(3))
    False
    """
    if type(x) is np.ndarray:
        return False
    device = getattr(x, "__dlpack_device__", None)
    if device is not None:
        try:
            return int(device()[0]) in DLPACK_CUDA
        except Exception:  # a producer that cannot say where its memory is
            return False
    try:
        return hasattr(x, "__cuda_array_interface__")  # CPU torch tensors raise here
    except Exception:
        return False


def kind(x: Any) -> str:
    """``"torch"`` (a tensor, on any device), ``"cuda"`` (a CUDA array of another
    library), ``"dask"`` or ``"numpy"`` (anything else NumPy may convert)."""
    module = type(x).__module__.split(".")[0]
    if module == "torch" and hasattr(x, "dim"):
        return "torch"
    if module == "dask" and hasattr(x, "__dask_graph__") and hasattr(x, "chunks"):
        return "dask"
    if module not in ("numpy", "builtins") and is_cuda_array(x):
        return "cuda"
    return "numpy"


def no_out(function: str, x: Any, out: Any) -> None:
    """Refuses ``out=`` for an input that is not a NumPy array (it returns its own type)."""
    if out is not None:
        raise TypeError(
            f"{function}: `out=` takes NumPy arrays; a {type(x).__module__}.{type(x).__name__} input returns its own"
        )


def channel_axis(ndim: int, axis: Optional[int]) -> Optional[int]:
    """PReLU's channel axis, normalised: ``axis``, or 1 (none below 2 dimensions)."""
    if axis is None:
        return 1 if ndim >= 2 else None
    index = int(axis)
    if not -ndim <= index < ndim:
        raise np.exceptions.AxisError(f"axis {index} is out of bounds for an array of dimension {ndim}")
    return index % ndim


def c_order(shape: tuple) -> tuple:
    """The strides, in elements, of a C-ordered array of ``shape``."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def dense(shape: tuple, strides: tuple) -> bool:
    """Whether the elements fill their memory exactly, in some order of the axes (no
    elements: trivially)."""
    if 0 in shape:
        return True
    expected = 1
    for size, stride in sorted(((s, t) for s, t in zip(shape, strides) if s != 1), key=lambda p: p[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def prelu_layout(shape: tuple, strides: tuple, channel: Optional[int]) -> Optional[tuple]:
    """PReLU's ``(outer, channels, inner)`` in memory for a dense array whose channels
    are axis `channel` (None: one channel), whatever the order of its axes in memory
    (NCHW, NHWC, ...): the axes laid out outside the channel axis make ``outer``, those
    inside it ``inner``. None if the array is not dense."""
    if not dense(shape, strides):
        return None
    total = math.prod(shape)
    if channel is None or shape[channel] == 1:
        return (total, 1, 1)
    if total == 0:
        return (0, shape[channel], 1)
    inner = 1
    for axis, (size, stride) in enumerate(zip(shape, strides)):
        if axis != channel and size != 1 and stride < strides[channel]:
            inner *= size
    channels = shape[channel]
    return (total // (channels * inner), channels, inner)
