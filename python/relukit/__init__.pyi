from typing import Any

import numpy as np

from ._relukit import (
    DeadUnitMonitor as DeadUnitMonitor,
    active_isa as active_isa,
    clipped_relu_backward_ufunc as clipped_relu_backward_ufunc,
    clipped_relu_derivative_ufunc as clipped_relu_derivative_ufunc,
    clipped_relu_ufunc as clipped_relu_ufunc,
    get_num_threads as get_num_threads,
    leaky_relu_backward_ufunc as leaky_relu_backward_ufunc,
    leaky_relu_derivative_ufunc as leaky_relu_derivative_ufunc,
    leaky_relu_ufunc as leaky_relu_ufunc,
    relu as relu,
    relu6 as relu6,
    relu6_backward as relu6_backward,
    relu6_derivative as relu6_derivative,
    relu_backward as relu_backward,
    relu_derivative as relu_derivative,
    rrelu as rrelu,
    rrelu_backward as rrelu_backward,
    rrelu_derivative as rrelu_derivative,
    set_num_threads as set_num_threads,
    threshold_backward_ufunc as threshold_backward_ufunc,
    threshold_derivative_ufunc as threshold_derivative_ufunc,
    threshold_ufunc as threshold_ufunc,
)

__version__: str
__all__ = [
    "DeadUnitMonitor",
    "active_isa",
    "clipped_relu",
    "clipped_relu_backward",
    "clipped_relu_backward_ufunc",
    "clipped_relu_derivative",
    "clipped_relu_derivative_ufunc",
    "clipped_relu_ufunc",
    "get_num_threads",
    "leaky_relu",
    "leaky_relu_backward",
    "leaky_relu_backward_ufunc",
    "leaky_relu_derivative",
    "leaky_relu_derivative_ufunc",
    "leaky_relu_ufunc",
    "prelu",
    "prelu_backward",
    "prelu_derivative",
    "relu",
    "relu6",
    "relu6_backward",
    "relu6_derivative",
    "relu_backward",
    "relu_derivative",
    "relu_observed",
    "rrelu",
    "rrelu_backward",
    "rrelu_derivative",
    "set_num_threads",
    "threshold",
    "threshold_backward",
    "threshold_backward_ufunc",
    "threshold_derivative",
    "threshold_derivative_ufunc",
    "threshold_ufunc",
]

def leaky_relu(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any: ...
def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any: ...
def leaky_relu_derivative(x: Any, negative_slope: Any = 0.01, out: Any = None) -> Any: ...
def clipped_relu(x: Any, ceiling: Any = 6.0, out: Any = None) -> Any: ...
def clipped_relu_derivative(x: Any, ceiling: Any = 6.0, out: Any = None) -> Any: ...
def clipped_relu_backward(grad_output: Any, x: Any, ceiling: Any = 6.0, out: Any = None) -> Any: ...
def threshold(x: Any, threshold: Any, value: Any, out: Any = None) -> Any: ...
def threshold_derivative(x: Any, threshold: Any, out: Any = None) -> Any: ...
def threshold_backward(grad_output: Any, x: Any, threshold: Any, out: Any = None) -> Any: ...
def prelu(x: Any, weight: Any, axis: Any = None, out: Any = None) -> Any: ...
def prelu_backward(grad_output: Any, x: Any, weight: Any, axis: Any = None, out: Any = None) -> Any: ...
def prelu_derivative(x: Any, weight: Any, axis: Any = None) -> Any: ...
def relu_observed(x: Any, monitor: DeadUnitMonitor, axis: Any = None, out: Any = None) -> Any: ...
