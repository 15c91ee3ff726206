from typing import Any, Optional, final

import numpy as np
from typing_extensions import Self

__all__ = [
    "relu",
    "relu_derivative",
    "relu_backward",
    "relu6",
    "relu6_derivative",
    "relu6_backward",
    "leaky_relu_ufunc",
    "leaky_relu_derivative_ufunc",
    "leaky_relu_backward_ufunc",
    "clipped_relu_ufunc",
    "clipped_relu_derivative_ufunc",
    "clipped_relu_backward_ufunc",
    "hardtanh_ufunc",
    "hardtanh_derivative_ufunc",
    "hardtanh_backward_ufunc",
    "threshold_ufunc",
    "threshold_derivative_ufunc",
    "threshold_backward_ufunc",
    "prelu",
    "prelu_backward",
    "prelu_derivative",
    "rrelu",
    "rrelu_derivative",
    "rrelu_backward",
    "relu_observed",
    "DeadUnitMonitor",
    "set_num_threads",
    "get_num_threads",
    "active_isa",
    "_loop_item_sizes",
    "_check_parameters",
    "_activations",
    "_register_bfloat16",
    "_torch_cpu",
    "_torch_observe",
    "_torch_openmp",
    "_cuda",
    "_cuda_device_of",
    "_cuda_operations",
    "_dtypes",
    "_cuda_wait",
    "_dlpack",
]

relu: np.ufunc
relu_derivative: np.ufunc
relu_backward: np.ufunc
relu6: np.ufunc
relu6_derivative: np.ufunc
relu6_backward: np.ufunc
leaky_relu_ufunc: np.ufunc
leaky_relu_derivative_ufunc: np.ufunc
leaky_relu_backward_ufunc: np.ufunc
clipped_relu_ufunc: np.ufunc
clipped_relu_derivative_ufunc: np.ufunc
clipped_relu_backward_ufunc: np.ufunc
hardtanh_ufunc: np.ufunc
hardtanh_derivative_ufunc: np.ufunc
hardtanh_backward_ufunc: np.ufunc
threshold_ufunc: np.ufunc
threshold_derivative_ufunc: np.ufunc
threshold_backward_ufunc: np.ufunc

def _loop_item_sizes() -> list[tuple[str, list[int]]]: ...
def _register_bfloat16(ufuncs: dict[str, np.ufunc]) -> None: ...
def _activations() -> list[tuple[str, list[tuple[str, float | None]], int, list[str], list[str]]]: ...
def _check_parameters(name: str, dtype: np.dtype, parameters: list[list[float]]) -> None: ...
def prelu(x: Any, weight: Any, axis: Optional[int] = None, out: Optional[np.ndarray] = None) -> Any: ...
def prelu_backward(
    grad_output: Any,
    x: Any,
    weight: Any,
    axis: Optional[int] = None,
    out: Optional[tuple[np.ndarray, np.ndarray]] = None,
) -> tuple[Any, np.ndarray]: ...
def prelu_derivative(x: Any, weight: Any, axis: Optional[int] = None) -> Any: ...
def rrelu(
    x: Any,
    lower: float = 0.125,
    upper: float = 0.3333333333333333,
    training: bool = True,
    seed: Optional[int] = None,
    out: Optional[np.ndarray] = None,
) -> Any: ...
def rrelu_derivative(
    x: Any, lower: float = 0.125, upper: float = 0.3333333333333333, training: bool = True, seed: Optional[int] = None
) -> Any: ...
def rrelu_backward(
    grad_output: Any,
    x: Any,
    lower: float = 0.125,
    upper: float = 0.3333333333333333,
    training: bool = True,
    seed: Optional[int] = None,
    out: Optional[np.ndarray] = None,
) -> Any: ...
def relu_observed(
    x: Any, monitor: DeadUnitMonitor, axis: Optional[int] = None, out: Optional[np.ndarray] = None
) -> Any: ...
def set_num_threads(threads: int) -> None: ...
def get_num_threads() -> int: ...
def active_isa() -> str: ...

@final
class DeadUnitMonitor:
    def __new__(cls, units: int, magnitudes: bool = True) -> Self: ...
    def observe(self, pre_activations: Any, axis: Optional[int] = None, outputs: Any = None) -> None: ...
    @property
    def has_magnitudes(self) -> bool: ...
    @property
    def magnitude_sums(self) -> Optional[np.ndarray]: ...
    def firing_rates(self) -> np.ndarray: ...
    def scores(self) -> np.ndarray: ...
    def dormant_units(self, tau: float = 0.1) -> list[int]: ...
    def dormant_fraction(self, tau: float = 0.1) -> float: ...
    def low_firing_units(self, rate: float = 0.01) -> list[int]: ...
    def low_firing_fraction(self, rate: float = 0.01) -> float: ...
    @property
    def units(self) -> int: ...
    @property
    def inactive_units(self) -> list[int]: ...
    @property
    def inactive_fraction(self) -> float: ...
    @property
    def dead_units(self) -> list[int]: ...
    @property
    def dead_fraction(self) -> float: ...
    @property
    def activation_rate(self) -> np.ndarray: ...
    @property
    def active_counts(self) -> np.ndarray: ...
    @property
    def nan_count(self) -> int: ...
    @property
    def samples(self) -> int: ...
    @property
    def batch_zero_fraction(self) -> Optional[float]: ...
    def reset(self) -> None: ...
    def merge(self, other: DeadUnitMonitor) -> None: ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes) -> DeadUnitMonitor: ...
    @classmethod
    def from_counts(
        cls,
        active_counts: Any,
        samples: int,
        magnitude_sums: Any = None,
        nan_counts: Any = None,
    ) -> DeadUnitMonitor: ...
    def __copy__(self) -> DeadUnitMonitor: ...
    def __deepcopy__(self, memo: Any) -> DeadUnitMonitor: ...
    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def __eq__(self, value: object, /) -> bool: ...

def _torch_cpu(
    operation: str,
    dtype_name: str,
    pointers: list[int],
    len: int,
    threads: int,
    params: tuple[float, float] = ...,
    seed: Optional[int] = None,
    layout: Optional[tuple[int, int, int]] = None,
    weight_len: int = 0,
) -> None: ...
def _torch_observe(
    monitor: DeadUnitMonitor,
    dtype_name: str,
    pre: int,
    outputs: int,
    len: int,
    layout: tuple[int, int, int],
    threads: int,
) -> None: ...
def _torch_openmp(path: str) -> bool: ...
def _cuda(
    operation: str,
    dtype_name: str,
    device: int,
    pointers: list[int],
    len: int,
    stream: int,
    negative_slope: float = 0.0,
    layout: Optional[tuple[int, int, int]] = None,
    weight_len: int = 0,
) -> None: ...
def _cuda_wait(device: int, stream: int, producer: int) -> None: ...
def _cuda_device_of(address: int) -> int: ...
def _cuda_operations() -> list[str]: ...
def _dtypes() -> list[tuple[str, int]]: ...
def _dlpack(capsule: Any) -> tuple[int, tuple[int, int], str, list[int], list[int], bool]: ...
