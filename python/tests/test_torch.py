"""relukit.torch against PyTorch itself: forward bits, autograd gradients, gradcheck,
torch.compile, in-place modules, strided and channels_last tensors, state_dict round
trips and convert() (the DeadUnitTracker: test_tracker.py).

The test command installs torch and sets RELUKIT_REQUIRE_OPTIONAL=1, so that a missing
torch fails there instead of skipping."""

import numpy as np
import pytest
from conftest import optional

torch = optional("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import relukit.torch as rt  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(t):
    return t.contiguous().view(INT[t.element_size()])


def special(dtype, n=4000, seed=0):
    """Special values, then random ones, then every 16-bit pattern for 16-bit types."""
    g = torch.Generator().manual_seed(seed)
    s = torch.tensor([0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-40, -1e-40, 3e38, -3e38])
    parts = [s.to(dtype), (torch.randn(n, generator=g, dtype=torch.float64) * 4).to(dtype)]
    if dtype in (torch.float16, torch.bfloat16):
        parts.append(torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype))
    return torch.cat(parts)


def assert_same_bits(got, expected, where=None):
    """Equal bits; NaN equal to NaN (relukit keeps the input's NaN, which PyTorch may quiet)."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan = torch.isnan(expected)
    assert torch.equal(torch.isnan(got), nan)
    keep = ~nan if where is None else (~nan & where)
    assert torch.equal(bits(got)[keep], bits(expected)[keep])


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_bit_exact_against_torch(dtype):
    x = special(dtype)
    # The documented difference: relu(-0.0) is +0.0 in relukit.
    not_negative_zero = ~((x == 0) & torch.signbit(x))
    assert_same_bits(rt.relu(x), torch.relu(x), not_negative_zero)
    assert torch.equal(
        bits(rt.relu(x))[~not_negative_zero], bits(torch.zeros(1, dtype=dtype)).expand(int((~not_negative_zero).sum()))
    )
    for slope in [0.01, 0.2, 0.0, -0.5, 3.0]:
        assert_same_bits(rt.leaky_relu(x, slope), F.leaky_relu(x, slope))
    w = torch.tensor([0.25, -0.7, 0.0], dtype=dtype)
    x3 = x[: (x.numel() // 3) * 3].reshape(-1, 3)
    assert_same_bits(rt.prelu(x3, w), F.prelu(x3, w))
    assert_same_bits(rt.prelu(x, w[:1]), F.prelu(x, w[:1]))
    assert_same_bits(rt.prelu(x3, w[:1]), F.prelu(x3, w[:1]))


def leaf(t):
    return t.detach().clone().requires_grad_()


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_match_torch_autograd(dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(6, 5, 7, generator=g) * 3).to(dtype)
    x[0, 0, :3] = torch.tensor([0.0, -0.0, 1e-30], dtype=dtype)
    go = torch.randn(6, 5, 7, generator=g).to(dtype)
    w = torch.rand(5, generator=g).to(dtype) - 0.3
    for ours, theirs in [
        (rt.relu, torch.relu),
        (lambda a: rt.leaky_relu(a, 0.1), lambda a: F.leaky_relu(a, 0.1)),
    ]:
        a, b = leaf(x), leaf(x)
        ours(a).backward(go)
        theirs(b).backward(go)
        assert torch.equal(bits(a.grad), bits(b.grad))
    a, wa, b, wb = leaf(x), leaf(w), leaf(x), leaf(w)
    rt.prelu(a, wa).backward(go)
    F.prelu(b, wb).backward(go)
    assert torch.equal(bits(a.grad), bits(b.grad))
    exact = (go.double() * x.double() * (x <= 0)).sum(dim=(0, 2))
    tolerance = {torch.float64: 1e-12, torch.float32: 1e-5}.get(dtype, 1e-2)
    torch.testing.assert_close(wa.grad.double(), exact, rtol=tolerance, atol=tolerance * exact.abs().max().item())


def test_the_select_backward_is_the_documented_difference():
    x = torch.tensor([-1.0, 0.0, 2.0, float("nan")], requires_grad=True)
    rt.relu(x).backward(torch.tensor([float("inf"), float("nan"), 3.0, 1.0]))
    # Where x <= 0 the gradient is 0 (a select), even for inf/NaN; NaN x gives NaN.
    assert x.grad[:3].tolist() == [0.0, 0.0, 3.0] and torch.isnan(x.grad[3])


def test_gradcheck_in_float64():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, 5, dtype=torch.float64, generator=g)
    x = torch.where(x.abs() < 0.05, x + 0.1, x).requires_grad_()  # away from the kink
    w = torch.rand(3, dtype=torch.float64, generator=g).requires_grad_()
    assert torch.autograd.gradcheck(rt.relu, (x,))
    assert torch.autograd.gradcheck(lambda a: rt.leaky_relu(a, 0.3), (x,))
    assert torch.autograd.gradcheck(rt.prelu, (x, w))
    assert torch.autograd.gradcheck(rt.prelu, (x[0, 0], w[:1]))


@pytest.mark.parametrize(
    "x",
    [
        torch.randn(3, 4, 5),
        # Large: outputs allocated through NumPy; their strides must be torch.empty_like's.
        torch.randn(64, 4, 128, 160).to(memory_format=torch.channels_last),
        torch.randn(64, 8, 128, 160)[:, ::2],
    ],
    ids=["small", "large-channels-last", "large-strided"],
)
def test_opcheck_accepts_every_op(x):
    w = torch.rand(4)
    for op, args in [
        (torch.ops.relukit.relu.default, (x,)),
        (torch.ops.relukit.leaky_relu.default, (x, 0.1)),
        (torch.ops.relukit.prelu.default, (x, w)),
        (torch.ops.relukit.relu_backward.default, (x, x)),
        (torch.ops.relukit.leaky_relu_backward.default, (x, x, 0.1)),
        (torch.ops.relukit.prelu_backward.default, (x, x, w)),
        (torch.ops.relukit.relu6.default, (x,)),
        (torch.ops.relukit.relu6_backward.default, (x, x)),
        (torch.ops.relukit.hardtanh.default, (x, -0.5, 0.5)),
        (torch.ops.relukit.hardtanh_backward.default, (x, x, -0.5, 0.5)),
        (torch.ops.relukit.threshold.default, (x, 0.1, 2.0)),
        (torch.ops.relukit.threshold_backward.default, (x, x, 0.1)),
        (torch.ops.relukit.rrelu_with_seed.default, (x, 0.1, 0.3, True, 5)),
        (torch.ops.relukit.rrelu_backward.default, (x, x, 0.1, 0.3, True, 5)),
        (torch.ops.relukit.relu_.default, (x.clone(),)),
        (torch.ops.relukit.leaky_relu_.default, (x.clone(), 0.1)),
        (torch.ops.relukit.relu6_.default, (x.clone(),)),
        (torch.ops.relukit.hardtanh_.default, (x.clone(), -0.5, 0.5)),
        (torch.ops.relukit.threshold_.default, (x.clone(), 0.1, 2.0)),
        (torch.ops.relukit.rrelu_with_seed_.default, (x.clone(), 0.1, 0.3, True, 5)),
    ]:
        torch.library.opcheck(op, args)


def test_torch_compile_fullgraph_forward_and_backward():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(8, 16), rt.ReLU(), nn.Linear(16, 16), rt.PReLU(16), nn.Linear(16, 8), rt.LeakyReLU(0.1)
    )
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(32, 8)
    expected = model(x)
    expected.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    got = compiled(x)
    got.sum().backward()
    assert torch.equal(got, expected)
    for p, q in zip(model.parameters(), grads):
        assert torch.equal(p.grad, q)


def test_inplace_modules_write_the_input_and_differentiate():
    torch.manual_seed(4)
    inp = torch.randn(7, 6)
    lin = nn.Linear(6, 6)
    for ours, theirs in [
        (rt.ReLU(inplace=True), nn.ReLU(inplace=True)),
        (rt.LeakyReLU(0.2, True), nn.LeakyReLU(0.2, True)),
    ]:
        lin.zero_grad()
        h = lin(inp)
        out = ours(h)
        assert out is h
        out.square().sum().backward()
        ours_grad = lin.weight.grad.clone()
        lin.zero_grad()
        expected = theirs(lin(inp))
        expected.square().sum().backward()
        assert torch.equal(out, expected)
        assert torch.equal(ours_grad, lin.weight.grad)
    with torch.no_grad():
        x = torch.tensor([-1.0, 2.0])
        assert rt.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 2.0]
    with pytest.raises(RuntimeError, match="negative slope"):
        rt.LeakyReLU(-0.5, inplace=True)(lin(inp))


def test_strided_and_channels_last_tensors_are_read_in_place():
    torch.manual_seed(5)
    x = torch.randn(4, 6, 5, 5).to(memory_format=torch.channels_last)
    w = torch.rand(6)
    y = rt.prelu(x, w)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, F.prelu(x.contiguous(), w))
    views = [x.transpose(2, 3), x[:, ::2], x[..., 1:4], torch.randn(9, 8).t()]
    for v in views:
        assert torch.equal(rt.relu(v), torch.relu(v.contiguous()))
        assert torch.equal(rt.leaky_relu(v, 0.3), F.leaky_relu(v.contiguous(), 0.3))
        wv = torch.rand(v.shape[1])
        assert torch.equal(rt.prelu(v, wv), F.prelu(v.contiguous(), wv))
        gi, gw = rt.prelu_backward(torch.ones_like(v), v, wv)
        gi2, gw2 = rt.prelu_backward(torch.ones_like(v), v.contiguous(), wv)
        assert torch.equal(gi, gi2) and torch.equal(gw, gw2)  # deterministic in any layout


def test_modules_match_torch_nn_and_share_state_dicts():
    pairs = [
        (nn.ReLU(), rt.ReLU()),
        (nn.ReLU(inplace=True), rt.ReLU(inplace=True)),
        (nn.LeakyReLU(), rt.LeakyReLU()),
        (nn.LeakyReLU(0.3, inplace=True), rt.LeakyReLU(0.3, inplace=True)),
        (nn.PReLU(), rt.PReLU()),
        (nn.PReLU(num_parameters=5, init=0.1), rt.PReLU(num_parameters=5, init=0.1)),
    ]
    for theirs, ours in pairs:
        assert isinstance(ours, type(theirs))
        assert ours.extra_repr() == theirs.extra_repr()
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    torch.manual_seed(6)
    reference = nn.Sequential(nn.Linear(4, 5), nn.PReLU(5), nn.Linear(5, 3), nn.ReLU())
    with torch.no_grad():
        reference[1].weight.uniform_(-1, 1)
    ours = nn.Sequential(nn.Linear(4, 5), rt.PReLU(5), nn.Linear(5, 3), rt.ReLU())
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(10, 4)
    assert torch.equal(ours(x), reference(x))
    back = nn.Sequential(nn.Linear(4, 5), nn.PReLU(5), nn.Linear(5, 3), nn.ReLU())
    back.load_state_dict(ours.state_dict())
    assert torch.equal(back(x), reference(x))


def test_convert_swaps_in_place_and_keeps_parameters():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.PReLU(4), nn.Sequential(nn.LeakyReLU(0.2)))
    weight = model[3].weight
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    expected = model(x)
    assert rt.convert(model) is model
    assert [type(m) for m in (model[1], model[3], model[4][0])] == [rt.ReLU, rt.PReLU, rt.LeakyReLU]
    assert model[3].weight is weight and model[4][0].negative_slope == 0.2
    assert torch.equal(model(x), expected)
    model(x).sum().backward()
    optimizer.step()
    assert not torch.equal(weight, torch.full_like(weight, 0.25))
    single = nn.ReLU()
    assert rt.convert(single) is single and type(single) is rt.ReLU


def test_other_devices_and_dtypes_are_clear_errors():
    with pytest.raises(NotImplementedError, match="meta"):
        rt._kernels.array(torch.empty(3, device="meta"), "x")
    with pytest.raises(TypeError, match="int32"):
        rt.relu(torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match="channel"):
        rt.prelu(torch.zeros(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="finite"):
        rt.leaky_relu(torch.zeros(3), float("nan"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_rest_of_the_family_matches_torch(dtype):
    x = special(dtype)
    not_negative_zero = ~((x == 0) & torch.signbit(x))
    assert_same_bits(rt.relu6(x), F.relu6(x), not_negative_zero)  # relu6(-0.0) is +0.0 here
    for t, v in [(0.0, 0.0), (0.5, -2.0), (-1.0, 3.0)]:
        assert_same_bits(rt.threshold(x, t, v), F.threshold(x, t, v))
    assert_same_bits(rt.rrelu(x, 0.1, 0.3, training=False), F.rrelu(x, 0.1, 0.3, training=False))
    for low, high in [(-1.0, 1.0), (-2.0, 0.5), (float("-inf"), 0.25)]:
        assert_same_bits(rt.hardtanh(x, low, high), F.hardtanh(x, low, high))
    # At a bound the result is the bound's bits: only a zero bound tells them apart.
    assert_same_bits(rt.hardtanh(x, 0.0, 6.0), F.relu6(x), not_negative_zero)
    assert not torch.signbit(rt.hardtanh(torch.tensor([-0.0], dtype=dtype), 0.0, 6.0)).any()
    finite = x[torch.isfinite(x)][:3000]
    go = torch.randn(finite.shape, generator=torch.Generator().manual_seed(9)).to(dtype)
    for ours, theirs in [
        (rt.relu6, F.relu6),
        (lambda a: rt.threshold(a, 0.5, -2.0), lambda a: F.threshold(a, 0.5, -2.0)),
        (lambda a: rt.hardtanh(a, -2.0, 0.5), lambda a: F.hardtanh(a, -2.0, 0.5)),
    ]:
        a, b = leaf(finite), leaf(finite)
        ours(a).backward(go)
        theirs(b).backward(go)
        assert torch.equal(bits(a.grad), bits(b.grad))


def test_rrelu_training_draws_slopes_from_torchs_generator_and_again_in_backward():
    x = -torch.rand(10_000, dtype=torch.float64) - 0.5
    torch.manual_seed(11)
    a = leaf(x)
    y = rt.rrelu(a, 0.1, 0.3, training=True)
    y.backward(torch.ones_like(x))
    slopes = y.detach() / x
    assert torch.all((slopes >= 0.1) & (slopes < 0.3)) and slopes.std() > 0.05
    torch.testing.assert_close(a.grad, slopes, rtol=1e-12, atol=0)  # the same slopes
    torch.manual_seed(11)
    assert torch.equal(rt.rrelu(x, 0.1, 0.3, training=True), y.detach())  # repeatable
    assert not torch.equal(rt.rrelu(x, 0.1, 0.3, training=True), y.detach())  # new noise per call
    assert torch.autograd.gradcheck(lambda t: rt.rrelu_with_seed(t, 0.1, 0.3, True, 5), (leaf(x[:50]),))


def test_relu6_threshold_rrelu_and_hardtanh_modules_match_torch_nn():
    pairs = [
        (nn.ReLU6(), rt.ReLU6()),
        (nn.ReLU6(inplace=True), rt.ReLU6(inplace=True)),
        (nn.Threshold(0.5, -1.0), rt.Threshold(0.5, -1.0)),
        (nn.RReLU(0.1, 0.2), rt.RReLU(0.1, 0.2)),
        (nn.Hardtanh(), rt.Hardtanh()),
        (nn.Hardtanh(-2.0, 0.5, inplace=True), rt.Hardtanh(-2.0, 0.5, inplace=True)),
    ]
    x = torch.randn(6, 4) * 8
    for theirs, ours in pairs:
        assert isinstance(ours, type(theirs)) and repr(ours) == repr(theirs)
        theirs.eval()
        ours.eval()
        assert torch.equal(ours(x.clone()), theirs(x.clone()))
    model = rt.convert(nn.Sequential(nn.ReLU6(), nn.Threshold(0.1, 0.0), nn.RReLU(), nn.Hardtanh(-3.0, 2.0)))
    assert [type(m) for m in model] == [rt.ReLU6, rt.Threshold, rt.RReLU, rt.Hardtanh]
    assert (model[3].min_val, model[3].max_val) == (-3.0, 2.0)
    inplace = x.clone()
    assert rt.ReLU6(inplace=True)(inplace) is inplace and torch.equal(inplace, F.relu6(x))


def test_the_torch_benchmark_checks_its_answers():
    """python/benchmarks/bench_torch.py in its check mode: every call it times gives
    PyTorch's answer (speed itself is measured by running it, never in a test)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_torch.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "every measured call gave PyTorch's answer" in done.stdout


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_large_calls_split_over_torchs_threads_give_the_same_bits(dtype):
    """From PyTorch's grain up, calls run split over PyTorch's OpenMP team (or relukit's
    pool): every result, RReLU's slopes included, has the bits of the one-thread call
    and of the NumPy functions."""
    import relukit
    from relukit.torch import _kernels

    assert _kernels.OPENMP, "PyTorch's OpenMP runtime was not found"
    g = torch.Generator().manual_seed(21)
    n = 3 * 65536 + 77  # several ranges, and a ragged end
    x = (torch.randn(n, generator=g, dtype=torch.float64) * 3).to(dtype)
    go = torch.randn(n, generator=g, dtype=torch.float64).to(dtype)
    w = torch.rand(64, generator=g).to(dtype)
    xp = x[: 64 * 3072].reshape(6, 64, 512)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            inplace = x.clone()
            rt.rrelu_with_seed(inplace, 0.1, 0.3, True, 11)  # functional
            rt._autograd._rrelu_(inplace, 0.1, 0.3, True, 11)
            results.append(
                [
                    rt.relu(x),
                    rt.leaky_relu(x, 0.1),
                    rt.relu6(x),
                    rt.threshold(x, 0.3, -1.0),
                    rt.hardtanh(x, -0.5, 2.0),
                    rt.rrelu_with_seed(x, 0.1, 0.3, True, 11),
                    rt.rrelu_backward(go, x, 0.1, 0.3, True, 11),
                    rt.relu_backward(go, x),
                    rt.leaky_relu_backward(go, x, 0.1),
                    rt.relu6_backward(go, x),
                    rt.hardtanh_backward(go, x, -0.5, 2.0),
                    rt.threshold_backward(go, x, 0.3),
                    rt.prelu(xp, w),
                    *rt.prelu_backward(go[: xp.numel()].reshape(xp.shape), xp, w),
                    inplace,
                ]
            )
    finally:
        torch.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(bits(a), bits(b))
    numpy_slopes = relukit.rrelu(_kernels.array(x, "x"), 0.1, 0.3, True, 11)
    assert np.array_equal(_kernels.array(results[0][5], "y").view(np.uint8), numpy_slopes.view(np.uint8))
