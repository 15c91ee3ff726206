"""Reviving units: what recycling a unit does to the model and its optimizer, and ReDo
(Sokar et al., ICML 2023), which recycles the τ-dormant units every ``every`` steps.

Recycling unit ``u`` of an activation (``_structure.Pair``): the producer's row (output
channel) ``u`` re-drawn as the producer's own ``reset_parameters`` draws it, its bias 0;
the BatchNorm channel reset (weight 1, bias 0, running mean 0, running variance 1); the
consumer's input columns of ``u`` zero; and the optimizer's state for exactly those
entries zero (Adam/AdamW ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``; SGD
``momentum_buffer``), without which Adam's moments recreate the dead unit at once.
Parameters change in place, never the graph: a compiled model keeps its graphs.
"""

from __future__ import annotations

import copy
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from . import _distributed
from ._arguments import integer_from, number_in
from ._structure import Pair, from_pairs, traced
from ._tracker import DeadUnitTracker

_STATE = {
    torch.optim.Adam: ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    torch.optim.AdamW: ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    torch.optim.SGD: ("momentum_buffer",),
}
"""The per-entry state of each optimizer a recycler resets."""


class Recycling:
    """What ReDo and continual backprop share: the structure, the checks, and recycling
    a list of units of one pair."""

    def __init__(
        self,
        who: str,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        pairs: Optional[Sequence[Sequence[Any]]],
        reset_optimizer: bool,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"{who}: `model` must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{who}: `optimizer` must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            # The wrapper runs the wrapped model's modules: recycle those (torch.fx cannot
            # trace the wrapper itself). Layer names are the wrapped model's.
            model = model.module
        if pairs is None:
            self.pairs, self.skipped = traced(model)
        else:
            self.pairs, self.skipped = from_pairs(model, pairs), []
        if not self.pairs:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.skipped) or "no ReLU-family module"
            raise ValueError(f"{who}: nothing in the model can be recycled ({reasons})")
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for pair in self.pairs:
            for p in _parameters(pair):
                if id(p) not in held:
                    raise ValueError(
                        f"{who}: `optimizer` does not hold the parameters of {pair.name!r}'s layers "
                        "(make it from model.parameters())"
                    )
        self.state_keys: tuple[str, ...] = ()
        if reset_optimizer:
            keys = next((k for cls, k in _STATE.items() if type(optimizer) is cls), None)
            if keys is None:
                raise ValueError(
                    f"{who}: cannot reset the state of {type(optimizer).__name__} (Adam, AdamW and SGD are "
                    "known); pass reset_optimizer=False to recycle without resetting it"
                )
            self.state_keys = keys
        self.model = model
        self.optimizer = optimizer

    def recycle(self, pair: Pair, units: list[int]) -> None:
        """Recycles ``units`` of ``pair`` (see the module's docstring)."""
        if not units:
            return
        rows = torch.tensor(units, dtype=torch.long, device=pair.producer.weight.device)
        columns = (rows[:, None] * pair.positions + torch.arange(pair.positions, device=rows.device)).reshape(-1)
        with torch.no_grad():
            fresh = copy.deepcopy(pair.producer)
            fresh.reset_parameters()
            pair.producer.weight[rows] = fresh.weight[rows]
            self._zero_state(pair.producer.weight, (rows,))
            if pair.producer.bias is not None:
                pair.producer.bias[rows] = 0
                self._zero_state(pair.producer.bias, (rows,))
            norm = pair.norm
            if norm is not None:
                if norm.affine:
                    norm.weight[rows] = 1
                    norm.bias[rows] = 0
                    self._zero_state(norm.weight, (rows,))
                    self._zero_state(norm.bias, (rows,))
                if norm.track_running_stats and norm.running_mean is not None:
                    norm.running_mean[rows] = 0
                    norm.running_var[rows] = 1
            pair.consumer.weight[:, columns] = 0
            self._zero_state(pair.consumer.weight, (slice(None), columns))
            if _distributed.initialised():
                _broadcast(pair)

    def _zero_state(self, parameter: Tensor, index: tuple) -> None:
        state = self.optimizer.state.get(parameter, {})
        for key in self.state_keys:
            value = state.get(key)
            if isinstance(value, Tensor) and value.shape == parameter.shape:
                value[index] = 0


def _parameters(pair: Pair) -> list[Tensor]:
    modules = [pair.producer, pair.consumer] + ([pair.norm] if pair.norm is not None and pair.norm.affine else [])
    return [p for m in modules for p in (m.weight, getattr(m, "bias", None)) if p is not None]


def _broadcast(pair: Pair) -> None:
    """Every rank takes rank 0's new incoming weights (the units are the same on every
    rank: they come from the merged window)."""
    import torch.distributed as dist

    for p in (pair.producer.weight, pair.producer.bias):
        if p is not None:
            dist.broadcast(p.data, src=0)


class ReDo:
    """Recycles dormant units (Sokar et al., "The Dormant Neuron Phenomenon in Deep
    Reinforcement Learning", ICML 2023): every ``every`` steps, the units whose score
    ``E|h_i| / mean_k E|h_k|`` over the forward pass of that step is ``<= tau`` are
    recycled: incoming weights re-drawn with the layer's own initialisation, bias 0,
    outgoing weights 0, the optimizer's state for those entries 0 (the module docstring
    of ``relukit.torch._recycle`` lists every entry).

    Call ``step()`` after each ``optimizer.step()``; the forward of every ``every``-th
    step is observed (a ``DeadUnitTracker`` window), and ``step()`` then recycles.
    ``recycle(*inputs)`` scores on ``model(*inputs)`` (in evaluation mode) now and
    recycles.

    The structure is found by ``torch.fx`` tracing, or given as ``pairs=[(incoming,
    activation, outgoing), ...]`` (or ``(incoming, norm, activation, outgoing)``);
    activations that cannot be recycled are in ``skipped`` with the reason.
    ``history``: one ``{"step", "layer", "units"}`` per layer and recycling that changed
    something. Under ``torch.distributed`` the scores come from the ranks' merged window
    and rank 0's new weights are broadcast: the replicas stay identical.

    Parameters
    ----------
    model, optimizer
        The optimizer must hold the parameters of every recycled layer. A
        ``DistributedDataParallel`` or ``DataParallel`` wrapper is looked through: the
        wrapped model is recycled, its layers named as in the wrapped model.
    tau : float in (0, 1], default 0.1
    every : int >= 1, default 1000
    pairs : optional
    reset_optimizer : bool, default True
        False: leave the optimizer's state (any optimizer then works).

    >>> import torch, relukit.torch as rt
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> with torch.no_grad():
    ...     model[0].bias[:3] = -100.0  # three dead units
    >>> redo = rt.ReDo(model, torch.optim.Adam(model.parameters()), every=1)
    >>> redo.recycle(torch.randn(64, 4))
    [{'step': 0, 'layer': '1', 'units': [0, 1, 2]}]
    >>> bool(model[2].weight[:, :3].eq(0).all())
    True
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        tau: float = 0.1,
        every: int = 1000,
        *,
        pairs: Optional[Sequence[Sequence[Any]]] = None,
        reset_optimizer: bool = True,
    ) -> None:
        self.tau = number_in("ReDo", "tau", tau, "(0, 1]")
        self.every = integer_from("ReDo", "every", every, 1)
        self._recycling = Recycling("ReDo", model, optimizer, pairs, bool(reset_optimizer))
        self.pairs = self._recycling.pairs
        self.skipped = self._recycling.skipped
        self.history: list[dict[str, Any]] = []
        self._steps = 0
        self._tracker = DeadUnitTracker(self._recycling.model, functional=False, tau=self.tau, warn_at=None)
        if self.every == 1:
            self._tracker.start_epoch()

    @property
    def layers(self) -> list[str]:
        """The activations ReDo recycles."""
        return [pair.name for pair in self.pairs]

    def step(self) -> list[dict[str, Any]]:
        """Counts a step; on every ``every``-th, recycles the dormant units of its forward
        pass and returns what it did (else ``[]``)."""
        self._steps += 1
        done = self._recycle_window() if self._tracker._open else []
        if (self._steps + 1) % self.every == 0:
            self._tracker.start_epoch()  # the next step's forward is scored
        return done

    def recycle(self, *inputs: Any) -> list[dict[str, Any]]:
        """Scores the units on ``model(*inputs)`` in evaluation mode (no gradients, no
        dropout, BatchNorm's running statistics untouched; the modes come back after)
        and recycles the dormant ones now; returns what it did."""
        scheduled = self._tracker._open
        if scheduled:
            self._tracker.end_epoch()
        model = self._recycling.model
        modes = [(m, m.training) for m in model.modules()]
        self._tracker.start_epoch()
        try:
            model.eval()
            with torch.no_grad():
                model(*inputs)
        finally:
            for m, training in modes:
                m.training = training
        done = self._recycle_window()
        if scheduled:
            self._tracker.start_epoch()
        return done

    def _recycle_window(self) -> list[dict[str, Any]]:
        self._tracker.end_epoch()
        self._tracker.history.clear()  # only the last window is needed
        done = []
        for pair in self.pairs:
            window = self._tracker._last.get(pair.name)
            monitor = None if window is None else window.monitor
            if monitor is None or monitor.samples == 0:
                continue
            units = monitor.dormant_units(self.tau)
            if units:
                self._recycling.recycle(pair, units)
                done.append({"step": self._steps, "layer": pair.name, "units": units})
        self.history.extend(done)
        return done

    def remove(self) -> None:
        """Detaches ReDo from the model (its tracker's hooks); the history stays."""
        if self._tracker._open:
            self._tracker.end_epoch()
        self._tracker.remove()


ReDo.__module__ = "relukit.torch"


class _Units:
    """One pair's per-unit state: ages, running utility and running mean output (per
    consumer input, so per flattened position after a Flatten), and the statistics of
    the forwards since the last step."""

    def __init__(self, pair: Pair) -> None:
        weight = pair.producer.weight
        units, positions = pair.units, pair.positions
        self.age = torch.zeros(units, dtype=torch.long, device=weight.device)
        self.utility = torch.zeros(units, dtype=torch.float64, device=weight.device)
        self.mean = torch.zeros(units, positions, dtype=torch.float64, device=weight.device)
        self.owed = 0.0  # replacements accumulated, not yet made (rate * eligible per step)
        self.seen = 0  # forwards since the last step
        self.magnitude = torch.zeros(units, dtype=torch.float64, device=weight.device)
        self.output = torch.zeros(units, positions, dtype=torch.float64, device=weight.device)

    def add(self, h: Tensor, positions: int) -> None:
        """Adds a forward's outputs: per unit the batch mean of ``|h|``, and per consumer
        input the batch mean of ``h``."""
        h = h.detach().to(torch.float64)
        units = h.shape[1] if h.dim() >= 2 else h.shape[0]
        by_unit = h.reshape(h.shape[0], units, -1) if h.dim() >= 2 else h.reshape(1, units, 1)
        self.magnitude += by_unit.abs().mean(dim=(0, 2))
        if positions == 1:
            self.output += by_unit.mean(dim=(0, 2))[:, None]
        else:  # through a Flatten: position by position
            self.output += by_unit.mean(dim=0).reshape(units, positions)
        self.seen += 1


class ContinualBackprop:
    """Continual backprop (Dohare et al., "Loss of plasticity in deep continual
    learning", Nature 2024): each step, a fraction of the mature units with the lowest
    contribution utility are replaced, which keeps a network able to learn task after
    task.

    Per unit ``i`` of each recyclable activation, each step (call ``step()`` after each
    ``optimizer.step()``; the step's forward passes are watched by hooks, averaged when
    there are several): its age grows by 1; its utility
    ``u = decay * u + (1 - decay) * mean|h_i| * sum_k |w_out[k, i]|`` and its mean
    output ``f = decay * f + (1 - decay) * mean h_i`` are updated (both bias-corrected
    by ``1 - decay**age`` when read); ``replacement_rate`` times the number of mature
    units (age > ``maturity``) accumulates, and that many (its whole part) mature units
    of lowest utility are replaced: the consumer's bias first takes their mean
    contribution (``sum_i w_out[:, i] * f_i``: the mean output over the data the means
    were taken on does not change; per flattened position through a Flatten; a Conv
    consumer takes each channel's mean times its kernel's sum, exact away from padded
    borders), then the unit is recycled as ReDo does (incoming weights re-drawn, bias 0,
    outgoing weights 0, optimizer state 0) and its age, utility and mean start from 0.

    Structure, ``pairs``, ``skipped``, ``reset_optimizer`` and wrappers (DDP) as for ``ReDo``. Under
    ``torch.distributed`` each step's statistics are summed over the ranks (a
    collective: every rank calls ``step()``), so every rank replaces the same units, and
    rank 0's new weights are broadcast: the replicas stay identical. ``history``:
    ``{"step", "layer", "units"}`` per replacement.

    >>> import torch, relukit.torch as rt
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> cbp = rt.ContinualBackprop(model, torch.optim.SGD(model.parameters(), lr=0.01),
    ...                            replacement_rate=0.1, maturity=2)
    >>> for _ in range(5):
    ...     _ = model(torch.randn(16, 4))
    ...     _ = cbp.step()
    >>> [len(d["units"]) for d in cbp.history]  # 0.1 of 8 mature units a step, from step 3
    [1, 1]
    >>> cbp.remove()
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        replacement_rate: float = 1e-4,
        maturity: int = 100,
        decay: float = 0.99,
        *,
        pairs: Optional[Sequence[Sequence[Any]]] = None,
        reset_optimizer: bool = True,
    ) -> None:
        who = "ContinualBackprop"
        self.replacement_rate: float = number_in(who, "replacement_rate", replacement_rate, "[0, 1)")
        self.maturity: int = integer_from(who, "maturity", maturity, 0)
        self.decay: float = number_in(who, "decay", decay, "[0, 1)")
        self._recycling: Recycling = Recycling("ContinualBackprop", model, optimizer, pairs, bool(reset_optimizer))
        self.pairs: list[Pair] = self._recycling.pairs
        self.skipped: list[tuple[str, str]] = self._recycling.skipped
        self.history: list[dict[str, Any]] = []
        self._steps: int = 0
        self._units: list[_Units] = [_Units(pair) for pair in self.pairs]
        self._handles: list[Any] = [
            pair.activation.register_forward_hook(self._hook(pair, units))
            for pair, units in zip(self.pairs, self._units)
        ]

    @property
    def layers(self) -> list[str]:
        """The activations continual backprop replaces units of."""
        return [pair.name for pair in self.pairs]

    def _hook(self, pair: Pair, units: _Units) -> Any:
        @torch.compiler.disable
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(output, Tensor) and output.dim() >= 1:
                with torch.no_grad():
                    units.add(output, pair.positions)

        return hook

    def utility(self, layer: str) -> Tensor:
        """The bias-corrected utility of each unit of ``layer`` (0 before its first step)."""
        units = self._units[self.layers.index(layer)]
        return units.utility / self._correction(units.age)

    def ages(self, layer: str) -> Tensor:
        """Each unit's age in steps (0 when it was replaced at the last one)."""
        return self._units[self.layers.index(layer)].age.clone()

    def _correction(self, age: Tensor) -> Tensor:
        return (1.0 - self.decay ** age.double()).clamp_min(1e-300)

    def step(self) -> list[dict[str, Any]]:
        """Counts a step: ages, utilities and mean outputs from the step's forwards, then
        the replacements due; returns them (``[]`` when none)."""
        self._steps += 1
        done = []
        with torch.no_grad():
            for pair, units in zip(self.pairs, self._units):
                replaced = self._step(pair, units)
                if replaced:
                    done.append({"step": self._steps, "layer": pair.name, "units": replaced})
        self.history.extend(done)
        return done

    def _step(self, pair: Pair, units: _Units) -> list[int]:
        units.age += 1
        if _distributed.initialised():
            _average_across_ranks(units)
        if units.seen:
            magnitude = units.magnitude / units.seen
            output = units.output / units.seen
            outgoing = _outgoing_abs_sum(pair)
            units.utility.mul_(self.decay).add_((1 - self.decay) * magnitude * outgoing)
            units.mean.mul_(self.decay).add_((1 - self.decay) * output)
            units.magnitude.zero_()
            units.output.zero_()
            units.seen = 0
        mature = torch.nonzero(units.age > self.maturity).reshape(-1)
        units.owed += self.replacement_rate * len(mature)
        count = int(units.owed)
        if count == 0:
            return []
        units.owed -= count
        utility = (units.utility / self._correction(units.age))[mature]
        order = torch.sort(utility, stable=True).indices[:count]
        chosen = mature[order].sort().values
        mean = units.mean[chosen] / self._correction(units.age[chosen])[:, None]
        self._absorb(pair, chosen, mean)
        replaced = chosen.tolist()
        self._recycling.recycle(pair, replaced)
        units.utility[chosen] = 0
        units.mean[chosen] = 0
        units.age[chosen] = 0
        return replaced

    def _absorb(self, pair: Pair, chosen: Tensor, mean: Tensor) -> None:
        """The consumer's bias takes the chosen units' mean contribution (units whose
        mean output is exactly 0 add nothing, so the bias keeps its bits)."""
        bias = pair.consumer.bias
        if bias is None:
            return
        w = pair.consumer.weight
        if isinstance(pair.consumer, nn.Linear):
            columns = w.reshape(w.shape[0], -1, pair.positions)[:, chosen]  # [out, chosen, positions]
        else:  # a Conv: the kernel's sum per input channel
            columns = w[:, chosen].sum(dim=tuple(range(2, w.dim())))[:, :, None]
        nonzero = mean != 0
        if not nonzero.any():
            return
        contribution = (columns.double() * mean[None]).masked_fill(~nonzero[None], 0).sum(dim=(1, 2))
        bias.add_(contribution.to(bias.dtype))

    def remove(self) -> None:
        """Detaches the hooks; the history stays."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _average_across_ranks(units: _Units) -> None:
    """Every rank takes the step's statistics of all ranks (summed by an all-reduce,
    which gives every rank the same bits), so all choose the same units."""
    import torch.distributed as dist

    seen = torch.tensor([float(units.seen)], dtype=torch.float64, device=units.magnitude.device)
    for t in (units.magnitude, units.output, seen):
        dist.all_reduce(t)
    units.seen = int(seen.item())


def _outgoing_abs_sum(pair: Pair) -> Tensor:
    """Per unit, the sum of the absolute outgoing weights (over every consumer output
    and, after a Flatten, every position), in float64."""
    w = pair.consumer.weight.detach().double().abs()
    if isinstance(pair.consumer, nn.Linear):
        return w.reshape(w.shape[0], -1, pair.positions).sum(dim=(0, 2))
    return w.sum(dim=tuple(d for d in range(w.dim()) if d != 1))


ContinualBackprop.__module__ = "relukit.torch"
