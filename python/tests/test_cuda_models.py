"""The tracker and the recyclers on a model on the GPU, against the same model on the
CPU: every record key of `DeadUnitTracker` (module and functional calls), the units
`ReDo` and `ContinualBackprop` pick, and their invariants there (recycled outgoing weights
and optimizer state zero). The models' weights and inputs are multiples of 1/4 small
enough that every matmul is exact in float32 on either device, so the counts and sums
can be compared bit for bit.

Each test runs on "cpu" too (the test command has no GPU): the same comparison with both
models on the CPU, so that the test itself is exercised everywhere. On the GPU machine
`scripts/gpu-check.sh` runs this file with RELUKIT_REQUIRE_GPU=1: no skipping."""

import os

import pytest
from conftest import optional

torch = optional("torch", also_required_by="RELUKIT_REQUIRE_GPU")
from torch import nn  # noqa: E402

import relukit.torch as rt  # noqa: E402

GPU = torch.cuda.is_available()
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not GPU and not os.environ.get("RELUKIT_REQUIRE_GPU"), reason="no CUDA GPU here"),
    ),
]


class Net(nn.Module):
    """A ReLU module, a functional relu and a leaky_relu call."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.fc2(self.act(self.fc1(x))))
        return self.fc3(nn.functional.leaky_relu(h, 0.25))


def quarters(shape, generator, low=-4, high=5):
    return torch.randint(low, high, shape, generator=generator).float() / 4


def exact_net(dead=(0, 1, 2)):
    """Weights in quarters; units `dead` of fc1 never positive on `inputs()`."""
    generator = torch.Generator().manual_seed(3)
    model = Net()
    with torch.no_grad():
        for layer in (model.fc1, model.fc2, model.fc3):
            layer.weight.copy_(quarters(layer.weight.shape, generator))
            layer.bias.copy_(quarters(layer.bias.shape, generator))
        model.fc1.bias[list(dead)] = -100.0
    return model


def inputs(n=64, seed=4):
    return quarters((n, 8), torch.Generator().manual_seed(seed), 0, 5)


@pytest.mark.parametrize("device", DEVICES)
def test_the_tracker_on_the_device_records_what_it_records_on_the_cpu(device):
    records = []
    for where in ("cpu", device):
        model = exact_net().to(where)
        tracker = rt.DeadUnitTracker(model, rank_samples=32, warn_at=None)
        with torch.no_grad(), tracker.epoch():
            for start in (0, 32):
                model(inputs()[start : start + 32].to(where))
        records.append({r["layer"]: r for r in tracker.report()})  # every key
        tracker.remove()
    cpu, there = records
    assert set(cpu) == {"act", "Net/relu:0", "Net/leaky_relu:0"}, cpu
    assert there == cpu
    assert cpu["act"]["inactive"] >= 3 and cpu["act"]["dead"] >= 3


def recycled_state(model, optimizer):
    """fc1's recycled rows and fc2's columns, with their Adam moments."""
    p, q = model.fc1.weight, model.fc2.weight
    return p, q, optimizer.state[p], optimizer.state[q]


@pytest.mark.parametrize("device", DEVICES)
def test_redo_on_the_device_recycles_the_cpus_units_with_the_same_invariants(device):
    done = []
    for where in ("cpu", device):
        model = exact_net().to(where)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = inputs().to(where)
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
        redo = rt.ReDo(model, optimizer, tau=0.1)
        result = redo.recycle(x)
        redo.remove()
        units = {d["layer"]: d["units"] for d in result}
        done.append(units)
        first = units.get("act", [])
        assert {0, 1, 2} <= set(first)
        fc1, fc2, state1, state2 = recycled_state(model, optimizer)
        assert fc1.device.type == torch.device(where).type
        assert not fc2[:, first].any()  # outgoing weights zero
        for key in ("exp_avg", "exp_avg_sq"):
            assert not state1[key][first].any() and not state2[key][:, first].any()
        with torch.no_grad():
            assert torch.isfinite(model(x)).all()
    assert done[1] == done[0]


@pytest.mark.parametrize("device", DEVICES)
def test_continual_backprop_on_the_device_replaces_the_cpus_first_units(device):
    firsts = []
    for where in ("cpu", device):
        model = exact_net(dead=()).to(where)
        with torch.no_grad():
            model.fc1.bias.fill_(8.0)  # every unit of fc1 active on every input
            model.fc2.weight[:, 5] = 1 / 1024  # unit 5: by far the lowest utility
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        cbp = rt.ContinualBackprop(model, optimizer, replacement_rate=0.1, maturity=2)
        x = inputs().to(where)
        first = []
        for _ in range(10):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
            first = [d for d in cbp.step() if d["layer"] == "act"]
            if first:
                break
        cbp.remove()
        assert first, "no replacement within 10 steps"
        assert 5 in first[0]["units"]
        assert not model.fc2.weight[:, first[0]["units"]].any()
        firsts.append(first[0])
    assert firsts[1] == firsts[0]
