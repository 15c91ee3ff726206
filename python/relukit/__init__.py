"""relukit: the ReLU family for NumPy (ReLU, Leaky ReLU, PReLU, RReLU, ReLU6, clipped ReLU,
hardtanh, threshold), exact to the bit and faster than np.maximum.

``relu``, ``relu_derivative`` and ``relu_backward`` are genuine NumPy ufuncs (``out=``,
``where=``, broadcasting, ``dtype=``, dask arrays...), backed by the relukit Rust kernels:

>>> import numpy as np, relukit
>>> relukit.relu(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
array([0., 0., 0., 1., 2.])

Semantics (every dtype): ``relu(x)`` is ``x`` for ``x > 0`` and ``+0`` otherwise
(``-0.0`` gives ``+0.0``, unlike NumPy's own float16 ``maximum``); NaN stays NaN with its
bits; the gradient at 0 is 0; backward passes select, so an infinite or NaN gradient
where ``x <= 0`` gives 0. Float16 products are computed in float32 and rounded once.

On GPUs: ``relukit.cuda`` runs ReLU, Leaky ReLU and PReLU (forward and backward) on
the CUDA arrays of any library (CuPy, PyTorch, DLPack, ``__cuda_array_interface__``);
``leaky_relu``, ``leaky_relu_backward``, ``prelu`` and ``prelu_backward`` send CUDA
arrays there themselves. ``relukit.torch`` is the PyTorch integration.

``prelu``, ``prelu_backward``, ``relu_observed`` and ``DeadUnitMonitor`` take any array
NumPy can make (any memory layout, views, scalars); they check and convert their
arguments in the Rust extension, which raises ``TypeError`` for non-real dtypes,
``ValueError`` for inconsistent arguments and NumPy's ``AxisError`` for a bad axis.
"""

from __future__ import annotations

import numpy as np

from . import _relukit
from ._dispatch import (  # the non-ufunc functions, each routed by its arguments' kind
    clipped_relu,
    clipped_relu_backward,
    clipped_relu_derivative,
    hardtanh,
    hardtanh_backward,
    hardtanh_derivative,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_derivative,
    prelu,
    prelu_backward,
    prelu_derivative,
    relu_observed,
    rrelu,
    rrelu_backward,
    rrelu_derivative,
    threshold,
    threshold_backward,
    threshold_derivative,
)
from ._metrics import effective_rank
from ._relukit import (
    DeadUnitMonitor,
    _register_bfloat16,
    active_isa,
    clipped_relu_backward_ufunc,
    clipped_relu_derivative_ufunc,
    clipped_relu_ufunc,
    get_num_threads,
    hardtanh_backward_ufunc,
    hardtanh_derivative_ufunc,
    hardtanh_ufunc,
    leaky_relu_backward_ufunc,
    leaky_relu_derivative_ufunc,
    leaky_relu_ufunc,
    relu,
    relu6,
    relu6_backward,
    relu6_derivative,
    relu_backward,
    relu_derivative,
    set_num_threads,
    threshold_backward_ufunc,
    threshold_derivative_ufunc,
    threshold_ufunc,
)

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
    "hardtanh",
    "hardtanh_backward",
    "hardtanh_backward_ufunc",
    "hardtanh_derivative",
    "hardtanh_derivative_ufunc",
    "hardtanh_ufunc",
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

__version__ = "0.1.0"

try:  # bfloat16 arrays are ml_dtypes' dtype: their loops exist only when it is installed
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    _ml_dtypes = None
else:
    _register_bfloat16({name: u for name, u in vars(_relukit).items() if isinstance(u, np.ufunc)})
