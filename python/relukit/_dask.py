"""Dask arrays stay lazy: PReLU and its derivative block by block, ``prelu_backward``'s
weight gradient a tree reduction of per-block partial sums, RReLU's counter-based slopes
continued at each block's first element, monitors filled per block and merged.

dask is imported only by the functions that build graphs (an argument is a dask array
only if dask made it)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _relukit
from ._layout import channel_axis


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


def prelu(x: Any, weight: Any, axis: Optional[int]) -> Any:
    _known_chunks("prelu", x)
    channel = channel_axis(x.ndim, axis)
    w = np.asarray(weight).reshape(-1)

    def block(b: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        if block_info is None:  # dask's metadata probe on an empty block
            return _relukit.prelu(b, w[:1], axis=channel)
        return _relukit.prelu(b, _weight_slice(w, channel, block_info[0]["array-location"]), axis=channel)

    dtype = _relukit.prelu(np.zeros((1,) * max(x.ndim, 1), dtype=x.dtype), w[:1]).dtype
    return x.map_blocks(block, dtype=dtype)


def prelu_derivative(x: Any, weight: Any, axis: Optional[int]) -> Any:
    _known_chunks("prelu_derivative", x)
    channel = channel_axis(x.ndim, axis)
    w = np.asarray(weight).reshape(-1)

    def block(b: np.ndarray, block_info: Optional[dict] = None) -> np.ndarray:
        if block_info is None:
            return _relukit.prelu_derivative(b, w[:1], axis=channel)
        return _relukit.prelu_derivative(b, _weight_slice(w, channel, block_info[0]["array-location"]), axis=channel)

    dtype = _relukit.prelu_derivative(np.zeros((1,) * max(x.ndim, 1), dtype=x.dtype), w[:1]).dtype
    return x.map_blocks(block, dtype=dtype)


def _backward_block(
    g: np.ndarray, x: np.ndarray, w: np.ndarray, channel: Optional[int], width: int, start: int
) -> tuple:
    """One block's grad_input and its weight-gradient partial sum, in float64, placed at
    the block's channels in a vector of all ``width`` of them."""
    gi, gw = _relukit.prelu_backward(g, x, w, axis=channel)
    partial = np.zeros(width, dtype=np.float64)
    partial[start : start + gw.size] = np.asarray(gw, dtype=np.float64).reshape(-1)
    return gi, partial


def prelu_backward(grad_output: Any, x: Any, weight: Any, axis: Optional[int]) -> tuple:
    import dask
    import dask.array as da

    channel = channel_axis(x.ndim, axis)
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


def observe(x: Any, units: int, axis: Optional[int], outputs: Any = None, magnitudes: bool = True) -> Any:
    """A monitor of ``units`` that observed every block of ``x`` (with the matching block
    of ``outputs``, if given): the array is computed now, block by block (the unit axis
    in one chunk), each block into a monitor of its own, merged in a tree in block
    order."""
    import dask
    import dask.array as da

    x = da.asarray(x)
    _known_chunks("observe", x)
    if x.ndim >= 1:
        unit = 1 if (axis is None and x.ndim >= 2) else (0 if axis is None else int(axis) % x.ndim)
        x = x.rechunk({unit: -1})
    if outputs is not None:
        outputs = da.asarray(outputs)
        if outputs.shape != x.shape:
            raise ValueError(
                f"DeadUnitMonitor.observe: `outputs` has shape {outputs.shape}, but `pre_activations` has {x.shape}"
            )
        outputs = outputs.rechunk(x.chunks)

    def block(b: np.ndarray, h: Optional[np.ndarray]) -> Any:
        m = _relukit.DeadUnitMonitor(units, magnitudes=magnitudes)
        m.observe(b, axis=axis, outputs=h)
        return m

    def merge(monitors: list) -> Any:
        total = monitors[0]
        for m in monitors[1:]:
            total.merge(m)
        return total

    blocks = x.to_delayed().reshape(-1)
    hs = [None] * len(blocks) if outputs is None else list(outputs.to_delayed().reshape(-1))
    monitors = [dask.delayed(block)(b, h) for b, h in zip(blocks, hs)]
    while len(monitors) > 1:
        monitors = [dask.delayed(merge)(monitors[i : i + 8]) for i in range(0, len(monitors), 8)]
    (result,) = dask.compute(monitors[0])
    return result


# SplitMix64's increment: RReLU's slope of element i is output i of SplitMix64 from
# `seed`, which is output 0 of SplitMix64 from `seed + i * GOLDEN` (mod 2**64).
_GOLDEN = 0x9E3779B97F4A7C15


def rrelu(function: str, operands: tuple, lower: float, upper: float, training: bool, seed: Any) -> Any:
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
