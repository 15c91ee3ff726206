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

from .. import _family
from . import _kernels as K

ops = torch.ops.relukit


# ---- the element-by-element family, from the registry (``K.FAMILY``) ----


def _custom_op(name: str, signature: str, returns: str, call: str, compute: Any, mutates: Any, doc: str) -> Any:
    """``torch.library.custom_op`` over ``compute``, for a function built with a real,
    annotated signature (the schema is inferred from it, as for the ops written out)."""
    source = f"def {name}({signature}) -> {returns}:\n    return compute({call})\n"
    namespace: dict[str, Any] = {"Tensor": Tensor, "compute": compute}
    exec(source, namespace)  # a real signature, as namedtuple and dataclasses build theirs
    namespace[name].__doc__ = doc
    return torch.library.custom_op(f"relukit::{name}", namespace[name], mutates_args=mutates)


def _family_ops(name: str) -> tuple[Any, Any, Any]:
    """``relukit::name(x, *parameters)`` (the registry's defaults), ``name_backward(grad_output,
    x, *parameters[:gradient])`` and ``name_(x, *parameters)``, mutating ``x``."""
    kernel = K.ELEMENTWISE[name]
    row = _family.REGISTRY[name]
    parameters, gradient, docs = row.parameters, row.gradient, row.docs
    with_defaults = [f"{p}: float" if d is None else f"{p}: float = {d!r}" for p, d in parameters]
    plain = [f"{p}: float" for p, _ in parameters]
    names = [p for p, _ in parameters]
    forward = _custom_op(
        name, ", ".join(["x: Tensor", *with_defaults]), "Tensor", ", ".join(["x", *names]), kernel.forward, (), docs[0]
    )
    backward = _custom_op(
        f"{name}_backward",
        ", ".join(["grad_output: Tensor", "x: Tensor", *plain[:gradient]]),
        "Tensor",
        ", ".join(["grad_output", "x", *names[:gradient]]),
        kernel.backward,
        (),
        docs[2],
    )
    inplace = _custom_op(
        f"{name}_",
        ", ".join(["x: Tensor", *plain]),
        "None",
        ", ".join(["x", *names]),
        kernel.forward_,
        {"x"},
        f"``{name}`` in place, into ``x``.",
    )
    return forward, backward, inplace


_BUILT = {name: _family_ops(name) for name in K.FAMILY}
#: name -> the functional op, its backward op, its in-place op.
FORWARD = {name: ops[0] for name, ops in _BUILT.items()}
BACKWARD = {name: ops[1] for name, ops in _BUILT.items()}
INPLACE = {name: ops[2] for name, ops in _BUILT.items()}


# ---- the functional ops written out (PReLU's weight, RReLU's seed) ----


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


@torch.library.custom_op("relukit::rrelu_with_seed_", mutates_args={"x"})
def rrelu_with_seed_(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> None:
    K.rrelu_with_seed_(x, lower, upper, training, seed)


# ---- fake kernels: the output is laid out as torch.empty_like(x) ----


def _like_last(*args: Any) -> Tensor:
    return torch.empty_like([a for a in args if isinstance(a, Tensor)][-1])


def _nothing(*args: Any) -> None:
    return None


for _op in (*FORWARD.values(), rrelu_with_seed, prelu):
    _op.register_fake(lambda x, *rest: torch.empty_like(x))
for _op in (*BACKWARD.values(), rrelu_backward):
    _op.register_fake(lambda grad_output, x, *rest: torch.empty_like(x))
for _op in (*INPLACE.values(), rrelu_with_seed_):
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


def _register_elementwise(forward: Any, backward_op: Any, params: int, backward_params: int) -> None:
    """A forward op f(x, *params) whose gradient is backward_op(grad, x, *params[:backward_params]),
    and that backward op, linear in its grad: its own gradient is itself applied to the
    incoming gradient (and none for x: zero almost everywhere)."""
    nones = (None,) * params

    def forward_grad(ctx: Any, grad: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return (backward_op(grad, x, *ctx.scalars[:backward_params]), *nones)

    def backward_grad(ctx: Any, grad: Tensor) -> Any:
        _, x = ctx.saved_tensors
        return (backward_op(grad, x, *ctx.scalars), None, *((None,) * backward_params))

    forward.register_autograd(forward_grad, setup_context=_save)
    backward_op.register_autograd(backward_grad, setup_context=_save)


for _name in K.FAMILY:
    _kernel = K.ELEMENTWISE[_name]
    _register_elementwise(FORWARD[_name], BACKWARD[_name], len(_kernel.parameters), _kernel.gradient)
_register_elementwise(rrelu_with_seed, rrelu_backward, 4, 4)


def _prelu_grad(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor]]:
    x, weight = ctx.saved_tensors
    grad_input, grad_weight = prelu_backward(grad, x, weight)
    return (grad_input if ctx.needs_input_grad[0] else None, grad_weight if ctx.needs_input_grad[1] else None)


def _prelu_backward_grad(ctx: Any, ggi: Optional[Tensor], ggw: Optional[Tensor]) -> tuple:
    g, x, w = ctx.saved_tensors
    return prelu_backward_backward(ggi, ggw, g, x, w, ctx.needs_input_grad)


prelu.register_autograd(_prelu_grad, setup_context=_save)
prelu_backward.register_autograd(_prelu_backward_grad, setup_context=_save)
