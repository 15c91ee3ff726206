"""A tracker's window across the processes of a ``torch.distributed`` job (DDP): every
rank sends its layers' monitors (as ``to_bytes``) and kept features to every other, and
every rank merges them in rank order, so all ranks hold the same window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .. import _relukit


@dataclass
class Window:
    """One layer's window: what a record is made of."""

    name: str
    kind: str
    units: Optional[int]
    zero_slope: Optional[np.ndarray]
    monitor: Optional[Any]  # relukit.DeadUnitMonitor
    features: Optional[np.ndarray]
    parts: list[np.ndarray] = field(default_factory=list)


def initialised() -> bool:
    """Whether this process is one rank of an initialised ``torch.distributed`` group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def is_first_rank() -> bool:
    """Rank 0 of the job, or the only process."""
    if not initialised():
        return True
    import torch.distributed as dist

    return dist.get_rank() == 0


def across_ranks(windows: list[Window], rank_samples: Optional[int]) -> list[Window]:
    """Every rank's windows merged: counts and sums added in rank order (the same bits on
    every rank), features of rank 0 first, cut at ``rank_samples`` rows. A collective:
    every rank must call it. Layers in the order rank 0 lists them, then any that only
    later ranks saw."""
    import torch.distributed as dist

    sent = [
        (w.name, w.kind, w.units, w.zero_slope, None if w.monitor is None else w.monitor.to_bytes(), w.features)
        for w in windows
    ]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, sent)
    merged: dict[str, Window] = {}
    for rank, layers in enumerate(gathered):
        for name, kind, units, zero_slope, monitor, features in layers:
            window = merged.setdefault(name, Window(name, kind, units, zero_slope, None, None))
            if window.units is None:
                window.units = units
            elif units is not None and units != window.units:
                raise ValueError(
                    f"DeadUnitTracker: layer {name!r} has {window.units} units on one rank and {units} on "
                    f"rank {rank}; every rank must run the same model"
                )
            if window.zero_slope is None:
                window.zero_slope = zero_slope
            if monitor is not None:
                theirs = _relukit.DeadUnitMonitor.from_bytes(monitor)
                if window.monitor is None:
                    window.monitor = theirs
                else:
                    window.monitor.merge(theirs)
            if features is not None:
                window.parts.append(features)
    for window in merged.values():
        if window.parts:
            window.features = np.concatenate(window.parts)[:rank_samples]
            window.parts = []
    return list(merged.values())
