"""Which activations of a model can be recycled: for each, the layer that produces its
input (a ``Linear`` or ``Conv``, optionally through a ``BatchNorm``) and the layer that
consumes its output (a ``Linear`` or ``Conv``, optionally through ``Dropout``, pooling
and ``Flatten``), found by ``torch.fx`` tracing or given as ``pairs=``; the others, with
the reason, for ``.skipped``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import nn

from ._layers import module_kind

PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
PASSING = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.Identity,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
"""Modules between an activation and its consumer that keep each channel apart."""


@dataclass
class Pair:
    """One recyclable activation: unit ``u`` is row (or output channel) ``u`` of the
    producer, channel ``u`` of the norm, and, in the consumer, input column (channel)
    ``u``, or columns ``u * positions ... (u + 1) * positions - 1`` after a Flatten."""

    name: str  # the activation module's qualified name
    producer: nn.Module
    norm: Optional[nn.Module]
    activation: nn.Module
    consumer: nn.Module
    positions: int  # consumer inputs per unit (1 unless through a Flatten)

    @property
    def units(self) -> int:
        return units_out(self.producer)


def units_out(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def units_in(module: nn.Module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _grouped(module: nn.Module) -> bool:
    return getattr(module, "groups", 1) != 1


def _positions(producer: nn.Module, consumer: nn.Module, flattened: bool) -> Optional[int]:
    """Consumer inputs per unit, or None where the sizes do not fit."""
    units, inputs = units_out(producer), units_in(consumer)
    if not flattened:
        return 1 if inputs == units else None
    if isinstance(consumer, nn.Linear) and units and inputs % units == 0:
        return inputs // units
    return None


def from_pairs(model: nn.Module, pairs: Sequence[Sequence[Any]]) -> list[Pair]:
    """``pairs`` of ``(incoming, activation, outgoing)`` or ``(incoming, norm, activation,
    outgoing)`` modules of ``model``, checked: ValueError naming ``pairs``."""
    names = {id(m): name for name, m in model.named_modules()}
    found = []
    for i, entry in enumerate(pairs):
        entry = tuple(entry)
        if len(entry) not in (3, 4):
            raise ValueError(
                f"`pairs`[{i}] must be (incoming, activation, outgoing) or (incoming, norm, activation, outgoing)"
            )
        producer, norm, activation, consumer = entry if len(entry) == 4 else (entry[0], None, entry[1], entry[2])
        for role, m in (("incoming", producer), ("activation", activation), ("outgoing", consumer)):
            if id(m) not in names:
                raise ValueError(f"`pairs`[{i}]: the {role} module is not a module of the model")
        if not isinstance(producer, PRODUCERS) or _grouped(producer):
            raise ValueError(f"`pairs`[{i}]: the incoming module must be a Linear or an ungrouped Conv1d/2d/3d")
        if not isinstance(consumer, PRODUCERS) or _grouped(consumer):
            raise ValueError(f"`pairs`[{i}]: the outgoing module must be a Linear or an ungrouped Conv1d/2d/3d")
        if module_kind(activation) is None:
            raise ValueError(f"`pairs`[{i}]: the activation must be a ReLU-family module")
        if norm is not None and (not isinstance(norm, NORMS) or norm.num_features != units_out(producer)):
            raise ValueError(f"`pairs`[{i}]: the norm must be a BatchNorm of the incoming module's width")
        flattened = isinstance(consumer, nn.Linear) and not isinstance(producer, nn.Linear)
        positions = _positions(producer, consumer, flattened)
        if positions is None:
            raise ValueError(
                f"`pairs`[{i}]: the outgoing module takes {units_in(consumer)} inputs, which the incoming "
                f"module's {units_out(producer)} units do not give"
            )
        found.append(Pair(names[id(activation)], producer, norm, activation, consumer, positions))
    return found


def traced(model: nn.Module) -> tuple[list[Pair], list[tuple[str, str]]]:
    """The recyclable activations of ``model`` by ``torch.fx`` tracing, and the skipped
    ones with their reasons."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as error:  # noqa: BLE001 - any tracing failure has the same remedy
        raise ValueError(
            f"ReDo/ContinualBackprop: torch.fx cannot trace the model ({type(error).__name__}: {error}); "
            "give its structure as pairs=[(incoming, activation, outgoing), ...]"
        ) from error
    modules = dict(model.named_modules())
    pairs: list[Pair] = []
    skipped: list[tuple[str, str]] = []
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module" and module_kind(modules[node.target]) is not None:
            calls[node.target] = calls.get(node.target, 0) + 1
    for node in graph.nodes:
        if node.op == "call_function" or node.op == "call_method":
            name = getattr(node.target, "__name__", str(node.target))
            if name.rstrip("_") in ("relu", "leaky_relu", "prelu", "relu6", "rrelu", "threshold"):
                skipped.append((f"{node.name} ({name})", "a functional call: write the activation as a module"))
            continue
        if node.op != "call_module" or module_kind(modules[node.target]) is None:
            continue
        name = node.target
        if calls[name] > 1:
            if (name, "the module is used at several places") not in skipped:
                skipped.append((name, "the module is used at several places"))
            continue
        reason = _walk(node, modules, name, pairs)
        if reason is not None:
            skipped.append((name, reason))
    return pairs, skipped


def _walk(node: Any, modules: dict[str, nn.Module], name: str, pairs: list[Pair]) -> Optional[str]:
    """Adds the activation at ``node`` to ``pairs``, or says why it cannot be recycled."""

    def module(n: Any) -> Optional[nn.Module]:
        return modules[n.target] if getattr(n, "op", None) == "call_module" else None

    source: Any = node.args[0] if node.args else None
    norm = None
    if isinstance(module(source), (nn.LayerNorm, nn.GroupNorm)):
        return "its input is normalised across units (re-drawing one unit would change the others)"
    if isinstance(module(source), NORMS):
        if len(source.users) != 1:
            return "the normalisation's output goes elsewhere too"
        norm, source = module(source), source.args[0]
    producer = module(source)
    if not isinstance(producer, PRODUCERS) or _grouped(producer):
        return "its input does not come from a Linear or an ungrouped Conv"
    if len(source.users) != 1:
        return "the incoming layer's output goes elsewhere too"
    if norm is not None and norm.num_features != units_out(producer):
        return "the normalisation's width is not the incoming layer's"
    current, flattened = node, False
    while True:
        users = list(current.users)
        if len(users) != 1:
            return f"its output goes to {len(users)} places (a residual, a concatenation, two consumers)"
        user = users[0]
        m = module(user)
        if isinstance(m, PASSING):
            current = user
            continue
        if isinstance(m, nn.Flatten) and m.start_dim == 1:
            current, flattened = user, True
            continue
        if user.op == "call_function" and user.target is torch.flatten and user.args[1:2] == (1,):
            current, flattened = user, True
            continue
        if isinstance(m, PRODUCERS) and not _grouped(m):
            positions = _positions(producer, m, flattened)
            if positions is None:
                return "the outgoing layer's inputs do not match the incoming layer's units"
            pairs.append(Pair(name, producer, norm, modules[node.target], m, positions))
            return None
        what = user.target if user.op == "call_module" else getattr(user.target, "__name__", user.target)
        return f"its output goes to {what} (not a Linear or Conv)"
