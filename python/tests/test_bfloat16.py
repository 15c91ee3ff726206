"""bfloat16 NumPy arrays (ml_dtypes): every 65,536 bit pattern through the ufuncs and the
PReLU functions, against the contract written in NumPy (products in float32, rounded
once to nearest even), bf16 in and bf16 out. The test command installs ml_dtypes and sets
RELUKIT_REQUIRE_OPTIONAL=1, so that a missing ml_dtypes fails there instead of skipping."""

import numpy as np
import pytest
from conftest import optional

ml_dtypes = optional("ml_dtypes")

import relukit  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)


def every_pattern():
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(BF16)


def bits(a):
    assert a.dtype == BF16, a.dtype
    return a.view(np.uint16)


def assert_same(got, expected):
    """Equal bits, NaN positions equal (relukit keeps a NaN input's bits)."""
    nan = np.isnan(expected.astype(np.float32))
    assert np.array_equal(np.isnan(got.astype(np.float32)), nan)
    assert np.array_equal(bits(got)[~nan], bits(expected)[~nan])


def f32(a):
    return a.astype(np.float32)


def test_relu_family_ufuncs_are_bf16_in_bf16_out_on_every_pattern():
    x = every_pattern()
    g = x[::-1].copy()
    zero = np.zeros((), BF16)
    one = np.ones((), BF16)
    assert_same(relukit.relu(x), np.where((f32(x) > 0) | np.isnan(f32(x)), x, zero))
    assert np.array_equal(bits(relukit.relu(x))[np.isnan(f32(x))], bits(x)[np.isnan(f32(x))])
    assert_same(relukit.relu_derivative(x), np.where(np.isnan(f32(x)), x, np.where(f32(x) > 0, one, zero)))
    assert_same(relukit.relu_backward(g, x), np.where(np.isnan(f32(x)), x, np.where(f32(x) > 0, g, zero)))
    with np.errstate(all="ignore"):
        for slope in [0.01, 0.2, -0.5, 0.0, 3.0]:
            s = np.float32(slope)
            expected = np.where(f32(x) > 0, x, (f32(x) * s).astype(BF16))
            assert_same(relukit.leaky_relu(x, slope), np.where(np.isnan(f32(x)), x, expected))
            d = np.where(np.isnan(f32(x)), x, np.where(f32(x) > 0, one, np.asarray(s).astype(BF16)))
            assert_same(relukit.leaky_relu_derivative(x, slope), d)
            b = np.where(np.isnan(f32(x)), x, np.where(f32(x) > 0, g, (f32(g) * s).astype(BF16)))
            assert_same(relukit.leaky_relu_backward(g, x, slope), b)


def test_strided_and_out_arguments_stay_bf16():
    x = every_pattern()[:4096].reshape(64, 64)
    view = x[::3, 1::2]
    assert np.array_equal(bits(relukit.relu(view)), bits(relukit.relu(view.copy())))
    out = np.empty_like(view)
    assert relukit.leaky_relu(view, 0.1, out=out) is out
    assert np.array_equal(bits(out), bits(relukit.leaky_relu(view.copy(), 0.1)))
    inplace = x.copy()
    relukit.relu(inplace, out=inplace)
    assert np.array_equal(bits(inplace), bits(relukit.relu(x)))
    assert relukit.relu6(x).dtype == BF16 and relukit.clipped_relu(x, 2.0).dtype == BF16


def test_prelu_and_its_backward_take_bf16():
    x = every_pattern().reshape(-1, 4)
    w = np.array([0.25, -0.5, 0.0, 1.5], dtype=BF16)
    with np.errstate(all="ignore"):
        expected = np.where(f32(x) > 0, x, (f32(x) * f32(w)).astype(BF16))
        expected = np.where(np.isnan(f32(x)), x, expected)
    got = relukit.prelu(x, w)
    assert got.dtype == BF16
    assert_same(got, expected)
    finite = np.where(np.isfinite(f32(x)), x, np.zeros((), BF16))[:2048]
    grad = np.ones_like(finite)
    gi, gw = relukit.prelu_backward(grad, finite, w)
    assert gi.dtype == BF16 and gw.dtype == BF16 and gw.shape == (4,)
    exact = (f32(finite).astype(np.float64) * (f32(finite) <= 0)).sum(axis=0)
    np.testing.assert_allclose(f32(gw), exact, rtol=1e-2)
    monitor = relukit.DeadUnitMonitor(4)
    monitor.observe(finite)
    assert list(monitor.active_counts) == list((f32(finite) > 0).sum(axis=0))


def test_bad_slopes_are_checked_in_float32():
    with pytest.raises(ValueError, match="f32"):
        relukit.leaky_relu(np.ones(3, BF16), 1e39)


def test_bf16_matches_torch_bit_for_bit():
    torch = pytest.importorskip("torch")
    x = every_pattern()
    t = torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16)
    for slope in [0.01, 0.2, -0.5]:
        expected = torch.nn.functional.leaky_relu(t, slope).view(torch.int16).numpy().view(BF16)
        assert_same(relukit.leaky_relu(x, slope), expected)


def test_threshold_compares_every_pattern_in_float32():
    """PyTorch's rule, here too: the threshold in float32 (bf16 0.30078125 is above 0.3,
    and kept), the value rounded to bfloat16."""
    x = every_pattern()
    g = np.resize(np.linspace(-3, 3, 977, dtype=np.float32), x.shape).astype(BF16)
    for t, v in [(0.3, 1.0), (0.30078125, -2.0), (1 / 3, 0.1), (-0.3, 7.0), (1e-30, 2.0), (3.4e38, 0.0), (0.0, 0.0)]:
        above = f32(x) > np.float32(t)
        keep = above | np.isnan(f32(x))
        assert_same(relukit.threshold(x, t, v), np.where(keep, x, np.array(v, dtype=np.float32).astype(BF16)))
        assert_same(
            relukit.threshold_backward(g, x, t), np.where(above, g, np.where(np.isnan(f32(x)), x, BF16.type(0)))
        )
    assert relukit.threshold(np.array([0.30078125], dtype=BF16), 0.3, -1.0)[0] == BF16.type(0.30078125)


def test_hardtanh_every_pattern():
    """The bounds rounded to bfloat16; `x` strictly inside them (and NaN) unchanged."""
    x = every_pattern()
    g = np.resize(np.linspace(-3, 3, 977, dtype=np.float32), x.shape).astype(BF16)
    for low, high in [(-1.0, 1.0), (0.0, 6.0), (1 / 3, 3.0), (-2.5, -2.5), (-np.inf, 0.0)]:
        lo, hi = np.array(low, dtype=BF16), np.array(high, dtype=BF16)
        nan = np.isnan(f32(x))
        inside = (f32(x) > f32(lo)) & (f32(x) < f32(hi))
        forward = np.where(nan | inside, x, np.where(f32(x) >= f32(hi), hi, lo))
        assert_same(relukit.hardtanh(x, low, high), forward)
        assert_same(relukit.hardtanh_backward(g, x, low, high), np.where(inside, g, np.where(nan, x, BF16.type(0))))
        ones = np.where(inside, BF16.type(1), np.where(nan, x, BF16.type(0)))
        assert_same(relukit.hardtanh_derivative(x, low, high), ones)
