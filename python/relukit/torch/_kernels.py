"""The computations of relukit.torch, without autograd: each function takes tensors and
returns (or writes) tensors, on the tensors' device.

- CPU tensors whose memory is dense (contiguous, or channels_last for the elementwise
  operations) go straight to relukit's slice functions through their data pointers
  (``_relukit._torch_cpu``); other layouts are read in place through NumPy views of the
  same memory, whatever their strides. Results keep the input's memory format.
- CUDA tensors run relu, leaky_relu and prelu (forward and backward) on relukit-cuda's
  kernels on the caller's current stream; other operations on CUDA, and other devices,
  raise ``NotImplementedError`` naming the device.

The same functions are the implementations of the ``torch.ops.relukit`` custom ops
(``_ops.py``), which the compiled and traced paths call, and of the autograd Functions
(``_autograd.py``), which eager mode calls.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from .. import _family, _relukit
from .._gpu import find_nvrtc
from .._layout import dense as _dense_layout
from .._layout import prelu_layout as _memory_layout

# The kernels' element types (the extension's one list, NumPy's names, torch's too) and
# the NumPy type a tensor's memory is viewed as (bfloat16's bits as int16).
_NAMES = {getattr(torch, name): name for name, _ in _relukit._dtypes()}
DTYPES = tuple(_NAMES)
_LISTED = ", ".join(_NAMES.values())
_NUMPY_DTYPES = {t: np.int16 if name == "bfloat16" else np.dtype(name).type for t, name in _NAMES.items()}
# Bytes from which NumPy's allocation pays: below glibc's largest mmap threshold (32 MiB)
# freed blocks are reused without page faults; above it every output is fresh memory,
# where huge pages cut the faults (measured: 0.5x at 8 MiB, 1.2x at 16, 1.9x at 32 MiB).
_LARGE = 16 << 20
_CUDA_OPS = frozenset(_relukit._cuda_operations())  # what relukit-cuda runs, by name


def check_dtype(name: str, t: Tensor) -> None:
    if t.dtype not in _NAMES:
        raise TypeError(f"relukit.torch.{name}: dtype {t.dtype}, not one of {_LISTED}")


def dtype_name(tensor: Tensor) -> str:
    """relukit's name of a tensor's dtype (``float32``, ``bfloat16``...), one of DTYPES."""
    return _NAMES[tensor.dtype]


def array(tensor: Tensor, name: str) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (same strides, no copy)."""
    if tensor.device.type != "cpu":
        raise NotImplementedError(
            f"relukit.torch: `{name}` is on device {tensor.device}; relukit runs on CPU tensors and, "
            "for relu, leaky_relu and prelu (forward and backward), on CUDA tensors: use "
            "torch.nn.functional on that device, or move the tensor with .cpu()"
        )
    if tensor.dtype not in _NAMES:
        raise TypeError(f"relukit.torch: `{name}` has dtype {tensor.dtype}, not one of {_LISTED}")
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        try:
            import ml_dtypes
        except ImportError as error:
            raise TypeError(
                "relukit.torch: bfloat16 tensors need the ml_dtypes package (pip install 'relukit[torch]')"
            ) from error
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def empty_like(x: Tensor) -> Tensor:
    """``torch.empty_like(x)``: the same shape, dtype and strides (x's memory format when
    dense, else contiguous). Large outputs are allocated by NumPy, which advises the
    kernel to back them with huge pages: the first write into fresh memory, a page
    fault per 4 KiB page otherwise, then costs less than the kernel itself."""
    if x.numel() * x.element_size() < _LARGE or x.device.type != "cpu" or x.dtype not in _NUMPY_DTYPES:
        return torch.empty_like(x)
    strides = torch.empty_like(x, device="meta").stride()
    storage = torch.from_numpy(np.empty(x.numel(), dtype=_NUMPY_DTYPES[x.dtype]))
    if x.dtype == torch.bfloat16:
        storage = storage.view(torch.bfloat16)
    return storage.as_strided(x.shape, strides)


def channel_axis(x: Tensor) -> Optional[int]:
    """PyTorch's PReLU channel axis: 1, or none (one channel) below 2 dimensions."""
    return 1 if x.dim() >= 2 else None


def check_weight(function: str, x: Tensor, weight: Tensor) -> None:
    """PyTorch's rules for a PReLU weight: the input's dtype, 1 or C elements."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"relukit.torch.{function}: `weight` must be a tensor, got {type(weight).__name__}")
    if weight.dtype != x.dtype:
        raise TypeError(
            f"relukit.torch.{function}: `weight` has dtype {weight.dtype} but the input has {x.dtype}; "
            "PyTorch's prelu needs them equal: convert the weight with .to(x.dtype)"
        )
    channels = x.shape[1] if x.dim() >= 2 else 1
    if weight.dim() > 1 or weight.numel() not in (1, channels):
        counts = "1" if channels == 1 else f"1 or {channels}"
        raise ValueError(
            f"relukit.torch.{function}: `weight` has shape {tuple(weight.shape)}, but the input has "
            f"{channels} channel{'s' if channels != 1 else ''} (axis 1, or one below 2 dimensions): "
            f"give {counts} slope{'s' if channels != 1 else ''}"
        )


# ---- CPU, dense memory: data pointers to relukit's slice functions ----


def _cpu(operation: str, x: Tensor, tensors: list, **options: Any) -> None:
    _torch_cpu(operation, _NAMES[x.dtype], [t.data_ptr() for t in tensors], x.numel(), _threads(), **options)


_torch_cpu = _relukit._torch_cpu
_threads = torch.get_num_threads


def _attach_openmp() -> bool:
    """Runs relukit.torch's parallel calls on PyTorch's own OpenMP team (the runtime
    PyTorch loaded, found in its wheel or by name), so that they find its threads awake
    rather than compete with them; False (relukit's own pool) where there is none."""
    import glob
    import os

    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    candidates = []
    for pattern in ("libgomp*.so*", "libiomp5*", "libomp*"):
        candidates += sorted(glob.glob(os.path.join(lib, pattern)))
    candidates += ["libgomp.so.1", "libiomp5.so", "libomp.so"]
    return any(_relukit._torch_openmp(path) for path in candidates)


OPENMP = _attach_openmp()
_torch_empty_like = torch.empty_like


def _unary_fast(operation: str, x: Tensor, params: tuple = (0.0, 0.0), seed: Optional[int] = None) -> Optional[Tensor]:
    """The common case, with as few Python steps as possible: a contiguous CPU tensor of
    a supported dtype into a new one. None for anything else."""
    name = _NAMES.get(x.dtype)
    if name is None or not x.is_cpu or not x.is_contiguous():
        return None
    n = x.numel()
    out = _torch_empty_like(x) if n * x.element_size() < _LARGE else empty_like(x)
    _torch_cpu(operation, name, [x.data_ptr(), out.data_ptr()], n, _threads(), params, seed)
    return out


def _binary_fast(
    operation: str, g: Tensor, x: Tensor, params: tuple = (0.0, 0.0), seed: Optional[int] = None
) -> Optional[Tensor]:
    """``_unary_fast`` for a backward operation (grad_output, x) of one dtype."""
    name = _NAMES.get(x.dtype)
    if name is None or g.dtype != x.dtype or not (x.is_cpu and g.is_cpu and x.is_contiguous()) or g.shape != x.shape:
        return None
    if not g.is_contiguous():
        g = g.contiguous()  # an expanded gradient (of a sum): PyTorch's copy is faster than a strided walk
    n = x.numel()
    out = _torch_empty_like(x) if n * x.element_size() < _LARGE else empty_like(x)
    _torch_cpu(operation, name, [g.data_ptr(), x.data_ptr(), out.data_ptr()], n, _threads(), params, seed)
    return out


def _same_dense(x: Tensor, others: tuple, any_order: bool) -> bool:
    """Whether `x` is dense (C order, or any order of the axes if `any_order`) and every
    tensor of `others` has its strides and dtype."""
    if x.is_contiguous():
        return all(o.is_contiguous() and o.dtype == x.dtype for o in others)
    if not any_order or not _dense_layout(tuple(x.shape), x.stride()):
        return False
    strides = x.stride()
    return all(o.stride() == strides and o.dtype == x.dtype for o in others)


def _elementwise(
    operation: str, inputs: tuple, params: tuple = (0.0, 0.0), seed: Optional[int] = None, c_order: bool = False
) -> Optional[Tensor]:
    """Runs an elementwise operation over dense CPU tensors into a new tensor laid out as
    the last input; None if the layout needs the NumPy path."""
    x = inputs[-1]
    if not _same_dense(x, inputs[:-1], any_order=not c_order):
        return None
    out = empty_like(x)
    if out.stride() != x.stride():
        return None
    _cpu(operation, x, [*inputs, out], params=params, seed=seed)
    return out


def _cpu_inplace(
    operation: str, x: Tensor, params: tuple = (0.0, 0.0), seed: Optional[int] = None, c_order: bool = False
) -> bool:
    """Runs an elementwise operation over `x` in place if its memory is dense."""
    if x.is_contiguous() or (not c_order and _dense_layout(tuple(x.shape), x.stride())):
        _cpu(operation, x, [x, x], params=params, seed=seed)
        return True
    return False


# ---- CUDA: relukit-cuda's kernels on the caller's current stream ----


def on_cuda(name: str, *tensors: Tensor) -> bool:
    """Whether the operation's tensors are CUDA tensors (all on one device); other
    devices than CPU and CUDA, and CUDA for operations without GPU kernels, raise
    NotImplementedError naming the device."""
    device = tensors[0].device
    for t in tensors[1:]:
        if t.device != device:
            raise ValueError(
                f"relukit.torch.{name}: tensors on different devices: {sorted({str(t.device) for t in tensors})}"
            )
    for t in tensors:
        check_dtype(name, t)
    if device.type == "cpu":
        return False
    if device.type == "cuda" and name.rstrip("_") in _CUDA_OPS:
        return True
    raise NotImplementedError(
        f"relukit.torch.{name}: the input is on device {device}; relukit runs {name} on CPU tensors"
        + (" and relu, leaky_relu and prelu (forward and backward) on CUDA tensors" if device.type == "cuda" else "")
        + ": use torch.nn.functional on that device, or move the tensor with .cpu()"
    )


def _dense(t: Tensor) -> bool:
    """Whether `t`'s elements fill its memory exactly (any order of the axes)."""
    return _dense_layout(tuple(t.shape), t.stride())


def _cuda(operation: str, x: Tensor, tensors: list, **options: Any) -> None:
    """Enqueues `operation` on `x`'s device and current stream over `tensors`' memory."""
    find_nvrtc()
    _relukit._cuda(
        operation,
        _NAMES[x.dtype],
        x.device.index if x.device.index is not None else torch.cuda.current_device(),
        [t.data_ptr() for t in tensors],
        x.numel(),
        torch.cuda.current_stream(x.device).cuda_stream,
        **options,
    )


def _cuda_elementwise(operation: str, inputs: list, **options: Any) -> Tensor:
    """An elementwise operation on CUDA tensors: run on their memory when they are dense
    with the same strides, else on contiguous copies; the result has
    `torch.empty_like(x)`'s layout (x is the last input), as the fake kernel says."""
    x = inputs[-1]
    out = torch.empty_like(x)
    if _dense(x) and all(t.stride() == x.stride() for t in inputs) and out.stride() == x.stride():
        _cuda(operation, x, [*inputs, out], **options)
        return out
    dense = [t.contiguous() for t in inputs]
    result = torch.empty_like(dense[-1])
    _cuda(operation, dense[-1], [*dense, result], **options)
    return out.copy_(result)


def _prelu_layout(x: Tensor) -> Optional[tuple]:
    """PReLU's (outer, channels, inner) in x's memory (channels on axis 1, one channel
    below 2 dimensions), for any dense order of the axes (NCHW, channels_last...); None
    if x is not dense."""
    return _memory_layout(tuple(x.shape), x.stride(), channel_axis(x))


# ---- the operations ----


#: The element-by-element activations of relukit.torch, each one row of the extension's
#: registry (``_family.REGISTRY``: parameters, how many the backward takes): their
#: kernels, custom ops, autograd rules and in-place forms are all derived from the row.
FAMILY = ("relu", "leaky_relu", "relu6", "hardtanh", "threshold")


# The parameters padded to the two floats `_torch_cpu` takes, by how many there are.
_PAD = ((0.0, 0.0), (0.0,), ())


class Elementwise:
    """The kernels of a registry activation ``f(x, *parameters)``: ``forward``,
    ``forward_`` (in place) and ``backward(grad_output, x, *parameters[:gradient])``.

    Dense CPU memory goes to relukit's slice functions (the parameters as the two floats
    ``_torch_cpu`` takes), other layouts through the registry's NumPy functions (which
    check the parameters first), CUDA tensors to relukit-cuda where it has the operation
    (the parameters by name)."""

    def __init__(self, name: str) -> None:
        row = _family.REGISTRY[name]
        parameters, gradient = row.parameters, row.gradient
        self.name = name
        self.parameters = tuple(p for p, _ in parameters)
        self.gradient = gradient
        if parameters:
            self._np_forward, _, self._np_backward = _family.functions(name)
        else:
            self._np_forward, self._np_backward = getattr(_relukit, name), getattr(_relukit, f"{name}_backward")
        self._backward_name = f"{name}_backward"
        self._inplace_name = f"{name}_"

    def gradient_parameters(self, params: tuple) -> tuple:
        """Of the forward's parameters, those the backward takes (the first ``gradient``)."""
        return tuple(params[: self.gradient])

    def forward(self, x: Tensor, *params: float) -> Tensor:
        padded = params + _PAD[len(params)]
        fast = _unary_fast(self.name, x, padded)
        if fast is not None:
            return fast
        if on_cuda(self.name, x):
            return _cuda_elementwise(self.name, [x], **dict(zip(self.parameters, params)))
        out = _elementwise(self.name, (x,), padded)
        if out is None:
            out = empty_like(x)
            with np.errstate(over="ignore"):  # slope * x may overflow to inf, silently as in PyTorch
                self._np_forward(array(x, "x"), *params, out=array(out, "out"))
        return out

    def forward_(self, x: Tensor, *params: float) -> None:
        if on_cuda(self._inplace_name, x):
            options = dict(zip(self.parameters, params))
            if _dense(x):
                _cuda(self.name, x, [x, x], **options)  # the kernel may write its input
            else:
                x.copy_(_cuda_elementwise(self.name, [x], **options))
        elif not _cpu_inplace(self.name, x, params + _PAD[len(params)]):
            a = array(x, "x")
            with np.errstate(over="ignore"):
                self._np_forward(a, *params, out=a)

    def backward(self, grad_output: Tensor, x: Tensor, *params: float) -> Tensor:
        padded = params + _PAD[len(params)]
        fast = _binary_fast(self._backward_name, grad_output, x, padded)
        if fast is not None:
            return fast
        if on_cuda(self._backward_name, grad_output, x):
            return _cuda_elementwise(self._backward_name, [grad_output, x], **dict(zip(self.parameters, params)))
        out = _elementwise(self._backward_name, (grad_output, x), padded)
        if out is None:
            out = empty_like(x)
            with np.errstate(over="ignore"):
                self._np_backward(array(grad_output, "grad_output"), array(x, "x"), *params, out=array(out, "out"))
        return out


ELEMENTWISE = {name: Elementwise(name) for name in FAMILY}


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    check_weight("prelu", x, weight)
    if on_cuda("prelu", x, weight):
        out = torch.empty_like(x)
        w = weight.contiguous()
        layout = _prelu_layout(x)
        if layout is not None and out.stride() == x.stride():
            _cuda("prelu", x, [x, w, out], layout=layout, weight_len=w.numel())
            return out
        xc = x.contiguous()
        result = torch.empty_like(xc)
        _cuda("prelu", xc, [xc, w, result], layout=_prelu_layout(xc), weight_len=w.numel())
        return out.copy_(result)
    layout = _prelu_layout(x)
    if layout is not None:
        out = empty_like(x)
        if out.stride() == x.stride():
            w = weight.contiguous()
            _cpu("prelu", x, [x, w, out], layout=layout, weight_len=w.numel())
            return out
    out = empty_like(x)
    _relukit.prelu(array(x, "x"), array(weight, "weight"), axis=channel_axis(x), out=array(out, "out"))
    return out


def prelu_backward(grad_output: Tensor, x: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    check_weight("prelu_backward", x, weight)
    if on_cuda("prelu_backward", grad_output, x, weight):
        w = weight.contiguous()
        grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
        grad_input = torch.empty_like(x)
        layout = _prelu_layout(x)
        if layout is not None and grad_output.stride() == x.stride() and grad_input.stride() == x.stride():
            _cuda(
                "prelu_backward", x, [grad_output, x, w, grad_input, grad_weight], layout=layout, weight_len=w.numel()
            )
        else:
            xc, gc = x.contiguous(), grad_output.contiguous()
            result = torch.empty_like(xc)
            _cuda(
                "prelu_backward", xc, [gc, xc, w, result, grad_weight], layout=_prelu_layout(xc), weight_len=w.numel()
            )
            grad_input.copy_(result)
        return grad_input, grad_weight
    grad_weight = torch.empty_like(weight, memory_format=torch.contiguous_format)
    # The weight gradient's bits depend on the logical layout only: memory in C order is
    # summed in place, any other order through the NumPy path (which reads C order).
    if x.is_contiguous() and grad_output.dtype == x.dtype and grad_output.shape == x.shape:
        grad_output = grad_output.contiguous()  # an expanded gradient (of a sum): copied once
        grad_input = empty_like(x)
        layout = _prelu_layout(x)
        w = weight.contiguous()
        _cpu("prelu_backward", x, [grad_output, x, w, grad_input, grad_weight], layout=layout, weight_len=w.numel())
        return grad_input, grad_weight
    grad_input = empty_like(x)
    _relukit.prelu_backward(
        array(grad_output, "grad_output"),
        array(x, "x"),
        array(weight, "weight"),
        axis=channel_axis(x),
        out=(array(grad_input, "grad_input"), array(grad_weight, "grad_weight")),
    )
    return grad_input, grad_weight


def _seed(training: bool, seed: int) -> Optional[int]:
    return seed if training else None


def rrelu_with_seed(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    fast = _unary_fast("rrelu", x, (lower, upper), _seed(training, seed))
    if fast is not None:
        return fast
    on_cuda("rrelu_with_seed", x)
    # Slopes are drawn per element in logical (C) order: only C-order memory runs in place.
    out = _elementwise("rrelu", (x,), (lower, upper), _seed(training, seed), c_order=True)
    if out is None:
        out = empty_like(x)
        _relukit.rrelu(array(x, "x"), lower, upper, training, _seed(training, seed), out=array(out, "out"))
    return out


def rrelu_with_seed_(x: Tensor, lower: float, upper: float, training: bool, seed: int) -> None:
    on_cuda("rrelu_with_seed_", x)
    if not _cpu_inplace("rrelu", x, (lower, upper), _seed(training, seed), c_order=True):
        a = array(x, "x")
        _relukit.rrelu(a, lower, upper, training, _seed(training, seed), out=a)


def rrelu_backward(grad_output: Tensor, x: Tensor, lower: float, upper: float, training: bool, seed: int) -> Tensor:
    fast = _binary_fast("rrelu_backward", grad_output, x, (lower, upper), _seed(training, seed))
    if fast is not None:
        return fast
    on_cuda("rrelu_backward", grad_output, x)
    out = _elementwise("rrelu_backward", (grad_output, x), (lower, upper), _seed(training, seed), c_order=True)
    if out is None:
        out = empty_like(x)
        _relukit.rrelu_backward(
            array(grad_output, "grad_output"),
            array(x, "x"),
            lower,
            upper,
            training,
            _seed(training, seed),
            out=array(out, "out"),
        )
    return out
