from typing import Any, Optional, SupportsIndex, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._relukit import (
    DeadUnitMonitor as DeadUnitMonitor,
)
from ._relukit import (
    active_isa as active_isa,
)
from ._relukit import (
    clipped_relu_backward_ufunc as clipped_relu_backward_ufunc,
)
from ._relukit import (
    clipped_relu_derivative_ufunc as clipped_relu_derivative_ufunc,
)
from ._relukit import (
    clipped_relu_ufunc as clipped_relu_ufunc,
)
from ._relukit import (
    get_num_threads as get_num_threads,
)
from ._relukit import (
    hardtanh_backward_ufunc as hardtanh_backward_ufunc,
)
from ._relukit import (
    hardtanh_derivative_ufunc as hardtanh_derivative_ufunc,
)
from ._relukit import (
    hardtanh_ufunc as hardtanh_ufunc,
)
from ._relukit import (
    leaky_relu_backward_ufunc as leaky_relu_backward_ufunc,
)
from ._relukit import (
    leaky_relu_derivative_ufunc as leaky_relu_derivative_ufunc,
)
from ._relukit import (
    leaky_relu_ufunc as leaky_relu_ufunc,
)
from ._relukit import (
    relu as relu,
)
from ._relukit import (
    relu6 as relu6,
)
from ._relukit import (
    relu6_backward as relu6_backward,
)
from ._relukit import (
    relu6_derivative as relu6_derivative,
)
from ._relukit import (
    relu_backward as relu_backward,
)
from ._relukit import (
    relu_derivative as relu_derivative,
)
from ._relukit import (
    rrelu as rrelu,
)
from ._relukit import (
    rrelu_backward as rrelu_backward,
)
from ._relukit import (
    rrelu_derivative as rrelu_derivative,
)
from ._relukit import (
    set_num_threads as set_num_threads,
)
from ._relukit import (
    threshold_backward_ufunc as threshold_backward_ufunc,
)
from ._relukit import (
    threshold_derivative_ufunc as threshold_derivative_ufunc,
)
from ._relukit import (
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
    "effective_rank",
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
    "hardtanh",
    "hardtanh_backward",
    "hardtanh_backward_ufunc",
    "hardtanh_derivative",
    "hardtanh_derivative_ufunc",
    "hardtanh_ufunc",
    "threshold",
    "threshold_backward",
    "threshold_backward_ufunc",
    "threshold_derivative",
    "threshold_derivative_ufunc",
    "threshold_ufunc",
]

_Float = TypeVar("_Float", bound=np.floating[Any])
_Out = TypeVar("_Out", bound=np.ndarray[Any, Any])
_Axis = Optional[SupportsIndex]

# Each function: a float array gives an array of its dtype; `out=` gives `out`; other
# inputs (lists, scalars, integer arrays, bfloat16, tensors, dask arrays) give Any.

@overload
def leaky_relu(x: NDArray[_Float], negative_slope: ArrayLike = 0.01, out: None = None) -> NDArray[_Float]: ...
@overload
def leaky_relu(x: ArrayLike, negative_slope: ArrayLike = 0.01, *, out: _Out) -> _Out: ...
@overload
def leaky_relu(x: Any, negative_slope: ArrayLike = 0.01, out: None = None) -> Any: ...
@overload
def leaky_relu_derivative(
    x: NDArray[_Float], negative_slope: ArrayLike = 0.01, out: None = None
) -> NDArray[_Float]: ...
@overload
def leaky_relu_derivative(x: ArrayLike, negative_slope: ArrayLike = 0.01, *, out: _Out) -> _Out: ...
@overload
def leaky_relu_derivative(x: Any, negative_slope: ArrayLike = 0.01, out: None = None) -> Any: ...
@overload
def leaky_relu_backward(
    grad_output: ArrayLike, x: NDArray[_Float], negative_slope: ArrayLike = 0.01, out: None = None
) -> NDArray[_Float]: ...
@overload
def leaky_relu_backward(
    grad_output: ArrayLike, x: ArrayLike, negative_slope: ArrayLike = 0.01, *, out: _Out
) -> _Out: ...
@overload
def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: ArrayLike = 0.01, out: None = None) -> Any: ...
@overload
def clipped_relu(x: NDArray[_Float], ceiling: ArrayLike = 6.0, out: None = None) -> NDArray[_Float]: ...
@overload
def clipped_relu(x: ArrayLike, ceiling: ArrayLike = 6.0, *, out: _Out) -> _Out: ...
@overload
def clipped_relu(x: Any, ceiling: ArrayLike = 6.0, out: None = None) -> Any: ...
@overload
def clipped_relu_derivative(x: NDArray[_Float], ceiling: ArrayLike = 6.0, out: None = None) -> NDArray[_Float]: ...
@overload
def clipped_relu_derivative(x: ArrayLike, ceiling: ArrayLike = 6.0, *, out: _Out) -> _Out: ...
@overload
def clipped_relu_derivative(x: Any, ceiling: ArrayLike = 6.0, out: None = None) -> Any: ...
@overload
def clipped_relu_backward(
    grad_output: ArrayLike, x: NDArray[_Float], ceiling: ArrayLike = 6.0, out: None = None
) -> NDArray[_Float]: ...
@overload
def clipped_relu_backward(grad_output: ArrayLike, x: ArrayLike, ceiling: ArrayLike = 6.0, *, out: _Out) -> _Out: ...
@overload
def clipped_relu_backward(grad_output: Any, x: Any, ceiling: ArrayLike = 6.0, out: None = None) -> Any: ...
@overload
def hardtanh(
    x: NDArray[_Float], min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, out: None = None
) -> NDArray[_Float]: ...
@overload
def hardtanh(x: ArrayLike, min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, *, out: _Out) -> _Out: ...
@overload
def hardtanh(x: Any, min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, out: None = None) -> Any: ...
@overload
def hardtanh_derivative(
    x: NDArray[_Float], min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, out: None = None
) -> NDArray[_Float]: ...
@overload
def hardtanh_derivative(x: ArrayLike, min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, *, out: _Out) -> _Out: ...
@overload
def hardtanh_derivative(x: Any, min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, out: None = None) -> Any: ...
@overload
def hardtanh_backward(
    grad_output: ArrayLike, x: NDArray[_Float], min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, out: None = None
) -> NDArray[_Float]: ...
@overload
def hardtanh_backward(
    grad_output: ArrayLike, x: ArrayLike, min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, *, out: _Out
) -> _Out: ...
@overload
def hardtanh_backward(
    grad_output: Any, x: Any, min_val: ArrayLike = -1.0, max_val: ArrayLike = 1.0, out: None = None
) -> Any: ...
@overload
def threshold(x: NDArray[_Float], threshold: ArrayLike, value: ArrayLike, out: None = None) -> NDArray[_Float]: ...
@overload
def threshold(x: ArrayLike, threshold: ArrayLike, value: ArrayLike, *, out: _Out) -> _Out: ...
@overload
def threshold(x: Any, threshold: ArrayLike, value: ArrayLike, out: None = None) -> Any: ...
@overload
def threshold_derivative(x: NDArray[_Float], threshold: ArrayLike, out: None = None) -> NDArray[_Float]: ...
@overload
def threshold_derivative(x: ArrayLike, threshold: ArrayLike, *, out: _Out) -> _Out: ...
@overload
def threshold_derivative(x: Any, threshold: ArrayLike, out: None = None) -> Any: ...
@overload
def threshold_backward(
    grad_output: ArrayLike, x: NDArray[_Float], threshold: ArrayLike, out: None = None
) -> NDArray[_Float]: ...
@overload
def threshold_backward(grad_output: ArrayLike, x: ArrayLike, threshold: ArrayLike, *, out: _Out) -> _Out: ...
@overload
def threshold_backward(grad_output: Any, x: Any, threshold: ArrayLike, out: None = None) -> Any: ...
@overload
def prelu(x: NDArray[_Float], weight: ArrayLike, axis: _Axis = None, out: None = None) -> NDArray[_Float]: ...
@overload
def prelu(x: ArrayLike, weight: ArrayLike, axis: _Axis = None, *, out: _Out) -> _Out: ...
@overload
def prelu(x: Any, weight: Any, axis: _Axis = None, out: None = None) -> Any: ...
@overload
def prelu_backward(
    grad_output: ArrayLike, x: NDArray[_Float], weight: ArrayLike, axis: _Axis = None, out: None = None
) -> tuple[NDArray[_Float], NDArray[_Float]]: ...
@overload
def prelu_backward(
    grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike, axis: _Axis = None, *, out: tuple[_Out, _Out]
) -> tuple[_Out, _Out]: ...
@overload
def prelu_backward(grad_output: Any, x: Any, weight: Any, axis: _Axis = None, out: None = None) -> tuple[Any, Any]: ...
@overload
def prelu_derivative(x: NDArray[_Float], weight: ArrayLike, axis: _Axis = None) -> NDArray[_Float]: ...
@overload
def prelu_derivative(x: Any, weight: Any, axis: _Axis = None) -> Any: ...
def effective_rank(features: Any, axis: int = 1) -> float: ...
@overload
def relu_observed(
    x: NDArray[_Float], monitor: DeadUnitMonitor, axis: _Axis = None, out: None = None
) -> NDArray[_Float]: ...
@overload
def relu_observed(x: ArrayLike, monitor: DeadUnitMonitor, axis: _Axis = None, *, out: _Out) -> _Out: ...
@overload
def relu_observed(x: Any, monitor: DeadUnitMonitor, axis: _Axis = None, out: None = None) -> Any: ...
