"""The ReLU-family functions a ``DeadUnitTracker`` sees a model's ``forward`` call
(``F.relu(x)``, ``x.relu_()``, ``torch.threshold(...)``), how their arguments read, and
the torch function mode that hands each call to the tracker.

A call is seen through PyTorch's ``__torch_function__`` protocol: while an observed
forward runs, the tracker pushes a ``TorchFunctionMode`` (thread-local in PyTorch) that
passes every other function straight through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


@dataclass(frozen=True)
class Function:
    """One ReLU-family function: the activation it computes (``relu``, the name a
    functional layer gets), the module class of the same activation (a record's
    ``kind``), its parameters in order with their defaults, and whether it always
    writes into its input (``relu_``)."""

    name: str
    kind: str
    parameters: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    inplace: bool = False

    def bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults filled in."""
        bound = dict(self.defaults)
        bound.update(zip(self.parameters, args))
        bound.update(kwargs)
        return bound

    def writes_input(self, arguments: dict[str, Any]) -> bool:
        return self.inplace or bool(arguments.get("inplace", False))


_SLOPE = {"negative_slope": 0.01}
_RRELU = {"lower": 1.0 / 8, "upper": 1.0 / 3, "training": False}
_RELU = Function("relu", "ReLU", ("input", "inplace"), {"inplace": False})
_RELU_ = Function("relu", "ReLU", ("input",), inplace=True)
_LEAKY = Function("leaky_relu", "LeakyReLU", ("input", "negative_slope", "inplace"), {**_SLOPE, "inplace": False})
_LEAKY_ = Function("leaky_relu", "LeakyReLU", ("input", "negative_slope"), dict(_SLOPE), inplace=True)
_PRELU = Function("prelu", "PReLU", ("input", "weight"))
_RELU6 = Function("relu6", "ReLU6", ("input", "inplace"), {"inplace": False})
_RRELU_F = Function("rrelu", "RReLU", ("input", "lower", "upper", "training", "inplace"), {**_RRELU, "inplace": False})
_RRELU_T = Function("rrelu", "RReLU", ("input", "lower", "upper", "training", "generator"), dict(_RRELU))
_RRELU_ = Function("rrelu", "RReLU", ("input", "lower", "upper", "training", "generator"), dict(_RRELU), inplace=True)
_THRESHOLD = Function("threshold", "Threshold", ("input", "threshold", "value", "inplace"), {"inplace": False})
_THRESHOLD_ = Function("threshold", "Threshold", ("input", "threshold", "value"), inplace=True)

Observe = Callable[[Function, Callable[..., Any], tuple, dict], Any]
"""What a tracker does with a call: makes it and returns its result."""

FUNCTIONS: dict[Callable[..., Any], Function] = {
    F.relu: _RELU,
    torch.relu: _RELU,
    torch.Tensor.relu: _RELU,
    torch.relu_: _RELU_,  # also F.relu_
    torch.Tensor.relu_: _RELU_,
    F.leaky_relu: _LEAKY,
    torch._C._nn.leaky_relu: _LEAKY,
    torch._C._nn.leaky_relu_: _LEAKY_,  # F.leaky_relu_
    torch.prelu: _PRELU,  # also F.prelu
    torch.Tensor.prelu: _PRELU,
    F.relu6: _RELU6,
    F.rrelu: _RRELU_F,
    torch.rrelu: _RRELU_T,
    torch.rrelu_: _RRELU_,  # also F.rrelu_
    F.threshold: _THRESHOLD,
    torch.threshold: _THRESHOLD,
    torch.threshold_: _THRESHOLD_,  # also F.threshold_
}
"""Every function a tracker sees, by the object a model calls."""

COMPILE_UNSEEN = (
    "torch.relu_",
    "F.relu_",
    "F.leaky_relu_",
    "torch.rrelu_",
    "F.rrelu_",
    "torch.threshold_",
    "F.threshold_",
)
"""The in-place functions of the ``torch`` namespace that ``torch.compile`` traces without
handing them to a torch function mode (PyTorch 2.15; a test pins it): a tracker cannot see them in a
compiled forward. ``F.relu(x, inplace=True)`` and ``x.relu_()`` are seen."""


class Calls(TorchFunctionMode):
    """Hands each ReLU-family call to ``observe(function, func, args, kwargs)`` (which
    makes the call and returns its result; ``observe_compiled`` when Dynamo traces the
    call, a form it runs at a graph break); every other function runs unchanged."""

    def __init__(self, observe: Observe, observe_compiled: Observe) -> None:
        super().__init__()
        self._observe = observe
        self._observe_compiled = observe_compiled

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: Optional[dict] = None
    ) -> Any:
        kwargs = kwargs or {}
        function = FUNCTIONS.get(func)
        if function is None:
            return func(*args, **kwargs)
        if torch.compiler.is_compiling():
            return self._observe_compiled(function, func, args, kwargs)
        return self._observe(function, func, args, kwargs)
