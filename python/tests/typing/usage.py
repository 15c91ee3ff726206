"""Checked by mypy (python/tests/test_typing.py): what the stubs promise a caller."""

from typing import Any

import numpy as np
from numpy.typing import NDArray
from typing_extensions import assert_type

import relukit

x32 = np.zeros(4, dtype=np.float32)
x64 = np.zeros((2, 3), dtype=np.float64)
out: NDArray[np.float64] = np.empty(4, dtype=np.float64)

assert_type(relukit.leaky_relu(x32, 0.1), NDArray[np.float32])
assert_type(relukit.leaky_relu(x32, 0.1, out=out), NDArray[np.float64])
assert_type(relukit.prelu(x64, [0.1, 0.2, 0.3]), NDArray[np.float64])
assert_type(relukit.prelu_backward(x64, x64, [0.1, 0.2, 0.3]), tuple[NDArray[np.float64], NDArray[np.float64]])
assert_type(relukit.prelu_derivative(x32, 0.25), NDArray[np.float32])
assert_type(relukit.threshold(x32, 0.5, 0.0), NDArray[np.float32])
assert_type(relukit.clipped_relu_backward(x32, x32, 3.0), NDArray[np.float32])
assert_type(relukit.relu_observed(x64, relukit.DeadUnitMonitor(3)), NDArray[np.float64])
assert_type(relukit.leaky_relu([1.0, -1.0]), Any)
assert_type(relukit.DeadUnitMonitor(3).inactive_units, list[int])
