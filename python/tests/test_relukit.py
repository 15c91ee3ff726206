"""relukit for Python against NumPy reference formulas, bit for bit, and its behaviour
as a NumPy citizen: ufunc machinery, errors, threads, fork, pickling, dask."""

import concurrent.futures
import multiprocessing
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relukit

FLOATS = [np.float16, np.float32, np.float64]
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(a):
    a = np.asarray(a)
    return a.view(UINT[a.dtype.itemsize]) if a.dtype.kind == "f" else a


def specials(dtype):
    info = np.finfo(dtype)
    values = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        2.5,
        -2.5,
        np.inf,
        -np.inf,
        np.nan,
        -np.nan,
        info.max,
        -info.max,
        info.tiny,
        -info.tiny,
        info.smallest_subnormal,
        -info.smallest_subnormal,
    ]
    x = np.array(values, dtype=dtype)
    # NaNs with payloads, and with the sign bit set.
    u = UINT[x.dtype.itemsize]
    payload = {2: [0x7C01, 0xFE37], 4: [0x7F800001, 0xFFC12345], 8: [0x7FF0000000000001, 0xFFF8DEADBEEF0000]}[
        x.dtype.itemsize
    ]
    return np.concatenate([x, np.array(payload, dtype=u).view(dtype)])


def random_values(dtype, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([specials(dtype), (rng.standard_normal(n) * 3).astype(dtype)])


def ref_relu(x):
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return np.where(np.isnan(x) | (x > 0), x, np.zeros((), x.dtype))
    if x.dtype.kind in "ub":
        return x.copy()
    return np.where(x > 0, x, np.zeros((), x.dtype))


def ref_derivative(x):
    return np.where(np.isnan(x), x, np.where(x > 0, np.ones((), x.dtype), np.zeros((), x.dtype)))


def ref_backward(g, x):
    return np.where(np.isnan(x), x, np.where(x > 0, g, np.zeros((), x.dtype)))


def compute_type(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def ref_leaky(x, s):
    c = compute_type(x.dtype)
    product = (x.astype(c) * c(s)).astype(x.dtype)
    return np.where(np.isnan(x) | (x > 0), x, product)


def ref_leaky_backward(g, x, s):
    c = compute_type(x.dtype)
    product = (g.astype(c) * c(s)).astype(x.dtype)
    return np.where(np.isnan(x), x, np.where(x > 0, g, product))


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_functions_match_the_reference_bit_for_bit(dtype):
    with np.errstate(all="ignore"):
        x = random_values(dtype, 5000)
        g = random_values(dtype, 5000, seed=1)[::-1].copy()
        np.testing.assert_array_equal(bits(relukit.relu(x)), bits(ref_relu(x)))
        np.testing.assert_array_equal(bits(relukit.relu_derivative(x)), bits(ref_derivative(x)))
        np.testing.assert_array_equal(bits(relukit.relu_backward(g, x)), bits(ref_backward(g, x)))
        for s in [0.01, 0.0, -0.5, 3.0]:
            np.testing.assert_array_equal(bits(relukit.leaky_relu(x, s)), bits(ref_leaky(x, s)))
            np.testing.assert_array_equal(bits(relukit.leaky_relu_backward(g, x, s)), bits(ref_leaky_backward(g, x, s)))


def test_minus_zero_becomes_plus_zero_even_for_float16():
    for dtype in FLOATS:
        assert bits(relukit.relu(np.array([-0.0], dtype=dtype)))[0] == 0
    # NumPy's own float16 maximum keeps -0.0 (documented difference).
    assert np.signbit(np.maximum(np.array([-0.0], dtype=np.float16), np.float16(0)))[0]


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]
)
def test_integer_and_bool_relu(dtype):
    info = np.iinfo(dtype) if dtype != np.bool_ else None
    x = (
        np.array([0, 1, 5], dtype=dtype)
        if info is None or info.min == 0
        else np.array([info.min, -1, 0, 1, info.max], dtype=dtype)
    )
    if dtype == np.bool_:
        x = np.array([True, False])
    y = relukit.relu(x)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, ref_relu(x))
    np.testing.assert_array_equal(y, np.maximum(x, np.zeros((), dtype)))


def test_ufunc_machinery():
    x = random_values(np.float32, 100)
    with np.errstate(all="ignore"):
        expected = ref_relu(x)
        # out=, in place
        y = x.copy()
        assert relukit.relu(y, out=y) is y
        np.testing.assert_array_equal(bits(y), bits(expected))
        # where=
        out = np.full_like(x, 7.0)
        mask = np.arange(x.size) % 2 == 0
        relukit.relu(x, out=out, where=mask)
        np.testing.assert_array_equal(bits(out[mask]), bits(expected[mask]))
        assert np.all(out[~mask] == 7.0)
        # broadcasting
        g = np.arange(6, dtype=np.float64).reshape(1, 6)
        xs = np.array([[-1.0] * 6, [1.0] * 6])
        np.testing.assert_array_equal(relukit.relu_backward(g, xs), [[0.0] * 6, list(range(6))])
        # dtype=
        assert relukit.relu(x, dtype=np.float64).dtype == np.float64
        # memory order and strides
        f = np.asfortranarray(np.arange(-6.0, 6.0).reshape(3, 4))
        assert relukit.relu(f).flags.f_contiguous
        reversed_ = x[::-3]
        np.testing.assert_array_equal(bits(relukit.relu(reversed_)), bits(ref_relu(reversed_)))
        # scalars and empty arrays
        assert isinstance(relukit.relu(np.float32(-1.0)), np.float32)
        assert relukit.relu(-2.5) == 0.0 and isinstance(relukit.relu(-2.5), np.float64)
        assert relukit.relu(np.zeros((0, 3))).shape == (0, 3)
        # casting like np.maximum: float64 into a float32 out is same_kind
        o32 = np.empty(3, dtype=np.float32)
        relukit.relu(np.array([-1.0, 0.5, 2.0]), out=o32)
        np.testing.assert_array_equal(o32, [0.0, 0.5, 2.0])
        with pytest.raises(TypeError):
            relukit.relu(np.array([-1.5]), out=np.empty(1, dtype=np.int32))
        # non-native byte order
        big = np.array([-1.0, 2.0], dtype=">f4")
        np.testing.assert_array_equal(relukit.relu(big), [0.0, 2.0])


def test_array_ufunc_overrides_and_pickling():
    class Override:
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return ("overridden", ufunc.__name__)

    assert relukit.relu(Override()) == ("overridden", "relu")
    for u in [
        relukit.relu,
        relukit.relu_backward,
        relukit.relu_derivative,
        relukit.leaky_relu_ufunc,
        relukit.leaky_relu_backward_ufunc,
    ]:
        assert isinstance(u, np.ufunc)
        assert pickle.loads(pickle.dumps(u)) is u


def test_bad_input_fails_clearly():
    for bad in [np.array(["a"]), np.array([object()], dtype=object), np.array([1 + 2j])]:
        with pytest.raises(TypeError):
            relukit.relu(bad)
    readonly = np.zeros(3)
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        relukit.relu(np.ones(3), out=readonly)
    for slope in [np.nan, np.inf, [0.1, np.inf]]:
        with pytest.raises(ValueError, match="finite"):
            relukit.leaky_relu(np.ones(2), slope)
    with pytest.raises(ValueError, match=r"`weight` has 2 elements, expected 1 \(a shared slope\) or 3"):
        relukit.prelu(np.ones((2, 3)), [0.1, 0.2])
    with pytest.raises(ValueError, match="out of bounds"):
        relukit.prelu(np.ones((2, 3)), [0.1], axis=2)
    with pytest.raises(TypeError):
        relukit.prelu(np.array(["x"]), [0.1], axis=0)
    with pytest.raises(ValueError):
        relukit.set_num_threads(0)
    with pytest.raises(ValueError, match="units"):
        relukit.DeadUnitMonitor(4).observe(np.ones((2, 3)))


def test_leaky_slopes_broadcast():
    x = np.array([[-1.0, -2.0], [3.0, -4.0]])
    slopes = np.array([0.5, 0.25])
    np.testing.assert_array_equal(relukit.leaky_relu(x, slopes), [[-0.5, -0.5], [3.0, -1.0]])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "shape,axis", [((4, 3, 5, 5), 1), ((6, 5, 5, 3), -1), ((7, 9), 1), ((3, 4, 130), 1), ((5,), 0)]
)
def test_prelu_matches_the_formula(dtype, shape, axis):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    channels = shape[axis]
    for weight in [rng.uniform(0.0, 0.5, channels).astype(dtype), np.array([0.25], dtype=dtype)]:
        bshape = [1] * len(shape)
        bshape[axis] = weight.size
        w = weight.reshape(bshape)
        c = compute_type(x.dtype)
        expected = np.where(x > 0, x, (x.astype(c) * w.astype(c)).astype(dtype))
        np.testing.assert_array_equal(bits(relukit.prelu(x, weight, axis=axis)), bits(expected))
        gx, gw = relukit.prelu_backward(g, x, weight, axis=axis)
        expected_gx = np.where(x > 0, g, (g.astype(c) * w.astype(c)).astype(dtype))
        np.testing.assert_array_equal(bits(gx), bits(expected_gx))
        terms = np.where(x > 0, 0.0, g.astype(np.float64) * x.astype(np.float64))
        axes = tuple(i for i in range(len(shape)) if i != axis % len(shape)) if weight.size > 1 else None
        exact = terms.sum(axis=axes)
        scale = np.abs(terms).sum(axis=axes)
        eps = float(np.finfo(dtype).eps)
        assert gw.shape == weight.shape
        assert np.all(np.abs(gw.astype(np.float64) - exact) <= 1e-5 * scale + 2 * eps * np.abs(exact) + 1e-30)


def test_monitor_counts_and_fused_forward():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 10)) - 1.5
    x[3, 2] = np.nan
    monitor = relukit.DeadUnitMonitor(10)
    y = relukit.relu_observed(x, monitor, axis=1)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(bits(y), bits(ref_relu(x)))
        active = (x > 0).sum(axis=0)
    np.testing.assert_array_equal(monitor.activation_rate, active / 64)
    assert monitor.dead_units == [u for u in range(10) if active[u] == 0]
    # Inactive is the activation-free term; under ReLU the same units are dead.
    assert monitor.inactive_units == monitor.dead_units
    assert monitor.inactive_fraction == monitor.dead_fraction == len(monitor.dead_units) / 10
    assert monitor.nan_count == 1 and monitor.samples == 64
    assert monitor.batch_zero_fraction == pytest.approx(((x <= 0).sum()) / x.size)
    other = relukit.DeadUnitMonitor(10)
    other.observe(np.ones((5, 10)))
    monitor.merge(other)
    assert monitor.dead_units == [] and monitor.samples == 69
    monitor.reset()
    assert monitor.samples == 0 and monitor.batch_zero_fraction is None
    conv = rng.standard_normal((2, 3, 4, 4))
    m = relukit.DeadUnitMonitor(3)
    m.observe(conv, axis=1)
    assert m.samples == 2 * 16
    np.testing.assert_array_equal(m.activation_rate, (np.moveaxis(conv, 1, -1).reshape(-1, 3) > 0).mean(axis=0))


def test_threads_and_large_arrays():
    assert relukit.get_num_threads() >= 1
    x = random_values(np.float32, 3_000_000)
    expected = bits(ref_relu(x))
    for threads in [1, 2]:
        relukit.set_num_threads(threads)
        assert relukit.get_num_threads() == threads
        np.testing.assert_array_equal(bits(relukit.relu(x)), expected)
    arrays = [random_values(np.float64, 20_000, seed=s) for s in range(16)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(relukit.relu, arrays))
    for a, r in zip(arrays, results):
        np.testing.assert_array_equal(bits(r), bits(ref_relu(a)))


def _child(queue):
    x = np.linspace(-1.0, 1.0, 2_000_001, dtype=np.float32)
    y = relukit.relu(x)
    queue.put(bool(np.array_equal(y, np.maximum(x, 0))))


def test_a_forked_child_works():
    relukit.set_num_threads(2)
    relukit.relu(np.ones(2_000_001, dtype=np.float32))  # the parent's pool exists now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue,))
    process.start()
    process.join(60)
    assert process.exitcode == 0, "the forked child did not finish"
    assert queue.get(timeout=5)


DTYPES = st.sampled_from(
    ["float16", "float32", "float64", "int8", "int64", "uint16", "bool", "complex64", "object", "U1"]
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    dtype=DTYPES,
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
    step=st.sampled_from([1, 2, -1, -2]),
    seed=st.integers(0, 2**32 - 1),
)
def test_fuzz_every_function_either_matches_or_raises_cleanly(dtype, shape, step, seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal([max(1, n) * 2 for n in shape] or [])
    if dtype == "U1":
        base = base.astype(str).astype("U1")
    elif dtype == "object":
        base = base.astype(object)
    else:
        with np.errstate(all="ignore"):
            base = base.astype(dtype)
    x = base[tuple(slice(None, None, step) for _ in shape)] if shape else base
    calls = [
        lambda: relukit.relu(x),
        lambda: relukit.relu_derivative(x),
        lambda: relukit.relu_backward(x, x),
        lambda: relukit.leaky_relu(x, 0.1),
        lambda: relukit.prelu(x, [0.25], axis=0),
        lambda: relukit.prelu_backward(x, x, [0.25], axis=0),
    ]
    for call in calls:
        try:
            with np.errstate(all="ignore"):
                call()
        except (TypeError, ValueError):
            pass
    if dtype in ("float16", "float32", "float64"):
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(bits(relukit.relu(x)), bits(ref_relu(x)))


def test_dask_arrays_stay_lazy_and_match_numpy():
    da = pytest.importorskip("dask.array")
    x = random_values(np.float32, 100_000)
    dx = da.from_array(x, chunks=10_007)
    lazy = relukit.relu(dx)
    assert isinstance(lazy, da.Array)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(bits(lazy.compute(scheduler="threads")), bits(ref_relu(x)))
        leaky = relukit.leaky_relu(dx, 0.1)
        np.testing.assert_array_equal(bits(leaky.compute(scheduler="threads")), bits(ref_leaky(x, 0.1)))


def test_dask_distributed_local_cluster():
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    x = random_values(np.float64, 50_000)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as cluster:
        with distributed.Client(cluster) as client:
            result = client.compute(
                relukit.relu_backward(da.ones_like(da.from_array(x, chunks=7_001)), da.from_array(x, chunks=7_001))
            ).result()
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(bits(result), bits(ref_backward(np.ones_like(x), x)))
