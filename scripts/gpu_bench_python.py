"""relukit's Python paths to the GPU against their libraries' own ops, on one GPU
(scripts/gpu-check.sh runs it in the virtualenv where relukit is installed): per call,
at 2^10 elements (the cost of a call: Python, dispatch, launch) and 2^24 (bandwidth),
f32 and bf16 for PyTorch CUDA tensors (relukit.torch against torch.relu and F.prelu
with its autograd backward, NCHW), f32 for CuPy arrays (relukit.cuda against
cupy.maximum(x, 0) and a device-to-device copy). Prints a Markdown table: microseconds
per call (host time per call when the device is idle, device time otherwise) and GB/s
counting bytes read and written."""
import time

import torch
import torch.nn.functional as F

import relukit.cuda
import relukit.torch as rt


def per_call(fn, sync, reps):
    for _ in range(3):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - start) * 1e6 / reps


def torch_rows():
    rows = []
    for n in (1 << 10, 1 << 24):
        reps = 2000 if n < 1 << 20 else 100
        for dtype, name in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            size = torch.tensor([], dtype=dtype).element_size()
            x = (torch.arange(n, device="cuda", dtype=torch.float32) % 17 - 8).mul_(0.25).to(dtype).view(1, 4, n // 4, 1)
            g = torch.ones_like(x)
            w = torch.full((4,), 0.25, device="cuda", dtype=dtype)
            sync = torch.cuda.synchronize
            y = torch.empty_like(x)
            rows.append(("torch: copy_", name, n, 2 * n * size, per_call(lambda: y.copy_(x), sync, reps)))
            rows.append(("torch.relu", name, n, 2 * n * size, per_call(lambda: torch.relu(x), sync, reps)))
            rows.append(("relukit.torch.relu", name, n, 2 * n * size, per_call(lambda: rt.relu(x), sync, reps)))
            rows.append(("F.prelu", name, n, 2 * n * size, per_call(lambda: F.prelu(x, w), sync, reps)))
            rows.append(("relukit.torch.prelu", name, n, 2 * n * size, per_call(lambda: rt.prelu(x, w), sync, reps)))
            xr, wr = x.detach().requires_grad_(True), w.detach().requires_grad_(True)
            out = F.prelu(xr, wr)
            rows.append(("F.prelu backward (autograd)", name, n, 3 * n * size,
                         per_call(lambda: torch.autograd.grad(out, (xr, wr), g, retain_graph=True), sync, reps)))
            rows.append(("relukit.torch.prelu_backward", name, n, 3 * n * size,
                         per_call(lambda: rt.prelu_backward(g, x, w), sync, reps)))
    return rows


def cupy_rows():
    try:
        import cupy
    except ImportError:
        return []
    rows = []
    sync = cupy.cuda.get_current_stream().synchronize
    for n in (1 << 10, 1 << 24):
        reps = 2000 if n < 1 << 20 else 100
        x = (cupy.arange(n, dtype=cupy.float32) % 17 - 8) * 0.25
        y = cupy.empty_like(x)
        w = cupy.full((1,), 0.25, dtype=cupy.float32)
        rows.append(("cupy: copy", "f32", n, 8 * n, per_call(lambda: y.__setitem__(Ellipsis, x), sync, reps)))
        rows.append(("cupy.maximum(x, 0)", "f32", n, 8 * n, per_call(lambda: cupy.maximum(x, 0), sync, reps)))
        rows.append(("relukit.cuda.relu", "f32", n, 8 * n, per_call(lambda: relukit.cuda.relu(x), sync, reps)))
        rows.append(("relukit.cuda.relu out=", "f32", n, 8 * n, per_call(lambda: relukit.cuda.relu(x, out=y), sync, reps)))
        rows.append(("relukit.cuda.prelu", "f32", n, 8 * n, per_call(lambda: relukit.cuda.prelu(x, w), sync, reps)))
    return rows


if __name__ == "__main__":
    print(f"\nPython paths: PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}\n")
    print("| operation | type | elements | us/call | GB/s |\n|---|---|---:|---:|---:|")
    for op, name, n, nbytes, us in torch_rows() + cupy_rows():
        print(f"| {op} | {name} | 2^{n.bit_length() - 1} | {us:.1f} | {nbytes / us / 1e3:.1f} |")
