"""Bad input gets a clear error of the right type, nothing is lost silently, and monitors
survive copy, pickle and merge (the hardening issue, item by item)."""

import copy
import multiprocessing
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest

import relukit

FLOATS = [np.float16, np.float32, np.float64]
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(a):
    a = np.asarray(a)
    return a.view(UINT[a.dtype.itemsize])


# ---- 1. a slope that does not fit the compute type ----


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_a_slope_infinite_in_float32_is_an_error(dtype):
    x = np.array([-1.0, -0.0, 0.0, 2.0], dtype=dtype)
    for slope in [1e39, -1e39, [0.1, 0.1, 1e39, 0.1]]:
        with pytest.raises(ValueError, match="finite in f32"):
            relukit.leaky_relu(x, slope)
        with pytest.raises(ValueError, match="finite in f32"):
            relukit.leaky_relu_backward(np.ones_like(x), x, slope)
    # The raw ufunc cannot raise from its loop: NaN and NumPy's invalid-value flag (the
    # slope's conversion to float32 also reports an overflow).
    with np.errstate(over="ignore"), pytest.warns(RuntimeWarning, match="invalid value"):
        y = relukit.leaky_relu_ufunc(x, 1e39)
    assert np.isnan(y).all()
    with np.errstate(invalid="raise", over="ignore"), pytest.raises(FloatingPointError):
        relukit.leaky_relu_ufunc(x, 1e39)
    with np.errstate(invalid="raise", over="ignore"), pytest.raises(FloatingPointError):
        relukit.leaky_relu_backward_ufunc(x, x, np.array([0.1, 1e39, 0.1, 0.1]))


def test_float64_computes_in_float64():
    x = np.array([-0.0, 0.0, -1.0])
    y = relukit.leaky_relu(x, 1e39)
    np.testing.assert_array_equal(bits(y), bits(np.array([-0.0, 0.0, -1e39])))
    with pytest.raises(ValueError, match="finite"):
        relukit.leaky_relu(x, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        relukit.leaky_relu_ufunc(x, 1e39)  # finite in float64: no warning


# ---- 2. the weight gradient does not depend on the memory layout ----


def test_prelu_weight_gradient_is_the_same_for_c_f_and_views():
    rng = np.random.default_rng(5)
    for _ in range(300):
        rows = int(rng.integers(1, 3000))
        x = rng.standard_normal((2 * rows, 3)).astype(np.float32)
        g = rng.standard_normal((2 * rows, 3)).astype(np.float32)
        w = np.array([0.25, -0.5, 0.125], dtype=np.float32)
        expected = relukit.prelu_backward(np.ascontiguousarray(g[::2]), np.ascontiguousarray(x[::2]), w)[1]
        for gv, xv in [(g[::2], x[::2]), (np.asfortranarray(g[::2]), np.asfortranarray(x[::2]))]:
            np.testing.assert_array_equal(bits(relukit.prelu_backward(gv, xv, w)[1]), bits(expected))


# ---- 3. the non-ufunc functions take any array, type-checked ----


@pytest.mark.parametrize("dtype", [">f2", ">f4", ">f8"])
def test_big_endian_input_keeps_its_float_type(dtype):
    x = np.array([[-2.0, -1.0], [0.0, 3.0]], dtype=dtype)
    native = x.dtype.newbyteorder("=")
    y = relukit.prelu(x, np.array([0.5, 0.25]))
    assert y.dtype == native and y.dtype.isnative
    np.testing.assert_array_equal(y, [[-1.0, -0.25], [0.0, 3.0]])
    gx, gw = relukit.prelu_backward(np.ones_like(x), x, [0.5, 0.25])
    assert gx.dtype == native and gw.dtype == native
    monitor = relukit.DeadUnitMonitor(2)
    assert relukit.relu_observed(x, monitor).dtype == native
    monitor.observe(x)
    assert monitor.samples == 4


def test_zero_dimensional_input_gives_a_zero_dimensional_result():
    y = relukit.prelu(np.float32(-2.0), 0.25)
    assert isinstance(y, np.float32) and y == -0.5
    y = relukit.prelu(np.array(-2.0), [0.25])
    assert isinstance(y, np.ndarray) and y.shape == () and y == -0.5
    gx, gw = relukit.prelu_backward(np.array(3.0), np.array(-2.0), np.array([0.25]))
    assert gx.shape == () and gx == 0.75 and gw.shape == (1,) and gw[0] == -6.0
    with pytest.raises(ValueError, match="one channel"):
        relukit.prelu(np.array(-2.0), [0.25, 0.5])
    with pytest.raises(np.exceptions.AxisError):
        relukit.prelu(np.array(-2.0), [0.25], axis=0)
    monitor = relukit.DeadUnitMonitor(1)
    y = relukit.relu_observed(np.array(-1.0), monitor)
    assert y.shape == () and y == 0.0 and monitor.samples == 1 and monitor.dead_units == [0]
    # PyTorch's rule: fewer than 2 dimensions, one channel; the article's example.
    np.testing.assert_array_equal(relukit.prelu(np.array([-2.0, -1, 0, 1, 2]), 0.25), [-0.5, -0.25, 0, 1, 2])


BAD = [np.array(["a", "b"]), np.array([object(), object()], dtype=object), np.array([1 + 2j, 3j])]


def test_every_argument_is_type_checked():
    x = np.array([-1.0, 2.0])
    for bad in BAD:
        with pytest.raises(TypeError):
            relukit.prelu_backward(bad, x, [0.25])
        with pytest.raises(TypeError):
            relukit.prelu(x, bad[:1])
        with pytest.raises(TypeError):
            relukit.prelu_backward(np.ones(2), x, bad[:1])
        with pytest.raises(TypeError):
            relukit.prelu(bad, [0.25])
        with pytest.raises(TypeError):
            relukit.relu_observed(bad, relukit.DeadUnitMonitor(2))
        with pytest.raises(TypeError):
            relukit.DeadUnitMonitor(2).observe(bad)
    for call in [lambda: relukit.prelu(x, None), lambda: relukit.prelu_backward(np.ones(2), x, None)]:
        with pytest.raises(TypeError, match="None"):
            call()
    with pytest.raises(TypeError):
        relukit.prelu(x, 0.25 + 0.5j)  # the imaginary part is never dropped silently
    with pytest.raises(TypeError):
        relukit.leaky_relu(x, None)
    with pytest.raises(TypeError):
        relukit.leaky_relu(x, 0.1 + 1j)
    with pytest.raises(TypeError):
        relukit.relu_observed(x, None)
    with pytest.raises(TypeError):
        relukit.relu_observed(x, "monitor")


def test_out_follows_same_kind_casting_and_writes_in_place():
    x = np.array([[-2.0, 1.0], [3.0, -4.0]], dtype=np.float32)
    w = np.array([0.5, 0.25], dtype=np.float32)
    expected = np.array([[-1.0, 1.0], [3.0, -1.0]], dtype=np.float32)
    with pytest.raises(TypeError, match="same_kind"):
        relukit.prelu(x, w, out=np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="same_kind"):
        relukit.prelu_backward(np.ones_like(x), x, w, out=(np.zeros((2, 2), np.int32), np.zeros(2, np.float32)))
    with pytest.raises(ValueError, match="shape"):
        relukit.prelu(x, w, out=np.zeros((2, 3), dtype=np.float32))
    readonly = np.zeros((2, 2), dtype=np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        relukit.prelu(x, w, out=readonly)
    wider = np.zeros((2, 2))
    assert relukit.prelu(x, w, out=wider) is wider
    np.testing.assert_array_equal(wider, expected)
    out = np.zeros((2, 2), dtype=np.float32)
    assert relukit.prelu(x, w, out=out) is out
    np.testing.assert_array_equal(out, expected)
    strided = np.zeros((2, 4), dtype=np.float32)[:, ::2]
    relukit.prelu(x, w, out=strided)
    np.testing.assert_array_equal(strided, expected)
    inplace = x.copy()
    relukit.prelu(inplace, w, out=inplace)
    np.testing.assert_array_equal(inplace, expected)
    overlapping = np.array([-2.0, 1.0, 3.0, -4.0, 0.0], dtype=np.float32)
    relukit.prelu(overlapping[:4], 0.5, out=overlapping[1:])
    np.testing.assert_array_equal(overlapping, [-2.0, -1.0, 1.0, 3.0, -2.0])
    gi, gw = np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    result = relukit.prelu_backward(np.ones_like(x), x, w, out=(gi, gw))
    assert result[0] is gi and result[1] is gw
    np.testing.assert_array_equal(gw, [-2.0, -4.0])
    monitor = relukit.DeadUnitMonitor(2)
    out = np.zeros((2, 2), dtype=np.float32)
    assert relukit.relu_observed(x, monitor, out=out) is out
    np.testing.assert_array_equal(out, np.maximum(x, 0))


def test_out_of_the_result_type_is_written_without_a_temporary():
    x = np.linspace(-1.0, 1.0, 1 << 23, dtype=np.float32)
    out = np.empty_like(x)
    relukit.prelu(x, 0.5, out=out)  # warm up
    tracemalloc.start()
    try:
        relukit.prelu(x, 0.5, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes // 8, f"prelu(out=...) allocated {peak} bytes"


def test_masked_arrays_are_refused_not_unmasked():
    x = np.ma.MaskedArray([-1.0, 2.0], mask=[True, False])
    for call in [
        lambda: relukit.prelu(x, 0.25),
        lambda: relukit.prelu_backward(x, np.ones(2), 0.25),
        lambda: relukit.prelu_backward(np.ones(2), x, 0.25),
        lambda: relukit.relu_observed(x, relukit.DeadUnitMonitor(2)),
        lambda: relukit.DeadUnitMonitor(2).observe(x),
    ]:
        with pytest.raises(TypeError, match="mask"):
            call()
    # The ufuncs keep the mask, as NumPy's do.
    y = relukit.relu(x)
    assert isinstance(y, np.ma.MaskedArray) and list(y.mask) == [True, False]


# ---- 4. integer loops follow the C ABI ----


def test_every_loop_touches_exactly_its_dtypes_item_size():
    sizes = dict(relukit._relukit._loop_item_sizes())
    ufuncs = [getattr(relukit, name) for name in sizes]
    assert len(ufuncs) >= 15 and all(isinstance(u, np.ufunc) for u in ufuncs)
    for ufunc in ufuncs:
        chars = [c for signature in ufunc.types for c in signature.replace("->", "")]
        assert len(chars) == len(sizes[ufunc.__name__]), ufunc.__name__
        for char, size in zip(chars, sizes[ufunc.__name__]):
            assert np.dtype(char).itemsize == size, (
                f"{ufunc.__name__}: {char} is {np.dtype(char).itemsize} bytes, the loop {size}"
            )
    x = np.array([-3, 0, 5], dtype=np.dtype("l"))
    np.testing.assert_array_equal(relukit.relu(x), [0, 0, 5])


# ---- 5. monitors copy, pickle and merge ----


def _fill(data):
    monitor = relukit.DeadUnitMonitor(data.shape[1])
    monitor.observe(data, axis=1)
    return monitor


def test_monitors_copy_pickle_and_merge():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((50, 4)) - 1.0
    monitor = _fill(data)
    shallow = copy.copy(monitor)
    shallow.observe(np.ones((5, 4)))
    assert monitor.samples == 50 and shallow.samples == 55
    deep = copy.deepcopy(monitor)
    assert deep == monitor and deep is not monitor
    restored = pickle.loads(pickle.dumps(monitor))
    assert restored == monitor
    np.testing.assert_array_equal(restored.active_counts, monitor.active_counts)
    assert relukit.DeadUnitMonitor.from_bytes(monitor.to_bytes()) == monitor
    with pytest.raises(ValueError, match="checksum|bytes"):
        relukit.DeadUnitMonitor.from_bytes(monitor.to_bytes()[:-1] + b"\0")
    doubled = copy.copy(monitor)
    doubled.merge(doubled)
    assert doubled.samples == 100
    np.testing.assert_array_equal(doubled.active_counts, 2 * monitor.active_counts)
    with pytest.raises(ValueError, match="cannot merge a monitor of 3 units into a monitor of 4 units"):
        monitor.merge(relukit.DeadUnitMonitor(3))
    with pytest.raises(TypeError):
        monitor.merge("not a monitor")


def test_monitors_filled_in_worker_processes_merge():
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((40, 6)) - 0.8 for _ in range(4)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(_fill, batches)
    merged = relukit.DeadUnitMonitor(6)
    for part in parts:
        merged.merge(part)
    direct = relukit.DeadUnitMonitor(6)
    for batch in batches:
        direct.observe(batch)
    np.testing.assert_array_equal(merged.active_counts, direct.active_counts)
    assert merged.samples == direct.samples == 160


# ---- 14. counts and thread numbers are checked with the rule ----


def test_counts_and_threads_out_of_range_are_value_errors():
    for units in [-1, 0]:
        with pytest.raises(ValueError, match="positive integer"):
            relukit.DeadUnitMonitor(units)
    with pytest.raises(TypeError):
        relukit.DeadUnitMonitor(2.5)
    before = relukit.get_num_threads()
    for threads in [-1, 0, 4096, 2**70]:
        with pytest.raises(ValueError, match="between 1 and"):
            relukit.set_num_threads(threads)
    with pytest.raises(TypeError):
        relukit.set_num_threads(1.5)
    assert relukit.get_num_threads() == before
