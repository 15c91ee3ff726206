from typing import Any

import numpy as np

from ._relukit import (
    DeadUnitMonitor as DeadUnitMonitor,
    active_isa as active_isa,
    get_num_threads as get_num_threads,
    leaky_relu_backward_ufunc as leaky_relu_backward_ufunc,
    leaky_relu_ufunc as leaky_relu_ufunc,
    prelu as prelu,
    prelu_backward as prelu_backward,
    relu as relu,
    relu_backward as relu_backward,
    relu_derivative as relu_derivative,
    relu_observed as relu_observed,
    set_num_threads as set_num_threads,
)

__version__: str
__all__ = [
    "DeadUnitMonitor",
    "active_isa",
    "get_num_threads",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_backward_ufunc",
    "leaky_relu_ufunc",
    "prelu",
    "prelu_backward",
    "relu",
    "relu_backward",
    "relu_derivative",
    "relu_observed",
    "set_num_threads",
]

def leaky_relu(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any: ...
def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any: ...
