"""``DeadUnitTracker``: per unit of every ReLU-family module of a model, how many of
its inputs were positive over a window (an epoch) you open and close."""

from __future__ import annotations

import csv
import io
import os
import threading
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional, Union

import numpy as np
from torch import Tensor, nn

from .. import _relukit
from . import _kernels as K

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
        if x.device.type == "meta":
            return  # no values to count (shape inference, deferred initialisation)
        if x.device.type == "cpu" and x.dtype in K.DTYPES:
            if self.monitor is None:
                self.monitor = _relukit.DeadUnitMonitor(units)
            self.monitor.observe(K.array(x, "input"), axis=axis)
        else:  # other devices, and integer or bool inputs (nn.ReLU takes them too)
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
    inputs were positive, with relukit's monitor kernel (floating-point CPU tensors;
    other devices and integer inputs count with torch on the device; meta tensors have
    no values and are not counted). Units are axis 1 of inputs of 2 or more dimensions
    (the channels of a convolution's output, the features of a linear layer's) and the
    only axis of 1-D inputs. Train and eval mode alike. Forward passes may run on several
    threads at once: each batch is counted once, under a lock.

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
        # Forward passes may run on several threads (DataParallel-style): each batch is
        # counted under this lock, once, and windows open and close under it.
        self._lock = threading.Lock()
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
                with self._lock:
                    if self._open:
                        layer.observe(args[0])

        return hook

    @property
    def layers(self) -> list[str]:
        """The qualified names of the tracked modules, in the model's order."""
        return [layer.name for layer in self._layers]

    def start_epoch(self) -> None:
        """Opens a window: counts start from zero."""
        with self._lock:
            if self._open:
                raise RuntimeError("DeadUnitTracker: a window is already open (call end_epoch() first)")
            for layer in self._layers:
                layer.reset()
            self._open = True

    def end_epoch(self) -> list[dict[str, Any]]:
        """Closes the window, appends its records to ``history`` and returns them."""
        with self._lock:
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
        with self._lock:
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

    def to_csv(self, file: Union[str, "os.PathLike[str]", IO[str], None] = None) -> str:
        """``to_records()`` as CSV (a header row, then one row per layer per window);
        written to ``file`` (a path, ``str`` or ``pathlib.Path``, or a text file) if
        given, and returned."""
        buffer = io.StringIO()
        fields = ["window", "layer", "kind", "units", "samples", "inactive", "inactive_fraction", "dead"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
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

    def remove(self) -> None:
        """Detaches every hook; the tracker keeps its history. An open window stays open
        (``end_epoch()``, or leaving ``with tracker.epoch():``, closes it with the counts
        made before the hooks went)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


DeadUnitTracker.__module__ = "relukit.torch"
