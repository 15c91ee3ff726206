"""What relukit's NumPy-style functions do with a tensor (the router, ``relukit._dispatch``,
sends tensors here): PReLU's ``axis=`` moved to 1 and back (no copy), its weight as a
tensor of the input's dtype; the NumPy view a CPU tensor is read through; and, for CUDA
tensors without ``out=``, relukit.torch's differentiable ops under relukit.cuda's names.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from .. import _relukit
from .._layout import channel_axis
from . import _autograd as A
from ._kernels import array as _array

# relukit.cuda's elementwise functions on a CUDA tensor without out=: the autograd ops.
relu, relu_backward = A.relu, A.relu_backward
leaky_relu, leaky_relu_backward = A.leaky_relu, A.leaky_relu_backward


def view(x: Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (bfloat16 through ml_dtypes)."""
    return _array(x, "x")


def _weight(x: Tensor, weight: Any) -> Tensor:
    w = weight if isinstance(weight, torch.Tensor) else np.asarray(weight)
    return torch.as_tensor(w, dtype=x.dtype).reshape(-1)


def prelu(x: Tensor, weight: Any, axis: Optional[int] = None) -> Tensor:
    channel = channel_axis(x.dim(), axis)
    w = _weight(x, weight)
    if channel is None or channel == 1:
        return A.prelu(x, w)
    if x.dim() == 1:  # axis=0 of a 1-D input: one slope per element
        return A.prelu(x.unsqueeze(0), w).squeeze(0)
    return A.prelu(x.movedim(channel, 1), w).movedim(1, channel)


def prelu_backward(grad_output: Any, x: Tensor, weight: Any, axis: Optional[int] = None) -> tuple:
    channel = channel_axis(x.dim(), axis)
    w = _weight(x, weight)
    g = torch.as_tensor(grad_output, dtype=x.dtype)
    if channel is None or channel == 1:
        gi, gw = A.prelu_backward(g, x, w)
    elif x.dim() == 1:  # axis=0 of a 1-D input: one slope per element
        gi, gw = A.prelu_backward(g.unsqueeze(0), x.unsqueeze(0), w)
        gi = gi.squeeze(0)
    else:
        gi, gw = A.prelu_backward(g.movedim(channel, 1), x.movedim(channel, 1), w)
        gi = gi.movedim(1, channel)
    return gi, gw.reshape(np.shape(weight))


def prelu_derivative(x: Tensor, weight: Any, axis: Optional[int] = None) -> Tensor:
    """Computed on the tensor's memory by the NumPy function; a tensor back."""
    return torch.from_numpy(_relukit.prelu_derivative(view(x), np.asarray(weight), axis=axis))


def observe(x: Tensor, units: int, axis: Optional[int], outputs: Any = None, magnitudes: bool = True) -> Any:
    """A monitor of ``units`` that observed ``x`` (a CPU tensor, read in place), with the
    layer's ``outputs`` (a tensor or array) if given."""
    m = _relukit.DeadUnitMonitor(units, magnitudes=magnitudes)
    if isinstance(outputs, torch.Tensor):
        outputs = view(outputs)
    m.observe(view(x), axis=axis, outputs=outputs)
    return m
