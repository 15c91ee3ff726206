"""relukit-cuda's kernels on the CUDA arrays of any library: operands described from
DLPack or ``__cuda_array_interface__`` and made ready on the caller's stream, results
allocated through the caller's library, the launch. Every function here takes CUDA
arrays only; which arrays come here is the router's decision (``_dispatch``), and
``relukit.cuda`` is the public face.

Below ``relukit.torch`` (which launches through ``find_nvrtc`` and the extension's
``_cuda``) and the router; it imports only ``_layout`` and the extension.
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _relukit
from ._layout import DLPACK_CUDA, c_order, channel_axis, dense, is_cuda_array, kind, prelu_layout

# The kernels' element types and their sizes: the extension's one list.
_ITEMSIZE = dict(_relukit._dtypes())
_DTYPES = tuple(_ITEMSIZE)


# ---- the caller's library: its stream, its allocation ----


class _Library:
    """What relukit needs from the library of a CUDA array: its current stream and how it
    allocates like an array, on that array's device."""

    def __init__(self, x: Any, function: str) -> None:
        self.name = type(x).__module__.split(".")[0]
        if self.name in ("jax", "jaxlib"):
            raise TypeError(
                f"relukit.cuda.{function}: JAX arrays are immutable, so relukit cannot write one; "
                "convert with cupy.from_dlpack(x) (no copy), or use jax.nn.relu"
            )
        self.function = function
        self.module: Any = sys.modules.get(self.name)
        namespace = getattr(x, "__array_namespace__", None)
        self.namespace: Any = namespace() if namespace is not None else self.module

    def stream(self, device: int) -> int:
        """The current stream's handle on `device` (0: the legacy default stream)."""
        if self.name == "cupy":
            with self.module.cuda.Device(device):
                return int(self.module.cuda.get_current_stream().ptr)
        if self.name == "torch":
            return int(self.module.cuda.current_stream(device).cuda_stream)
        return 0

    def _device(self, device: int) -> Any:
        """A context manager making `device` current where the library allocates there."""
        import contextlib

        if self.name == "cupy":
            return self.module.cuda.Device(device)
        return contextlib.nullcontext()

    def _call(self, what: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.namespace, what, None)
        if method is None:
            raise TypeError(
                f"relukit.cuda.{self.function}: cannot allocate the result through {self.name!r} "
                f"(it has no {what}); pass out= arrays"
            )
        return method(*args, **kwargs)

    def empty_like(self, x: Any, device: int) -> Any:
        with self._device(device):
            return self._call("empty_like", x)

    def _dtype(self, like: Any) -> Any:
        dtype = getattr(like, "dtype", None)
        if dtype is None:
            raise TypeError(
                f"relukit.cuda.{self.function}: cannot allocate the result like a "
                f"{type(like).__module__}.{type(like).__name__} (it has no dtype); pass out= arrays"
            )
        return dtype

    def empty(self, shape: tuple, like: Any, device: int) -> Any:
        with self._device(device):
            if self.name == "torch":
                return self.module.empty(shape, dtype=like.dtype, device=like.device)
            if getattr(self.namespace, "empty", None) is None:
                self._call("empty")  # raises: the library cannot allocate
            return self._call("empty", shape, dtype=self._dtype(like))

    def contiguous(self, x: Any, device: int) -> Any:
        if self.name == "torch":
            return x.contiguous()
        with self._device(device):
            if hasattr(self.namespace, "ascontiguousarray"):
                return self.namespace.ascontiguousarray(x)
            return self._call("asarray", x, copy=True)

    def copy(self, source: Any, into: Any, device: int) -> None:
        """Copies `source` into `into` (another layout) with the library's own kernels."""
        with self._device(device):
            into[...] = source

    def asarray(self, value: Any, like: Any, device: int) -> Any:
        """`value` (host or device) as a contiguous 1-D array of `like`'s dtype and device."""
        if self.name == "torch":
            return self.module.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1).contiguous()
        if not is_cuda_array(value):
            value = np.asarray(value)
            if value.dtype.kind not in "biuf":
                raise TypeError(f"relukit.cuda.{self.function}: `weight` must be real, got dtype {value.dtype}")
        with self._device(device):
            if getattr(self.namespace, "asarray", None) is None:
                self._call("asarray")  # raises: the library cannot allocate
            array = self._call("asarray", value, dtype=self._dtype(like))
            return self.contiguous(array.reshape(-1), device)


# ---- operands: where an array's elements are ----


class _Operand(NamedTuple):
    array: Any
    address: int
    device: int
    dtype: str
    shape: tuple
    strides: tuple  # in elements
    read_only: bool
    keep: Any  # the DLPack capsule, held until the kernels are enqueued


def _dlpack_stream(stream: int) -> int:
    """DLPack's name for a stream: 1 for the legacy default stream (0 is not allowed)."""
    return 1 if stream == 0 else stream


def _from_dlpack(x: Any, name: str, stream: int) -> _Operand:
    if kind(x) == "torch":
        x = x.detach()  # a tensor that requires grad refuses DLPack; the memory is the same
    try:
        capsule = x.__dlpack__(stream=_dlpack_stream(stream), max_version=(1, 0))
    except TypeError:  # a producer of DLPack 0.x, without max_version
        capsule = x.__dlpack__(stream=_dlpack_stream(stream))
    address, (device_type, device_id), dtype, shape, strides, read_only = _relukit._dlpack(capsule)
    if device_type not in DLPACK_CUDA:
        raise ValueError(f"`{name}` is not GPU memory (DLPack device type {device_type})")
    return _Operand(x, address, device_id, dtype, tuple(shape), tuple(strides), read_only, capsule)


def _from_interface(x: Any, name: str) -> tuple[_Operand, Optional[int]]:
    """The operand, and the stream its producer says its data is pending on (or None)."""
    name_of, itemsize, shape, address, read_only, strides, interface = _interface(x, name)
    if strides is None:
        elements = c_order(shape)
    else:
        if any(s % itemsize for s in strides):
            raise ValueError(f"`{name}` has strides {strides} bytes, not whole elements of {itemsize} bytes")
        elements = tuple(s // itemsize for s in strides)
    if hasattr(x, "__dlpack_device__"):
        device = int(x.__dlpack_device__()[1])
    elif address:
        device = _relukit._cuda_device_of(int(address))
    else:
        device = 0  # no elements: nothing is read or written
    producer = interface.get("stream") if int(interface.get("version", 0)) >= 3 else None
    return _Operand(x, int(address), device, name_of, shape, elements, bool(read_only), None), producer


def _integers(value: Any) -> Optional[tuple]:
    """`value` as a tuple of Python integers, or None if it is not a sequence of them."""
    if not isinstance(value, (tuple, list)):
        return None
    out = []
    for v in value:
        if isinstance(v, bool) or not hasattr(v, "__index__"):
            return None
        out.append(int(v.__index__()))
    return tuple(out)


def _interface(x: Any, name: str) -> tuple:
    """Every field of `x`'s ``__cuda_array_interface__`` checked before any is used: a
    type string, a shape of non-negative integers, ``data`` as (address, read-only flag),
    strides (or None) of the shape's length, no mask. TypeError for a field of the wrong
    kind, ValueError for one that contradicts the others."""
    interface = x.__cuda_array_interface__
    where = f"`{name}`'s __cuda_array_interface__"
    if not isinstance(interface, dict):
        raise TypeError(f"{where} is a {type(interface).__name__}, not a dict")
    missing = [k for k in ("typestr", "shape", "data", "version") if k not in interface]
    if missing:
        raise TypeError(f"{where} has no {', '.join(missing)}")
    if interface.get("mask") is not None:
        raise ValueError(f"`{name}`: masked CUDA arrays are not supported")
    typestr = interface["typestr"]
    if not isinstance(typestr, str):
        raise TypeError(f"{where}: typestr {typestr!r} is not a string")
    try:
        name_of, itemsize = _typestr(typestr)
    except TypeError as error:
        raise TypeError(f"{where}: typestr {typestr!r} is not a NumPy type string") from error
    shape = _integers(interface["shape"])
    if shape is None:
        raise TypeError(f"{where}: shape {interface['shape']!r} is not a tuple of integers")
    if any(s < 0 for s in shape):
        raise ValueError(f"{where}: shape {shape} has a negative size")
    data = interface["data"]
    if not isinstance(data, (tuple, list)) or len(data) != 2 or _integers(data[:1]) is None:
        raise TypeError(f"{where}: data {data!r} is not (address, read_only)")
    address, read_only = int(data[0]), bool(data[1])
    if address < 0 or address >= 2**64:
        raise ValueError(f"{where}: data address {address} is not a pointer")
    if address == 0 and math.prod(shape) != 0:
        raise ValueError(f"{where}: a null data address for {math.prod(shape)} elements")
    strides = interface.get("strides")
    if strides is not None:
        strides = _integers(strides)
        if strides is None:
            raise TypeError(f"{where}: strides {interface['strides']!r} is not a tuple of integers")
        if len(strides) != len(shape):
            raise ValueError(
                f"{where}: strides {strides} do not match shape {shape} ({len(strides)} for {len(shape)} axes)"
            )
    return name_of, itemsize, shape, address, read_only, strides, interface


_TYPESTRS: dict = {}


def _typestr(typestr: str) -> tuple[str, int]:
    """An interface's type string as relukit names it (``"<f4"``: ``float32``; a
    non-native or non-float one keeps NumPy's spelling) and its item size (cached)."""
    known = _TYPESTRS.get(typestr)
    if known is None:
        dtype = np.dtype(typestr)
        known = _TYPESTRS[typestr] = (
            (dtype.name if dtype.kind == "f" and dtype.isnative else str(dtype)),
            dtype.itemsize,
        )
    return known


def _operand(x: Any, name: str, stream_of: Any) -> _Operand:
    """`x` described, its data made ready for work on the stream `stream_of(device)`
    gives (the library's current stream on the array's device)."""
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        device_type, device = x.__dlpack_device__()
        if int(device_type) in DLPACK_CUDA:
            return _from_dlpack(x, name, stream_of(int(device)))
    if not is_cuda_array(x):
        raise TypeError(f"`{name}` is a {type(x).__module__}.{type(x).__name__}, not a CUDA array like the input")
    operand, producer = _from_interface(x, name)
    if producer is not None and operand.address:
        _relukit._cuda_wait(operand.device, stream_of(operand.device), int(producer))
    return operand


def _extent(o: _Operand) -> tuple:
    """The bytes an operand spans: [start, end)."""
    if 0 in o.shape:
        return (o.address, o.address)
    low = sum(s * t for s, t in zip(o.shape, o.strides) if t < 0) - sum(t for t in o.strides if t < 0)
    high = sum((s - 1) * t for s, t in zip(o.shape, o.strides) if t > 0)
    size = _ITEMSIZE.get(o.dtype, 1)
    return (o.address + low * size, o.address + (high + 1) * size)


def _check(function: str, operands: dict, outputs: dict, shape: Optional[tuple] = None, fresh: bool = False) -> None:
    """One device, one dtype with kernels, one shape (`shape` is grad_weight's), writable
    outputs that do not partly overlap an input (not looked for when the outputs are
    `fresh`: allocated here)."""
    x = operands["x"]
    for name, o in {**operands, **outputs}.items():
        if o.dtype not in _DTYPES:
            raise TypeError(
                f"relukit.cuda.{function}: `{name}` has dtype {o.dtype}; the GPU kernels take {', '.join(_DTYPES)}"
            )
        if o.dtype != x.dtype:
            raise TypeError(
                f"relukit.cuda.{function}: `{name}` is {o.dtype} and `x` is {x.dtype} (no casting on the GPU)"
            )
        if o.device != x.device:
            raise ValueError(f"relukit.cuda.{function}: `{name}` is on GPU {o.device} and `x` on GPU {x.device}")
    for name, o in operands.items():
        if o.shape != x.shape and name != "weight":
            raise ValueError(
                f"relukit.cuda.{function}: `{name}` has shape {o.shape}, `x` has {x.shape} (no broadcasting on the GPU)"
            )
    for name, o in outputs.items():
        expected = x.shape if shape is None or name != "grad_weight" else shape
        if o.shape != expected:
            raise ValueError(f"relukit.cuda.{function}: `{name}` has shape {o.shape}, expected {expected}")
        if o.read_only:
            raise ValueError(f"relukit.cuda.{function}: `{name}` is read-only")
        if fresh:
            continue
        start, end = _extent(o)
        for other_name, i in operands.items():
            same = i.address == o.address and i.strides == o.strides
            other_start, other_end = _extent(i)
            if not same and start < other_end and other_start < end:
                raise ValueError(f"relukit.cuda.{function}: `{name}` overlaps `{other_name}` without being it")


_NVRTC_SET = False


def find_nvrtc() -> None:
    """Points relukit's CUDA backend at the NVRTC a framework's CUDA wheels ship
    (``nvidia/*/lib``: PyTorch's, CuPy's), unless ``RELUKIT_NVRTC_DIR`` is set; without
    one, the dynamic loader's search path, then a clear error."""
    global _NVRTC_SET
    if _NVRTC_SET:
        return
    _NVRTC_SET = True
    import glob
    import importlib
    import os

    if os.environ.get("RELUKIT_NVRTC_DIR"):
        return
    try:
        nvidia = importlib.import_module("nvidia")
    except ImportError:
        return
    for root in list(nvidia.__path__):
        for lib in sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")), reverse=True):
            os.environ["RELUKIT_NVRTC_DIR"] = os.path.dirname(lib)
            return


def _launch(operation: str, x: _Operand, stream: int, operands: list, **options: Any) -> None:
    """Enqueues `operation` on `stream` over the operands' memory (in the kernel's order)."""
    find_nvrtc()
    length = math.prod(x.shape)
    _relukit._cuda(operation, x.dtype, x.device, [o.address for o in operands], length, stream, **options)


class _Call(NamedTuple):
    library: _Library
    stream_of: Any


def _begin(function: str, x: Any) -> _Call:
    library = _Library(x, function)
    streams: dict = {}

    def stream_of(device: int) -> int:
        if device not in streams:
            streams[device] = library.stream(device)
        return streams[device]

    return _Call(library, stream_of)


# ---- elementwise ----


def _elementwise(function: str, operation: str, inputs: dict, out: Any, **options: Any) -> Any:
    """`operation` over `inputs` (in the kernel's order, ``x`` among them) into `out`
    (allocated like ``x`` when None)."""
    x = inputs["x"]
    call = _begin(function, x)
    operands = {name: _operand(a, name, call.stream_of) for name, a in inputs.items()}
    xo = operands["x"]
    stream = call.stream_of(xo.device)
    result = call.library.empty_like(x, xo.device) if out is None else out
    o = _operand(result, "out", call.stream_of)
    _check(function, operands, {"out": o}, fresh=out is None)
    if len({v.strides for v in operands.values()} | {o.strides}) == 1 and dense(xo.shape, xo.strides):
        _launch(operation, xo, stream, [*operands.values(), o], **options)
        return result
    # Other layouts: contiguous copies in, one copy out (the library's own kernels).
    copies = {name: _operand(call.library.contiguous(a, xo.device), name, call.stream_of) for name, a in inputs.items()}
    temporary = call.library.empty_like(copies["x"].array, xo.device)
    _launch(operation, copies["x"], stream, [*copies.values(), _operand(temporary, "out", call.stream_of)], **options)
    call.library.copy(temporary, into=result, device=xo.device)
    return result


def scalar(function: str, value: Any) -> float:
    """A parameter as the GPU kernels take it: one real number."""
    if type(value) is float or type(value) is int:
        return float(value)
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biuf":
        raise TypeError(f"relukit.cuda.{function}: on the GPU each parameter is one real number, got {value!r}")
    return float(value)


# ---- the operations (CUDA arrays only) ----


def relu(x: Any, out: Any = None) -> Any:
    return _elementwise("relu", "relu", {"x": x}, out)


def relu_derivative(x: Any, out: Any = None) -> Any:
    return _elementwise("relu_derivative", "relu_derivative", {"x": x}, out)


def relu_backward(grad_output: Any, x: Any, out: Any = None) -> Any:
    return _elementwise("relu_backward", "relu_backward", {"grad_output": grad_output, "x": x}, out)


def leaky_relu(x: Any, negative_slope: float, out: Any = None) -> Any:
    return _elementwise("leaky_relu", "leaky_relu", {"x": x}, out, negative_slope=negative_slope)


def leaky_relu_backward(grad_output: Any, x: Any, negative_slope: float, out: Any = None) -> Any:
    inputs = {"grad_output": grad_output, "x": x}
    return _elementwise("leaky_relu_backward", "leaky_relu_backward", inputs, out, negative_slope=negative_slope)


def _prelu_operands(x: Any, weight: Any, axis: Any, call: _Call) -> tuple:
    xo = _operand(x, "x", call.stream_of)
    channel = channel_axis(len(xo.shape), axis)
    w = call.library.asarray(weight, x, xo.device)
    return xo, channel, _operand(w, "weight", call.stream_of)


def prelu(x: Any, weight: Any, axis: Any = None, out: Any = None) -> Any:
    """PReLU: ``x`` where ``x > 0``, ``weight[c] * x`` elsewhere, ``c`` the index on the
    channel axis (default 1; one channel below 2 dimensions), in any memory order
    (NCHW and NHWC run in place). ``weight`` (host or device, any real dtype) has one
    slope or one per channel; it is converted to ``x``'s dtype on ``x``'s device."""
    call = _begin("prelu", x)
    xo, channel, wo = _prelu_operands(x, weight, axis, call)
    stream = call.stream_of(xo.device)
    result = call.library.empty_like(x, xo.device) if out is None else out
    o = _operand(result, "out", call.stream_of)
    _check("prelu", {"x": xo, "weight": wo}, {"out": o}, fresh=out is None)
    layout = prelu_layout(xo.shape, xo.strides, channel)
    if layout is not None and o.strides == xo.strides:
        _launch("prelu", xo, stream, [xo, wo, o], layout=layout, weight_len=wo.shape[0])
        return result
    xc = _operand(call.library.contiguous(x, xo.device), "x", call.stream_of)
    temporary = call.library.empty_like(xc.array, xo.device)
    t = _operand(temporary, "out", call.stream_of)
    _launch(
        "prelu", xc, stream, [xc, wo, t], layout=prelu_layout(xc.shape, xc.strides, channel), weight_len=wo.shape[0]
    )
    call.library.copy(temporary, into=result, device=xo.device)
    return result


def prelu_backward(grad_output: Any, x: Any, weight: Any, axis: Any = None, out: Any = None) -> tuple:
    """``(grad_input, grad_weight)``: ``grad_input`` is ``grad_output`` where ``x > 0``
    and ``weight[c] * grad_output`` elsewhere; ``grad_weight[c]`` sums ``grad_output *
    x`` where ``x <= 0`` over channel ``c`` in float64, in an order fixed by the layout
    (the same bits on every run), rounded once to ``x``'s dtype; it has ``weight``'s
    shape. ``out=(grad_input, grad_weight)`` writes both."""
    call = _begin("prelu_backward", x)
    xo, channel, wo = _prelu_operands(x, weight, axis, call)
    go = _operand(grad_output, "grad_output", call.stream_of)
    stream = call.stream_of(xo.device)
    weight_shape = tuple(weight.shape) if hasattr(weight, "shape") else np.shape(weight)
    fresh = out is None
    if out is None:
        out = (call.library.empty_like(x, xo.device), call.library.empty(weight_shape, x, xo.device))
    grad_input, grad_weight = out
    gi, gw = _operand(grad_input, "grad_input", call.stream_of), _operand(grad_weight, "grad_weight", call.stream_of)
    _check(
        "prelu_backward",
        {"grad_output": go, "x": xo, "weight": wo},
        {"grad_input": gi, "grad_weight": gw},
        weight_shape,
        fresh,
    )
    if not dense(gw.shape, gw.strides):
        raise ValueError("relukit.cuda.prelu_backward: `grad_weight` must be contiguous")
    layout = prelu_layout(xo.shape, xo.strides, channel)
    if layout is not None and go.strides == xo.strides == gi.strides:
        _launch("prelu_backward", xo, stream, [go, xo, wo, gi, gw], layout=layout, weight_len=wo.shape[0])
        return grad_input, grad_weight
    xc = _operand(call.library.contiguous(x, xo.device), "x", call.stream_of)
    gc = _operand(call.library.contiguous(grad_output, xo.device), "grad_output", call.stream_of)
    temporary = call.library.empty_like(xc.array, xo.device)
    t = _operand(temporary, "grad_input", call.stream_of)
    layout = prelu_layout(xc.shape, xc.strides, channel)
    _launch("prelu_backward", xc, stream, [gc, xc, wo, t, gw], layout=layout, weight_len=wo.shape[0])
    call.library.copy(temporary, into=grad_input, device=xo.device)
    return grad_input, grad_weight
