"""relukit.cuda: CUDA arrays of any library (CuPy, DLPack, __cuda_array_interface__).

Without a GPU (the test command): DLPack capsules read field by field (NumPy's, and
capsules built here with ctypes that claim a CUDA device), the recognition of CUDA
arrays, PReLU's layout in memory for every order of the axes, the routing of the
top-level functions, and every argument error, raised before anything reaches the
driver (a call that passes them ends at the backend's "no CUDA driver"). Then the whole
Python path (operands, allocation, layouts, copies, `out=`, pointer order) with each
kernel emulated by the CPU function on the same host memory: bit for bit against the
CPU functions in C, channels-last, Fortran, strided and reversed layouts.

On the GPU machine (`scripts/gpu-check.sh`, RELUKIT_REQUIRE_GPU=1: CuPy must be there):
CuPy arrays bit for bit against relukit's CPU functions on every special value and all
65,536 float16 patterns, in C order, channels-last and strided views, with `out=` and
in place, on a non-default stream, through DLPack-only and interface-only wrappers, the
PReLU weight gradient identical over five runs; PyTorch CUDA tensors through the
generic path."""

import ctypes
import os
import types

import numpy as np
import pytest
from conftest import REQUIRED

import relukit
import relukit._gpu as gpu
import relukit._layout as layout
import relukit._relukit as ext
import relukit.cuda as rc

REQUIRE_GPU = bool(os.environ.get("RELUKIT_REQUIRE_GPU"))


# ---- DLPack capsules ----


def test_numpy_capsules_are_read_field_by_field():
    base = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    view = base[1:, ::2, ::-1]
    address, device, dtype, shape, strides, read_only = ext._dlpack(view.__dlpack__())
    assert address == view.ctypes.data and device == (1, 0) and dtype == "float32"
    assert tuple(shape) == view.shape and tuple(strides) == tuple(s // 4 for s in view.strides)
    assert read_only is False
    for dt in [np.float16, np.float64, np.int8, np.uint16, np.complex128, np.bool_]:
        assert ext._dlpack(np.zeros(2, dt).__dlpack__())[2] == np.dtype(dt).name
    frozen = np.zeros((2, 2))
    frozen.flags.writeable = False
    versioned = ext._dlpack(frozen.__dlpack__(max_version=(1, 0)))
    assert versioned[2] == "float64" and versioned[5] is True and versioned[4] == [2, 1]
    scalar = ext._dlpack(np.zeros((), np.float32).__dlpack__())
    assert scalar[3] == [] and scalar[4] == []


def test_capsules_that_are_not_tensors_are_refused():
    capsule = np.zeros(3).__dlpack__()
    np.from_dlpack(types.SimpleNamespace(__dlpack__=lambda **k: capsule, __dlpack_device__=lambda: (1, 0)))
    with pytest.raises(ValueError, match="used_dltensor"):
        ext._dlpack(capsule)  # consumed by NumPy: renamed "used_dltensor"
    with pytest.raises(TypeError):
        ext._dlpack(np.zeros(3))


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class FakeDLPack:
    """An array that says it lives on GPU `device`, by DLPack only (no memory is ever
    touched: relukit stops at the driver, absent here)."""

    def __init__(self, shape, code=2, bits=32, device=0, strides=None, offset=0, address=0x10_0000):
        self.shape = tuple(shape)
        self._keep = []
        n = len(shape)
        sizes = (ctypes.c_int64 * max(n, 1))(*shape)
        steps = (ctypes.c_int64 * max(n, 1))(*strides) if strides is not None else None
        tensor = _DLManagedTensor()
        tensor.dl_tensor.data = address
        tensor.dl_tensor.device = _DLDevice(2, device)
        tensor.dl_tensor.ndim = n
        tensor.dl_tensor.dtype = _DLDataType(code, bits, 1)
        tensor.dl_tensor.shape = ctypes.cast(sizes, ctypes.POINTER(ctypes.c_int64))
        tensor.dl_tensor.strides = ctypes.cast(steps, ctypes.POINTER(ctypes.c_int64)) if steps is not None else None
        tensor.dl_tensor.byte_offset = offset
        self._keep += [sizes, steps, tensor]
        self._tensor = tensor
        self.device = device
        self.streams = []

    def __dlpack_device__(self):
        return (2, self.device)

    def __dlpack__(self, stream=None):  # a DLPack 0.x producer: no max_version
        self.streams.append(stream)
        return _capsule_new(ctypes.addressof(self._tensor), b"dltensor", None)


def test_capsules_of_gpu_memory_are_read_with_their_device_and_type():
    x = FakeDLPack((4, 3), code=4, bits=16, device=3, strides=(1, 4), offset=32)
    assert rc.is_cuda_array(x)
    operand = gpu._operand(x, "x", lambda device: 0)
    assert operand.address == 0x10_0000 + 32 and operand.device == 3
    assert operand.dtype == "bfloat16" and operand.shape == (4, 3) and operand.strides == (1, 4)
    assert x.streams == [1]  # the legacy default stream, as DLPack names it (never 0)
    gpu._operand(x, "x", lambda device: 0xABC)
    assert x.streams[-1] == 0xABC


# ---- recognising CUDA arrays ----


class FakeInterface:
    """An array described by __cuda_array_interface__ (version 3) over host memory; its
    namespace allocates more of them."""

    def __init__(self, shape, dtype="float32", strides=None, read_only=False, stream=None, device=0, buffer=None):
        self.buffer = np.zeros(shape, dtype) if buffer is None else buffer
        self.shape, self.dtype, self.device = tuple(shape), np.dtype(dtype), device
        self.__cuda_array_interface__ = {
            "version": 3,
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.buffer.ctypes.data, read_only),
            "strides": strides,
            "stream": stream,
        }

    def __dlpack_device__(self):
        return (2, self.device)

    def reshape(self, *shape):
        return FakeInterface(
            self.buffer.reshape(*shape).shape, self.dtype, device=self.device, buffer=self.buffer.reshape(*shape)
        )

    def __array_namespace__(self):
        return types.SimpleNamespace(
            empty_like=lambda x: FakeInterface(x.shape, x.dtype, device=x.device),
            empty=lambda shape, dtype: FakeInterface(shape, dtype, device=self.device),
            asarray=lambda v, dtype=None, copy=None: FakeInterface(
                np.shape(v), dtype or self.dtype, device=self.device
            ),
        )


def test_cuda_arrays_are_recognised_by_their_protocols():
    assert not rc.is_cuda_array(np.zeros(3)) and not rc.is_cuda_array([1.0]) and not rc.is_cuda_array(2.0)
    assert rc.is_cuda_array(FakeInterface((2,))) and rc.is_cuda_array(FakeDLPack((2,)))
    host = types.SimpleNamespace(__dlpack_device__=lambda: (1, 0), __dlpack__=None)
    broken = types.SimpleNamespace(__dlpack_device__=lambda: 1 / 0)
    assert not rc.is_cuda_array(host) and not rc.is_cuda_array(broken)
    if REQUIRED:
        import torch

        assert not rc.is_cuda_array(torch.zeros(3))  # a CPU tensor's interface raises


def test_the_interface_gives_shape_strides_type_and_the_producers_stream():
    f = FakeInterface((3, 4), "float16", strides=(2, 6))
    o = gpu._operand(f, "x", lambda device: 0)
    assert o.strides == (1, 3) and o.dtype == "float16" and o.address == f.buffer.ctypes.data
    with pytest.raises(ValueError, match="not whole elements"):
        gpu._operand(FakeInterface((3,), "float32", strides=(6,)), "x", lambda device: 0)
    with pytest.raises(RuntimeError, match="no CUDA driver"):  # an event wait on the producer's stream
        gpu._operand(FakeInterface((3,), stream=7), "x", lambda device: 0)
    big_endian = gpu._operand(FakeInterface((2,), ">f4"), "x", lambda device: 0)
    assert big_endian.dtype == ">f4"


# ---- PReLU's layout in memory ----


@pytest.mark.parametrize(
    "shape, order, channel, expected",
    [
        ((2, 3, 4, 5), (0, 1, 2, 3), 1, (2, 3, 20)),  # NCHW
        ((2, 3, 4, 5), (0, 2, 3, 1), 1, (40, 3, 1)),  # NHWC
        ((2, 3, 4, 5, 6), (0, 2, 3, 4, 1), 1, (240, 3, 1)),  # NDHWC
        ((2, 3, 4, 5), (3, 2, 1, 0), 1, (5 * 4, 3, 2)),  # Fortran order
        ((2, 3, 4), (0, 1, 2), 2, (6, 4, 1)),  # channels last by axis=
        ((6,), (0,), None, (6, 1, 1)),  # one channel
        ((2, 1, 4), (0, 1, 2), 1, (8, 1, 1)),
        ((0, 3, 4), (0, 1, 2), 1, (0, 3, 1)),  # no elements
    ],
)
def test_prelu_layout_for_every_order_of_the_axes(shape, order, channel, expected):
    a = np.zeros([shape[i] for i in order]).transpose(np.argsort(order))
    assert a.shape == shape
    strides = tuple(s // 8 for s in a.strides)
    assert layout.prelu_layout(shape, strides, channel) == expected
    # and the layout names each element's channel as NumPy does
    if a.size and channel is not None:
        outer, channels, inner = expected
        index = np.indices(shape)[channel]
        flat = np.empty(a.size, dtype=np.int64)
        offsets = (np.indices(shape) * np.array(strides).reshape(-1, *[1] * len(shape))).sum(axis=0)
        flat[offsets.reshape(-1)] = index.reshape(-1)
        assert np.array_equal(flat, np.tile(np.repeat(np.arange(channels), inner), outer))


def test_layouts_that_are_not_dense_have_none():
    assert layout.prelu_layout((2, 3, 4), (24, 4, 2), 1) is None
    assert layout.prelu_layout((2, 3), (1, 1), 1) is None
    assert layout.dense((2, 1, 3), (3, 99, 1))  # a size-1 axis's stride does not matter


# ---- argument errors, all before the driver ----


def test_argument_errors_name_the_argument():
    x = FakeInterface((2, 3))
    with pytest.raises(TypeError, match="int32"):
        rc.relu(FakeInterface((2,), "int32"))
    with pytest.raises(ValueError, match=r"shape \(3, 2\), `x` has \(2, 3\)"):
        rc.relu_backward(FakeInterface((3, 2)), x)
    with pytest.raises(TypeError, match="no casting"):
        rc.relu_backward(FakeInterface((2, 3), "float64"), x)
    with pytest.raises(ValueError, match="read-only"):
        rc.relu(x, out=FakeInterface((2, 3), read_only=True))
    with pytest.raises(ValueError, match="on GPU 1"):
        rc.relu(x, out=FakeInterface((2, 3), device=1))
    base = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        rc.relu(FakeInterface((2, 3), buffer=base[:2]), out=FakeInterface((2, 3), buffer=base[1:]))
    with pytest.raises(TypeError, match="one real number"):
        rc.leaky_relu(x, [0.1, 0.2])
    with pytest.raises(ValueError, match=r"`out` has shape \(3,\)"):
        rc.relu(x, out=FakeInterface((3,)))
    with pytest.raises(TypeError, match="weight"):
        rc.prelu(x, np.array(["a"]))
    with pytest.raises(ValueError, match="masked"):
        bad = FakeInterface((2,))
        bad.__cuda_array_interface__["mask"] = object()
        rc.relu(bad)


def test_inconsistent_interface_descriptions_are_refused_before_any_launch():
    """Every field of __cuda_array_interface__ is checked before a pointer is used: a
    description that contradicts itself never reaches the driver (on a GPU it would be a
    kernel over memory that is not there)."""

    def described(**fields):
        x = FakeInterface((4, 2))
        x.__cuda_array_interface__.update(fields)
        return x

    cases = [
        (described(strides=(4,)), ValueError, r"strides \(4,\) do not match shape \(4, 2\)"),
        (described(shape=(-4,), strides=None), ValueError, "negative size"),
        (described(shape="4"), TypeError, "not a tuple of integers"),
        (described(shape=(4.5, 2)), TypeError, "not a tuple of integers"),
        (described(strides=(8, "4")), TypeError, "strides"),
        (described(typestr=7), TypeError, "typestr 7 is not a string"),
        (described(typestr="no such type"), TypeError, "not a NumPy type string"),
        (described(data=5), TypeError, r"not \(address, read_only\)"),
        (described(data=(-1, False)), ValueError, "not a pointer"),
        (described(data=(0, False)), ValueError, "null data address for 8 elements"),
    ]
    for x, error, message in cases:
        with pytest.raises(error, match=message):
            rc.relu(x)
        with pytest.raises(error, match=message):
            rc.relu(FakeInterface((4, 2)), out=x)
    no_version = FakeInterface((2,))
    del no_version.__cuda_array_interface__["version"]
    with pytest.raises(TypeError, match="has no version"):
        rc.relu(no_version)

    class InterfaceOnly:  # no dtype, no namespace: the description (and, to stay off
        # the driver here, which device it is on)
        def __init__(self):
            self.keep = FakeInterface((3,))
            self.__cuda_array_interface__ = self.keep.__cuda_array_interface__

        def __dlpack_device__(self):
            return (2, 0)

    with pytest.raises(TypeError, match="pass out="):
        rc.relu(InterfaceOnly())
    with pytest.raises(TypeError, match="pass out="):
        rc.prelu(InterfaceOnly(), [0.25])


def test_results_are_allocated_through_the_callers_library():
    class Orphan(FakeInterface):
        __array_namespace__ = None  # no namespace, and its module has no empty_like

    with pytest.raises(TypeError, match="pass out="):
        rc.relu(Orphan((2,)))
    jax_like = type("Array", (FakeInterface,), {"__module__": "jaxlib.xla_extension"})
    with pytest.raises(TypeError, match="immutable"):
        rc.relu(jax_like((2,)))


def test_a_valid_call_reaches_the_driver():
    x = FakeInterface((2, 3))
    with pytest.raises(RuntimeError, match="no CUDA driver"):
        rc.relu(x)
    with pytest.raises(RuntimeError, match="no CUDA driver"):
        rc.relu(x, out=x)  # in place is not an overlap
    with pytest.raises(RuntimeError, match="no CUDA driver"):
        rc.prelu_backward(FakeInterface((2, 3)), x, [0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="pass out="):  # its module allocates nothing
        rc.relu(FakeDLPack((4,)))
    with pytest.raises(RuntimeError, match="no CUDA driver"):
        rc.relu(FakeDLPack((4,)), out=FakeDLPack((4,), address=0x20_0000))


def test_the_top_level_functions_send_cuda_arrays_here():
    x = FakeInterface((2, 3))
    for call in [
        lambda: relukit.leaky_relu(x, 0.1),
        lambda: relukit.leaky_relu_backward(x, x, 0.1),
        lambda: relukit.prelu(x, 0.25),
        lambda: relukit.prelu_backward(x, x, 0.25),
    ]:
        with pytest.raises(RuntimeError, match="no CUDA driver"):
            call()
    for call in [
        lambda: relukit.clipped_relu(x, 3.0),
        lambda: relukit.threshold(x, 0.1, 2.0),
        lambda: relukit.leaky_relu_derivative(x),
        lambda: relukit.prelu_derivative(x, 0.25),
        lambda: relukit.relu_observed(x, relukit.DeadUnitMonitor(3)),
        lambda: relukit.DeadUnitMonitor(3).observe(x),
    ]:
        with pytest.raises(TypeError, match="relukit.cuda runs|CUDA array"):
            call()


def test_host_arrays_run_the_cpu_functions():
    x = np.array([-2.0, -0.0, 0.5, np.nan], dtype=np.float32)
    g = np.ones_like(x)
    w = np.array([0.25], dtype=np.float32)
    pairs = [
        (rc.relu(x), relukit.relu(x)),
        (rc.relu_derivative(x), relukit.relu_derivative(x)),
        (rc.relu_backward(g, x), relukit.relu_backward(g, x)),
        (rc.leaky_relu(x, 0.1), relukit.leaky_relu(x, 0.1)),
        (rc.leaky_relu_backward(g, x, 0.1), relukit.leaky_relu_backward(g, x, 0.1)),
        (rc.prelu(x, w), relukit.prelu(x, w)),
        (rc.prelu_backward(g, x, w)[1], relukit.prelu_backward(g, x, w)[1]),
    ]
    for ours, expected in pairs:
        assert type(ours) is np.ndarray and ours.dtype == np.float32
        assert np.array_equal(ours.view(np.int32), expected.view(np.int32))


# ---- the whole Python path, with the kernels emulated on host memory ----


class HostGpuArray:
    """A NumPy array dressed as a CUDA array (interface version 3, DLPack device CUDA 0)
    with a library of its own: views, copies and allocation in NumPy's order "K", as
    CuPy's. Only an emulated `_cuda` may touch its memory."""

    def __init__(self, a):
        self.a = a
        self.shape, self.dtype, self.strides = a.shape, a.dtype, a.strides
        self.__cuda_array_interface__ = {
            "version": 3,
            "shape": a.shape,
            "typestr": a.dtype.str,
            "data": (a.ctypes.data, not a.flags.writeable),
            "strides": None if a.flags.c_contiguous else a.strides,
            "stream": None,
        }

    def __dlpack_device__(self):
        return (2, 0)

    def reshape(self, *shape):
        return HostGpuArray(self.a.reshape(*shape))

    def __setitem__(self, key, value):
        self.a[key] = value.a

    def __array_namespace__(self):
        return HostGpuLibrary


class HostGpuLibrary:
    @staticmethod
    def empty_like(x):
        return HostGpuArray(np.empty_like(x.a))

    @staticmethod
    def empty(shape, dtype):
        return HostGpuArray(np.empty(shape, dtype))

    @staticmethod
    def asarray(value, dtype=None):
        return HostGpuArray(np.array(value.a if isinstance(value, HostGpuArray) else value, dtype=dtype))

    @staticmethod
    def ascontiguousarray(x):
        return HostGpuArray(np.ascontiguousarray(x.a))


def _memory(address, count, dtype):
    """`count` elements of `dtype` at host address `address`, writable."""
    dtype = np.dtype(dtype)
    return np.frombuffer((ctypes.c_char * (count * dtype.itemsize)).from_address(address), dtype=dtype)


def emulated_cuda(launches):
    """A stand-in for the extension's `_cuda` that runs each kernel's contract with the CPU
    functions over the same memory, recording each launch in `launches`."""

    def run(operation, dtype, device, pointers, len, stream, negative_slope=0.0, layout=None, weight_len=0):
        launches.append((operation, layout))
        if operation == "prelu":
            x, w, out = (
                _memory(pointers[0], len, dtype),
                _memory(pointers[1], weight_len, dtype),
                _memory(pointers[2], len, dtype),
            )
            relukit.prelu(x.reshape(layout), w, axis=1, out=out.reshape(layout))
        elif operation == "prelu_backward":
            g, x, gi = (_memory(pointers[i], len, dtype).reshape(layout) for i in (0, 1, 3))
            w, gw = _memory(pointers[2], weight_len, dtype), _memory(pointers[4], weight_len, dtype)
            relukit.prelu_backward(g, x, w, axis=1, out=(gi, gw))
        else:
            arrays = [_memory(p, len, dtype) for p in pointers]
            slope = (negative_slope,) if operation.startswith("leaky") else ()
            function = getattr(relukit, operation)
            with np.errstate(over="ignore"):
                function(*arrays[:-1], *slope, out=arrays[-1])

    return run


LAYOUTS = {
    "C order": lambda a: a,
    "channels last": lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2),
    "Fortran order": lambda a: np.asfortranarray(a),
    "strided view": lambda a: a[:, :, ::2],
    "reversed": lambda a: a[:, :, ::-1],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_function_through_the_python_path_gives_the_cpus_bits(monkeypatch, dtype, layout):
    launches = []
    monkeypatch.setattr(ext, "_cuda", emulated_cuda(launches))
    rng = np.random.default_rng(3)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0])
    with np.errstate(over="ignore"):
        x = LAYOUTS[layout](
            (np.resize(special, 4 * 3 * 6 * 5) * rng.standard_normal(360)).astype(dtype).reshape(4, 3, 6, 5)
        )
        g = LAYOUTS[layout](rng.standard_normal((4, 3, 6, 5)).astype(dtype))
    w = np.array([0.25, -0.5, 0.0], dtype=dtype)
    xd, gd = HostGpuArray(x), HostGpuArray(g)
    with np.errstate(over="ignore", invalid="ignore"):
        pairs = [
            (rc.relu(xd), relukit.relu(x)),
            (rc.relu_derivative(xd), relukit.relu_derivative(x)),
            (rc.relu_backward(gd, xd), relukit.relu_backward(g, x)),
            (rc.leaky_relu(xd, -0.3), relukit.leaky_relu(x, -0.3)),
            (relukit.leaky_relu_backward(gd, xd, 0.2), relukit.leaky_relu_backward(g, x, 0.2)),
            (relukit.prelu(xd, w), relukit.prelu(x, w)),
            (rc.prelu(xd, HostGpuArray(w), axis=1), relukit.prelu(x, w)),
            (rc.prelu(xd, [0.1, 0.2, 0.3, 0.4, 0.5], axis=3), relukit.prelu(x, [0.1, 0.2, 0.3, 0.4, 0.5], axis=3)),
        ]
        gi, gw = rc.prelu_backward(gd, xd, w)
        expected_gi, expected_gw = relukit.prelu_backward(g, x, w)
    pairs += [(gi, expected_gi), (gw, expected_gw)]
    for ours, expected in pairs:
        assert isinstance(ours, HostGpuArray) and ours.dtype == dtype and ours.shape == expected.shape
        assert np.array_equal(ours.a.view(INT[ours.a.itemsize]), expected.view(INT[expected.itemsize]))
    assert gw.shape == w.shape
    if layout == "channels last":  # run in place with PReLU's layout, no copies
        assert ("prelu", (4 * 6 * 5, 3, 1)) in launches and ("prelu_backward", (4 * 6 * 5, 3, 1)) in launches
    if layout == "C order":
        assert ("prelu", (4, 3, 30)) in launches and ("prelu", (4 * 3 * 6, 5, 1)) in launches


def test_out_and_in_place_through_the_python_path(monkeypatch):
    monkeypatch.setattr(ext, "_cuda", emulated_cuda([]))
    x = np.array([[-2.0, -0.0, 1.5], [np.nan, 3.0, -1.0]], dtype=np.float32)
    xd = HostGpuArray(x.copy())
    out = HostGpuArray(np.full_like(x, 7.0))
    assert rc.relu(xd, out=out) is out and np.array_equal(out.a, np.maximum(x, 0), equal_nan=True)
    assert rc.leaky_relu(xd, 0.5, out=xd) is xd
    assert np.array_equal(xd.a, relukit.leaky_relu(x, 0.5), equal_nan=True)
    transposed_out = HostGpuArray(np.empty((3, 2), np.float32).T)  # another layout than x
    rc.relu(HostGpuArray(x), out=transposed_out)
    assert np.array_equal(transposed_out.a, relukit.relu(x), equal_nan=True)
    gi, gw = HostGpuArray(np.empty_like(x)), HostGpuArray(np.empty(3, np.float32))
    assert rc.prelu_backward(HostGpuArray(np.ones_like(x)), HostGpuArray(x), [0.1, 0.2, 0.3], out=(gi, gw)) == (gi, gw)
    expected = relukit.prelu_backward(np.ones_like(x), x, np.array([0.1, 0.2, 0.3], np.float32))
    assert np.array_equal(gi.a, expected[0], equal_nan=True) and np.array_equal(gw.a, expected[1], equal_nan=True)


# ---- on the GPU, with CuPy ----

try:
    import cupy

    GPU = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # no CuPy, or no driver
    if REQUIRE_GPU:
        raise
    cupy, GPU = None, False

needs_gpu = pytest.mark.skipif(not GPU, reason="no CuPy and CUDA GPU here")
FLOATS = [np.float32, np.float64, np.float16]
INT = {2: np.int16, 4: np.int32, 8: np.int64}


def bits(a):
    a = cupy.asnumpy(a) if cupy is not None and isinstance(a, cupy.ndarray) else np.asarray(a)
    return np.ascontiguousarray(a).view(INT[a.dtype.itemsize])


def values(dtype, n=5000, seed=0):
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 3e38, -3e38])
    with np.errstate(over="ignore"):
        parts = [special.astype(dtype), (np.random.default_rng(seed).standard_normal(n) * 4).astype(dtype)]
    if dtype == np.float16:
        parts.append(np.arange(-32768, 32768, dtype=np.int32).astype(np.int16).view(np.float16))
    return np.concatenate(parts)


@needs_gpu
@pytest.mark.parametrize("dtype", FLOATS)
def test_cupy_arrays_give_the_cpus_bits(dtype):
    x = values(dtype)
    g = np.resize(values(dtype, seed=1)[::-1], x.size)
    xg, gg = cupy.asarray(x), cupy.asarray(g)
    with np.errstate(over="ignore", invalid="ignore"):
        pairs = [
            (rc.relu(xg), relukit.relu(x)),
            (rc.relu_derivative(xg), relukit.relu_derivative(x)),
            (rc.relu_backward(gg, xg), relukit.relu_backward(g, x)),
            (rc.leaky_relu(xg, 0.01), relukit.leaky_relu(x, 0.01)),
            (rc.leaky_relu(xg, -0.5), relukit.leaky_relu(x, -0.5)),
            (rc.leaky_relu_backward(gg, xg, 0.2), relukit.leaky_relu_backward(g, x, 0.2)),
            (relukit.leaky_relu(xg, 0.3), relukit.leaky_relu(x, 0.3)),
            (relukit.prelu(xg, 0.25), relukit.prelu(x, 0.25)),
        ]
    for ours, expected in pairs:
        assert isinstance(ours, cupy.ndarray) and ours.dtype == dtype
        assert np.array_equal(bits(ours), bits(expected))


@needs_gpu
@pytest.mark.parametrize("dtype", FLOATS)
def test_cupy_prelu_in_every_layout_and_a_deterministic_weight_gradient(dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((8, 6, 5, 7)) * 3).astype(dtype)
    go = rng.standard_normal(x.shape).astype(dtype)
    w = (rng.random(6) - 0.3).astype(dtype)
    nhwc = lambda a: cupy.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # noqa: E731
    for arrange in [lambda a: a, nhwc, lambda a: a[:, :, ::2]]:
        xg, gg = arrange(cupy.asarray(x)), arrange(cupy.asarray(go))
        xh, gh = cupy.asnumpy(xg), cupy.asnumpy(gg)
        y = rc.prelu(xg, cupy.asarray(w))
        assert y.strides == cupy.empty_like(xg).strides
        assert np.array_equal(bits(y), bits(relukit.prelu(xh, w)))
        grads = [rc.prelu_backward(gg, xg, w) for _ in range(5)]
        gi, gw = relukit.prelu_backward(gh, xh, w)
        for g_in, g_w in grads:
            assert np.array_equal(bits(g_in), bits(gi))
            assert np.array_equal(bits(g_w), bits(grads[0][1]))
            assert g_w.shape == w.shape and g_w.dtype == dtype
        exact = ((gh.astype(np.float64) * xh) * (xh <= 0)).sum(axis=(0, 2, 3))
        tolerance = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-12}[dtype]
        assert np.allclose(cupy.asnumpy(grads[0][1]).astype(np.float64), exact, rtol=tolerance, atol=tolerance)
    nhwc = cupy.asarray(x.transpose(0, 2, 3, 1).copy())
    assert np.array_equal(bits(rc.prelu(nhwc, w, axis=3)), bits(relukit.prelu(x.transpose(0, 2, 3, 1), w, axis=3)))


@needs_gpu
def test_cupy_out_in_place_streams_and_other_protocols():
    x = values(np.float32)
    xg = cupy.asarray(x)
    out = cupy.empty_like(xg)
    assert rc.relu(xg, out=out) is out and np.array_equal(bits(out), bits(relukit.relu(x)))
    inplace = xg.copy()
    assert rc.leaky_relu(inplace, 0.1, out=inplace) is inplace
    assert np.array_equal(bits(inplace), bits(relukit.leaky_relu(x, 0.1)))
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        big = cupy.asarray(np.tile(x, 200))
        y = rc.relu(big)
    stream.synchronize()
    assert np.array_equal(bits(y), bits(relukit.relu(np.tile(x, 200))))

    class InterfaceOnly:
        def __init__(self, a):
            self.a, self.__cuda_array_interface__ = a, a.__cuda_array_interface__

        def __array_namespace__(self):
            return cupy

    class DLPackOnly:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kwargs):
            return self.a.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    o1, o2 = cupy.empty_like(xg), cupy.empty_like(xg)
    rc.relu(InterfaceOnly(xg), out=InterfaceOnly(o1))
    rc.relu(DLPackOnly(xg), out=DLPackOnly(o2))
    assert np.array_equal(bits(o1), bits(relukit.relu(x))) and np.array_equal(bits(o2), bits(o1))


@needs_gpu
def test_torch_cuda_tensors_through_the_generic_path():
    torch = pytest.importorskip("torch")
    x = torch.randn(1000, device="cuda")
    d = rc.relu_derivative(x)
    assert isinstance(d, torch.Tensor) and d.device == x.device
    assert torch.equal(d.cpu(), torch.from_numpy(relukit.relu_derivative(x.cpu().numpy())))
    out = torch.empty_like(x)
    assert rc.relu(x, out=out) is out and torch.equal(out, torch.relu(x))


def test_the_gpu_operations_and_dtypes_are_one_list():
    """relukit.cuda's functions, relukit.torch's CUDA routing and the error messages all
    read the extension's lists (relukit-py's cuda.rs): they match what it runs."""
    operations = ext._cuda_operations()
    assert set(rc.__all__) - {"is_cuda_array"} == set(operations)
    assert ext._dtypes() == [("float32", 4), ("float64", 8), ("float16", 2), ("bfloat16", 2)]
    with pytest.raises(TypeError, match="relukit.cuda runs relu, .* and prelu_backward on CUDA arrays"):
        relukit.clipped_relu(FakeInterface((2,)), 1.0)
