"""relukit against NumPy (and PyTorch on CPU, and ml_dtypes' bfloat16, when installed),
measured in the same run.

    python python/benchmarks/bench.py          # the full table (float32 1 to 64M elements, ...)
    python python/benchmarks/bench.py --quick  # small sizes only

Sections: NumPy ufuncs and functions; bfloat16 arrays (ml_dtypes); relukit.torch ops
against torch.nn.functional, forward + backward; the DeadUnitTracker's cost over the
forward pass of a small CNN.

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

    import relukit.torch as rt
except ImportError:  # PyTorch is optional
    torch = None

try:
    import ml_dtypes
except ImportError:  # ml_dtypes is optional
    ml_dtypes = None


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
    print(
        f"relukit {relukit.__version__} ({relukit.active_isa()}), NumPy {np.__version__}, "
        f"threads {relukit.get_num_threads()}" + (f", PyTorch {torch.__version__}" if torch else "")
    )
    print("| call | elements | relukit µs | baseline | baseline µs | speed-up |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal(n).astype(np.float32)
        out = np.empty_like(x)
        allocating = median_time(lambda: relukit.relu(x))
        row("relu float32, allocating", n, allocating, median_time(lambda: np.maximum(x, 0)), "np.maximum(x, 0)")
        row("relu float32, allocating", n, allocating, median_time(lambda: x.copy()), "x.copy() (the limit)")
        row(
            "relu float32, out=",
            n,
            median_time(lambda: relukit.relu(x, out=out)),
            median_time(lambda: np.maximum(x, 0, out=out)),
            "np.maximum(x, 0, out=o)",
        )
        if torch is not None:
            # torch.relu has no out=; its out= form is clamp_min, which relu calls.
            tx, tout = torch.from_numpy(x), torch.from_numpy(out)
            row(
                "relu float32, allocating",
                n,
                median_time(lambda: relukit.relu(x)),
                median_time(lambda: torch.relu(tx)),
                "torch.relu(x) (CPU)",
            )
            row(
                "relu float32, out=",
                n,
                median_time(lambda: relukit.relu(x, out=out)),
                median_time(lambda: torch.clamp_min(tx, 0, out=tout)),
                "torch.clamp_min(x, 0, out=o) (CPU)",
            )
    for n in [65_536, 1 << 20] + ([] if args.quick else [1 << 24]):
        h = rng.standard_normal(n).astype(np.float16)
        oh = np.empty_like(h)
        row(
            "relu float16, out=",
            n,
            median_time(lambda: relukit.relu(h, out=oh)),
            median_time(lambda: np.maximum(h, np.float16(0), out=oh)),
            "np.maximum (float16)",
        )
        x = rng.standard_normal(n).astype(np.float32)
        row(
            "leaky_relu float32",
            n,
            median_time(lambda: relukit.leaky_relu(x, 0.01)),
            median_time(lambda: np.where(x > 0, x, 0.01 * x)),
            "np.where(x > 0, x, 0.01 * x)",
        )
        nhwc = rng.standard_normal((n // 64, 64)).astype(np.float32)
        g = rng.standard_normal(nhwc.shape).astype(np.float32)
        w = np.full(64, 0.25, dtype=np.float32)

        def numpy_prelu_backward():
            negative = nhwc <= 0
            grad_input = np.where(negative, w * g, g)
            grad_weight = np.where(negative, g * nhwc, 0).sum(axis=0)
            return grad_input, grad_weight

        row(
            "prelu_backward float32 [N, 64]",
            n,
            median_time(lambda: relukit.prelu_backward(g, nhwc, w, axis=1)),
            median_time(numpy_prelu_backward),
            "NumPy formula",
        )
        if torch is not None:
            tx, tg, tw = (
                torch.from_numpy(nhwc).requires_grad_(),
                torch.from_numpy(g),
                torch.from_numpy(w).requires_grad_(),
            )

            def torch_prelu_backward():
                y = F.prelu(tx, tw)
                return torch.autograd.grad(y, (tx, tw), tg)

            row(
                "prelu_backward float32 [N, 64]",
                n,
                median_time(lambda: relukit.prelu_backward(g, nhwc, w, axis=1)),
                median_time(torch_prelu_backward),
                "torch F.prelu backward (CPU)",
            )
    if ml_dtypes is not None:
        bfloat16_rows(rng, args.quick)
    if torch is not None:
        torch_rows(args.quick)
        tracker_cost()
    return 0


def bfloat16_rows(rng, quick):
    """ml_dtypes bfloat16 arrays: relukit's bf16 loops against NumPy on the same dtype."""
    bf = ml_dtypes.bfloat16
    for n in [65_536, 1 << 20] + ([] if quick else [1 << 24]):
        x = rng.standard_normal(n).astype(bf)
        out = np.empty_like(x)
        zero = np.zeros((), bf)
        row(
            "relu bfloat16, allocating",
            n,
            median_time(lambda: relukit.relu(x)),
            median_time(lambda: np.maximum(x, zero)),
            "np.maximum(x, 0) (bfloat16)",
        )
        row(
            "relu bfloat16, out=",
            n,
            median_time(lambda: relukit.relu(x, out=out)),
            median_time(lambda: np.maximum(x, zero, out=out)),
            "np.maximum(x, 0, out=o) (bfloat16)",
        )
        row(
            "relu bfloat16, out=",
            n,
            median_time(lambda: relukit.relu(x, out=out)),
            median_time(lambda: np.copyto(out, x)),
            "np.copyto (the limit)",
        )
        slope = np.asarray(0.01, dtype=bf)
        row(
            "leaky_relu bfloat16, out=",
            n,
            median_time(lambda: relukit.leaky_relu(x, 0.01, out=out)),
            median_time(lambda: np.where(x > zero, x, slope * x)),
            "np.where(x > 0, x, 0.01 * x) (bfloat16)",
        )


def torch_rows(quick):
    """relukit.torch against torch.nn.functional on CPU tensors, forward + backward
    (input and weight gradients) for PReLU, NCHW with 64 channels."""
    for n in [1 << 21] + ([] if quick else [1 << 24, 1 << 26]):
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(n // (64 * 256), 64, 16, 16).to(dtype)
            go = torch.randn_like(x)
            w = torch.full((64,), 0.25, dtype=dtype)
            name = str(dtype).replace("torch.", "")

            def step(prelu):
                a, b = x.detach().requires_grad_(), w.detach().requires_grad_()
                return torch.autograd.grad(prelu(a, b), (a, b), go)

            row(
                f"torch prelu fwd+bwd {name} NCHW",
                n,
                median_time(lambda: step(rt.prelu)),
                median_time(lambda: step(F.prelu)),
                "F.prelu fwd+bwd (CPU)",
            )
            row(
                f"torch relu {name}",
                n,
                median_time(lambda: rt.relu(x)),
                median_time(lambda: torch.relu(x)),
                "torch.relu (CPU)",
            )


def tracker_cost():
    """A small CNN's CPU training step (forward, backward, Adam) at batch 64 with a
    DeadUnitTracker window open (observing every step, and one in 10) against the same
    step without a tracker, interleaved; the target is at most 3% for every step."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 14 * 14, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, labels = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()

    step()
    for every in (1, 10):
        # Blocks of steps in a window (as an epoch is) against blocks without one (hooks
        # exist only while a window is open: a closed window is a model without a
        # tracker); the blocks alternate which runs first, so that drift hits both alike.
        tracker = rt.DeadUnitTracker(model, every=every, warn_at=None)
        block = 10
        plain, tracked = [], []
        for i in range(24):
            for observed in (i % 2 == 0, i % 2 == 1):
                if observed:
                    tracker.start_epoch()
                start = time.perf_counter()
                for _ in range(block):
                    step()
                (tracked if observed else plain).append((time.perf_counter() - start) / block)
                if observed:
                    tracker.end_epoch()
        tracker.remove()
        ratio = statistics.median(t / p for t, p in zip(tracked, plain))
        print(
            f"| small CNN training step, batch 64, DeadUnitTracker every={every} | - "
            f"| {statistics.median(tracked) * 1e6:,.1f} "
            f"| no tracker | {statistics.median(plain) * 1e6:,.1f} "
            f"| cost {100 * (ratio - 1):+.1f}% (median of paired blocks of {block} steps; target 3%) |"
        )


if __name__ == "__main__":
    sys.exit(main())
