"""relukit against NumPy (and PyTorch on CPU, when installed), measured in the same run.

    python python/benchmarks/bench.py          # the full table (float32 1 to 64M elements, ...)
    python python/benchmarks/bench.py --quick  # small sizes only

Prints medians in microseconds and the speed-up of relukit over each baseline.
"""

import argparse
import statistics
import sys
import time

import numpy as np

import relukit

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # PyTorch is optional
    torch = None


def median_time(f, seconds=0.3, min_runs=5):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
        if len(times) > 10_000:
            break
    return statistics.median(times)


def row(name, n, ours, base, base_name):
    print(f"| {name} | {n:,} | {ours * 1e6:,.1f} | {base_name} | {base * 1e6:,.1f} | {base / ours:.2f}x |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1, 1_000, 65_536, 1 << 20] + ([] if args.quick else [1 << 24, 1 << 26])
    print(f"relukit {relukit.__version__} ({relukit.active_isa()}), NumPy {np.__version__}, threads {relukit.get_num_threads()}" + (f", PyTorch {torch.__version__}" if torch else ""))
    print("| call | elements | relukit µs | baseline | baseline µs | speed-up |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal(n).astype(np.float32)
        out = np.empty_like(x)
        allocating = median_time(lambda: relukit.relu(x))
        row("relu float32, allocating", n, allocating, median_time(lambda: np.maximum(x, 0)), "np.maximum(x, 0)")
        row("relu float32, allocating", n, allocating, median_time(lambda: x.copy()), "x.copy() (the limit)")
        row("relu float32, out=", n, median_time(lambda: relukit.relu(x, out=out)), median_time(lambda: np.maximum(x, 0, out=out)), "np.maximum(x, 0, out=o)")
        if torch is not None:
            # torch.relu has no out=; its out= form is clamp_min, which relu calls.
            tx, tout = torch.from_numpy(x), torch.from_numpy(out)
            row("relu float32, allocating", n, median_time(lambda: relukit.relu(x)), median_time(lambda: torch.relu(tx)), "torch.relu(x) (CPU)")
            row("relu float32, out=", n, median_time(lambda: relukit.relu(x, out=out)), median_time(lambda: torch.clamp_min(tx, 0, out=tout)), "torch.clamp_min(x, 0, out=o) (CPU)")
    for n in [65_536, 1 << 20] + ([] if args.quick else [1 << 24]):
        h = rng.standard_normal(n).astype(np.float16)
        oh = np.empty_like(h)
        row("relu float16, out=", n, median_time(lambda: relukit.relu(h, out=oh)), median_time(lambda: np.maximum(h, np.float16(0), out=oh)), "np.maximum (float16)")
        x = rng.standard_normal(n).astype(np.float32)
        row("leaky_relu float32", n, median_time(lambda: relukit.leaky_relu(x, 0.01)), median_time(lambda: np.where(x > 0, x, 0.01 * x)), "np.where(x > 0, x, 0.01 * x)")
        nhwc = rng.standard_normal((n // 64, 64)).astype(np.float32)
        g = rng.standard_normal(nhwc.shape).astype(np.float32)
        w = np.full(64, 0.25, dtype=np.float32)

        def numpy_prelu_backward():
            negative = nhwc <= 0
            grad_input = np.where(negative, w * g, g)
            grad_weight = np.where(negative, g * nhwc, 0).sum(axis=0)
            return grad_input, grad_weight

        row("prelu_backward float32 [N, 64]", n, median_time(lambda: relukit.prelu_backward(g, nhwc, w, axis=1)), median_time(numpy_prelu_backward), "NumPy formula")
        if torch is not None:
            tx, tg, tw = torch.from_numpy(nhwc).requires_grad_(), torch.from_numpy(g), torch.from_numpy(w).requires_grad_()

            def torch_prelu_backward():
                y = F.prelu(tx, tw)
                return torch.autograd.grad(y, (tx, tw), tg)

            row("prelu_backward float32 [N, 64]", n, median_time(lambda: relukit.prelu_backward(g, nhwc, w, axis=1)), median_time(torch_prelu_backward), "torch F.prelu backward (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
