"""relukit.torch against PyTorch where PyTorch users meet it: per call, at the sizes
people train at, and a converted model's training step, each pair timed interleaved in
the same run (relukit, PyTorch, relukit, PyTorch...: both see the same machine state),
best round of each, and the ratio printed.

    python python/benchmarks/bench_torch.py            # every table
    python python/benchmarks/bench_torch.py --quick    # fewer sizes and rounds
    python python/benchmarks/bench_torch.py --check    # each measurement once, answers checked

Ratios are PyTorch's time over relukit's: above 1.0x relukit is faster. Every call is
first checked against PyTorch's result (bits, or the documented -0.0), so a fast wrong
answer fails instead of being timed.
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import relukit
import relukit.torch as rt


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def interleaved(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int, calls: int
) -> tuple[float, float]:
    """Best time per call of each, over `rounds` alternating rounds of `calls` calls."""
    best = [float("inf"), float("inf")]
    for f in (ours, theirs):
        f()
    for _ in range(rounds):
        for i, f in enumerate((ours, theirs)):
            start = time.perf_counter()
            for _ in range(calls):
                f()
            best[i] = min(best[i], (time.perf_counter() - start) / calls)
    return best[0], best[1]


def calls_for(elements: int) -> int:
    return max(3, min(2000, 20_000_000 // max(elements, 1) // 20))


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    b = torch.where(b == 0, torch.zeros_like(b), b)  # relu(-0.0) is +0.0 in relukit
    a = torch.where(a == 0, torch.zeros_like(a), a)
    return torch.equal(torch.isnan(a), torch.isnan(b)) and torch.equal(a.nan_to_num(), b.nan_to_num())


def table(title: str, header: str) -> None:
    print(f"\n### {title}\n\n{header}")
    print("|" + "---|" * (header.count("|") - 1))


OPS = {
    "relu": (lambda x: rt.relu(x), lambda x: torch.relu(x)),
    "leaky_relu": (lambda x: rt.leaky_relu(x, 0.01), lambda x: F.leaky_relu(x, 0.01)),
    "relu6": (lambda x: rt.relu6(x), lambda x: F.relu6(x)),
    "threshold": (lambda x: rt.threshold(x, 0.1, 0.0), lambda x: F.threshold(x, 0.1, 0.0)),
    "rrelu (eval)": (lambda x: rt.rrelu(x), lambda x: F.rrelu(x)),
}


def per_call(sizes: list[int], dtypes: list[torch.dtype], threads: list[int], rounds: int, check: bool) -> None:
    table(
        "Per call: relukit.torch against PyTorch (time per call, best interleaved round)",
        "| op | dtype | threads | elements | mode | relukit µs | PyTorch µs | ratio |",
    )
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for dtype in dtypes:
            for n in sizes:
                x = torch.randn(n).to(dtype)
                xg = x.clone().requires_grad_()
                for name, (ours, theirs) in OPS.items():
                    assert same(ours(x), theirs(x)), name
                    if check:
                        continue
                    modes = [
                        ("forward", lambda: ours(x), lambda: theirs(x)),
                        ("forward, grad", lambda: ours(xg), lambda: theirs(xg)),
                        ("forward+backward", lambda: ours(xg).sum().backward(), lambda: theirs(xg).sum().backward()),
                    ]
                    for mode, a, b in modes:
                        t_ours, t_theirs = interleaved(a, b, rounds, calls_for(n))
                        print(
                            f"| {name} | {str(dtype)[6:]} | {n_threads} | {n:,} | {mode} | {t_ours * 1e6:,.1f} "
                            f"| {t_theirs * 1e6:,.1f} | {t_theirs / t_ours:.2f}x |"
                        )


def prelu_table(sizes: list[int], dtypes: list[torch.dtype], threads: list[int], rounds: int, check: bool) -> None:
    table(
        "PReLU forward+backward, NCHW with 64 channels, against F.prelu",
        "| dtype | threads | elements | relukit µs | PyTorch µs | ratio |",
    )
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for dtype in dtypes:
            for n in sizes:
                spatial = max(n // (64 * 4), 1)
                x = torch.randn(4, 64, spatial).to(dtype).requires_grad_()
                w = torch.rand(64).to(dtype).requires_grad_()
                assert same(rt.prelu(x, w), F.prelu(x, w))
                if check:
                    continue
                t_ours, t_theirs = interleaved(
                    lambda: rt.prelu(x, w).sum().backward(),
                    lambda: F.prelu(x, w).sum().backward(),
                    rounds,
                    calls_for(n),
                )
                print(
                    f"| {str(dtype)[6:]} | {n_threads} | {x.numel():,} | {t_ours * 1e6:,.1f} | {t_theirs * 1e6:,.1f} "
                    f"| {t_theirs / t_ours:.2f}x |"
                )


def mlp(activation: Callable[[], nn.Module]) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128),
        activation(),
        nn.Linear(128, 128),
        activation(),
        nn.Linear(128, 128),
        activation(),
        nn.Linear(128, 10),
    )


def cnn(activation: Callable[[int], nn.Module]) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        activation(32),
        nn.Conv2d(32, 64, 3, padding=1, stride=2),
        nn.BatchNorm2d(64),
        activation(64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, activation: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = activation(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = activation(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + (x if self.down is None else self.down(x)))


def resnet18(activation: Callable[[int], nn.Module]) -> nn.Module:
    """ResNet-18's shape (4 stages of 2 basic blocks, 64-512 channels) for 32x32 inputs."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), activation(64)]
    cin = 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [Block(cin, cout, stride, activation), Block(cout, cout, 1, activation)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def training_steps(batches: list[int], rounds: int, check: bool, quick: bool) -> None:
    table(
        "A training step (forward, backward, Adam) of a converted model against the torch.nn model",
        "| model | activation | batch | relukit ms | torch.nn ms | relukit's time / torch.nn's |",
    )
    models = [
        ("MLP 64-128x3-10", lambda act: mlp(lambda: act(128)), (64,)),
        ("CNN conv-BN-act x2", cnn, (3, 32, 32)),
    ]
    if not quick:
        models.append(("ResNet-18 shape", resnet18, (3, 32, 32)))
    activations = [("ReLU", lambda c: nn.ReLU(inplace=True)), ("PReLU", lambda c: nn.PReLU(c))]
    for model_name, build, shape in models:
        for act_name, act in activations:
            for batch in batches:
                torch.manual_seed(0)
                reference = build(act)
                ours = rt.convert(build(act))
                ours.load_state_dict(reference.state_dict())
                x = torch.randn(batch, *shape)
                target = torch.randint(0, 10, (batch,))
                steps = []
                for m in (ours, reference):
                    optimizer = torch.optim.Adam(m.parameters(), lr=1e-3)

                    def step(m: nn.Module = m, optimizer: torch.optim.Optimizer = optimizer) -> None:
                        optimizer.zero_grad(set_to_none=True)
                        F.cross_entropy(m(x), target).backward()
                        optimizer.step()

                    steps.append(step)
                if check:
                    steps[0]()
                    continue
                t_ours, t_theirs = interleaved(steps[0], steps[1], rounds, 5 if batch > 16 else 20)
                print(
                    f"| {model_name} | {act_name} | {batch} | {t_ours * 1e3:,.2f} | {t_theirs * 1e3:,.2f} "
                    f"| {t_ours / t_theirs:.2f} |"
                )


def after_a_conv(rounds: int, check: bool) -> None:
    table(
        "A call right after a convolution (PyTorch's threads just used) against the same call alone",
        "| elements | relukit alone µs | relukit after a conv µs | ratio | torch.relu after a conv µs |",
    )
    conv = nn.Conv2d(16, 16, 3, padding=1)
    image = torch.randn(8, 16, 32, 32)
    with torch.no_grad():
        conv(image)
        for n in [1 << 18, 1 << 20, 1 << 22]:
            x = torch.randn(n)
            if check:
                rt.relu(x)
                continue
            t_conv, _ = interleaved(lambda: conv(image), lambda: None, rounds, 5)
            alone, both = interleaved(lambda: rt.relu(x), lambda: (conv(image), rt.relu(x)), rounds, 5)
            _, theirs = interleaved(lambda: None, lambda: (conv(image), torch.relu(x)), rounds, 5)
            after = both - t_conv
            print(
                f"| {n:,} | {alone * 1e6:,.1f} | {after * 1e6:,.1f} | {after / alone:.2f} "
                f"| {(theirs - t_conv) * 1e6:,.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and rounds")
    parser.add_argument("--check", action="store_true", help="each measurement once, answers checked, no timing")
    parser.add_argument("--threads", default="1,2", help="PyTorch thread counts, comma-separated (default 1,2)")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    rounds = 1 if args.check else (3 if args.quick else 10)
    sizes = [1 << 10, 1 << 18] if args.quick or args.check else [1 << 10, 1 << 16, 1 << 18, 1 << 20, 1 << 22]
    print(
        f"relukit {relukit.__version__} ({relukit.active_isa()}), PyTorch {torch.__version__}, {cpu_model()}, "
        f"{torch.get_num_threads()} threads by default"
    )
    per_call(sizes, [torch.float32, torch.bfloat16], threads, rounds, args.check)
    prelu_table(
        [1 << 16, 1 << 20, 1 << 22] if not args.check else [1 << 16],
        [torch.float32, torch.bfloat16],
        threads,
        rounds,
        args.check,
    )
    torch.set_num_threads(max(threads))
    training_steps([1, 16, 64] if not args.check else [2], rounds, args.check, args.quick)
    after_a_conv(rounds, args.check)
    if args.check:
        print("\nbench_torch --check: every measured call gave PyTorch's answer")


if __name__ == "__main__":
    main()
