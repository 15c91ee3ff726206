"""relukit.torch's functions: the kernels with PyTorch's whole autograd contract.

Each operation is one ``_Rule`` (its computation, what it saves, its backward, its
forward-mode derivative and its ``vmap`` rule), from which two ``autograd.Function``
classes are made: a plain one for eager autograd and forward AD (``Function.apply``
with a ``ctx`` forward costs about a tenth of one with ``setup_context``, which binds
its arguments through ``inspect`` on every call), and one with ``setup_context`` and
``vmap`` for ``torch.func`` transforms, which need that form. The backward of every
operation is itself such an operation, so gradients of any order exist.

A call routes once, in ``_Rule.__call__``:

- no gradient, forward tangent or transform involved, a plain CPU or CUDA tensor:
  the kernel, directly (no autograd node, no dispatcher);
- compiling (``torch.compile``, ``torch.export``), ``jit.trace``, a dispatch mode or
  a tensor subclass: the ``torch.ops.relukit`` custom op (``_ops.py``), which those
  record and which has its own autograd;
- ``torch.func`` transforms: the ``setup_context`` Function;
- otherwise: the plain Function.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor, nn
from torch.autograd import Function

from . import _kernels as K
from . import _ops

_PLAIN_TYPES = (Tensor, nn.Parameter)
_transforms_active = torch._C._are_functorch_transforms_active
_dispatch_modes = torch._C._len_torch_dispatch_stack
_is_tracing = torch._C._is_tracing
_grad_enabled = torch.is_grad_enabled
_is_compiling = torch.compiler.is_compiling


def _direct(*tensors: Tensor) -> bool:
    """Whether the kernel may run directly: no autograd to record, no transform, no
    tracing, plain tensors on the CPU or a CUDA device."""
    grad = _grad_enabled()
    for t in tensors:
        if type(t) not in _PLAIN_TYPES or (grad and t.requires_grad) or not (t.is_cpu or t.is_cuda):
            return False
    return not (
        _is_compiling() or _transforms_active() or _forward_ad._current_level >= 0 or _is_tracing() or _dispatch_modes()
    )


def _recorded(*tensors: Tensor) -> bool:
    """Whether the call must go through the dispatcher (custom op) to be seen."""
    if torch.compiler.is_compiling() or _is_tracing() or _dispatch_modes():
        return True
    return any(type(t) not in _PLAIN_TYPES or not (t.is_cpu or t.is_cuda) for t in tensors)


# ---- one rule per operation, two Function classes from it ----


class _Rule:
    """An operation for autograd: ``compute(*args)`` (the kernel), ``op`` (its custom op),
    the tensors it saves (``save(args, output)``), ``backward(saved, scalars, needs,
    *grads)``, ``jvp(saved, scalars, *tangents)`` and ``vmap(info, in_dims, *args)``."""

    def __init__(
        self,
        name: str,
        compute: Callable[..., Any],
        op: Any,
        save: Callable[[tuple, Any], tuple],
        backward: Callable[..., Any],
        jvp: Callable[..., Any],
        vmap: Callable[..., Any],
        tensors: int,
    ) -> None:
        self.name = name
        self.compute = compute
        self.op = op
        self.tensors = tensors
        rule = self

        def setup(ctx: Any, inputs: tuple, output: Any) -> None:
            saved = save(inputs, output)
            ctx.save_for_backward(*saved)
            ctx.save_for_forward(*saved)
            ctx.scalars = inputs[tensors:]

        def backward_(ctx: Any, *grads: Any) -> Any:
            return backward(ctx.saved_tensors, ctx.scalars, ctx.needs_input_grad, *grads)

        def jvp_(ctx: Any, *tangents: Any) -> Any:
            return jvp(ctx.saved_tensors, ctx.scalars, *tangents[:tensors])

        def eager_forward(ctx: Any, *args: Any) -> Any:
            output = rule.compute(*args)
            setup(ctx, args, output)
            return output

        def transformable_forward(*args: Any) -> Any:
            return rule.compute(*args)

        def vmap_(info: Any, in_dims: tuple, *args: Any) -> Any:
            return vmap(info, in_dims, *args)

        common = {"backward": staticmethod(backward_), "jvp": staticmethod(jvp_), "__module__": __name__}
        # Made with type(): the classes differ only in their forward (and the second's
        # setup_context and vmap), built per rule.
        self.eager: Any = type(f"{name}_Eager", (Function,), {**common, "forward": staticmethod(eager_forward)})
        self.transformable: Any = type(
            f"{name}_Transformable",
            (Function,),
            {
                **common,
                "forward": staticmethod(transformable_forward),
                "setup_context": staticmethod(setup),
                "vmap": staticmethod(vmap_),
            },
        )

    def __call__(self, *args: Any) -> Any:
        tensors = args[: self.tensors]
        if _direct(*tensors):
            return self.compute(*args)
        if _recorded(*tensors):
            return self.op(*args)
        if _transforms_active():
            return self.transformable.apply(*args)
        return self.eager.apply(*args)


# ---- vmap helpers ----


def _unary_vmap(function: Callable[..., Tensor]) -> Callable[..., Any]:
    """An elementwise operation on one tensor: it runs on the batched tensor as it is."""

    def rule(info: Any, in_dims: tuple, x: Tensor, *scalars: Any) -> Any:
        return function(x, *scalars), in_dims[0]

    return rule


def _aligned(info: Any, in_dims: tuple, tensors: tuple) -> list:
    """The tensors with their batch dimension first (expanded where they have none)."""
    out = []
    for t, d in zip(tensors, in_dims):
        if d is None:
            out.append(t.unsqueeze(0).expand(info.batch_size, *t.shape))
        else:
            out.append(t.movedim(d, 0))
    return out


def _binary_vmap(function: Callable[..., Tensor]) -> Callable[..., Any]:
    """An elementwise operation on two tensors of the same shape."""

    def rule(info: Any, in_dims: tuple, g: Tensor, x: Tensor, *scalars: Any) -> Any:
        g, x = _aligned(info, in_dims[:2], (g, x))
        return function(g, x, *scalars), 0

    return rule


def _looped_vmap(function: Callable[..., Any], tensors: int) -> Callable[..., Any]:
    """Any operation, one example at a time (exact, for rules that are not elementwise:
    per-example PReLU weights and weight gradients, RReLU's per-example slopes)."""

    def rule(info: Any, in_dims: tuple, *args: Any) -> Any:
        batched = _aligned(info, in_dims[:tensors], args[:tensors])
        results = [function(*(t[i] for t in batched), *args[tensors:]) for i in range(info.batch_size)]
        if isinstance(results[0], tuple):
            return tuple(torch.stack(parts) for parts in zip(*results)), (0,) * len(results[0])
        return torch.stack(results), 0

    return rule


# ---- the elementwise family ----


def _elementwise_rules(
    name: str,
    forward_compute: Callable[..., Tensor],
    forward_op: Any,
    backward_compute: Callable[..., Tensor],
    backward_op: Any,
    backward_params: Callable[[tuple], tuple],
    vmaps: Optional[tuple[Callable[..., Any], Callable[..., Any]]] = None,
) -> tuple[_Rule, _Rule]:
    """The rules of an elementwise activation f(x, *params) and of its backward
    b(grad, x, *params'), linear in grad: f's derivative is b applied to the incoming
    gradient (or tangent), b's is b again, and neither depends on x where it is
    differentiable (so the gradient for x of b is zero, as PyTorch's). The vmap rules
    default to elementwise ones (f and b on the batched tensors as they are)."""
    forward_rule: _Rule
    backward_rule: _Rule
    if vmaps is None:
        vmaps = (_unary_vmap(lambda *a: forward_rule(*a)), _binary_vmap(lambda *a: backward_rule(*a)))

    def f_backward(saved: tuple, scalars: tuple, needs: tuple, grad: Tensor) -> Any:
        (x,) = saved
        return (backward_rule(grad, x, *backward_params(scalars)), *((None,) * len(scalars)))

    def f_jvp(saved: tuple, scalars: tuple, tangent: Tensor) -> Tensor:
        (x,) = saved
        return backward_rule(tangent, x, *backward_params(scalars))

    def b_backward(saved: tuple, scalars: tuple, needs: tuple, grad: Tensor) -> Any:
        (x,) = saved
        return (backward_rule(grad, x, *scalars) if needs[0] else None, None, *((None,) * len(scalars)))

    def b_jvp(saved: tuple, scalars: tuple, tangent_grad: Optional[Tensor], tangent_x: Optional[Tensor]) -> Tensor:
        (x,) = saved
        if tangent_grad is None:
            return torch.zeros_like(x)
        return backward_rule(tangent_grad, x, *scalars)

    forward_rule = _Rule(
        name, forward_compute, forward_op, lambda args, out: (args[0],), f_backward, f_jvp, vmaps[0], 1
    )
    backward_rule = _Rule(
        f"{name}_backward", backward_compute, backward_op, lambda args, out: (args[1],), b_backward, b_jvp, vmaps[1], 2
    )
    return forward_rule, backward_rule


def _all_params(scalars: tuple) -> tuple:
    return tuple(scalars)


def _family_rules(name: str) -> tuple[_Rule, _Rule]:
    """The rules of a registry activation (``K.FAMILY``): its kernels and custom ops, the
    backward taking the first ``gradient`` parameters."""
    kernel = K.ELEMENTWISE[name]
    return _elementwise_rules(
        name, kernel.forward, _ops.FORWARD[name], kernel.backward, _ops.BACKWARD[name], kernel.gradient_parameters
    )


_RULES = {name: _family_rules(name) for name in K.FAMILY}
_FORWARD = {name: rules[0] for name, rules in _RULES.items()}
_BACKWARD = {name: rules[1] for name, rules in _RULES.items()}


def _rrelu_vmap(tensors: int, function: Callable[..., Tensor], elementwise: Callable[..., Any]) -> Callable[..., Any]:
    """RReLU in training draws a slope per element index of each example: per example;
    in evaluation it is elementwise."""
    looped = _looped_vmap(function, tensors)

    def rule(info: Any, in_dims: tuple, *args: Any) -> Any:
        training = args[tensors + 2]
        return (looped if training else elementwise)(info, in_dims, *args)

    return rule


_rrelu, _rrelu_backward = _elementwise_rules(
    "rrelu_with_seed",
    K.rrelu_with_seed,
    _ops.rrelu_with_seed,
    K.rrelu_backward,
    _ops.rrelu_backward,
    _all_params,
    (
        _rrelu_vmap(1, lambda x, *p: rrelu_with_seed(x, *p), _unary_vmap(lambda x, *p: rrelu_with_seed(x, *p))),
        _rrelu_vmap(
            2, lambda g, x, *p: rrelu_backward(g, x, *p), _binary_vmap(lambda g, x, *p: rrelu_backward(g, x, *p))
        ),
    ),
)


# ---- PReLU ----


def _prelu_backward_rule(saved: tuple, scalars: tuple, needs: tuple, grad: Tensor) -> Any:
    x, w = saved
    grad_input, grad_weight = prelu_backward(grad, x, w)
    return (grad_input if needs[0] else None, grad_weight if needs[1] else None)


def _prelu_jvp(saved: tuple, scalars: tuple, tx: Optional[Tensor], tw: Optional[Tensor]) -> Tensor:
    """d/dt prelu(x + t tx, w + t tw) = tx where x > 0, w tx + tw x elsewhere."""
    x, w = saved
    positive = x > 0
    out = torch.zeros_like(x)
    if tx is not None:
        out = torch.where(positive, tx, _ops.broadcast_weight(w, x) * tx)
    if tw is not None:
        out = out + torch.where(
            positive, torch.zeros((), dtype=x.dtype, device=x.device), _ops.broadcast_weight(tw, x) * x
        )
    return out


def _prelu_vmap(info: Any, in_dims: tuple, x: Tensor, w: Tensor) -> Any:
    x_dim, w_dim = in_dims
    if w_dim is not None or x_dim is None:
        return _looped_vmap(lambda a, b: prelu(a, b), 2)(info, in_dims, x, w)
    x = x.movedim(x_dim, 0)
    if x.dim() >= 3:  # channels on axis 1 of each example: fold the batch into axis 0
        return prelu(x.flatten(0, 1), w).unflatten(0, (x.shape[0], x.shape[1])), 0
    return prelu(x, w), 0  # one channel per example: one slope for all


def _prelu_backward_backward(saved: tuple, scalars: tuple, needs: tuple, ggi: Any, ggw: Any) -> Any:
    g, x, w = saved
    return _ops.prelu_backward_backward(ggi, ggw, g, x, w, needs)


def _prelu_backward_jvp(
    saved: tuple, scalars: tuple, tg: Optional[Tensor], tx: Optional[Tensor], tw: Optional[Tensor]
) -> Any:
    """The tangents of (gi, gw) = prelu_backward(g, x, w): gi = g (x > 0 ? 1 : w[c]) and
    gw[c] = sum of g x where x <= 0, differentiated in g, x and w (x only through gw:
    the masks are constant almost everywhere)."""
    g, x, w = saved
    positive = x > 0
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    t_gi = torch.zeros_like(x)
    t_gw = torch.zeros_like(w)
    if tg is not None:
        t_gi = torch.where(positive, tg, _ops.broadcast_weight(w, x) * tg)
        t_gw = t_gw + _ops.sum_to_weight(torch.where(positive, zero, tg * x), w)
    if tw is not None:
        t_gi = t_gi + torch.where(positive, zero, _ops.broadcast_weight(tw, x) * g)
    if tx is not None:
        t_gw = t_gw + _ops.sum_to_weight(torch.where(positive, zero, g * tx), w)
    return t_gi, t_gw


_prelu = _Rule(
    "prelu", K.prelu, _ops.prelu, lambda args, out: (args[0], args[1]), _prelu_backward_rule, _prelu_jvp, _prelu_vmap, 2
)
_prelu_backward = _Rule(
    "prelu_backward",
    K.prelu_backward,
    _ops.prelu_backward,
    lambda args, out: tuple(args),
    _prelu_backward_backward,
    _prelu_backward_jvp,
    _looped_vmap(lambda g, x, w: prelu_backward(g, x, w), 3),
    3,
)


# ---- the public functions ----


def relu(x: Tensor) -> Tensor:
    """ReLU, ``max(0, x)``: ``x`` for ``x > 0``, ``+0`` otherwise; NaN stays NaN."""
    return _FORWARD["relu"](x)


def relu_backward(grad_output: Tensor, x: Tensor) -> Tensor:
    """``grad_output`` where ``x > 0``, ``+0`` where ``x <= 0``, NaN where ``x`` is NaN
    (differentiable: its gradient for ``grad_output`` is itself)."""
    return _BACKWARD["relu"](grad_output, x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU: ``x`` for ``x > 0``, ``negative_slope * x`` otherwise; NaN stays NaN."""
    return _FORWARD["leaky_relu"](x, negative_slope)


def leaky_relu_backward(grad_output: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    """``grad_output`` where ``x > 0``, ``negative_slope * grad_output`` where ``x <= 0``."""
    return _BACKWARD["leaky_relu"](grad_output, x, negative_slope)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """PReLU: ``x`` for ``x > 0``, ``weight[c] * x`` otherwise, ``c`` the index on axis 1
    (one channel below 2 dimensions); ``weight`` has 1 or C slopes of x's dtype."""
    return _prelu(x, weight)


def prelu_backward(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``(grad_input, grad_weight)``: ``grad_input`` is ``grad_output`` where ``x > 0`` and
    ``weight[c] * grad_output`` elsewhere; ``grad_weight[c]`` sums ``grad_output * x``
    where ``x <= 0`` over channel ``c``, in a fixed order (deterministic)."""
    return _prelu_backward(grad_output, x, weight)


def relu6(x: Tensor) -> Tensor:
    """ReLU6, ``min(max(0, x), 6)``: ``+0`` for ``x <= 0``, NaN stays NaN."""
    return _FORWARD["relu6"](x)


def relu6_backward(grad_output: Tensor, x: Tensor) -> Tensor:
    """``grad_output`` for ``0 < x < 6``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    return _BACKWARD["relu6"](grad_output, x)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``torch.nn.functional.hardtanh``: ``x`` strictly between the bounds (NaN stays NaN),
    ``max_val`` from it up, ``min_val`` from it down (the bound's own bits: ``-0.0`` at a
    bound of ``0`` gives ``+0.0``); the bounds in the tensor's dtype. ``min_val > max_val``
    or a NaN bound raises ``ValueError``."""
    return _FORWARD["hardtanh"](x, min_val, max_val)


def hardtanh_backward(grad_output: Tensor, x: Tensor, min_val: float, max_val: float) -> Tensor:
    """``grad_output`` where ``min_val < x < max_val``, ``+0`` elsewhere (a select, zero at
    both kinks), NaN where ``x`` is NaN (PyTorch's passes ``grad_output`` there)."""
    return _BACKWARD["hardtanh"](grad_output, x, min_val, max_val)


def threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    """PyTorch's ``threshold``: ``x`` where ``x > threshold`` (NaN stays NaN), ``value``
    elsewhere; 16-bit inputs are compared with the threshold in float32, as PyTorch's."""
    return _FORWARD["threshold"](x, threshold, value)


def threshold_backward(grad_output: Tensor, x: Tensor, threshold: float) -> Tensor:
    """``grad_output`` where ``x > threshold``, ``+0`` elsewhere (a select), NaN where ``x`` is NaN."""
    return _BACKWARD["threshold"](grad_output, x, threshold)


def rrelu_with_seed(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    """RReLU with relukit's counter-based slopes: in training, element ``i`` (C order)
    gets a slope uniform in ``[lower, upper)`` drawn from ``(seed, i)``; in evaluation,
    ``(lower + upper) / 2``. The backward pass draws the same slopes again from ``seed``,
    so no noise tensor is stored."""
    return _rrelu(x, lower, upper, training, seed)


def rrelu_backward(grad_output: Tensor, x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    """``grad_output`` where ``x > 0``, ``slope_i * grad_output`` elsewhere, with the
    forward pass's slopes (the same ``seed``)."""
    return _rrelu_backward(grad_output, x, lower, upper, training, seed)


def rrelu(x: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """``torch.nn.functional.rrelu``'s signature: in training the slopes' seed is drawn
    from torch's default generator (so ``torch.manual_seed`` makes a run repeatable)."""
    return rrelu_with_seed(x, lower, upper, training, draw_seed() if training else 0)


def draw_seed() -> int:
    """A seed for RReLU's slopes from torch's default generator."""
    return int(torch.randint(0, 2**62, (), dtype=torch.int64))


# ---- in place ----


def check_inplace(name: str, x: Tensor) -> None:
    """What PyTorch checks before an in-place operation writes, checked before relukit
    writes anything (RuntimeError, as PyTorch's)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"relukit.torch.{name}: expected a tensor, got {type(x).__name__}")
    if torch.is_grad_enabled() and x.requires_grad:
        if x.is_leaf:
            raise RuntimeError(
                f"relukit.torch.{name}: a leaf Variable that requires grad is being used in an in-place operation."
            )
        base = x._base
        if base is not None and base.is_leaf and base.requires_grad:
            raise RuntimeError(
                f"relukit.torch.{name}: a view of a leaf Variable that requires grad is being used in an "
                "in-place operation."
            )
    if x.is_inference() and not torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"relukit.torch.{name}: Inplace update to inference tensor outside InferenceMode is not allowed."
        )
    if any(stride == 0 and size > 1 for size, stride in zip(x.shape, x.stride())):  # PyTorch's "overlap: yes"
        raise RuntimeError(
            f"relukit.torch.{name}: unsupported operation: some elements of the input tensor and the written-to "
            "tensor refer to a single memory location. Please clone() the tensor before performing the operation."
        )


def _inplace_forward(
    ctx: Any, x: Tensor, rule: Any, inplace: Callable[..., None], keep_input: bool, scalars: tuple, forward_ad: bool
) -> Tensor:
    """Writes `x` in place and saves what the backward needs: the output (ReLU, ReLU6,
    Leaky ReLU and RReLU with slopes >= 0: it is positive, or in ReLU6's open interval,
    exactly where the input was), or with `keep_input` a copy of the input (Threshold, as
    PyTorch's in-place ``threshold_`` keeps)."""
    original = x.clone() if keep_input else None
    inplace(x, *scalars)
    ctx.mark_dirty(x)
    saved = x if original is None else original
    ctx.save_for_backward(saved)
    if forward_ad:
        ctx.save_for_forward(saved)
    ctx.rule = rule
    ctx.scalars = scalars
    return x


class _CompiledInplace(Function):
    """An in-place activation with autograd (see ``_inplace_forward``). This form has no
    ``jvp`` (Dynamo traces no Function that has one) and is what compiled code uses."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, rule: Any, inplace: Callable[..., None], keep_input: bool, *scalars: Any
    ) -> Tensor:
        return _inplace_forward(ctx, x, rule, inplace, keep_input, scalars, forward_ad=False)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        (saved,) = ctx.saved_tensors
        grads = ctx.rule.backward_rule(grad, saved, *ctx.rule.backward_params(ctx.scalars))
        return (grads, None, None, None, *((None,) * len(ctx.scalars)))


class _EagerInplace(_CompiledInplace):
    """``_CompiledInplace`` with forward-mode AD, for eager code."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, rule: Any, inplace: Callable[..., None], keep_input: bool, *scalars: Any
    ) -> Tensor:
        return _inplace_forward(ctx, x, rule, inplace, keep_input, scalars, forward_ad=True)

    @staticmethod
    def jvp(ctx: Any, tangent: Tensor, *rest: Any) -> Tensor:
        (saved,) = ctx.saved_tensors
        return tangent.copy_(ctx.rule.backward_rule(tangent, saved, *ctx.rule.backward_params(ctx.scalars)))


class _Inplace:
    """An in-place form: the kernel, its custom op, how the backward is computed."""

    def __init__(
        self,
        name: str,
        compute: Callable[..., None],
        op: Any,
        backward_rule: _Rule,
        backward_params: Callable[[tuple], tuple],
        functional: Callable[..., Tensor],
        from_output: Callable[[tuple], bool],
    ) -> None:
        self.name = name
        self.compute = compute
        self.op = op
        self.backward_rule = backward_rule
        self.backward_params = backward_params
        self.functional = functional
        self.from_output = from_output

    def __call__(self, x: Tensor, *scalars: Any) -> Tensor:
        if not torch.compiler.is_compiling():  # compiled graphs check at run time
            check_inplace(self.name, x)
        if _direct(x):
            self.compute(x, *scalars)
            return x
        needs_grad = torch.is_grad_enabled() and x.requires_grad
        if _recorded(x) and not (torch.compiler.is_compiling() and needs_grad):
            self.op(x, *scalars)
            return x
        if not (needs_grad or _forward_ad._current_level >= 0 or _transforms_active()):
            self.op(x, *scalars)
            return x
        if _transforms_active():
            # torch.func's tensors: the functional form of a copy (what it saves stays
            # unchanged), written back into x.
            return x.copy_(self.functional(x.clone(), *scalars))
        keep_input = not self.from_output(scalars)
        if torch.compiler.is_compiling():  # the custom op inside a Function Dynamo traces
            return _CompiledInplace.apply(x, self, self.op, keep_input, *scalars)
        return _EagerInplace.apply(x, self, self.compute, keep_input, *scalars)


def _always(scalars: tuple) -> bool:
    return True


def _leaky_from_output(scalars: tuple) -> bool:
    if scalars[0] < 0:
        raise RuntimeError(
            "relukit.torch.leaky_relu_: an in-place Leaky ReLU with a negative slope cannot be "
            "differentiated (its output no longer tells where the input was positive); use inplace=False"
        )
    return True


def _rrelu_from_output(scalars: tuple) -> bool:
    lower, upper, training = scalars[0], scalars[1], scalars[2]
    if (lower if training else (lower + upper) / 2) < 0:
        raise RuntimeError(
            "relukit.torch.rrelu_: an in-place RReLU with negative slopes cannot be differentiated (its output "
            "no longer tells where the input was positive; PyTorch refuses it too); use inplace=False"
        )
    return True


def _keeps_input(scalars: tuple) -> bool:
    return False


# Whether an in-place form's backward may read its output (where the derivative's regions
# can be told from it); otherwise a copy of the input is kept (always correct).
_FROM_OUTPUT = {"relu": _always, "relu6": _always, "hardtanh": _always, "leaky_relu": _leaky_from_output}


def _family_inplace(name: str) -> _Inplace:
    kernel = K.ELEMENTWISE[name]
    forward, backward = _RULES[name]
    return _Inplace(
        f"{name}_",
        kernel.forward_,
        _ops.INPLACE[name],
        backward,
        kernel.gradient_parameters,
        forward,
        _FROM_OUTPUT.get(name, _keeps_input),
    )


_INPLACE = {name: _family_inplace(name) for name in K.FAMILY}
_rrelu_ = _Inplace(
    "rrelu_with_seed_",
    K.rrelu_with_seed_,
    _ops.rrelu_with_seed_,
    _rrelu_backward,
    _all_params,
    rrelu_with_seed,
    _rrelu_from_output,
)


def relu_(x: Tensor) -> Tensor:
    """ReLU in place; returns ``x``. Differentiable (the backward reads the output)."""
    return _INPLACE["relu"](x)


def leaky_relu_(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """Leaky ReLU in place; returns ``x``. Differentiable for ``negative_slope >= 0``."""
    return _INPLACE["leaky_relu"](x, negative_slope)


def relu6_(x: Tensor) -> Tensor:
    """ReLU6 in place; returns ``x``. Differentiable (the backward reads the output)."""
    return _INPLACE["relu6"](x)


def hardtanh_(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """Hardtanh in place; returns ``x``. Differentiable (the backward reads the output:
    it lies strictly between the bounds exactly where the input did)."""
    return _INPLACE["hardtanh"](x, min_val, max_val)


def threshold_(x: Tensor, threshold: float, value: float) -> Tensor:
    """Threshold in place; returns ``x``. Differentiable: as PyTorch's ``threshold_``, a
    copy of the input is kept for the backward pass when a gradient is needed."""
    return _INPLACE["threshold"](x, threshold, value)


def rrelu_(x: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    """RReLU in place; returns ``x``. Differentiable for slopes >= 0 (the backward reads
    the output and draws the same slopes again)."""
    return _rrelu_(x, lower, upper, training, draw_seed() if training else 0)
