"""The dead-unit monitor's metrics side by side (firing rates, Sokar et al.'s scores,
dormant and low-firing units), its magnitude sums (exact bits in every memory layout,
the layer's outputs for Leaky ReLU), their serialisation, and ``effective_rank``."""

import pickle
import struct

import numpy as np
import pytest

import relukit


def bits(values):
    return np.asarray(values, dtype=np.float64).view(np.uint64)


def test_metrics_match_their_definitions():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((200, 12)) - np.linspace(-1.0, 3.0, 12)
    monitor = relukit.DeadUnitMonitor(12)
    monitor.observe(x)
    h = np.maximum(x, 0.0)
    np.testing.assert_allclose(monitor.magnitude_sums, h.sum(axis=0), rtol=1e-14)
    mean = h.mean(axis=0)
    scores = mean / mean.mean()
    np.testing.assert_allclose(monitor.scores(), scores, rtol=1e-13)
    rates = (x > 0).mean(axis=0)
    np.testing.assert_array_equal(monitor.firing_rates(), rates)
    np.testing.assert_array_equal(monitor.firing_rates(), monitor.activation_rate)
    for tau in (0.025, 0.1, 0.5, 1.0):
        assert monitor.dormant_units(tau) == [u for u in range(12) if scores[u] <= tau]
        assert monitor.dormant_fraction(tau) == len(monitor.dormant_units(tau)) / 12
    for rate in (0.0, 0.01, 0.2, 1.0):
        assert monitor.low_firing_units(rate) == [u for u in range(12) if rates[u] < rate]
        assert monitor.low_firing_fraction(rate) == len(monitor.low_firing_units(rate)) / 12
    # Defaults: Sokar et al.'s tau = 0.1, Dohare et al.'s 1%.
    assert monitor.dormant_units() == monitor.dormant_units(0.1)
    assert monitor.low_firing_units() == monitor.low_firing_units(0.01)


def test_a_hand_computed_window():
    monitor = relukit.DeadUnitMonitor(4)
    monitor.observe(np.array([[1.0, 0.0, 4.0, -1.0], [3.0, -2.0, 0.0, -1.0]]))
    # Mean |h|: 2, 0, 2, 0; the layer's mean 1.
    np.testing.assert_array_equal(monitor.scores(), [2.0, 0.0, 2.0, 0.0])
    assert monitor.dormant_units(0.1) == [1, 3] == monitor.inactive_units
    assert monitor.low_firing_units(0.6) == [1, 2, 3]  # active on 1, 0, 1/2, 0
    empty = relukit.DeadUnitMonitor(2)
    assert empty.dormant_units() == [] and empty.low_firing_units() == []
    dead = relukit.DeadUnitMonitor(2)
    dead.observe(-np.ones((3, 2)))
    np.testing.assert_array_equal(dead.scores(), [0.0, 0.0])  # no unit has any output
    assert dead.dormant_units() == [0, 1]


def test_sums_have_the_same_bits_in_every_memory_layout_and_thread_count():
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((6, 5, 17, 19)) * np.exp2(rng.integers(-20, 20, (6, 5, 17, 19)))).astype(np.float32)
    sums = []
    for layout in (x, np.asfortranarray(x), x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2), x[:, ::-1][:, ::-1]):
        for threads in (1, 2):
            relukit.set_num_threads(threads)
            m = relukit.DeadUnitMonitor(5)
            m.observe(layout, axis=1)
            sums.append(bits(m.magnitude_sums))
            fused = relukit.DeadUnitMonitor(5)
            relukit.relu_observed(layout, fused, axis=1)
            assert fused == m
    for s in sums[1:]:
        np.testing.assert_array_equal(s, sums[0])
    h = np.maximum(x, 0).astype(np.float64)
    np.testing.assert_allclose(np.asarray(sums[0]).view(np.float64), h.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_outputs_give_the_magnitudes_of_any_activation():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((50, 4))
    h = relukit.leaky_relu(x, 0.2)
    monitor = relukit.DeadUnitMonitor(4)
    monitor.observe(x, outputs=h)
    np.testing.assert_allclose(monitor.magnitude_sums, np.abs(h).sum(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(monitor.firing_rates(), (x > 0).mean(axis=0))  # active: x > 0
    before = monitor.to_bytes()
    with pytest.raises(ValueError, match="outputs"):
        monitor.observe(x, outputs=h[:10])
    with pytest.raises(TypeError, match="dtype"):
        monitor.observe(x, outputs=h.astype(np.float32))
    assert monitor.to_bytes() == before


def test_torch_tensors_and_dask_arrays_with_outputs():
    torch = pytest.importorskip("torch")
    x = torch.randn(30, 3, dtype=torch.float64)
    h = torch.nn.functional.leaky_relu(x, 0.5)
    m = relukit.DeadUnitMonitor(3)
    m.observe(x, outputs=h)
    np.testing.assert_allclose(m.magnitude_sums, h.abs().sum(0).numpy(), rtol=1e-14)
    direct = relukit.DeadUnitMonitor(3)
    direct.observe(x.numpy(), outputs=h.numpy())
    assert m == direct
    da = pytest.importorskip("dask.array")
    xd = da.from_array(x.numpy(), chunks=(10, 3))
    hd = da.from_array(h.numpy(), chunks=(7, 3))
    md = relukit.DeadUnitMonitor(3)
    md.observe(xd, outputs=hd)
    np.testing.assert_allclose(md.magnitude_sums, h.abs().sum(0).numpy(), rtol=1e-14)
    assert md.active_counts.tolist() == direct.active_counts.tolist()
    counting = relukit.DeadUnitMonitor(3, magnitudes=False)
    counting.observe(xd)
    assert not counting.has_magnitudes and counting.active_counts.tolist() == direct.active_counts.tolist()


def test_bad_parameters_are_value_errors_and_change_nothing():
    monitor = relukit.DeadUnitMonitor(3)
    monitor.observe(np.array([[1.0, -1.0, 2.0]]))
    before = monitor.to_bytes()
    for tau in (0.0, -0.5, 1.01, float("nan")):
        with pytest.raises(ValueError, match="`tau`"):
            monitor.dormant_units(tau)
        with pytest.raises(ValueError, match="`tau`"):
            monitor.dormant_fraction(tau)
    for rate in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="`rate`"):
            monitor.low_firing_units(rate)
    assert monitor.to_bytes() == before


def test_a_counting_monitor_says_what_it_lacks():
    counting = relukit.DeadUnitMonitor(2, magnitudes=False)
    counting.observe(np.array([[1.0, -1.0]]))
    assert counting.magnitude_sums is None and not counting.has_magnitudes
    with pytest.raises(ValueError, match="counts only"):
        counting.scores()
    with pytest.raises(ValueError, match="counts only"):
        counting.dormant_units()
    summing = relukit.DeadUnitMonitor(2)
    with pytest.raises(ValueError, match="counts only"):
        summing.merge(counting)
    assert summing.samples == 0
    counting.merge(summing)  # the other way round, the sums are dropped
    assert counting.low_firing_units(0.5) == [1]


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) % 2**64
    return h


def test_serialised_sums_round_trip_and_version_1_is_read():
    rng = np.random.default_rng(10)
    m = relukit.DeadUnitMonitor(4)
    m.observe(rng.standard_normal((20, 4)))
    for copy in (relukit.DeadUnitMonitor.from_bytes(m.to_bytes()), pickle.loads(pickle.dumps(m))):
        assert copy == m
        np.testing.assert_array_equal(bits(copy.magnitude_sums), bits(m.magnitude_sums))
    # Version 1: 1 unit, 2 samples, last batch of 2 elements and 1 zero, active 1, NaN 0.
    v1 = b"RKDM\x01" + struct.pack("<QQ", 1, 2) + b"\x01" + struct.pack("<QQQQ", 2, 1, 1, 0)
    v1 += struct.pack("<Q", _fnv1a(v1))
    old = relukit.DeadUnitMonitor.from_bytes(v1)
    assert (old.units, old.samples, old.active_counts.tolist(), old.has_magnitudes) == (1, 2, [1], False)
    assert old.to_bytes()[4] == 2


def test_effective_rank_against_its_definition():
    # Hand-computed: singular values 3 and 1, p = (3/4, 1/4).
    p = np.array([0.75, 0.25])
    assert relukit.effective_rank(np.diag([3.0, 1.0])) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-14)
    assert relukit.effective_rank(np.eye(5)) == pytest.approx(5.0, rel=1e-14)
    assert relukit.effective_rank(np.zeros((4, 3))) == 0.0
    rng = np.random.default_rng(11)
    f = rng.standard_normal((40, 6)) @ np.diag([5.0, 2.0, 1.0, 0.5, 0.0, 0.0])
    s = np.linalg.svd(f, compute_uv=False)
    q = s[s > 0] / s.sum()
    assert relukit.effective_rank(f) == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-12)
    # NCHW: units along axis 1, every other axis a sample axis.
    conv = rng.standard_normal((3, 4, 5, 5))
    flat = np.moveaxis(conv, 1, -1).reshape(-1, 4)
    assert relukit.effective_rank(conv) == relukit.effective_rank(flat)
    assert relukit.effective_rank(conv.transpose(0, 2, 3, 1), axis=-1) == relukit.effective_rank(flat)


def test_effective_rank_refuses_bad_input():
    with pytest.raises(ValueError, match="NaN or infinity"):
        relukit.effective_rank(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="at least one"):
        relukit.effective_rank(np.zeros((0, 3)))
    with pytest.raises(np.exceptions.AxisError):
        relukit.effective_rank(np.ones((2, 3)), axis=2)


def test_effective_rank_of_a_tensor_with_grad():
    torch = pytest.importorskip("torch")
    t = torch.eye(3, requires_grad=True)
    assert relukit.effective_rank(t) == pytest.approx(3.0)


def test_from_counts_holds_a_window_counted_elsewhere_and_refuses_impossible_counts():
    monitor = relukit.DeadUnitMonitor(3)
    monitor.observe(np.array([[1.0, -2.0, np.nan], [0.5, -1.0, 3.0]], np.float32))
    rebuilt = relukit.DeadUnitMonitor.from_counts(
        monitor.active_counts, monitor.samples, monitor.magnitude_sums, nan_counts=[0, 0, 1]
    )
    assert rebuilt.nan_count == 1 and rebuilt.batch_zero_fraction is None  # no last batch
    assert np.array_equal(rebuilt.magnitude_sums.view(np.uint64), monitor.magnitude_sums.view(np.uint64))
    assert rebuilt.dormant_units() == monitor.dormant_units() and rebuilt.inactive_units == [1]
    assert not relukit.DeadUnitMonitor.from_counts([1, 0], 1).has_magnitudes
    for args, words in [
        (([], 1), "empty"),
        (([-1], 1), "active_counts must be counts"),
        (([1], -1), "samples must be counts"),
        (([2], 1), r"counted 2 \+ 0 times"),
        (([1], 1, [-1.0]), "magnitude sum"),
        (([1, 1], 1, [1.0]), "2 units"),
        (([1], 1, None, [1]), r"counted 1 \+ 1"),
    ]:
        with pytest.raises(ValueError, match=words):
            relukit.DeadUnitMonitor.from_counts(*args)
    with pytest.raises(TypeError):
        relukit.DeadUnitMonitor.from_counts([0.5], 1)
