"""Dying ReLU in PyTorch, watched by relukit's DeadUnitTracker.

Trains the MLP 64-128-128-128-10 on the digits (80/20 stratified split, features
standardised with the training statistics) with Adam, ReLU (torch.nn) against PReLU
(relukit.torch), at learning rates 1e-3 and 0.05: the program's study (`relukit study`),
reproduced in PyTorch. After every epoch the tracker counts, over one pass of the
training set, the hidden units that were never positive ("inactive") and, of those, the
ones with a zero gradient on every sample ("dead": every inactive ReLU unit; a PReLU unit
only if its learned slope is exactly 0).

    python python/examples/dying_relu_torch.py                # 30 epochs, about 15 s on 2 cores
    python python/examples/dying_relu_torch.py --epochs 30 --csv tracker.csv

The data is read from the repository's data/digits/digits.csv.gz (rows of 64 pixel
values 0..16 and a label), or from --data.
"""

from __future__ import annotations

import argparse
import gzip
import pathlib
import sys
import time
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor, nn

import relukit.torch as rt

DATA = pathlib.Path(__file__).resolve().parents[2] / "data" / "digits" / "digits.csv.gz"


def load(path: pathlib.Path, seed: int) -> tuple:
    """The digits as float32 tensors: (train x, train y, test x, test y)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = rows[:, :-1], rows[:, -1].astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):  # stratified: 20% of each class
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[: round(0.2 * len(members))]] = True
    mean, std = x[~test].mean(axis=0), x[~test].std(axis=0)
    x = (x - mean) / np.where(std > 0, std, 1)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return t(x[~test]), t(y[~test]), t(x[test]), t(y[test])


def mlp(activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    sizes = [64, 128, 128, 128]
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU() if activation == "ReLU" else rt.PReLU(b)]
    return nn.Sequential(*layers, nn.Linear(128, 10))


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    x: Tensor,
    y: Tensor,
    after_step: Optional[Callable[[], None]] = None,
) -> float:
    """One epoch in batches of 32, in a random order; ``after_step()`` after each
    optimizer step. Returns the mean loss."""
    model.train()
    order = torch.randperm(len(y))
    total = 0.0
    for start in range(0, len(y), 32):
        batch = order[start : start + 32]
        loss = loss_fn(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
        total += loss.item() * len(batch)
    return total / len(y)


def run(activation: str, lr: float, data: tuple, epochs: int, seed: int, csv: list) -> dict:
    x, y, tx, ty = data
    torch.manual_seed(seed)
    model = mlp(activation)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    tracker = rt.DeadUnitTracker(model)
    loss_fn = nn.CrossEntropyLoss()
    print(f"\n{activation}, Adam lr {lr:g}")
    names = tracker.layers
    print(
        f"{'epoch':>5} {'loss':>8} {'test acc':>8}  "
        + "  ".join(f"{'layer ' + n + ' inactive/dead':>24}" for n in names)
    )
    for epoch in range(1, epochs + 1):
        loss = train_epoch(model, optimizer, loss_fn, x, y)
        model.eval()
        with torch.no_grad(), tracker.epoch():
            model(x)  # one pass of the training set, in the window
        with torch.no_grad():
            accuracy = (model(tx).argmax(dim=1) == ty).float().mean().item()
        records = tracker.history[-1]
        cells = [
            f"{r['inactive']:>4}/{r['units']} ({100 * r['inactive_fraction']:5.1f}%) / {r['dead']:>3}" for r in records
        ]
        print(f"{epoch:>5} {loss:>8.4f} {accuracy:>8.3f}  " + "  ".join(f"{c:>24}" for c in cells))
        csv.extend(dict(r, activation=activation, lr=lr, epoch=epoch, test_accuracy=accuracy) for r in records)
    tracker.remove()
    last = tracker.history[-1]
    return {
        "activation": activation,
        "lr": lr,
        "accuracy": accuracy,
        "inactive": sum(r["inactive"] for r in last),
        "dead": sum(r["dead"] for r in last),
        "units": sum(r["units"] for r in last),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=pathlib.Path, default=DATA)
    parser.add_argument("--csv", type=pathlib.Path, help="write every epoch's per-layer records here")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if not args.data.exists():
        parser.error(f"no data at {args.data}: run from a clone of the repository or pass --data")
    started = time.perf_counter()
    data = load(args.data, args.seed)
    records: list = []
    results = [run(a, lr, data, args.epochs, args.seed, records) for lr in (1e-3, 0.05) for a in ("ReLU", "PReLU")]
    print(f"\nAfter {args.epochs} epochs (hidden units: {results[0]['units']}):")
    print(f"{'activation':<10} {'lr':>6} {'test acc':>8} {'inactive':>9} {'dead':>5}")
    for r in results:
        print(f"{r['activation']:<10} {r['lr']:>6g} {r['accuracy']:>8.3f} {r['inactive']:>9} {r['dead']:>5}")
    if args.csv:
        import csv

        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    print(f"\n({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
