"""relukit for PyTorch: autograd functions, drop-in modules and a dead-unit tracker.

Needs PyTorch 2.4 or newer (``pip install relukit[torch]``); ``import relukit`` works
without it, only this module needs it.

Functions (each also a ``torch.ops.relukit`` custom op of the same name):

- ``relu(x)``, ``leaky_relu(x, negative_slope=0.01)``, ``prelu(x, weight)``,
  ``relu6(x)``, ``hardtanh(x, min_val=-1.0, max_val=1.0)``,
  ``threshold(x, threshold, value)``, ``rrelu(x, lower, upper, training)``
  (``rrelu_with_seed(x, lower, upper, training, seed)`` with the seed given), and in
  place ``relu_``, ``leaky_relu_``, ``relu6_``, ``hardtanh_``, ``threshold_``,
  ``rrelu_``;
- their backward functions ``relu_backward(grad_output, x)``,
  ``leaky_relu_backward(grad_output, x, negative_slope)``,
  ``prelu_backward(grad_output, x, weight) -> (grad_input, grad_weight)``,
  ``relu6_backward``, ``hardtanh_backward(grad_output, x, min_val, max_val)``,
  ``threshold_backward``, ``rrelu_backward``.

PyTorch's autograd contract holds: gradients of every order (the backward functions are
differentiable: ``gradgradcheck``, gradient penalties, Hessian-vector products),
forward-mode AD (``torch.func.jvp``, ``jacfwd``, ``forward_ad``), the ``torch.func``
transforms (``grad``, ``jacrev``, ``hessian``, ``vmap``), ``torch.compile(fullgraph=True)``
(no graph break), ``torch.export``, ``jit.trace`` and ``torch.library.opcheck``. In-place
functions check what PyTorch checks (a leaf that requires grad, an inference tensor, a
self-overlapping tensor) before they write.

CPU tensors of float32, float64, float16 and bfloat16 run relukit's kernels on the
tensor's own memory, whatever its strides (dense tensors by their data pointer, others
through NumPy views, never copied first); results keep the input's memory format.
bfloat16 goes through ``ml_dtypes`` where a NumPy view is needed. CUDA tensors run relu,
leaky_relu and prelu (forward and backward) on relukit-cuda's kernels, on the caller's
current stream, with the same bits as on the CPU (outputs allocated by PyTorch; NVRTC
from ``RELUKIT_NVRTC_DIR`` or PyTorch's CUDA wheels). Other operations on CUDA, and
other devices, raise ``NotImplementedError`` naming the device; meta tensors give
outputs of the right shape.

PReLU follows PyTorch's channel convention: the channels are axis 1, an input of fewer
than 2 dimensions has one channel, and ``weight`` has one element or one per channel,
of the input's dtype.

Semantics are relukit's (see ``relukit``): they match PyTorch's bit for bit except
that ``relu(-0.0)`` and ``relu6(-0.0)`` are ``+0.0`` (and ``hardtanh`` of an input equal
to a bound is the bound's bits), the backward functions are selects (an infinite or NaN
``grad_output`` where ``x <= 0`` gives 0, not NaN), a NaN ``x`` gives NaN in
``hardtanh_backward`` (PyTorch's passes ``grad_output``), and NaN inputs keep their
bits. The PReLU weight gradient is deterministic (the same bits at any thread count and
memory layout).

Modules: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ReLU6``, ``Hardtanh``, ``Threshold`` and
``RReLU`` are
subclasses of ``torch.nn``'s, with the same constructor arguments, attributes,
``extra_repr`` and ``state_dict`` keys; only ``forward`` differs, and they train with
``inplace=True``. ``convert(model)`` swaps the ``torch.nn`` ones of a model for them.
``DeadUnitTracker(model)`` finds dying and dormant units of every ReLU-family module and
functional call of a model over a window you open and close (inactive, dead, τ-dormant,
low-firing units, the share of zeros, the effective rank), also across the ranks of a
``torch.distributed`` job and into TensorBoard; ``ReDo(model, optimizer)`` recycles the
τ-dormant units every ``every`` steps, ``ContinualBackprop(model, optimizer)`` replaces a
small fraction of the mature units of lowest utility every step.

>>> import torch, relukit.torch as rt
>>> rt.relu(torch.tensor([-1.0, 0.0, 2.0]))
tensor([0., 0., 2.])
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("torch") is None:  # pragma: no cover - depends on the environment
    raise ImportError("relukit.torch needs PyTorch 2.4 or newer: pip install 'relukit[torch]'")

from ._autograd import (
    hardtanh,
    hardtanh_,
    hardtanh_backward,
    leaky_relu,
    leaky_relu_,
    leaky_relu_backward,
    prelu,
    prelu_backward,
    relu,
    relu6,
    relu6_,
    relu6_backward,
    relu_,
    relu_backward,
    rrelu,
    rrelu_,
    rrelu_backward,
    rrelu_with_seed,
    threshold,
    threshold_,
    threshold_backward,
)
from ._modules import Hardtanh, LeakyReLU, PReLU, ReLU, ReLU6, RReLU, Threshold, convert
from ._recycle import ContinualBackprop, ReDo
from ._tracker import DeadUnitTracker

__all__ = [
    "ContinualBackprop",
    "DeadUnitTracker",
    "Hardtanh",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ReDo",
    "ReLU",
    "ReLU6",
    "Threshold",
    "convert",
    "hardtanh",
    "hardtanh_",
    "hardtanh_backward",
    "leaky_relu",
    "leaky_relu_",
    "leaky_relu_backward",
    "prelu",
    "prelu_backward",
    "relu",
    "relu6",
    "relu6_",
    "relu6_backward",
    "relu_",
    "relu_backward",
    "rrelu",
    "rrelu_",
    "rrelu_backward",
    "rrelu_with_seed",
    "threshold",
    "threshold_",
    "threshold_backward",
]
