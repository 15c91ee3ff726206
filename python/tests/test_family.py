"""The rest of the rectifier family from Python: ReLU6 / clipped ReLU, threshold, RReLU and
the derivatives, bit for bit against NumPy formulas of the contract (RReLU's generator
written again here from its documentation), on every float dtype and special value."""

import numpy as np
import pytest

import relukit

FLOATS = [np.float16, np.float32, np.float64]
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(a):
    a = np.asarray(a)
    return a.view(UINT[a.dtype.itemsize])


def values(dtype, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    specials = [0.0, -0.0, 6.0, -6.0, 5.999, 6.001, 0.5, -0.5, np.inf, -np.inf, np.nan, 1e-40, -1e-40]
    with np.errstate(all="ignore"):
        return np.concatenate([np.array(specials, dtype=dtype), (rng.standard_normal(n) * 5).astype(dtype)])


def compute(dtype):
    return np.float64 if dtype == np.float64 else np.float32


@pytest.mark.parametrize("dtype", FLOATS)
def test_clipped_relu_and_relu6(dtype):
    x = values(dtype)
    g = values(dtype, seed=1)[::-1].copy()
    with np.errstate(invalid="ignore"):
        for c in [6.0, 0.5, 0.0, np.inf]:
            cc = dtype(c)
            expected = np.where(np.isnan(x), x, np.where(x > 0, np.where(x < cc, x, cc), dtype(0)))
            np.testing.assert_array_equal(bits(relukit.clipped_relu(x, c)), bits(expected))
            inside = (x > 0) & (x < cc)
            d = np.where(np.isnan(x), x, np.where(inside, dtype(1), dtype(0)))
            np.testing.assert_array_equal(bits(relukit.clipped_relu_derivative(x, c)), bits(d))
            b = np.where(np.isnan(x), x, np.where(inside, g, dtype(0)))
            np.testing.assert_array_equal(bits(relukit.clipped_relu_backward(g, x, c)), bits(b))
            if c == 6.0:
                np.testing.assert_array_equal(bits(relukit.relu6(x)), bits(expected))
                np.testing.assert_array_equal(bits(relukit.relu6_derivative(x)), bits(d))
                np.testing.assert_array_equal(bits(relukit.relu6_backward(g, x)), bits(b))
    assert isinstance(relukit.relu6, np.ufunc)
    for bad in [np.nan, -1.0]:
        with pytest.raises(ValueError, match="ceiling"):
            relukit.clipped_relu(x, bad)


@pytest.mark.parametrize("dtype", FLOATS)
def test_threshold(dtype):
    x = values(dtype)
    g = values(dtype, seed=2)
    # PyTorch's rule: the threshold in the compute type (float32 for float16), the value
    # in the element type; thresholds the type can and cannot represent.
    compute = np.float32 if dtype == np.float16 else dtype
    if dtype == np.float16:  # and every float16 pattern
        x = np.concatenate([x, np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)])
        g = np.resize(g, x.shape)
    thresholds = [(0.0, 0.0), (0.1, 20.0), (-1.5, -7.0), (-np.inf, 1.0), (0.3, 1.0), (1 / 3, -2.0), (1e-8, 3.0)]
    thresholds += [(-0.3, 5.0), (65504.5, 0.5), (0.30078125, 9.0), (1e-45, 1.0), (float(np.float32(0.3)), 2.0)]
    with np.errstate(invalid="ignore", over="ignore"):
        for t, v in thresholds:
            above = x.astype(compute) > compute(t)
            vv = dtype(v)
            expected = np.where(np.isnan(x) | above, x, vv)
            np.testing.assert_array_equal(bits(relukit.threshold(x, t, v)), bits(expected))
            d = np.where(np.isnan(x), x, np.where(above, dtype(1), dtype(0)))
            np.testing.assert_array_equal(bits(relukit.threshold_derivative(x, t)), bits(d))
            b = np.where(np.isnan(x), x, np.where(above, g, dtype(0)))
            np.testing.assert_array_equal(bits(relukit.threshold_backward(g, x, t)), bits(b))
        # ReLU is threshold at 0 with value 0.
        np.testing.assert_array_equal(bits(relukit.threshold(x, 0, 0)), bits(relukit.relu(x)))
    with pytest.raises(ValueError, match="threshold"):
        relukit.threshold(x, np.nan, 0.0)
    with pytest.raises(ValueError, match="value"):
        relukit.threshold(x, 0.0, [1.0, np.nan])


@pytest.mark.parametrize("dtype", FLOATS)
def test_leaky_and_prelu_derivatives(dtype):
    x = values(dtype)
    c = compute(dtype)
    with np.errstate(invalid="ignore"):
        for s in [0.01, 0.2, -0.5]:
            slope = c(s).astype(dtype)
            d = np.where(np.isnan(x), x, np.where(x > 0, dtype(1), slope))
            np.testing.assert_array_equal(bits(relukit.leaky_relu_derivative(x, s)), bits(d))
        m = x[: 30 * 4].reshape(30, 4)
        w = np.array([0.1, -0.2, 0.3, 0.0], dtype=dtype)
        d = np.where(np.isnan(m), m, np.where(m > 0, dtype(1), w))
        np.testing.assert_array_equal(bits(relukit.prelu_derivative(m, w)), bits(d))
        np.testing.assert_array_equal(bits(relukit.prelu_derivative(np.asfortranarray(m), w)), bits(d))


def rrelu_slopes(lower, upper, seed, n, dtype):
    """RReLU's documented generator: SplitMix64 output i of `seed`, its top bits as a
    fraction, in the compute type."""
    with np.errstate(over="ignore"):
        i = np.arange(n, dtype=np.uint64)
        z = np.uint64(seed) + (i + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    if compute(dtype) == np.float32:
        u = (np.uint32(0x3F800000) | (z >> np.uint64(41)).astype(np.uint32)).view(np.float32) - np.float32(1)
        low, high = np.float32(lower), np.float32(upper)
    else:
        u = (np.uint64(0x3FF0000000000000) | (z >> np.uint64(12))).view(np.float64) - 1.0
        low, high = np.float64(lower), np.float64(upper)
    return low + (high - low) * u


@pytest.mark.parametrize("dtype", FLOATS)
def test_rrelu_matches_its_documented_generator(dtype):
    x = values(dtype)
    g = values(dtype, seed=4)
    c = compute(dtype)
    lower, upper = 1 / 8, 1 / 3
    slopes = rrelu_slopes(lower, upper, 1234, x.size, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = np.where(np.isnan(x) | (x > 0), x, (x.astype(c) * slopes).astype(dtype))
        np.testing.assert_array_equal(bits(relukit.rrelu(x, lower, upper, seed=1234)), bits(expected))
        back = np.where(np.isnan(x), x, np.where(x > 0, g, (g.astype(c) * slopes).astype(dtype)))
        np.testing.assert_array_equal(bits(relukit.rrelu_backward(g, x, lower, upper, seed=1234)), bits(back))
        d = np.where(np.isnan(x), x, np.where(x > 0, dtype(1), slopes.astype(dtype)))
        np.testing.assert_array_equal(bits(relukit.rrelu_derivative(x, lower, upper, seed=1234)), bits(d))
        # Evaluation: Leaky ReLU with the mean slope.
        np.testing.assert_array_equal(
            bits(relukit.rrelu(x, lower, upper, training=False)), bits(relukit.leaky_relu(x, (lower + upper) / 2))
        )
    # Element i in C order gets slope i, whatever the memory layout.
    m = x[:600].reshape(20, 30)
    np.testing.assert_array_equal(bits(relukit.rrelu(np.asfortranarray(m), seed=9)), bits(relukit.rrelu(m, seed=9)))
    np.testing.assert_array_equal(
        bits(relukit.rrelu(m[:, ::-1], seed=9)), bits(relukit.rrelu(m[:, ::-1].copy(), seed=9))
    )
    inplace = m.copy()
    relukit.rrelu(inplace, seed=9, out=inplace)
    np.testing.assert_array_equal(bits(inplace), bits(relukit.rrelu(m, seed=9)))


def test_rrelu_arguments():
    x = np.array([-1.0, 2.0])
    with pytest.raises(ValueError, match="seed"):
        relukit.rrelu(x)
    with pytest.raises(ValueError, match="lower"):
        relukit.rrelu(x, 0.5, 0.25, seed=1)
    with pytest.raises(TypeError, match="seed"):
        relukit.rrelu(x, seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        relukit.rrelu(x, seed=-1)
    assert relukit.rrelu(x, seed=2**64 - 1).shape == (2,)
    with pytest.raises(TypeError):
        relukit.rrelu(np.array(["a"]), seed=1)


HARDTANH_BOUNDS = [(-1.0, 1.0), (0.0, 6.0), (-0.5, 2.0), (-3.0, -1.0), (0.1, 0.3), (2.0, 2.0), (0.0, 0.0)]
HARDTANH_BOUNDS += [(-np.inf, np.inf), (-np.inf, 0.25), (1 / 3, 70000.0)]


def hardtanh_expected(x, g, min_val, max_val, dtype):
    """The contract in NumPy: the bounds rounded to the element type; `x` strictly inside
    (and NaN, unchanged), `max_val` from it up, `min_val` below; the gradient passes
    strictly inside only (zero at both kinks), a NaN `x` comes back as itself."""
    with np.errstate(over="ignore"):
        low, high = dtype(min_val), dtype(max_val)
    nan = np.isnan(x)
    inside = (x > low) & (x < high)
    forward = np.where(nan | inside, x, np.where(x >= high, high, low))
    derivative = np.where(nan, x, np.where(inside, dtype(1), dtype(0)))
    backward = np.where(nan, x, np.where(inside, g, dtype(0)))
    return forward, derivative, backward


@pytest.mark.parametrize("dtype", FLOATS)
def test_hardtanh(dtype):
    x = values(dtype)
    g = values(dtype, seed=3)
    if dtype == np.float16:  # and every float16 pattern
        x = np.concatenate([x, np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)])
        g = np.resize(g, x.shape)
    with np.errstate(invalid="ignore", over="ignore"):  # 70000 is above float16's range
        for min_val, max_val in HARDTANH_BOUNDS:
            forward, derivative, backward = hardtanh_expected(x, g, min_val, max_val, dtype)
            np.testing.assert_array_equal(bits(relukit.hardtanh(x, min_val, max_val)), bits(forward))
            np.testing.assert_array_equal(bits(relukit.hardtanh_derivative(x, min_val, max_val)), bits(derivative))
            np.testing.assert_array_equal(bits(relukit.hardtanh_backward(g, x, min_val, max_val)), bits(backward))
        # PyTorch's defaults, and the family's members that are hardtanh with a floor of 0.
        np.testing.assert_array_equal(bits(relukit.hardtanh(x)), bits(relukit.hardtanh(x, -1.0, 1.0)))
        np.testing.assert_array_equal(bits(relukit.hardtanh(x, 0.0, 6.0)), bits(relukit.relu6(x)))
        np.testing.assert_array_equal(
            bits(relukit.hardtanh_backward(g, x, 0.0, 6.0)), bits(relukit.relu6_backward(g, x))
        )
        np.testing.assert_array_equal(bits(relukit.hardtanh(x, 0.0, 0.5)), bits(relukit.clipped_relu(x, 0.5)))
    # np.clip gives the same values away from NaN and signed zeros at a bound.
    plain = x[np.isfinite(x) & (x != 0)]
    np.testing.assert_array_equal(relukit.hardtanh(plain, -0.5, 2.0), np.clip(plain, dtype(-0.5), dtype(2.0)))


def test_hardtanh_signature_out_and_broadcast_bounds():
    import inspect

    assert list(inspect.signature(relukit.hardtanh).parameters) == ["x", "min_val", "max_val", "out"]
    assert inspect.signature(relukit.hardtanh).parameters["min_val"].default == -1.0
    assert inspect.signature(relukit.hardtanh).parameters["max_val"].default == 1.0
    assert list(inspect.signature(relukit.hardtanh_backward).parameters) == [
        "grad_output",
        "x",
        "min_val",
        "max_val",
        "out",
    ]
    assert "Parameters" in relukit.hardtanh.__doc__ and "min_val" in relukit.hardtanh.__doc__
    assert isinstance(relukit.hardtanh_ufunc, np.ufunc) and relukit.hardtanh_ufunc.nin == 3
    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6)
    out = np.full_like(x, 7.0)
    assert relukit.hardtanh(x, -2.0, 2.0, out=out) is out
    np.testing.assert_array_equal(out, np.clip(x, -2.0, 2.0))
    # Bounds as arrays broadcast against the data, one pair per row.
    lows, highs = np.array([[-1.0], [0.0], [-3.0], [0.5]]), np.array([[1.0], [6.0], [0.0], [0.5]])
    got = relukit.hardtanh(x, lows, highs)
    for row in range(4):
        np.testing.assert_array_equal(got[row], relukit.hardtanh(x[row], lows[row, 0], highs[row, 0]))


@pytest.mark.parametrize(
    "min_val, max_val, match",
    [
        (np.nan, 1.0, "min_val"),
        (-1.0, np.nan, "max_val"),
        (1.0, -1.0, "must not be above"),
        ([0.0, 2.0], 1.0, "must not be above"),
    ],
)
def test_hardtanh_refuses_bad_bounds_and_writes_nothing(min_val, max_val, match):
    x = np.linspace(-3, 3, 8, dtype=np.float32)
    out = np.full_like(x, 7.0)
    with pytest.raises(ValueError, match=match):
        relukit.hardtanh(x, min_val, max_val, out=out)
    with pytest.raises(ValueError, match=match):
        relukit.hardtanh_backward(x, x, min_val, max_val, out=out)
    assert (out == 7.0).all()
    with pytest.raises(TypeError, match="min_val"):
        relukit.hardtanh(x, None, 1.0)
