"""The ``torch.ops.relukit`` custom ops: each computation of ``_kernels`` registered with
``torch.library.custom_op``, with a fake kernel (shapes for ``torch.compile``,
``torch.export`` and meta tensors) and, for the functional ops, autograd through the
backward ops, which are differentiable in turn (double backward).

These are what compiled, exported and ``jit.trace``d code records, and what tensor
subclasses and dispatch modes see. Eager code reaches the same kernels through the
autograd Functions of ``_autograd.py``, which add forward-mode AD and ``torch.func``
support (``custom_op`` has neither).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from . import _kernels as K

ops = torch.ops.relukit


# ---- the functional ops ----


@torch.library.custom_op("relukit::relu", mutates_args=())
def relu(x: Tensor) -> Tensor:
    """ReLU, ``max(0, x)``: ``x`` for ``x > 0``, ``+0`` otherwise; NaN stays NaN."""
    return K.relu(x)


@torch.library.custom_op("relukit::relu_backward", mutates_args=())
def relu_backward(grad_output: Tensor, x: Tensor) -> Tensor:
    """``grad_output`` where ``x > 0``, ``+0`` where ``x <= 0``, NaN where ``x`` is NaN."""
    return K.relu_backward(grad_output, x)


@torch.library.custom_op("relukit::leaky_relu", mutates_args=())
def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise; NaN stays NaN."""
    return K.leaky_relu(x, negative_slope)


@torch.library.custom_op("relukit::leaky_relu_backward", mutates_args=())
def leaky_relu_backward(grad_output: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    """``grad_output`` where ``x > 0``, ``negative_slope * grad_output`` where ``x <= 0``."""
    return K.leaky_relu_backward(grad_output, x, negative_slope)


@torch.library.custom_op("relukit::prelu", mutates_args=())
def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """PReLU: ``x`` for ``x > 0``, ``weight[c] * x`` otherwise, ``c`` the index on axis 1."""
    return K.prelu(x, weight)


@torch.library.custom_op("relukit::prelu_backward", mutates_args=())
def prelu_backward(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``(grad_input, grad_weight)``: ``grad_input`` is ``grad_output`` where ``x > 0`` and
    ``weight[c] * grad_output`` elsewhere; ``grad_weight[c]`` sums ``grad_output * x``
    where ``x <= 0`` over channel ``c``, in a fixed order (deterministic)."""
    return K.prelu_backward(grad_output, x, weight)


@torch.library.custom_op("relukit::relu6", mutates_args=())
def relu6(x: Tensor) -> Tensor:
    """ReLU6, ``min(max(0, x), 6)``: ``+0`` for ``x <= 0``, NaN stays NaN."""
    return K.relu6(x)


@torch.library.custom_op("relukit::relu6_backward", mutates_args=())
def relu6_backward(grad_output: Tensor, x: Tensor) -> Tensor:
    """``grad_output`` for ``0 < x < 6``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    return K.relu6_backward(grad_output, x)


@torch.library.custom_op("relukit::hardtanh", mutates_args=())
def hardtanh(x: Tensor, min_val: float, max_val: float) -> Tensor:
    """``x`` strictly between the bounds (NaN stays NaN), ``max_val`` from it up, ``min_val`` below."""
    return K.hardtanh(x, min_val, max_val)


@torch.library.custom_op("relukit::hardtanh_backward", mutates_args=())
def hardtanh_backward(grad_output: Tensor, x: Tensor, min_val: float, max_val: float) -> Tensor:
    """``grad_output`` strictly between the bounds, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    return K.hardtanh_backward(grad_output, x, min_val, max_val)


@torch.library.custom_op("relukit::threshold", mutates_args=())
def threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    """PyTorch's ``threshold``: ``x`` where ``x > threshold`` (NaN stays NaN), ``value`` elsewhere."""
    return K.threshold(x, threshold, value)


@torch.library.custom_op("relukit::threshold_backward", mutates_args=())
def threshold_backward(grad_output: Tensor, x: Tensor, threshold: float) -> Tensor:
    """``grad_output`` where ``x > threshold``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    return K.threshold_backward(grad_output, x, threshold)


@torch.library.custom_op("relukit::rrelu_with_seed", mutates_args=())
def rrelu_with_seed(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    """RReLU with relukit's counter-based slopes: in training, element ``i`` (C order)
    gets a slope uniform in ``[lower, upper)`` drawn from ``(seed, i)``; in evaluation,
    ``(lower + upper) / 2``."""
    return K.rrelu_with_seed(x, lower, upper, training, seed)


@torch.library.custom_op("relukit::rrelu_backward", mutates_args=())
def rrelu_backward(grad_output: Tensor, x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    """``grad_output`` where ``x > 0``, ``slope_i * grad_output`` elsewhere, with the
    forward pass's slopes (the same ``seed``)."""
    return K.rrelu_backward(grad_output, x, lower, upper, training, seed)


# ---- the in-place ops (no autograd of their own: relukit.torch's in-place functions
# save what their backward needs around them) ----


@torch.library.custom_op("relukit::relu_", mutates_args={"x"})
def relu_(x: Tensor) -> None:
    K.relu_(x)


@torch.library.custom_op("relukit::leaky_relu_", mutates_args={"x"})
def leaky_relu_(x: Tensor, negative_slope: float) -> None:
    K.leaky_relu_(x, negative_slope)


@torch.library.custom_op("relukit::relu6_", mutates_args={"x"})
def relu6_(x: Tensor) -> None:
    K.relu6_(x)


@torch.library.custom_op("relukit::hardtanh_", mutates_args={"x"})
def hardtanh_(x: Tensor, min_val: float, max_val: float) -> None:
    K.hardtanh_(x, min_val, max_val)


@torch.library.custom_op("relukit::threshold_", mutates_args={"x"})
def threshold_(x: Tensor, threshold: float, value: float) -> None:
    K.threshold_(x, threshold, value)


@torch.library.custom_op("relukit::rrelu_with_seed_", mutates_args={"x"})
def rrelu_with_seed_(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> None:
    K.rrelu_with_seed_(x, lower, upper, training, seed)


# ---- fake kernels: the output is laid out as torch.empty_like(x) ----


def _like_last(*args: Any) -> Tensor:
    return torch.empty_like([a for a in args if isinstance(a, Tensor)][-1])


def _nothing(*args: Any) -> None:
    return None


for _op in (relu, leaky_relu, relu6, hardtanh, threshold, rrelu_with_seed, prelu):
    _op.register_fake(lambda x, *rest: torch.empty_like(x))
for _op in (relu_backward, leaky_relu_backward, relu6_backward, hardtanh_backward, threshold_backward, rrelu_backward):
    _op.register_fake(lambda grad_output, x, *rest: torch.empty_like(x))
for _op in (relu_, leaky_relu_, relu6_, hardtanh_, threshold_, rrelu_with_seed_):
    _op.register_fake(_nothing)


@prelu_backward.register_fake
def _(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    return torch.empty_like(x), torch.empty_like(weight, memory_format=torch.contiguous_format)


# ---- PReLU's second derivatives, in differentiable torch operations ----


def broadcast_weight(w: Tensor, x: Tensor) -> Tensor:
    """The weight (1 or C slopes) shaped to broadcast against `x` (channels on axis 1)."""
    if w.numel() == 1 or x.dim() < 2:
        return w.reshape(())
    return w.reshape([1, -1] + [1] * (x.dim() - 2))


def sum_to_weight(t: Tensor, w: Tensor) -> Tensor:
    """Per-channel sums of `t` (shaped like x) in the weight's shape."""
    if w.numel() == 1 or t.dim() < 2:
        return t.sum().reshape(w.shape)
    return t.sum(dim=[d for d in range(t.dim()) if d != 1]).reshape(w.shape)


def prelu_backward_backward(
    ggi: Optional[Tensor], ggw: Optional[Tensor], g: Tensor, x: Tensor, w: Tensor, needs: tuple
) -> tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
    """The gradients of ``prelu_backward(g, x, w) = (gi, gw)`` with respect to ``g``,
    ``x`` and ``w``, given those of ``gi`` (``ggi``) and ``gw`` (``ggw``), each None
    where not needed: ``gi = g * (x > 0 ? 1 : w[c])`` and ``gw[c] = sum(g * x, x <= 0)``."""
    positive = x > 0
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    d_g = d_x = d_w = None
    if ggi is not None:
        if needs[0]:
            d_g = torch.where(positive, ggi, broadcast_weight(w, x) * ggi)
        if needs[2]:
            d_w = sum_to_weight(torch.where(positive, zero, ggi * g), w)
    if ggw is not None:
        ggw_b = broadcast_weight(ggw, x)
        if needs[0]:
            term = torch.where(positive, zero, ggw_b * x)
            d_g = term if d_g is None else d_g + term
        if needs[1]:
            d_x = torch.where(positive, zero, ggw_b * g)
    return d_g, d_x, d_w


# ---- autograd of the custom ops (for compiled and traced code) ----


def _save(ctx: Any, inputs: tuple, output: Any) -> None:
    ctx.save_for_backward(*(i for i in inputs if isinstance(i, Tensor)))
    ctx.scalars = [i for i in inputs if not isinstance(i, Tensor)]


def _register_elementwise(forward: Any, backward_op: Any, params: int) -> None:
    """A forward op f(x, *params) whose gradient is backward_op(grad, x, *params'), and
    that backward op, linear in its grad: its own gradient is itself applied to the
    incoming gradient (and none for x: zero almost everywhere)."""
    nones = (None,) * params

    def forward_grad(ctx: Any, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return (backward_op(grad, x, *ctx.scalars[:backward_params]), *nones)

    backward_params = _BACKWARD_PARAMS[backward_op]

    def backward_grad(ctx: Any, grad: Tensor) -> Any:
        _, x = ctx.saved_tensors
        return (backward_op(grad, x, *ctx.scalars), None, *((None,) * backward_params))

    forward.register_autograd(forward_grad, setup_context=_save)
    backward_op.register_autograd(backward_grad, setup_context=_save)


# How many of the forward's parameters each backward op takes (threshold's value is not
# one of them).
_BACKWARD_PARAMS = {
    relu_backward: 0,
    leaky_relu_backward: 1,
    relu6_backward: 0,
    hardtanh_backward: 2,
    threshold_backward: 1,
    rrelu_backward: 4,
}
_register_elementwise(relu, relu_backward, 0)
_register_elementwise(leaky_relu, leaky_relu_backward, 1)
_register_elementwise(relu6, relu6_backward, 0)
_register_elementwise(hardtanh, hardtanh_backward, 2)
_register_elementwise(threshold, threshold_backward, 2)
_register_elementwise(rrelu_with_seed, rrelu_backward, 4)


def _prelu_grad(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor]]:
    x, weight = ctx.saved_tensors
    grad_input, grad_weight = prelu_backward(grad, x, weight)
    return (grad_input if ctx.needs_input_grad[0] else None, grad_weight if ctx.needs_input_grad[1] else None)


def _prelu_backward_grad(ctx: Any, ggi: Optional[Tensor], ggw: Optional[Tensor]) -> tuple:
    g, x, w = ctx.saved_tensors
    return prelu_backward_backward(ggi, ggw, g, x, w, ctx.needs_input_grad)


prelu.register_autograd(_prelu_grad, setup_context=_save)
prelu_backward.register_autograd(_prelu_backward_grad, setup_context=_save)
