"""PyTorch's side of the GPU benchmark (scripts/gpu-check.sh runs it beside
`relukit bench --device cuda` on the same GPU): a device-to-device copy, F.relu,
F.leaky_relu, their backward (the aten ops autograd calls) and F.prelu with its autograd
backward (grad_input and grad_weight), NCHW and NHWC, f32 and bf16, at 2^10, 2^20 and
2^28 elements; then, on the CPU, relu and prelu at 256 MiB of f32 on 1 and all threads.
Prints Markdown tables (microseconds per call, GB/s counting bytes read and written)."""
import os
import time

import torch
import torch.nn.functional as F


def cuda_time(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    host = time.perf_counter()
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    end.synchronize()
    host_us = (time.perf_counter() - host) * 1e6 / reps
    device_us = start.elapsed_time(end) * 1e3 / reps
    return max(device_us, min(host_us, device_us * 100))


def layouts(n):
    c = 64 if n >= 1 << 16 else 4
    hw = n // c
    side = int(round(hw ** 0.5))
    h, w = (side, side) if side * side == hw else (hw, 1)
    return [("NCHW", (1, c, h, w), False), ("NHWC", (1, c, h, w), True)]


def gpu_rows():
    rows = []
    for n in (1 << 10, 1 << 20, 1 << 28):
        reps = 20 if n >= 1 << 26 else 200 if n >= 1 << 18 else 2000
        for dtype, name in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            size = torch.tensor([], dtype=dtype).element_size()
            x = (torch.arange(n, device="cuda", dtype=torch.float32) % 17 - 8).mul_(0.25).to(dtype)
            g = x.clone()
            y = torch.empty_like(x)
            copy = cuda_time(lambda: y.copy_(x), reps)
            rows.append(("copy", name, n, 2 * n * size, copy))
            rows.append(("F.relu", name, n, 2 * n * size, cuda_time(lambda: F.relu(x), reps)))
            rows.append(("F.leaky_relu", name, n, 2 * n * size, cuda_time(lambda: F.leaky_relu(x, 0.01), reps)))
            rows.append(("relu backward (threshold_backward)", name, n, 3 * n * size,
                         cuda_time(lambda: torch.ops.aten.threshold_backward(g, x, 0), reps)))
            rows.append(("leaky_relu_backward", name, n, 3 * n * size,
                         cuda_time(lambda: torch.ops.aten.leaky_relu_backward(g, x, 0.01, False), reps)))
            for lname, shape, last in layouts(n):
                xs = x.view(shape)
                gs = g.view(shape)
                if last:
                    xs = xs.contiguous(memory_format=torch.channels_last)
                    gs = gs.contiguous(memory_format=torch.channels_last)
                w = torch.full((shape[1],), 0.25, device="cuda", dtype=dtype)
                rows.append((f"F.prelu {lname}", name, n, 2 * n * size, cuda_time(lambda: F.prelu(xs, w), reps)))
                xr = xs.detach().requires_grad_(True)
                wr = w.detach().requires_grad_(True)
                out = F.prelu(xr, wr)
                rows.append((f"F.prelu backward {lname}", name, n, 3 * n * size,
                             cuda_time(lambda: torch.autograd.grad(out, (xr, wr), gs, retain_graph=True), reps)))
                del out, xr, wr
            del x, g, y
            torch.cuda.empty_cache()
    return rows


def cpu_rows():
    n = (256 << 20) // 4
    x = (torch.arange(n, dtype=torch.float32) % 17 - 8) * 0.25
    g = x.clone()
    y = torch.empty_like(x)
    w = torch.full((64,), 0.25)
    xs, gs = x.view(1, 64, -1, 1), g.view(1, 64, -1, 1)
    rows = []
    for threads in sorted({1, 2, 4, 8, os.cpu_count() or 1}):
        torch.set_num_threads(threads)

        def best(fn, reps=3):
            fn()
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return min(times) * 1e6

        rows.append(("copy", threads, 2 * n * 4, best(lambda: y.copy_(x))))
        rows.append(("torch.relu out=", threads, 2 * n * 4, best(lambda: torch.clamp_min(x, 0, out=y))))
        rows.append(("F.prelu", threads, 2 * n * 4, best(lambda: F.prelu(xs, w))))
        xr = xs.detach().requires_grad_(True)
        wr = w.detach().requires_grad_(True)
        out = F.prelu(xr, wr)
        rows.append(("F.prelu backward", threads, 3 * n * 4,
                     best(lambda: torch.autograd.grad(out, (xr, wr), gs, retain_graph=True))))
    return rows


if __name__ == "__main__":
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}\n")
    print("| operation | type | elements | us/call | GB/s |\n|---|---|---:|---:|---:|")
    for op, name, n, nbytes, us in gpu_rows():
        print(f"| {op} | {name} | 2^{n.bit_length() - 1} | {us:.1f} | {nbytes / us / 1e3:.0f} |")
    print(f"\nCPU: PyTorch at 256 MiB of f32 (NCHW [1, 64, 1M, 1] for PReLU), best of 3\n")
    print("| operation | threads | ms | GB/s |\n|---|---:|---:|---:|")
    for op, threads, nbytes, us in cpu_rows():
        print(f"| {op} | {threads} | {us / 1e3:.2f} | {nbytes / us / 1e3:.1f} |")
