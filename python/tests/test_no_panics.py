"""No Python call into relukit panics (a ``PanicException``, which ``except Exception``
does not catch) or aborts the interpreter: fuzzed shapes, empty weights and channels,
sizes up to 2**62; and monitors shared between threads count every batch exactly once."""

import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relukit

try:
    from pyo3_runtime import PanicException  # the type pyo3 raises for a Rust panic
except ImportError:  # pragma: no cover - not importable by name in every pyo3 version
    PanicException = BaseException


def assert_no_panic(call):
    """Runs `call`: a result, or an ordinary exception (TypeError, ValueError,
    MemoryError...), never a Rust panic."""
    try:
        call()
    except Exception:
        pass
    except BaseException as error:  # a PanicException derives from BaseException only
        raise AssertionError(f"relukit panicked: {type(error).__name__}: {error}") from error


def test_huge_monitors_are_memory_errors_not_aborts():
    # In a child process: an abort would kill it, which the exit status shows.
    code = (
        "import relukit\n"
        "for units in (2**40, 2**62, 2**63 - 1):\n"
        "    try:\n"
        "        relukit.DeadUnitMonitor(units)\n"
        "    except MemoryError as e:\n"
        "        assert 'cannot be allocated' in str(e), e\n"
        "    else:\n"
        "        raise SystemExit('no error for %d units' % units)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stdout, done.stderr)
    with pytest.raises(ValueError, match="positive integer"):
        relukit.DeadUnitMonitor(2**64)


def test_prelu_backward_with_no_channels_or_an_empty_weight():
    x = np.zeros((2, 0, 3), dtype=np.float32)
    gi, gw = relukit.prelu_backward(x, x, np.zeros(0, dtype=np.float32))
    assert gi.shape == x.shape and gw.shape == (0,)
    gi, gw = relukit.prelu_backward(x, x, np.ones(1, dtype=np.float32))
    assert gw.tolist() == [0.0]
    with pytest.raises(ValueError):
        relukit.prelu_backward(np.ones((2, 3)), np.ones((2, 3)), np.zeros(0))
    with pytest.raises(ValueError):
        relukit.prelu(np.ones((2, 3)), np.zeros(0))
    assert relukit.prelu(x, np.zeros(0, dtype=np.float32)).shape == x.shape


def test_a_serialised_monitor_of_no_units_is_refused_as_the_constructor_refuses():
    import struct

    # A valid 0-unit serialisation, made by the Rust crate's format: header, then checksum.
    monitor = relukit.DeadUnitMonitor(1)
    data = bytearray(monitor.to_bytes())
    units_at = 5
    assert struct.unpack_from("<Q", data, units_at)[0] == 1
    with pytest.raises(ValueError):
        relukit.DeadUnitMonitor(0)
    body = bytes(data[:units_at]) + struct.pack("<Q", 0) + bytes(data[units_at + 8 : -8 - 16])
    crafted = body + _checksum(body)
    with pytest.raises(ValueError, match="0 units"):
        relukit.DeadUnitMonitor.from_bytes(crafted)


def _checksum(body):
    """The checksum to_bytes appends: 64-bit FNV-1a of the body, little-endian."""
    import struct

    h = 0xCBF29CE484222325
    for b in body:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return struct.pack("<Q", h)


shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    shape=shapes,
    weight=st.integers(0, 5),
    axis=st.one_of(st.none(), st.integers(-5, 5)),
    units=st.integers(-2, 6),
    dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int64, bool]),
)
def test_fuzzed_shapes_never_panic(shape, weight, axis, units, dtype):
    x = (np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) - 3).astype(dtype)
    w = np.full(weight, 0.25)
    assert_no_panic(lambda: relukit.prelu(x, w, axis=axis))
    assert_no_panic(lambda: relukit.prelu_backward(x, x, w, axis=axis))
    assert_no_panic(lambda: relukit.prelu_derivative(x, w, axis=axis))
    assert_no_panic(lambda: relukit.rrelu(x, 0.1, 0.3, True, 3))
    assert_no_panic(lambda: relukit.rrelu_backward(x, x, 0.1, 0.3, True, 3))
    assert_no_panic(lambda: relukit.relu(x))
    assert_no_panic(lambda: relukit.leaky_relu_backward(x, x, 0.1))
    assert_no_panic(lambda: relukit.threshold(x, 0.5, 1.0))

    def observe():
        monitor = relukit.DeadUnitMonitor(units)
        monitor.observe(x, axis=axis)
        relukit.relu_observed(x, monitor, axis=axis)

    assert_no_panic(observe)


def test_a_monitor_shared_by_eight_threads_counts_every_batch_once():
    monitor = relukit.DeadUnitMonitor(16)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((64, 16)).astype(np.float32) for _ in range(240)]
    errors = []

    def work(part):
        try:
            for b in part:
                monitor.observe(b)
                relukit.relu_observed(b, monitor)
                _ = monitor.inactive_units, monitor.samples, repr(monitor)
        except BaseException as error:  # noqa: BLE001 - any failure is the test's
            errors.append(error)

    threads = [threading.Thread(target=work, args=(batches[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    expected = relukit.DeadUnitMonitor(16)
    for b in batches:
        expected.observe(b)
        expected.observe(b)
    assert monitor.samples == 2 * 240 * 64
    np.testing.assert_array_equal(monitor.active_counts, expected.active_counts)
    monitor.merge(monitor)  # merging with itself while nobody else holds it
    assert monitor.samples == 4 * 240 * 64
