"""One tracked activation of a model over a window: its counts and magnitude sums, the
first features of the window (for the effective rank), and the record a window's close
makes of them.

Floating-point CPU tensors are counted by relukit's ``DeadUnitMonitor`` (exact counts,
magnitude sums in relukit's fixed order); integer CPU tensors go to it as float64;
tensors on other devices are counted with torch on their device (float64 sums) and come
back to a monitor through ``DeadUnitMonitor.from_counts`` when the window closes.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from .. import _relukit
from .._metrics import effective_rank
from . import _kernels as K

MODULES: dict[type, str] = {
    nn.ReLU: "ReLU",
    nn.LeakyReLU: "LeakyReLU",
    nn.PReLU: "PReLU",
    nn.RReLU: "RReLU",
    nn.ReLU6: "ReLU6",
    nn.Threshold: "Threshold",
}
"""The ``torch.nn`` modules a tracker hooks (relukit's subclass them), by record ``kind``."""

FIELDS = (
    "window",
    "layer",
    "kind",
    "units",
    "samples",
    "inactive",
    "inactive_fraction",
    "dead",
    "dormant",
    "dormant_fraction",
    "low_firing",
    "low_firing_fraction",
    "zero_fraction",
    "effective_rank",
)
"""The keys of a record, in ``to_csv``'s column order."""


def module_kind(module: nn.Module) -> Optional[str]:
    """The record ``kind`` of a ReLU-family module, None for any other module."""
    return next((kind for cls, kind in MODULES.items() if isinstance(module, cls)), None)


def unit_axis(x: Tensor) -> int:
    """Axis 1 of inputs of 2 or more dimensions (channels, features), else axis 0."""
    return 1 if x.dim() >= 2 else 0


class Layer:
    """One activation's window. ``module`` is the hooked module (None for a functional
    call, whose zero-slope units come with each call)."""

    def __init__(self, name: str, kind: str, module: Optional[nn.Module] = None) -> None:
        self.name = name
        self.kind = kind
        self.module = module
        self.units: Optional[int] = None
        self.monitor: Optional[Any] = None  # relukit.DeadUnitMonitor, CPU tensors
        self.device: Optional[dict[str, Tensor]] = None  # counts and sums on another device
        self.device_samples = 0
        self.features: list[np.ndarray] = []  # the window's first outputs, float64
        self.feature_rows = 0
        self.call_zero_slope: Optional[np.ndarray] = None

    def observe(
        self,
        x: Tensor,
        h: Optional[Tensor],
        *,
        threshold: float = 0.0,
        zero_slope: Optional[np.ndarray] = None,
        rank_samples: Optional[int] = None,
    ) -> None:
        """Adds a batch: active where ``x > threshold``, magnitudes ``|h|`` (``h`` None:
        ``relu(x)``); ``zero_slope`` per unit for a functional call."""
        if x.dim() == 0:
            raise ValueError(f"DeadUnitTracker: layer {self.name!r} got a 0-d input, which has no units")
        axis = unit_axis(x)
        units = x.shape[axis]
        if self.units is None:
            self.units = units
        elif units != self.units:
            raise ValueError(
                f"DeadUnitTracker: layer {self.name!r} had {self.units} units and now gets an input with "
                f"{units} (shape {tuple(x.shape)}); a module used at several places with different widths "
                "cannot be counted as one layer: give each place its own module"
            )
        if zero_slope is not None:
            self.call_zero_slope = zero_slope
        if x.device.type == "meta":
            return  # no values to count (shape inference, deferred initialisation)
        x = x.detach()
        h = None if h is None else h.detach()
        if threshold != 0.0:
            x = x - threshold  # x > threshold exactly where x - threshold > 0
        if rank_samples is not None and self.feature_rows < rank_samples:
            self._keep_features(x if h is None else h, h is None, rank_samples)
        if x.device.type == "cpu":
            if x.dtype not in K.DTYPES:  # integers (nn.ReLU takes them), other floats: exact in float64
                x, h = x.double(), (None if h is None else h.double())
            if h is not None and h.dtype != x.dtype:
                h = h.to(x.dtype)
            if self.monitor is None:
                self.monitor = _relukit.DeadUnitMonitor(units)
            if x.is_contiguous() and (h is None or h.is_contiguous()):
                # Dense: by data pointer, on PyTorch's OpenMP team (awake after the layer).
                outer, inner = (x.shape[0], math.prod(x.shape[2:])) if x.dim() >= 2 else (1, 1)
                _relukit._torch_observe(
                    self.monitor,
                    K.dtype_name(x),
                    x.data_ptr(),
                    0 if h is None else h.data_ptr(),
                    x.numel(),
                    (outer, units, inner),
                    torch.get_num_threads(),
                )
            else:
                outputs = None if h is None else K.array(h, "output")
                self.monitor.observe(K.array(x, "input"), axis=axis, outputs=outputs)
        else:
            self._count_on_device(x, h, axis)

    def _count_on_device(self, x: Tensor, h: Optional[Tensor], axis: int) -> None:
        dims = [d for d in range(x.dim()) if d != axis]
        magnitude = (x.clamp_min(0) if h is None else h).double().abs().nan_to_num(nan=0.0)
        batch = {
            "active": (x > 0).sum(dim=dims) if dims else (x > 0).long(),
            "nan": (x.isnan().sum(dim=dims) if dims else x.isnan().long()),
            "sums": magnitude.sum(dim=dims) if dims else magnitude,
        }
        if self.device is None:
            self.device = batch
        else:
            for key, value in batch.items():
                self.device[key] = self.device[key] + value
        self.device_samples += x.numel() // max(x.shape[axis], 1)

    def _keep_features(self, y: Tensor, is_input: bool, rank_samples: int) -> None:
        rows = y if y.dim() < 2 else y[: rank_samples - self.feature_rows]
        rows = rows.clamp_min(0) if is_input else rows
        kept = rows.to("cpu", torch.float64).numpy().copy()
        self.features.append(kept[np.newaxis] if y.dim() < 2 else kept)
        self.feature_rows += 1 if y.dim() < 2 else rows.shape[0]

    def window(self) -> tuple[Optional[Any], Optional[np.ndarray]]:
        """The window so far: a monitor holding every count and sum (None before any
        value), and the kept features (None when there are none)."""
        monitor = None if self.monitor is None else self.monitor.__copy__()
        if self.device is not None:
            counted = _relukit.DeadUnitMonitor.from_counts(
                self.device["active"].cpu().numpy().astype(np.int64).tolist(),
                self.device_samples,
                self.device["sums"].cpu().numpy().tolist(),
                self.device["nan"].cpu().numpy().astype(np.int64).tolist(),
            )
            if monitor is None:
                monitor = counted
            else:
                monitor.merge(counted)
        features = np.concatenate(self.features) if self.features else None
        return monitor, features

    def zero_slope(self) -> Optional[np.ndarray]:
        """Per unit, whether the slope for inactive inputs is exactly 0 (a zero gradient
        there), or None where it is random (RReLU)."""
        units = self.units or 0
        m = self.module
        if m is None:
            return self.call_zero_slope
        if isinstance(m, (nn.ReLU, nn.ReLU6, nn.Threshold)):
            return np.ones(units, dtype=bool)
        if isinstance(m, nn.LeakyReLU):
            return np.full(units, m.negative_slope == 0)
        if isinstance(m, nn.PReLU):
            return prelu_zero_slope(m.weight, units)
        return None  # RReLU: random slopes

    def reset(self) -> None:
        if self.monitor is not None:
            self.monitor.reset()
        self.device = None
        self.device_samples = 0
        self.features = []
        self.feature_rows = 0

    def record(
        self,
        window: int,
        monitor: Optional[Any],
        features: Optional[np.ndarray],
        tau: float,
        low_firing_rate: float,
    ) -> dict[str, Any]:
        """The window's record: every key of ``FIELDS``."""
        units = self.units or 0
        samples = 0 if monitor is None else monitor.samples
        record: dict[str, Any] = {
            "window": window,
            "layer": self.name,
            "kind": self.kind,
            "units": units,
            "samples": samples,
        }
        if monitor is None or samples == 0 or units == 0:
            zero_slope = self.zero_slope()
            record.update(
                inactive=0,
                inactive_fraction=0.0,
                dead=None if zero_slope is None else 0,
                dormant=0,
                dormant_fraction=0.0,
                low_firing=0,
                low_firing_fraction=0.0,
                zero_fraction=0.0,
                effective_rank=None,
            )
            return record
        inactive = np.zeros(units, dtype=bool)
        inactive[monitor.inactive_units] = True
        zero_slope = self.zero_slope()
        # Entries not zero after ReLU: the active ones and NaN.
        nonzero = int(np.asarray(monitor.active_counts, dtype=np.uint64).sum()) + monitor.nan_count
        record.update(
            inactive=int(inactive.sum()),
            inactive_fraction=float(inactive.sum()) / units,
            dead=None if zero_slope is None else int(np.count_nonzero(inactive & zero_slope)),
            dormant=len(monitor.dormant_units(tau)),
            dormant_fraction=monitor.dormant_fraction(tau),
            low_firing=len(monitor.low_firing_units(low_firing_rate)),
            low_firing_fraction=monitor.low_firing_fraction(low_firing_rate),
            zero_fraction=1.0 - nonzero / (samples * units),
            effective_rank=None if features is None else effective_rank(features),  # rows: samples
        )
        return record


def prelu_zero_slope(weight: Tensor, units: int) -> Optional[np.ndarray]:
    """Per unit, whether PReLU's learned slope is exactly 0 (one weight or one per unit)."""
    w = weight.detach().float().cpu().numpy().reshape(-1)
    return np.broadcast_to(w == 0, (units,)).copy() if w.size in (1, units) else None
