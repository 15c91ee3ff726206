"""relukit.torch on CUDA tensors: relukit-cuda's kernels, bit for bit against relukit's
CPU functions, on every dtype and special value, NCHW, channels_last and strided
tensors, forward and backward, the PReLU weight gradient deterministic, the tracker on
the device. Without a GPU (the test command): the backend's clear error. On the GPU
machine, `scripts/gpu-check.sh` runs this file with RELUKIT_REQUIRE_GPU=1, so that a
missing GPU fails instead of skipping."""

import os

import pytest
from conftest import optional

torch = optional("torch", also_required_by="RELUKIT_REQUIRE_GPU")

import relukit._relukit  # noqa: E402
import relukit.torch as rt  # noqa: E402

GPU = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU and not os.environ.get("RELUKIT_REQUIRE_GPU"), reason="no CUDA GPU here")
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(t):
    return t.detach().cpu().contiguous().view(INT[t.element_size()])


def values(dtype, n=5000, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.tensor([0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-40, -1e-40, 3e38, -3e38])
    parts = [s.to(dtype), (torch.randn(n, generator=g, dtype=torch.float64) * 4).to(dtype)]
    if dtype in (torch.float16, torch.bfloat16):
        parts.append(torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype))
    return torch.cat(parts)


@pytest.mark.skipif(GPU, reason="this machine has a GPU")
def test_without_a_driver_the_backend_says_so():
    with pytest.raises(RuntimeError, match="no CUDA driver"):
        relukit._relukit._cuda("relu", "float32", 0, [0, 0], 16, 0)
    with pytest.raises(ValueError, match="no operation"):
        relukit._relukit._cuda("sigmoid", "float32", 0, [0, 0], 16, 0)
    with pytest.raises(ValueError, match="takes 2 pointers"):
        relukit._relukit._cuda("relu", "float32", 0, [0], 16, 0)


def test_the_layouts_the_gpu_path_hands_to_the_kernels():
    """Host logic of the CUDA path: PReLU's (outer, channels, inner) in a tensor's memory
    (relukit.cuda's one layout rule) and which tensors run without copies."""
    x = torch.zeros(2, 3, 4, 5)
    assert rt._kernels._prelu_layout(x) == (2, 3, 20)
    assert rt._kernels._prelu_layout(x.to(memory_format=torch.channels_last)) == (40, 3, 1)
    assert rt._kernels._prelu_layout(torch.zeros(2, 3, 4, 5, 6).to(memory_format=torch.channels_last_3d)) == (240, 3, 1)
    assert rt._kernels._prelu_layout(torch.zeros(7)) == (7, 1, 1)
    assert rt._kernels._prelu_layout(x[:, :, ::2]) is None
    assert rt._kernels._dense(x.transpose(1, 3)) and not rt._kernels._dense(x[:, :, ::2])


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_on_the_gpu_is_the_cpus_bits(dtype):
    x = values(dtype)
    xg = x.cuda()
    for ours, expected in [
        (rt.relu(xg), rt.relu(x)),
        (rt.leaky_relu(xg, 0.01), rt.leaky_relu(x, 0.01)),
        (rt.leaky_relu(xg, -0.5), rt.leaky_relu(x, -0.5)),
        (
            rt.prelu(xg, torch.tensor([0.25], dtype=dtype, device="cuda")),
            rt.prelu(x, torch.tensor([0.25], dtype=dtype)),
        ),
    ]:
        assert ours.device.type == "cuda" and torch.equal(bits(ours), bits(expected))
    n = (x.numel() // 48) * 48
    images = x[:n].reshape(-1, 3, 4, 4)
    w = torch.tensor([0.25, -0.7, 0.0], dtype=dtype)
    for layout in [images, images.to(memory_format=torch.channels_last), images[:, :, ::2]]:
        got = rt.prelu(layout.cuda(), w.cuda())
        assert got.stride() == torch.empty_like(layout.cuda()).stride()
        assert torch.equal(bits(got), bits(rt.prelu(layout, w)))


@needs_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_on_the_gpu(dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(16, 8, 6, 6, generator=g) * 3).to(dtype)
    go = torch.randn(x.shape, generator=g).to(dtype)
    w = (torch.rand(8, generator=g) - 0.3).to(dtype)
    xg, gog, wg = x.cuda(), go.cuda(), w.cuda()
    assert torch.equal(bits(rt.relu_backward(gog, xg)), bits(rt.relu_backward(go, x)))
    assert torch.equal(bits(rt.leaky_relu_backward(gog, xg, 0.1)), bits(rt.leaky_relu_backward(go, x, 0.1)))
    for layout in [lambda t: t, lambda t: t.to(memory_format=torch.channels_last)]:
        gi, gw = rt.prelu_backward(layout(gog), layout(xg), wg)
        cgi, cgw = rt.prelu_backward(layout(go), layout(x), w)
        assert torch.equal(bits(gi), bits(cgi))
        exact = (go.double() * x.double() * (x <= 0)).sum(dim=(0, 2, 3))
        tolerance = {torch.float64: 1e-12, torch.float32: 1e-5}.get(dtype, 1e-2)
        torch.testing.assert_close(gw.double().cpu(), exact, rtol=tolerance, atol=tolerance * exact.abs().max().item())
        runs = [rt.prelu_backward(layout(gog), layout(xg), wg)[1] for _ in range(5)]
        assert all(torch.equal(bits(r), bits(gw)) for r in runs)  # deterministic


@needs_gpu
def test_autograd_modules_and_the_tracker_on_the_gpu():
    torch.manual_seed(2)
    model = rt.convert(
        torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.PReLU(16))
    )
    reference = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.PReLU(16)
    )
    reference.load_state_dict(model.state_dict())
    model.cuda()
    reference.cuda()
    x = torch.randn(64, 8, device="cuda")
    model(x).sum().backward()
    reference(x).sum().backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)
    tracker = rt.DeadUnitTracker(model)
    with torch.no_grad(), tracker.epoch():
        model(x)
    hidden = model[0](x)
    assert tracker.report()[0]["inactive"] == int(((hidden > 0).sum(dim=0) == 0).sum())
    tracker.remove()
    z = torch.randn(64, 33, device="cuda")
    for view in [z.clone(), z.clone()[:, ::2]]:  # dense: in place; strided: through a copy
        before = view.clone().cpu()
        assert rt.ReLU(inplace=True)(view) is view
        assert torch.equal(bits(view), bits(rt.relu(before)))
    assert torch.equal(bits(rt.LeakyReLU(0.2, inplace=True)(z.clone())), bits(rt.leaky_relu(z.cpu(), 0.2)))
