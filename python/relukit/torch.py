"""relukit for PyTorch: autograd ops, drop-in modules and a dead-unit tracker.

Needs PyTorch 2.4 or newer (``pip install relukit[torch]``); ``import relukit`` works
without it, only this module needs it.

Ops (registered with ``torch.library.custom_op`` under the ``relukit::`` namespace, so
they run in eager mode, under ``torch.compile(fullgraph=True)`` and with autograd):

- ``relu(x)``, ``leaky_relu(x, negative_slope=0.01)``, ``prelu(x, weight)`` and their
  backward ops ``relu_backward(grad_output, x)``,
  ``leaky_relu_backward(grad_output, x, negative_slope)`` and
  ``prelu_backward(grad_output, x, weight) -> (grad_input, grad_weight)``;
- the rest of the family: ``relu6``, ``threshold(x, threshold, value)`` and
  ``rrelu_with_seed(x, lower, upper, training, seed)`` (``rrelu(x, lower, upper,
  training)`` draws the seed from torch's generator), with ``relu6_backward``,
  ``threshold_backward`` and ``rrelu_backward``.

CPU tensors of float32, float64, float16 and bfloat16 run relukit's kernels on the
tensor's own memory, whatever its strides (a non-contiguous or channels_last tensor is
read in place, never copied first); results keep the input's memory format. bfloat16
goes through ``ml_dtypes`` (a dependency of ``relukit[torch]``). CUDA tensors run
relu, leaky_relu and prelu (forward and backward) on relukit-cuda's kernels, on the
caller's current stream, with the same bits as on the CPU (outputs allocated by
PyTorch; NVRTC from ``RELUKIT_NVRTC_DIR`` or PyTorch's CUDA wheels). Other operations
on CUDA, and other devices, raise ``NotImplementedError`` naming the device.

PReLU follows PyTorch's channel convention: the channels are axis 1, an input of fewer
than 2 dimensions has one channel, and ``weight`` has one element or one per channel.

Semantics are relukit's (see ``relukit``): they match PyTorch's bit for bit except
that ``relu(-0.0)`` is ``+0.0`` and the backward ops are selects (an infinite or NaN
``grad_output`` where ``x <= 0`` gives 0, not NaN), and NaN inputs keep their bits.
The PReLU weight gradient is deterministic (the same bits at any thread count and
memory layout).

Modules: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ReLU6``, ``Threshold`` and ``RReLU`` are
subclasses of ``torch.nn``'s, with
the same constructor arguments, attributes, ``extra_repr`` and ``state_dict`` keys;
only ``forward`` differs. ``convert(model)`` swaps the ``torch.nn`` ones of a model for
them. ``DeadUnitTracker(model)`` counts, per unit of every ReLU-family module, the
inputs that were positive over a window you open and close.

>>> import torch, relukit.torch as rt
>>> rt.relu(torch.tensor([-1.0, 0.0, 2.0]))
tensor([0., 0., 2.])
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional, Union

import numpy as np

if importlib.util.find_spec("torch") is None:  # pragma: no cover - depends on the environment
    raise ImportError("relukit.torch needs PyTorch 2.4 or newer: pip install 'relukit[torch]'")

import torch
from torch import Tensor, nn

from . import _relukit
from . import leaky_relu as _leaky_relu
from .cuda import _dense as _dense_layout
from .cuda import _layout as _memory_layout
from .cuda import find_nvrtc
from . import leaky_relu_backward as _leaky_relu_backward
from . import threshold as _threshold
from . import threshold_backward as _threshold_backward

__all__ = [
    "DeadUnitTracker",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ReLU",
    "ReLU6",
    "Threshold",
    "convert",
    "leaky_relu",
    "leaky_relu_",
    "leaky_relu_backward",
    "prelu",
    "prelu_backward",
    "relu",
    "relu_",
    "relu_backward",
    "relu6",
    "relu6_backward",
    "rrelu",
    "rrelu_backward",
    "rrelu_with_seed",
    "threshold",
    "threshold_backward",
]

_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _array(tensor: Tensor, name: str) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (same strides, no copy)."""
    if tensor.device.type != "cpu":
        raise NotImplementedError(
            f"relukit.torch: `{name}` is on device {tensor.device}; relukit runs on CPU tensors and, "
            "for relu, leaky_relu and prelu (forward and backward), on CUDA tensors: use "
            "torch.nn.functional on that device, or move the tensor with .cpu()"
        )
    if tensor.dtype not in _DTYPES:
        raise TypeError(
            f"relukit.torch: `{name}` has dtype {tensor.dtype}, not one of float32, float64, float16, bfloat16"
        )
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        try:
            import ml_dtypes
        except ImportError as error:
            raise TypeError(
                "relukit.torch: bfloat16 tensors need the ml_dtypes package (pip install 'relukit[torch]')"
            ) from error
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16, torch.bfloat16: np.int16}
# Bytes from which NumPy's allocation pays: below glibc's largest mmap threshold (32 MiB)
# freed blocks are reused without page faults; above it every output is fresh memory,
# where huge pages cut the faults (measured: 0.5x at 8 MiB, 1.2x at 16, 1.9x at 32 MiB).
_LARGE = 16 << 20


def _empty_like(x: Tensor) -> Tensor:
    """``torch.empty_like(x)``: the same shape, dtype and strides (x's memory format when
    dense, else contiguous). Large outputs are allocated by NumPy, which advises the
    kernel to back them with huge pages: the first write into fresh memory, a page
    fault per 4 KiB page otherwise, then costs less than the kernel itself."""
    if x.numel() * x.element_size() < _LARGE or x.device.type != "cpu" or x.dtype not in _NUMPY_DTYPES:
        return torch.empty_like(x)
    strides = torch.empty_like(x, device="meta").stride()
    storage = torch.from_numpy(np.empty(x.numel(), dtype=_NUMPY_DTYPES[x.dtype]))
    if x.dtype == torch.bfloat16:
        storage = storage.view(torch.bfloat16)
    return storage.as_strided(x.shape, strides)


def _channel_axis(x: Tensor) -> Optional[int]:
    """PyTorch's PReLU channel axis: 1, or none (one channel) below 2 dimensions."""
    return 1 if x.dim() >= 2 else None


# ---- CUDA tensors: relukit-cuda's kernels on the caller's current stream ----


def _on_cuda(name: str, *tensors: Tensor) -> bool:
    """Whether the operation's tensors are CUDA tensors (all on one device); other
    devices than CPU and CUDA raise NotImplementedError naming the device."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise ValueError(f"relukit.torch.{name}: tensors on different devices: {sorted(map(str, devices))}")
    device = tensors[0].device
    if device.type == "cuda":
        for t in tensors:
            if t.dtype not in _DTYPES:
                raise TypeError(f"relukit.torch.{name}: dtype {t.dtype}, not one of float32, float64, float16, bfloat16")
        return True
    if device.type != "cpu":
        _array(tensors[0], "x")  # raises NotImplementedError naming the device
    return False


def _dense(t: Tensor) -> bool:
    """Whether `t`'s elements fill its memory exactly (any order of the axes)."""
    return _dense_layout(tuple(t.shape), t.stride())


def _cuda(operation: str, x: Tensor, tensors: list, **options: Any) -> None:
    """Enqueues `operation` on `x`'s device and current stream over `tensors`' memory."""
    find_nvrtc()
    _relukit._cuda(
        operation,
        str(x.dtype).replace("torch.", ""),
        x.device.index if x.device.index is not None else torch.cuda.current_device(),
        [t.data_ptr() for t in tensors],
        x.numel(),
        torch.cuda.current_stream(x.device).cuda_stream,
        **options,
    )


def _cuda_elementwise(operation: str, inputs: list, **options: Any) -> Tensor:
    """An elementwise operation on CUDA tensors: run on their memory when they are dense
    with the same strides, else on contiguous copies; the result has
    `torch.empty_like(x)`'s layout (x is the last input), as the fake kernel says."""
    x = inputs[-1]
    out = torch.empty_like(x)
    if _dense(x) and all(t.stride() == x.stride() for t in inputs) and out.stride() == x.stride():
        _cuda(operation, x, [*inputs, out], **options)
        return out
    dense = [t.contiguous() for t in inputs]
    result = torch.empty_like(dense[-1])
    _cuda(operation, dense[-1], [*dense, result], **options)
    return out.copy_(result)


def _prelu_layout(x: Tensor) -> Optional[tuple]:
    """PReLU's (outer, channels, inner) in x's memory (channels on axis 1, one channel
    below 2 dimensions), for any dense order of the axes (NCHW, channels_last...); None
    if x is not dense."""
    return _memory_layout(tuple(x.shape), x.stride(), _channel_axis(x))


def _check_weight(x: Tensor, weight: Tensor) -> None:
    channels = x.shape[1] if x.dim() >= 2 else 1
    if weight.dim() > 1 or weight.numel() not in (1, channels):
        raise ValueError(
            f"relukit.torch.prelu: `weight` has shape {tuple(weight.shape)}, but the input has "
            f"{channels} channel(s) (axis 1, or one below 2 dimensions): give 1 or {channels} slopes"
        )


# ---- the ops ----


@torch.library.custom_op("relukit::relu", mutates_args=())
def relu(x: Tensor) -> Tensor:
    """ReLU, ``max(0, x)``: ``x`` for ``x > 0``, ``+0`` otherwise; NaN stays NaN."""
    if _on_cuda("relu", x):
        return _cuda_elementwise("relu", [x])
    out = _empty_like(x)
    _relukit.relu(_array(x, "x"), out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::relu_backward", mutates_args=())
def relu_backward(grad_output: Tensor, x: Tensor) -> Tensor:
    """``grad_output`` where ``x > 0``, ``+0`` where ``x <= 0``, NaN where ``x`` is NaN."""
    if _on_cuda("relu_backward", grad_output, x):
        return _cuda_elementwise("relu_backward", [grad_output, x])
    out = _empty_like(x)
    _relukit.relu_backward(_array(grad_output, "grad_output"), _array(x, "x"), out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::relu_", mutates_args={"x"})
def _relu_(x: Tensor) -> None:
    if _on_cuda("relu_", x):
        if _dense(x):
            _cuda("relu", x, [x, x])  # the kernel may write its input
        else:
            x.copy_(_cuda_elementwise("relu", [x]))
        return
    array = _array(x, "x")
    _relukit.relu(array, out=array)


@torch.library.custom_op("relukit::leaky_relu", mutates_args=())
def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise; NaN stays NaN."""
    if _on_cuda("leaky_relu", x):
        return _cuda_elementwise("leaky_relu", [x], negative_slope=negative_slope)
    out = _empty_like(x)
    with np.errstate(over="ignore"):  # slope * x may overflow to inf, silently as in PyTorch
        _leaky_relu(_array(x, "x"), negative_slope, out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::leaky_relu_backward", mutates_args=())
def leaky_relu_backward(grad_output: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    """``grad_output`` where ``x > 0``, ``negative_slope * grad_output`` where ``x <= 0``."""
    if _on_cuda("leaky_relu_backward", grad_output, x):
        return _cuda_elementwise("leaky_relu_backward", [grad_output, x], negative_slope=negative_slope)
    out = _empty_like(x)
    with np.errstate(over="ignore"):
        _leaky_relu_backward(_array(grad_output, "grad_output"), _array(x, "x"), negative_slope, out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::leaky_relu_", mutates_args={"x"})
def _leaky_relu_(x: Tensor, negative_slope: float) -> None:
    if _on_cuda("leaky_relu_", x):
        if _dense(x):
            _cuda("leaky_relu", x, [x, x], negative_slope=negative_slope)
        else:
            x.copy_(_cuda_elementwise("leaky_relu", [x], negative_slope=negative_slope))
        return
    array = _array(x, "x")
    with np.errstate(over="ignore"):
        _leaky_relu(array, negative_slope, out=array)


@torch.library.custom_op("relukit::prelu", mutates_args=())
def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """PReLU: ``x`` for ``x > 0``, ``weight[c] * x`` otherwise, ``c`` the index on axis 1."""
    _check_weight(x, weight)
    if _on_cuda("prelu", x, weight):
        out = torch.empty_like(x)
        w = weight.to(x.dtype).contiguous()
        layout = _prelu_layout(x)
        if layout is not None and out.stride() == x.stride():
            _cuda("prelu", x, [x, w, out], layout=layout, weight_len=w.numel())
            return out
        xc = x.contiguous()
        result = torch.empty_like(xc)
        _cuda("prelu", xc, [xc, w, result], layout=_prelu_layout(xc), weight_len=w.numel())
        return out.copy_(result)
    out = _empty_like(x)
    _relukit.prelu(_array(x, "x"), _array(weight, "weight"), axis=_channel_axis(x), out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::prelu_backward", mutates_args=())
def prelu_backward(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``(grad_input, grad_weight)``: ``grad_input`` is ``grad_output`` where ``x > 0`` and
    ``weight[c] * grad_output`` elsewhere; ``grad_weight[c]`` sums ``grad_output * x``
    where ``x <= 0`` over channel ``c``, in a fixed order (deterministic)."""
    _check_weight(x, weight)
    if _on_cuda("prelu_backward", grad_output, x, weight):
        w = weight.to(x.dtype).contiguous()
        grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
        gw = grad_weight if grad_weight.dtype == x.dtype else torch.empty_like(w)
        grad_input = torch.empty_like(x)
        layout = _prelu_layout(x)
        if layout is not None and grad_output.stride() == x.stride() and grad_input.stride() == x.stride():
            _cuda("prelu_backward", x, [grad_output, x, w, grad_input, gw], layout=layout, weight_len=w.numel())
        else:
            xc, gc = x.contiguous(), grad_output.contiguous()
            result = torch.empty_like(xc)
            _cuda("prelu_backward", xc, [gc, xc, w, result, gw], layout=_prelu_layout(xc), weight_len=w.numel())
            grad_input.copy_(result)
        if gw is not grad_weight:
            grad_weight.copy_(gw)
        return grad_input, grad_weight
    grad_input = _empty_like(x)
    grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
    _relukit.prelu_backward(
        _array(grad_output, "grad_output"),
        _array(x, "x"),
        _array(weight, "weight"),
        axis=_channel_axis(x),
        out=(_array(grad_input, "grad_input"), _array(grad_weight, "grad_weight")),
    )
    return grad_input, grad_weight


@torch.library.custom_op("relukit::relu6", mutates_args=())
def relu6(x: Tensor) -> Tensor:
    """ReLU6, ``min(max(0, x), 6)``: ``+0`` for ``x <= 0``, NaN stays NaN."""
    out = _empty_like(x)
    _relukit.relu6(_array(x, "x"), out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::relu6_backward", mutates_args=())
def relu6_backward(grad_output: Tensor, x: Tensor) -> Tensor:
    """``grad_output`` for ``0 < x < 6``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    out = _empty_like(x)
    _relukit.relu6_backward(_array(grad_output, "grad_output"), _array(x, "x"), out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::threshold", mutates_args=())
def threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    """PyTorch's ``threshold``: ``x`` where ``x > threshold`` (NaN stays NaN), ``value`` elsewhere."""
    out = _empty_like(x)
    _threshold(_array(x, "x"), threshold, value, out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::threshold_backward", mutates_args=())
def threshold_backward(grad_output: Tensor, x: Tensor, threshold: float) -> Tensor:
    """``grad_output`` where ``x > threshold``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    out = _empty_like(x)
    _threshold_backward(_array(grad_output, "grad_output"), _array(x, "x"), threshold, out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::rrelu_with_seed", mutates_args=())
def rrelu_with_seed(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    """RReLU with relukit's counter-based slopes: in training, element ``i`` (C order)
    gets a slope uniform in ``[lower, upper)`` drawn from ``(seed, i)``; in evaluation,
    ``(lower + upper) / 2``. The backward pass draws the same slopes again from ``seed``,
    so no noise tensor is stored."""
    out = _empty_like(x)
    _relukit.rrelu(_array(x, "x"), lower, upper, training, seed if training else None, out=_array(out, "out"))
    return out


@torch.library.custom_op("relukit::rrelu_backward", mutates_args=())
def rrelu_backward(grad_output: Tensor, x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    """``grad_output`` where ``x > 0``, ``slope_i * grad_output`` elsewhere, with the
    forward pass's slopes (the same ``seed``)."""
    out = _empty_like(x)
    _relukit.rrelu_backward(
        _array(grad_output, "grad_output"), _array(x, "x"), lower, upper, training, seed if training else None,
        out=_array(out, "out"),
    )
    return out


def rrelu(x: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """``torch.nn.functional.rrelu``'s signature: in training the slopes' seed is drawn
    from torch's default generator (so ``torch.manual_seed`` makes a run repeatable)."""
    seed = int(torch.randint(0, 2**62, (), dtype=torch.int64)) if training else 0
    return rrelu_with_seed(x, lower, upper, training, seed)


@relu.register_fake
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


@relu_backward.register_fake
def _(grad_output: Tensor, x: Tensor) -> Tensor:
    return torch.empty_like(x)


@_relu_.register_fake
def _(x: Tensor) -> None:
    return None


@leaky_relu.register_fake
def _(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return torch.empty_like(x)


@leaky_relu_backward.register_fake
def _(grad_output: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    return torch.empty_like(x)


@_leaky_relu_.register_fake
def _(x: Tensor, negative_slope: float) -> None:
    return None


@prelu.register_fake
def _(x: Tensor, weight: Tensor) -> Tensor:
    return torch.empty_like(x)


@prelu_backward.register_fake
def _(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    return torch.empty_like(x), torch.empty_like(weight, memory_format=torch.contiguous_format)


@relu6.register_fake
def _(x: Tensor) -> Tensor:
    return torch.empty_like(x)


@relu6_backward.register_fake
def _(grad_output: Tensor, x: Tensor) -> Tensor:
    return torch.empty_like(x)


@threshold.register_fake
def _(x: Tensor, threshold: float, value: float) -> Tensor:
    return torch.empty_like(x)


@threshold_backward.register_fake
def _(grad_output: Tensor, x: Tensor, threshold: float) -> Tensor:
    return torch.empty_like(x)


@rrelu_with_seed.register_fake
def _(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    return torch.empty_like(x)


@rrelu_backward.register_fake
def _(grad_output: Tensor, x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    return torch.empty_like(x)


def _save_inputs(ctx: Any, inputs: tuple, output: Any) -> None:
    ctx.save_for_backward(*(i for i in inputs if isinstance(i, Tensor)))
    ctx.scalars = [i for i in inputs if not isinstance(i, Tensor)]


def _relu_grad(ctx: Any, grad: Tensor) -> Tensor:
    (x,) = ctx.saved_tensors
    return relu_backward(grad, x)


def _leaky_relu_grad(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
    (x,) = ctx.saved_tensors
    return leaky_relu_backward(grad, x, ctx.scalars[0]), None


def _prelu_grad(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor]]:
    x, weight = ctx.saved_tensors
    grad_input, grad_weight = prelu_backward(grad, x, weight)
    return (
        grad_input if ctx.needs_input_grad[0] else None,
        grad_weight if ctx.needs_input_grad[1] else None,
    )


def _relu6_grad(ctx: Any, grad: Tensor) -> Tensor:
    (x,) = ctx.saved_tensors
    return relu6_backward(grad, x)


def _threshold_grad(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
    (x,) = ctx.saved_tensors
    return threshold_backward(grad, x, ctx.scalars[0]), None, None


def _rrelu_grad(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None, None]:
    (x,) = ctx.saved_tensors
    lower, upper, training, seed = ctx.scalars
    return rrelu_backward(grad, x, lower, upper, training, seed), None, None, None, None


relu.register_autograd(_relu_grad, setup_context=_save_inputs)
leaky_relu.register_autograd(_leaky_relu_grad, setup_context=_save_inputs)
prelu.register_autograd(_prelu_grad, setup_context=_save_inputs)
relu6.register_autograd(_relu6_grad, setup_context=_save_inputs)
threshold.register_autograd(_threshold_grad, setup_context=_save_inputs)
rrelu_with_seed.register_autograd(_rrelu_grad, setup_context=_save_inputs)


class _InplaceReLU(torch.autograd.Function):
    """ReLU in place with autograd: the backward reads the output, which is positive
    (or NaN) exactly where the input was, so it gives the same bits as from the input."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        _relu_(x)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return relu_backward(grad, y)


class _InplaceLeakyReLU(torch.autograd.Function):
    """Leaky ReLU in place with autograd, for a slope >= 0 (then the output is positive
    exactly where the input was; PyTorch refuses a negative one too)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, negative_slope: float) -> Tensor:
        _leaky_relu_(x, negative_slope)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (y,) = ctx.saved_tensors
        return leaky_relu_backward(grad, y, ctx.negative_slope), None


def relu_(x: Tensor) -> Tensor:
    """ReLU in place; returns ``x``. Differentiable (the backward reads the output)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _InplaceReLU.apply(x)
    _relu_(x)
    return x


def leaky_relu_(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU in place; returns ``x``. Differentiable for ``negative_slope >= 0``."""
    if torch.is_grad_enabled() and x.requires_grad:
        if negative_slope < 0:
            raise RuntimeError(
                "relukit.torch.leaky_relu_: an in-place Leaky ReLU with a negative slope cannot be "
                "differentiated (its output no longer tells where the input was positive); use inplace=False"
            )
        return _InplaceLeakyReLU.apply(x, negative_slope)
    _leaky_relu_(x, negative_slope)
    return x


# ---- modules ----


class ReLU(nn.ReLU):
    """``torch.nn.ReLU`` computed by relukit: same arguments (``inplace=False``),
    attributes, ``extra_repr`` and ``state_dict``; ``isinstance(m, torch.nn.ReLU)`` holds."""

    def forward(self, input: Tensor) -> Tensor:
        return relu_(input) if self.inplace else relu(input)


class LeakyReLU(nn.LeakyReLU):
    """``torch.nn.LeakyReLU`` computed by relukit (``negative_slope=0.01, inplace=False``)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return leaky_relu_(input, self.negative_slope)
        return leaky_relu(input, self.negative_slope)


class PReLU(nn.PReLU):
    """``torch.nn.PReLU`` computed by relukit (``num_parameters=1, init=0.25``, a
    ``weight`` parameter of ``num_parameters`` slopes; the same ``state_dict`` keys)."""

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)


class ReLU6(nn.ReLU6):
    """``torch.nn.ReLU6`` computed by relukit (``inplace=False``; in place, a copy back:
    there is no in-place ReLU6 op). Note: ``relu6(-0.0)`` is ``+0.0`` here."""

    def forward(self, input: Tensor) -> Tensor:
        out = relu6(input)
        return input.copy_(out) if self.inplace else out


class Threshold(nn.Threshold):
    """``torch.nn.Threshold(threshold, value, inplace=False)`` computed by relukit."""

    def forward(self, input: Tensor) -> Tensor:
        out = threshold(input, self.threshold, self.value)
        return input.copy_(out) if self.inplace else out


class RReLU(nn.RReLU):
    """``torch.nn.RReLU(lower=1/8, upper=1/3, inplace=False)`` computed by relukit: in
    training, the slopes come from relukit's counter-based generator, seeded from torch's
    default generator at each call; the backward pass draws them again (no noise tensor)."""

    def forward(self, input: Tensor) -> Tensor:
        out = rrelu(input, self.lower, self.upper, self.training)
        return input.copy_(out) if self.inplace else out


_SWAPS: dict[type, type] = {
    nn.ReLU: ReLU,
    nn.LeakyReLU: LeakyReLU,
    nn.PReLU: PReLU,
    nn.ReLU6: ReLU6,
    nn.Threshold: Threshold,
    nn.RReLU: RReLU,
}


def convert(model: nn.Module) -> nn.Module:
    """Makes every ``torch.nn.ReLU``, ``LeakyReLU``, ``PReLU``, ``ReLU6``, ``Threshold``
    and ``RReLU`` in ``model`` (the model itself included) relukit's, in place, and
    returns ``model``.

    Each module keeps its identity: only its class changes (relukit's are subclasses with
    no state of their own), so parameters (the same PReLU weight object an optimiser
    holds), hooks, settings and train/eval mode stay as they were.

    >>> import torch, relukit.torch as rt
    >>> model = rt.convert(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()))
    >>> type(model[1]).__module__
    'relukit.torch'
    """
    for module in model.modules():
        kind = _SWAPS.get(type(module))
        if kind is not None:
            module.__class__ = kind
    return model


# ---- the dead-unit tracker ----

_FAMILY = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6)


class _Layer:
    """One tracked module: its counts over the open window."""

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name = name
        self.module = module
        self.kind = next(k.__name__ for k in _FAMILY if isinstance(module, k))
        self.units: Optional[int] = None
        self.monitor: Optional[Any] = None  # relukit.DeadUnitMonitor, for CPU tensors
        self.device_counts: Optional[Tensor] = None  # for tensors on other devices
        self.device_samples = 0

    def observe(self, x: Tensor) -> None:
        if x.dim() == 0:
            raise ValueError(f"DeadUnitTracker: layer {self.name!r} got a 0-d input, which has no units")
        axis = 1 if x.dim() >= 2 else 0
        units = x.shape[axis]
        if self.units is None:
            self.units = units
        elif units != self.units:
            raise ValueError(
                f"DeadUnitTracker: layer {self.name!r} had {self.units} units and now gets an input with "
                f"{units} (shape {tuple(x.shape)}); a module used at several places with different widths "
                "cannot be counted as one layer: give each place its own module"
            )
        x = x.detach()
        if x.device.type == "cpu":
            if self.monitor is None:
                self.monitor = _relukit.DeadUnitMonitor(units)
            self.monitor.observe(_array(x, "input"), axis=axis)
        else:
            dims = [d for d in range(x.dim()) if d != axis]
            counts = (x > 0).sum(dim=dims) if dims else (x > 0).long()
            self.device_counts = counts if self.device_counts is None else self.device_counts + counts
            self.device_samples += x.numel() // max(units, 1)

    def slopes_zero(self) -> Optional[np.ndarray]:
        """Per unit, whether the slope for x <= 0 is exactly 0 (a zero gradient there)."""
        m = self.module
        if isinstance(m, (nn.ReLU, nn.ReLU6)):
            return np.ones(self.units or 0, dtype=bool)
        if isinstance(m, nn.LeakyReLU):
            return np.full(self.units or 0, m.negative_slope == 0)
        if isinstance(m, nn.PReLU):
            w = m.weight.detach().float().cpu().numpy()
            return np.broadcast_to(w == 0, (self.units or 0,)) if w.size in (1, self.units) else None
        return None  # RReLU: random positive slopes

    def record(self, window: int) -> dict[str, Any]:
        units = self.units or 0
        active = np.zeros(units, dtype=np.int64)
        samples = 0
        if self.monitor is not None:
            active += np.asarray(self.monitor.active_counts, dtype=np.int64)
            samples += self.monitor.samples
        if self.device_counts is not None:
            active += self.device_counts.cpu().numpy().astype(np.int64)
            samples += self.device_samples
        inactive = active == 0 if samples else np.zeros(units, dtype=bool)
        zero_slope = self.slopes_zero()
        dead = None if zero_slope is None else int(np.count_nonzero(inactive & zero_slope))
        return {
            "window": window,
            "layer": self.name,
            "kind": self.kind,
            "units": units,
            "samples": samples,
            "inactive": int(np.count_nonzero(inactive)),
            "inactive_fraction": float(np.count_nonzero(inactive)) / units if units else 0.0,
            "dead": dead,
        }

    def reset(self) -> None:
        if self.monitor is not None:
            self.monitor.reset()
        self.device_counts = None
        self.device_samples = 0


class DeadUnitTracker:
    """Finds dying units in any PyTorch model while it trains.

    Hooks every ReLU-family module of ``model`` (``torch.nn``'s ReLU, LeakyReLU, PReLU,
    RReLU, ReLU6 and relukit's) and, while a window is open, counts per unit how many
    inputs were positive, with relukit's monitor kernel (CPU tensors; other devices count
    with torch on the device). Units are axis 1 of inputs of 2 or more dimensions (the
    channels of a convolution's output, the features of a linear layer's) and the only
    axis of 1-D inputs. Train and eval mode alike.

    - **inactive**: never positive over the window (any activation);
    - **dead**: inactive with a zero slope for ``x <= 0``, so a zero gradient on every
      sample: ReLU's and ReLU6's inactive units, Leaky ReLU's with slope 0, PReLU's with
      a learned slope of exactly 0 (None for RReLU).

    >>> import torch, relukit.torch as rt
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    >>> tracker = rt.DeadUnitTracker(model)
    >>> with tracker:
    ...     _ = model(torch.randn(8, 4))
    >>> [r["units"] for r in tracker.report()]
    [3]
    >>> tracker.remove()
    """

    def __init__(self, model: nn.Module) -> None:
        self._layers: list[_Layer] = []
        self._handles: list[Any] = []
        self._open = False
        self.history: list[list[dict[str, Any]]] = []
        """One list of per-layer records per closed window."""
        for name, module in model.named_modules():
            if isinstance(module, _FAMILY):
                layer = _Layer(name or type(module).__name__, module)
                self._layers.append(layer)
                self._handles.append(module.register_forward_pre_hook(self._hook(layer)))
        if not self._layers:
            raise ValueError("DeadUnitTracker: the model has no ReLU-family module to track")

    def _hook(self, layer: _Layer) -> Any:
        def hook(module: nn.Module, args: tuple) -> None:
            if self._open and args and isinstance(args[0], Tensor):
                layer.observe(args[0])

        return hook

    @property
    def layers(self) -> list[str]:
        """The qualified names of the tracked modules, in the model's order."""
        return [layer.name for layer in self._layers]

    def start_epoch(self) -> None:
        """Opens a window: counts start from zero."""
        if self._open:
            raise RuntimeError("DeadUnitTracker: a window is already open (call end_epoch() first)")
        for layer in self._layers:
            layer.reset()
        self._open = True

    def end_epoch(self) -> list[dict[str, Any]]:
        """Closes the window, appends its records to ``history`` and returns them."""
        if not self._open:
            raise RuntimeError("DeadUnitTracker: no window is open (call start_epoch() first)")
        self._open = False
        records = [layer.record(len(self.history)) for layer in self._layers]
        self.history.append(records)
        return records

    @contextmanager
    def epoch(self) -> Iterator[DeadUnitTracker]:
        """A window as a context manager: ``with tracker.epoch(): ...``."""
        self.start_epoch()
        try:
            yield self
        finally:
            self.end_epoch()

    def __enter__(self) -> DeadUnitTracker:
        self.start_epoch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_epoch()

    def report(self) -> list[dict[str, Any]]:
        """Per layer, for the open window (counts so far) or else the last closed one:
        ``layer``, ``kind``, ``units``, ``samples`` (inputs per unit), ``inactive`` (units
        never positive), ``inactive_fraction`` and ``dead`` (None where undefined)."""
        if self._open or not self.history:
            return [layer.record(len(self.history)) for layer in self._layers]
        return self.history[-1]

    def table(self, records: Optional[list[dict[str, Any]]] = None) -> str:
        """A plain-text table of ``records`` (default: ``report()``)."""
        rows = self.report() if records is None else records
        width = max([len("layer")] + [len(r["layer"]) for r in rows])
        lines = [f"{'layer':<{width}}  {'kind':<9} {'units':>5} {'inactive':>8} {'share':>6} {'dead':>5}"]
        for r in rows:
            dead = "-" if r["dead"] is None else str(r["dead"])
            lines.append(
                f"{r['layer']:<{width}}  {r['kind']:<9} {r['units']:>5} {r['inactive']:>8} "
                f"{100 * r['inactive_fraction']:>5.1f}% {dead:>5}"
            )
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        """Every closed window's records, flattened (one dict per layer per window)."""
        return [record for window in self.history for record in window]

    def to_csv(self, file: Union[str, IO[str], None] = None) -> str:
        """``to_records()`` as CSV (a header row, then one row per layer per window);
        written to ``file`` (a path or a text file) if given, and returned."""
        buffer = io.StringIO()
        fields = ["window", "layer", "kind", "units", "samples", "inactive", "inactive_fraction", "dead"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for record in self.to_records():
            writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
        text = buffer.getvalue()
        if isinstance(file, str):
            with open(file, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        elif file is not None:
            file.write(text)
        return text

    def remove(self) -> None:
        """Detaches every hook; the tracker keeps its history."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._open = False
