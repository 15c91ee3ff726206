"""``DeadUnitTracker``: per unit of every ReLU-family activation of a model (modules and
functional calls), how its inputs fared over a window you open and close, in the
metrics the literature uses."""

from __future__ import annotations

import csv
import io
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

from . import _distributed
from ._arguments import integer_from, number_in
from ._calls import Calls, Function
from ._layers import FIELDS, Layer, module_kind, prelu_zero_slope, unit_axis


@dataclass
class _Frame:
    """A module whose forward is running on this thread, in an observed forward."""

    name: str
    layer: Optional[Layer]  # the module's own layer, if it is a tracked activation
    calls: dict[str, int] = field(default_factory=dict)  # functional calls made so far, by name
    before: Optional[Tensor] = None  # an in-place module's input, copied before it is written


class _Thread(threading.local):
    """This thread's place in a forward pass of the model."""

    def __init__(self) -> None:
        self.depth = 0  # modules of the model entered and not yet left
        self.observing = False
        self.frames: list[_Frame] = []
        self.calls: Optional[Calls] = None  # the pushed torch function mode


class DeadUnitTracker:
    """Finds dying and dormant units in any PyTorch model while it trains.

    Hooks every ReLU-family module of ``model`` (``torch.nn``'s ReLU, LeakyReLU, PReLU,
    RReLU, ReLU6 and Threshold, and relukit's) and, with ``functional=True``, sees the
    functional calls its modules' ``forward`` make (``F.relu``, ``torch.relu``,
    ``Tensor.relu``, their in-place forms, ``F.leaky_relu``, ``F.prelu``, ``F.relu6``,
    ``F.rrelu``, ``F.threshold``). A functional call is a layer named by the module whose
    forward made it and its index among that forward's calls of the function:
    ``layer1.0/relu:1`` is the second ``relu`` call of ``layer1.0``'s forward (the root
    module is named by its class). While a window is open, each observed forward adds,
    per unit, the inputs that were positive (``x > 0``; ``x > threshold`` for Threshold)
    and the sum of the activation's output magnitudes ``|h|`` (its output: so Leaky ReLU's
    and PReLU's negative side counts), with relukit's ``DeadUnitMonitor`` on CPU tensors
    and with torch on the tensor's device otherwise. Units are axis 1 of inputs of 2 or
    more dimensions (channels, features) and the only axis of 1-D inputs. Train and eval
    mode alike; forward passes on several threads count each batch once.

    Each window closes into one record per layer (``report()``, ``history``,
    ``to_csv``), with the metrics side by side:

    - ``inactive``: units never active over the window (Lu et al. 2020; Dohare et al.
      2024), and ``inactive_fraction``;
    - ``dead``: inactive with a zero slope there, so a zero gradient on every sample
      (every inactive ReLU/ReLU6/Threshold unit, Leaky ReLU's with slope 0, PReLU's with a
      learned slope of exactly 0; None for RReLU);
    - ``dormant``, ``dormant_fraction``: τ-dormant units at ``tau`` (Sokar et al. 2023:
      the unit's mean ``|h|`` over the layer's mean ``<= tau``);
    - ``low_firing``, ``low_firing_fraction``: units active on fewer than
      ``low_firing_rate`` of the samples (Dohare et al. 2024);
    - ``zero_fraction``: the share of entries not active and not NaN: the zeros of a
      ReLU's output (activation sparsity, Mirzadeh et al. 2023), the negative side's
      share for the leaky family;
    - ``effective_rank``: of the layer's outputs over the first ``rank_samples`` samples
      (batch rows) of the window (``relukit.effective_rank``), None without
      ``rank_samples``.

    Parameters
    ----------
    model : torch.nn.Module
    functional : bool, default True
        Also see functional calls (through a ``TorchFunctionMode`` pushed while an
        observed forward runs).
    tau : float in (0, 1], default 0.1
    low_firing_rate : float in [0, 1], default 0.01
    every : int >= 1, default 1
        Observe one forward of the model in ``every`` (the first of each window, then
        every ``every``-th): cheap enough to watch training steps.
    warn_at : float in (0, 1] or None, default 0.1
        A ``RuntimeWarning`` when a window closes with a layer's dead share at or above
        it, naming the layer; None: no warning.
    rank_samples : int >= 1 or None, default None
    distributed : bool, default True
        Under an initialised ``torch.distributed`` group, closing a window is a
        collective: every rank's counts and sums are merged (in rank order, the same bits
        on every rank) and every rank gets the same records; rank 0 alone warns and logs.
        False: each rank keeps its own.

    Under ``torch.compile`` the hooks and calls are seen too (observed forwards run with
    graph breaks at each hook; closed windows add nothing to the graph), except the
    in-place functions of the ``torch`` namespace that Dynamo does not hand to torch
    function modes (``torch.relu_``, ``F.relu_``, ``F.leaky_relu_``, ``torch.rrelu_``,
    ``F.rrelu_``, ``torch.threshold_``, ``F.threshold_``): use ``F.relu(x,
    inplace=True)`` or ``x.relu_()`` in a compiled model.

    >>> import torch, relukit.torch as rt
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(4, 3)
    ...     def forward(self, x):
    ...         return torch.nn.functional.relu(self.fc(x))
    >>> tracker = rt.DeadUnitTracker(Net())
    >>> with tracker:
    ...     _ = tracker.model(torch.randn(8, 4))
    >>> [(r["layer"], r["units"], r["samples"]) for r in tracker.report()]
    [('Net/relu:0', 3, 8)]
    >>> tracker.remove()
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        functional: bool = True,
        tau: float = 0.1,
        low_firing_rate: float = 0.01,
        every: int = 1,
        warn_at: Optional[float] = 0.1,
        rank_samples: Optional[int] = None,
        distributed: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"DeadUnitTracker: `model` must be a torch.nn.Module, got {type(model).__name__}")
        who = "DeadUnitTracker"
        self.tau = number_in(who, "tau", tau, "(0, 1]")
        self.low_firing_rate = number_in(who, "low_firing_rate", low_firing_rate, "[0, 1]")
        self.every = integer_from(who, "every", every, 1)
        self.warn_at = None if warn_at is None else number_in(who, "warn_at", warn_at, "(0, 1]")
        self.rank_samples = None if rank_samples is None else integer_from(who, "rank_samples", rank_samples, 1)
        self.functional = bool(functional)
        self.distributed = bool(distributed)
        self.model = model
        self._layers: list[Layer] = []
        self._by_name: dict[str, Layer] = {}
        self._handles: list[Any] = []
        self._writers: list[tuple[Any, str]] = []
        self._open = False
        self._busy = 0  # threads inside an observed or counted forward of the model
        self._forwards = 0  # forwards of the model begun in the open window
        self._thread = _Thread()
        # Forward passes may run on several threads (DataParallel-style): each batch is
        # counted under this lock, once, and windows open and close under it.
        self._lock = threading.Lock()
        self.history: list[list[dict[str, Any]]] = []
        """One list of per-layer records per closed window."""
        self._last: dict[str, _distributed.Window] = {}
        self._modules: list[tuple[str, nn.Module, Optional[Layer]]] = []
        for name, module in model.named_modules():
            kind = module_kind(module)
            qualified = name or type(module).__name__
            self._modules.append((qualified, module, None if kind is None else self._layer(qualified, kind, module)))
        self._removed = False
        if not self._layers and not self.functional:
            raise ValueError(
                "DeadUnitTracker: the model has no ReLU-family module to track (functional=True also "
                "sees F.relu and the like called in forward)"
            )

    # -- hooks: on every module of the model while a window is open; a fast path that
    # Dynamo traces, the work out of its graph ------------------------------------------

    def _hook(self) -> None:
        for name, module, layer in self._modules:
            self._handles.append(module.register_forward_pre_hook(self._pre_hook(name, layer)))
            self._handles.append(module.register_forward_hook(self._post_hook(), always_call=True))

    def _unhook(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre_hook(self, name: str, layer: Optional[Layer]) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple) -> None:
            if self._open or self._busy:
                if torch.compiler.is_compiling():
                    self._enter_compiled(name, module, layer, args)
                else:
                    self._enter(name, module, layer, args)

        return hook

    def _post_hook(self) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if self._busy:
                if torch.compiler.is_compiling():
                    self._leave_compiled(args, output)
                else:
                    self._leave(args, output)

        return hook

    def _enter(self, name: str, module: nn.Module, layer: Optional[Layer], args: tuple) -> None:
        t = self._thread
        with torch._C.DisableTorchFunction():  # the bookkeeping is not the model's
            if t.depth == 0:
                with self._lock:
                    if not self._open:
                        return
                    t.observing = self._forwards % self.every == 0
                    self._forwards += 1
                    self._busy += 1
                if t.observing and self.functional:
                    t.calls = Calls(self._call, self._call_compiled)
                    t.calls.__enter__()
            t.depth += 1
            if t.observing:
                frame = _Frame(name, layer)
                if layer is not None and args and isinstance(args[0], Tensor) and _overwrites_activity(module):
                    frame.before = args[0].detach().clone()
                t.frames.append(frame)

    def _leave(self, args: tuple, output: Any) -> None:
        t = self._thread
        if t.depth == 0:
            return
        t.depth -= 1
        frame = t.frames.pop() if t.observing else None
        try:
            if frame is not None and frame.layer is not None and isinstance(output, Tensor):
                x = frame.before if frame.before is not None else args[0] if args else None
                if isinstance(x, Tensor):
                    with torch._C.DisableTorchFunction():
                        self._observe_module(frame.layer, x, output)
        finally:
            if t.depth == 0:
                if t.calls is not None:
                    calls, t.calls = t.calls, None
                    calls.__exit__(None, None, None)
                t.observing = False
                t.frames.clear()
                with self._lock:
                    self._busy -= 1
                    if (not self._open or self._removed) and not self._busy:
                        self._unhook()  # the window closed (or remove() came) while this forward ran

    # Under torch.compile: the same, run eagerly at a graph break.
    _enter_compiled = torch.compiler.disable(_enter)
    _leave_compiled = torch.compiler.disable(_leave)

    def _observe_module(self, layer: Layer, x: Tensor, output: Tensor) -> None:
        module = layer.module
        threshold = float(module.threshold) if isinstance(module, nn.Threshold) else 0.0
        h = None if layer.kind == "ReLU" else output
        with self._lock:
            if self._open:
                layer.observe(x, h, threshold=threshold, rank_samples=self.rank_samples)

    def _call(self, function: Function, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """A functional call made in an observed forward: made, then counted (unless a
        tracked module is making it, which counts it itself)."""
        t = self._thread
        frame = t.frames[-1] if t.frames else None
        arguments = function.bind(args, kwargs)
        x = arguments.get("input")
        if frame is None or frame.layer is not None or not isinstance(x, Tensor):
            return func(*args, **kwargs)
        writes = function.writes_input(arguments)
        before = x.detach().clone() if writes and _call_overwrites_activity(function, arguments) else None
        output = func(*args, **kwargs)
        index = frame.calls.get(function.name, 0)
        frame.calls[function.name] = index + 1
        activity = before if before is not None else output if writes else x
        threshold = float(arguments["threshold"]) if function.kind == "Threshold" else 0.0
        h = None if function.kind == "ReLU" else output
        with self._lock:
            if self._open:
                layer = self._by_name.get(f"{frame.name}/{function.name}:{index}")
                if layer is None:
                    layer = self._layer(f"{frame.name}/{function.name}:{index}", function.kind, None)
                units = activity.shape[unit_axis(activity)] if activity.dim() else 0
                layer.observe(
                    activity,
                    h,
                    threshold=threshold,
                    zero_slope=_call_zero_slope(function, arguments, units),
                    rank_samples=self.rank_samples,
                )
        return output

    _call_compiled = torch.compiler.disable(_call)

    def _layer(self, name: str, kind: str, module: Optional[nn.Module]) -> Layer:
        layer = Layer(name, kind, module)
        self._layers.append(layer)
        self._by_name[name] = layer
        return layer

    # -- windows ------------------------------------------------------------------------

    @property
    def layers(self) -> list[str]:
        """The tracked layers' names: the modules in the model's order, then the
        functional calls in the order they were first seen."""
        return [layer.name for layer in self._layers]

    def start_epoch(self) -> None:
        """Opens a window: counts start from zero."""
        with self._lock:
            if self._open:
                raise RuntimeError("DeadUnitTracker: a window is already open (call end_epoch() first)")
            for layer in self._layers:
                layer.reset()
            self._forwards = 0
            if not self._removed and not self._handles:
                self._hook()
            self._open = True

    def end_epoch(self) -> list[dict[str, Any]]:
        """Closes the window, appends its records to ``history`` and returns them; warns
        and logs (rank 0 under ``torch.distributed``, where this is a collective)."""
        with self._lock:
            if not self._open:
                raise RuntimeError("DeadUnitTracker: no window is open (call start_epoch() first)")
            self._open = False
            if not self._busy:  # else the last forward still running unhooks when it ends
                self._unhook()
            windows = [self._window(layer) for layer in self._layers]
        reduce = self.distributed and _distributed.initialised()
        if reduce:
            windows = _distributed.across_ranks(windows, self.rank_samples)
            with self._lock:
                for w in windows:
                    if w.name not in self._by_name:  # seen on another rank only
                        layer = self._layer(w.name, w.kind, None)
                        layer.units, layer.call_zero_slope = w.units, w.zero_slope
        self._last = {w.name: w for w in windows}  # for the recyclers: the window's monitors
        records = [self._record(len(self.history), w) for w in windows]
        self.history.append(records)
        if not reduce or _distributed.is_first_rank():
            self._warn(records)
            for writer, prefix in self._writers:
                _log(writer, prefix, records)
        return records

    def _window(self, layer: Layer) -> _distributed.Window:
        monitor, features = layer.window()
        return _distributed.Window(layer.name, layer.kind, layer.units, layer.zero_slope(), monitor, features)

    def _record(self, window: int, w: _distributed.Window) -> dict[str, Any]:
        layer = self._by_name[w.name]
        record = layer.record(window, w.monitor, w.features, self.tau, self.low_firing_rate)
        if record["units"] == 0 and w.units:
            record["units"] = w.units
        return record

    def _warn(self, records: list[dict[str, Any]]) -> None:
        if self.warn_at is None:
            return
        dying = [
            f"{r['layer']!r} {100 * r['dead'] / r['units']:.1f}% ({r['dead']} of {r['units']})"
            for r in records
            if r["dead"] is not None and r["units"] and r["samples"] and r["dead"] / r["units"] >= self.warn_at
        ]
        if dying:
            warnings.warn(
                f"DeadUnitTracker: window {records[0]['window']}: dead units at or above "
                f"warn_at={self.warn_at:g} in {len(dying)} layer{'s' if len(dying) > 1 else ''}: " + ", ".join(dying),
                RuntimeWarning,
                stacklevel=3,
            )

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

    # -- results ------------------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """Per layer, for the open window (this process's counts so far) or else the last
        closed one: the keys of the class docstring, plus ``window``, ``layer``, ``kind``,
        ``units`` and ``samples`` (inputs per unit)."""
        with self._lock:
            if self._open or not self.history:
                return [self._record(len(self.history), self._window(layer)) for layer in self._layers]
            return self.history[-1]

    def table(self, records: Optional[list[dict[str, Any]]] = None) -> str:
        """A plain-text table of ``records`` (default: ``report()``)."""
        rows = self.report() if records is None else records
        width = max([len("layer")] + [len(r["layer"]) for r in rows])
        lines = [
            f"{'layer':<{width}}  {'kind':<9} {'units':>5} {'inactive':>8} {'share':>6} {'dead':>5} "
            f"{'dormant':>7} {'low':>5} {'zeros':>6} {'rank':>6}"
        ]
        for r in rows:
            dead = "-" if r["dead"] is None else str(r["dead"])
            rank = "-" if r["effective_rank"] is None else f"{r['effective_rank']:.1f}"
            lines.append(
                f"{r['layer']:<{width}}  {r['kind']:<9} {r['units']:>5} {r['inactive']:>8} "
                f"{100 * r['inactive_fraction']:>5.1f}% {dead:>5} {r['dormant']:>7} {r['low_firing']:>5} "
                f"{100 * r['zero_fraction']:>5.1f}% {rank:>6}"
            )
        return "\n".join(lines)

    def to_records(self) -> list[dict[str, Any]]:
        """Every closed window's records, flattened (one dict per layer per window)."""
        return [record for window in self.history for record in window]

    def to_csv(self, file: Union[str, "os.PathLike[str]", IO[str], None] = None) -> str:
        """``to_records()`` as CSV (a header row of the record keys, then one row per
        layer per window; None as an empty cell); written to ``file`` (a path, ``str`` or
        ``pathlib.Path``, or a text file) if given, and returned."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(FIELDS), lineterminator="\n")
        writer.writeheader()
        for record in self.to_records():
            writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
        text = buffer.getvalue()
        if isinstance(file, (str, os.PathLike)):
            with open(file, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        elif file is not None:
            file.write(text)
        return text

    def log_to(self, writer: Any, prefix: str = "dead_units") -> None:
        """Logs every window closed from now on to ``writer``, anything with
        ``add_scalar(tag, value, global_step)`` (``torch.utils.tensorboard``'s
        ``SummaryWriter``): per layer ``{prefix}/{layer}/{key}`` for ``inactive_fraction``,
        ``dead_fraction`` (where defined), ``dormant_fraction``, ``low_firing_fraction``,
        ``zero_fraction`` and ``effective_rank`` (when computed), at the window's index."""
        if not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(
                f"DeadUnitTracker.log_to: `writer` must have an add_scalar(tag, value, global_step) method "
                f"(a torch.utils.tensorboard.SummaryWriter), got {type(writer).__name__}"
            )
        self._writers.append((writer, str(prefix)))

    def remove(self) -> None:
        """Detaches the tracker from the model for good: no window sees it again; the
        tracker keeps its history. An open window stays open (``end_epoch()``, or
        leaving ``with tracker.epoch():``, closes it with the counts made before)."""
        with self._lock:
            self._removed = True
            if not self._busy:  # else the last forward still running unhooks when it ends
                self._unhook()


def _log(writer: Any, prefix: str, records: list[dict[str, Any]]) -> None:
    for r in records:
        values = {
            "inactive_fraction": r["inactive_fraction"],
            "dead_fraction": None if r["dead"] is None or not r["units"] else r["dead"] / r["units"],
            "dormant_fraction": r["dormant_fraction"],
            "low_firing_fraction": r["low_firing_fraction"],
            "zero_fraction": r["zero_fraction"],
            "effective_rank": r["effective_rank"],
        }
        for key, value in values.items():
            if value is not None:
                writer.add_scalar(f"{prefix}/{r['layer']}/{key}", value, r["window"])


def _overwrites_activity(module: nn.Module) -> bool:
    """Whether an in-place module's output no longer tells which inputs were active, so
    its input must be copied first: a negative slope, or a Threshold value above the
    threshold. (ReLU's and ReLU6's outputs are positive exactly where their inputs are.)"""
    if not getattr(module, "inplace", False):
        return False
    if isinstance(module, nn.LeakyReLU):
        return module.negative_slope < 0
    if isinstance(module, nn.RReLU):
        return module.lower < 0
    if isinstance(module, nn.Threshold):
        return module.value > module.threshold
    return False


def _call_overwrites_activity(function: Function, arguments: dict[str, Any]) -> bool:
    """``_overwrites_activity`` for an in-place functional call."""
    if function.kind == "LeakyReLU":
        return float(arguments["negative_slope"]) < 0
    if function.kind == "RReLU":
        return float(arguments["lower"]) < 0
    if function.kind == "Threshold":
        return float(arguments["value"]) > float(arguments["threshold"])
    return False


def _call_zero_slope(function: Function, arguments: dict[str, Any], units: int) -> Optional[np.ndarray]:
    """Per unit, whether the call's slope for inactive inputs is exactly 0."""
    if function.kind in ("ReLU", "ReLU6", "Threshold"):
        return np.ones(units, dtype=bool)
    if function.kind == "LeakyReLU":
        return np.full(units, float(arguments["negative_slope"]) == 0)
    if function.kind == "PReLU" and isinstance(arguments.get("weight"), Tensor):
        return prelu_zero_slope(arguments["weight"], units)
    return None  # RReLU: random slopes


DeadUnitTracker.__module__ = "relukit.torch"
