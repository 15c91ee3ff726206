"""The argument checks of the tracker and the recyclers: a ValueError naming the class
and the argument, raised before anything is hooked or changed."""

from __future__ import annotations

import numbers
from typing import Any

_INTERVALS = {
    "(0, 1]": lambda v: 0.0 < v <= 1.0,
    "[0, 1]": lambda v: 0.0 <= v <= 1.0,
    "[0, 1)": lambda v: 0.0 <= v < 1.0,
}


def number_in(who: str, name: str, value: Any, interval: str) -> float:
    """``value`` as a float in ``interval`` (one of ``(0, 1]``, ``[0, 1]``, ``[0, 1)``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not _INTERVALS[interval](float(value)):
        raise ValueError(f"{who}: `{name}` must be a number in {interval}, got {value!r}")
    return float(value)


def integer_from(who: str, name: str, value: Any, minimum: int) -> int:
    """``value`` as an int ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{who}: `{name}` must be an integer >= {minimum}, got {value!r}")
    return value
