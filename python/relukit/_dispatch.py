"""Other array libraries in the non-ufunc functions (the ufuncs dispatch by NumPy's own
protocols): a torch tensor goes to ``relukit.torch`` and comes back a tensor; another
CUDA array (CuPy's, any ``__dlpack__`` or ``__cuda_array_interface__`` on a GPU) goes
to ``relukit.cuda`` and comes back an array of its library; a dask array stays lazy (PReLU block by block; ``prelu_backward``'s weight gradient a tree
reduction of per-block partial sums); an object that is neither and that NumPy cannot
turn into an array of numbers is a TypeError raised by the extension.

Nothing here imports torch or dask: an argument is recognised by its type's module, so
both stay optional."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _relukit


DLPACK_CUDA = (2, 13)  # DLPack's kDLCUDA and kDLCUDAManaged


def is_cuda_array(x: Any) -> bool:
    """Whether ``x`` is memory of a GPU that relukit's kernels can read: ``__dlpack__``
    on a CUDA device (or CUDA managed memory), or ``__cuda_array_interface__``.

    >>> import numpy as np, relukit.cuda
    >>> relukit.cuda.is_cuda_array(np.zeros(3))
    False
    """
    if type(x) is np.ndarray:
        return False
    device = getattr(x, "__dlpack_device__", None)
    if device is not None:
        try:
            return int(device()[0]) in DLPACK_CUDA
        except Exception:  # a producer that cannot say where its memory is
            return False
    try:
        return hasattr(x, "__cuda_array_interface__")  # CPU torch tensors raise here
    except Exception:
        return False


def kind(x: Any) -> str:
    """``"torch"``, ``"cuda"`` (a CUDA array of another library), ``"dask"`` or
    ``"numpy"`` (anything else NumPy may convert)."""
    module = type(x).__module__.split(".")[0]
    if module == "torch" and hasattr(x, "dim"):
        return "torch"
    if module == "dask" and hasattr(x, "__dask_graph__") and hasattr(x, "chunks"):
        return "dask"
    if module not in ("numpy", "builtins") and is_cuda_array(x):
        return "cuda"
    return "numpy"


def _no_out(function: str, x: Any, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{function}: `out=` takes NumPy arrays; a {type(x).__module__}.{type(x).__name__} input returns its own")


def _channel_axis(ndim: int, axis: Optional[int]) -> Optional[int]:
    """PReLU's channel axis, normalised: ``axis``, or 1 (none below 2 dimensions)."""
    if axis is None:
        return 1 if ndim >= 2 else None
    index = int(axis)
    if not -ndim <= index < ndim:
        raise np.exceptions.AxisError(f"axis {index} is out of bounds for an array of dimension {ndim}")
    return index % ndim


# ---- torch ----


def _torch_weight(x: Any, weight: Any) -> Any:
    import torch

    return torch.as_tensor(np.asarray(weight) if not isinstance(weight, torch.Tensor) else weight, dtype=x.dtype).reshape(-1)


def torch_prelu(x: Any, weight: Any, axis: Optional[int]) -> Any:
    from . import torch as rt

    channel = _channel_axis(x.dim(), axis)
    w = _torch_weight(x, weight)
    if channel is None or channel == 1:
        return rt.prelu(x, w)
    if x.dim() == 1:  # axis=0 of a 1-D input: one slope per element
        return rt.prelu(x.unsqueeze(0), w).squeeze(0)
    return rt.prelu(x.movedim(channel, 1), w).movedim(1, channel)


def torch_prelu_backward(grad_output: Any, x: Any, weight: Any, axis: Optional[int]) -> Any:
    import torch

    from . import torch as rt

    channel = _channel_axis(x.dim(), axis)
    w = _torch_weight(x, weight)
    g = torch.as_tensor(grad_output, dtype=x.dtype)
    if channel is None or channel == 1:
        gi, gw = rt.prelu_backward(g, x, w)
    elif x.dim() == 1:  # axis=0 of a 1-D input: one slope per element
        gi, gw = rt.prelu_backward(g.unsqueeze(0), x.unsqueeze(0), w)
        gi = gi.squeeze(0)
    else:
        gi, gw = rt.prelu_backward(g.movedim(channel, 1), x.movedim(channel, 1), w)
        gi = gi.movedim(1, channel)
    return gi, gw.reshape(np.shape(weight))


def torch_array(x: Any) -> np.ndarray:
    """A NumPy view of a CPU tensor (bfloat16 through ml_dtypes)."""
    from .torch import _kernels

    return _kernels.array(x, "x")


# ---- dask ----


def _known_chunks(function: str, *arrays: Any) -> None:
    """Refuses a dask array whose chunk sizes are unknown (NaN, after boolean indexing):
    each block's position decides its slopes and channels."""
    for a in arrays:
        if any(c != c for chunks in a.chunks for c in chunks):
            raise ValueError(
                f"{function}: a dask array with unknown chunk sizes ({a.chunks}); relukit needs each block's "
                "position: call .compute_chunk_sizes() on it first"
            )


def _weight_slice(weight: np.ndarray, channel: Optional[int], location: list) -> np.ndarray:
    """The slopes of one block: its channel range, or the one shared slope."""
    if channel is None or weight.size == 1:
        return weight
    start, stop = location[channel]
    return weight[start:stop]


def dask_prelu(x: Any, weight: Any, axis: Optional[int]) -> Any:
    _known_chunks("prelu", x)
    channel = _channel_axis(x.ndim, axis)
    w = np.asarray(weight).reshape(-1)

    def block(b: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        if block_info is None:  # dask's metadata probe on an empty block
            return _relukit.prelu(b, w[:1], axis=channel)
        return _relukit.prelu(b, _weight_slice(w, channel, block_info[0]["array-location"]), axis=channel)

    dtype = _relukit.prelu(np.zeros((1,) * max(x.ndim, 1), dtype=x.dtype), w[:1]).dtype
    return x.map_blocks(block, dtype=dtype)


def dask_prelu_derivative(x: Any, weight: Any, axis: Optional[int]) -> Any:
    _known_chunks("prelu_derivative", x)
    channel = _channel_axis(x.ndim, axis)
    w = np.asarray(weight).reshape(-1)

    def block(b: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        if block_info is None:
            return _relukit.prelu_derivative(b, w[:1], axis=channel)
        return _relukit.prelu_derivative(b, _weight_slice(w, channel, block_info[0]["array-location"]), axis=channel)

    dtype = _relukit.prelu_derivative(np.zeros((1,) * max(x.ndim, 1), dtype=x.dtype), w[:1]).dtype
    return x.map_blocks(block, dtype=dtype)


def _backward_block(g: np.ndarray, x: np.ndarray, w: np.ndarray, channel: Optional[int], width: int, start: int) -> tuple:
    """One block's grad_input and its weight-gradient partial sum, in float64, placed at
    the block's channels in a vector of all ``width`` of them."""
    gi, gw = _relukit.prelu_backward(g, x, w, axis=channel)
    partial = np.zeros(width, dtype=np.float64)
    partial[start : start + gw.size] = np.asarray(gw, dtype=np.float64).reshape(-1)
    return gi, partial


def dask_prelu_backward(grad_output: Any, x: Any, weight: Any, axis: Optional[int]) -> tuple:
    import dask
    import dask.array as da

    channel = _channel_axis(x.ndim, axis)
    weight = np.asarray(weight)
    w = weight.reshape(-1)
    g = da.asarray(grad_output)
    _known_chunks("prelu_backward", x, g)
    if g.shape != x.shape:
        raise ValueError(f"prelu_backward: `grad_output` has shape {g.shape}, `x` has {x.shape}")
    g = g.astype(x.dtype).rechunk(x.chunks)
    xs, gs = x.to_delayed(), g.to_delayed()
    width = w.size
    offsets = [np.cumsum((0,) + c) for c in x.chunks]
    grad_input = np.empty(xs.shape, dtype=object)
    partials = []
    for index in np.ndindex(xs.shape):
        shape = tuple(c[i] for c, i in zip(x.chunks, index))
        if channel is None or width == 1:
            wb, start = w, 0
        else:
            start = int(offsets[channel][index[channel]])
            wb = w[start : start + shape[channel]]
        pair = dask.delayed(_backward_block, nout=2, pure=True)(gs[index], xs[index], wb, channel, width, start)
        grad_input[index] = da.from_delayed(pair[0], shape=shape, dtype=x.dtype)
        partials.append(da.from_delayed(pair[1], shape=(width,), dtype=np.float64))
    gi = da.block(grad_input.tolist()) if xs.ndim else grad_input[()]
    gw = da.stack(partials).sum(axis=0, split_every=8).astype(x.dtype).reshape(weight.shape)
    return gi, gw


def dask_observe(x: Any, units: int, axis: Optional[int]) -> Any:
    """A monitor of ``units`` that observed every block of ``x``: the array is computed
    now, block by block (the unit axis in one chunk), each block into a monitor of its
    own, merged in a tree."""
    import dask
    import dask.array as da

    x = da.asarray(x)
    _known_chunks("observe", x)
    if x.ndim >= 1:
        unit = 1 if (axis is None and x.ndim >= 2) else (0 if axis is None else int(axis) % x.ndim)
        x = x.rechunk({unit: -1})

    def block(b: np.ndarray) -> Any:
        m = _relukit.DeadUnitMonitor(units)
        m.observe(b, axis=axis)
        return m

    def merge(monitors: list) -> Any:
        total = monitors[0]
        for m in monitors[1:]:
            total.merge(m)
        return total

    monitors = [dask.delayed(block)(b) for b in x.to_delayed().reshape(-1)]
    while len(monitors) > 1:
        monitors = [dask.delayed(merge)(monitors[i : i + 8]) for i in range(0, len(monitors), 8)]
    (result,) = dask.compute(monitors[0])
    return result


# SplitMix64's increment: RReLU's slope of element i is output i of SplitMix64 from
# `seed`, which is output 0 of SplitMix64 from `seed + i * GOLDEN` (mod 2**64).
_GOLDEN = 0x9E3779B97F4A7C15


def dask_rrelu(function: str, operands: tuple, lower: float, upper: float, training: bool, seed: Any) -> Any:
    """``rrelu``, ``rrelu_derivative`` or ``rrelu_backward`` (``function``) of dask arrays,
    lazily and with the bits of the whole array at once: in training, the array is cut
    into blocks of whole rows (axis 0 only), so a block is a run of elements in C order
    starting at some index, and the counter-based generator continues there."""
    import dask.array as da

    kernel = getattr(_relukit, function)
    arrays = [da.asarray(o) for o in operands]
    _known_chunks(function, *arrays)
    x = arrays[-1]
    for a in arrays[:-1]:
        if a.shape != x.shape:
            raise ValueError(f"{function}: `grad_output` has shape {a.shape}, `x` has {x.shape}")
    probe = [np.zeros((1,) * max(x.ndim, 1), dtype=a.dtype) for a in arrays]
    dtype = kernel(*probe, lower, upper, training, seed).dtype  # checks every argument now
    if not training or x.ndim == 0:
        return da.map_blocks(lambda *blocks: kernel(*blocks, lower, upper, training, seed), *arrays, dtype=dtype)
    rows = {axis: -1 for axis in range(1, x.ndim)}
    arrays = [a.rechunk(rows).rechunk(x.rechunk(rows).chunks) for a in arrays]
    row = int(np.prod(x.shape[1:]))
    start_seed = int(seed) % 2**64

    def block(*blocks: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        start = 0 if block_info is None else block_info[0]["array-location"][0][0]
        return kernel(*blocks, lower, upper, True, (start_seed + start * row * _GOLDEN) % 2**64)

    return da.map_blocks(block, *arrays, dtype=dtype)


def observe(x: Any, units: int, axis: Optional[int]) -> Any:
    """For ``DeadUnitMonitor.observe``: a filled monitor for dask arrays and tensors (the
    extension merges it), or None for what NumPy converts."""
    k = kind(x)
    if k == "dask":
        return dask_observe(x, units, axis)
    if k == "cuda":
        raise TypeError(
            "DeadUnitMonitor.observe: a CUDA array; the monitor counts on the CPU (relukit.torch.DeadUnitTracker "
            "counts CUDA tensors on the GPU): copy it to the host first"
        )
    if k == "torch":
        m = _relukit.DeadUnitMonitor(units)
        m.observe(torch_array(x), axis=axis)
        return m
    return None
