"""relukit.torch.DeadUnitTracker against a direct count: modules and functional calls
(eager and under torch.compile), every record key against its definition computed here,
windows of `every` forwards, warnings, TensorBoard logging, bad arguments, concurrent
forwards, and two torch.distributed processes against one that saw all the data.

The test command installs torch and tensorboard and sets RELUKIT_REQUIRE_OPTIONAL=1, so
that a missing one fails there instead of skipping."""

import io
import math
import warnings

import pytest
from conftest import optional
from distributed_ranks import on_two_ranks

torch = optional("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import relukit  # noqa: E402
import relukit.torch as rt  # noqa: E402


def direct_record(xs, hs, threshold=0.0, tau=0.1, rate=0.01):
    """The record keys of a layer that saw inputs ``xs`` (outputs ``hs``, None: relu),
    computed here from their definitions with torch."""
    axis = 1 if xs[0].dim() >= 2 else 0
    units = xs[0].shape[axis]
    active = torch.zeros(units, dtype=torch.int64)
    nan = 0
    sums = torch.zeros(units, dtype=torch.float64)
    samples = 0
    for x, h in zip(xs, hs):
        dims = [d for d in range(x.dim()) if d != axis]
        x = x.double()
        h = x.clamp_min(0) if h is None else h.double()
        active += (x > threshold).sum(dim=dims) if dims else (x > threshold).long()
        nan += int(x.isnan().sum())
        magnitude = h.abs().nan_to_num(nan=0.0)
        sums += magnitude.sum(dim=dims) if dims else magnitude
        samples += x.numel() // units
    mean = sums / samples
    scores = mean / mean.mean() if mean.mean() > 0 else torch.zeros(units, dtype=torch.float64)
    return {
        "units": units,
        "samples": samples,
        "inactive": int((active == 0).sum()),
        "inactive_units": active == 0,
        "dormant": int((scores <= tau).sum()),
        "low_firing": int((active < rate * samples).sum()),
        "zero_fraction": 1.0 - (int(active.sum()) + nan) / (samples * units),
    }


def assert_matches(record, direct):
    for key in ("units", "samples", "inactive", "dormant", "low_firing"):
        assert record[key] == direct[key], (record["layer"], key, record[key], direct[key])
    assert record["inactive_fraction"] == direct["inactive"] / direct["units"]
    assert record["dormant_fraction"] == direct["dormant"] / direct["units"]
    assert record["low_firing_fraction"] == direct["low_firing"] / direct["units"]
    assert math.isclose(record["zero_fraction"], direct["zero_fraction"], rel_tol=0, abs_tol=1e-15)


def direct_inactive(inputs, axis):
    """Per unit, whether no input was positive: the count the tracker must give."""
    active = None
    for x in inputs:
        dims = [d for d in range(x.dim()) if d != axis]
        a = (x > 0).sum(dim=dims) if dims else (x > 0).long()
        active = a if active is None else active + a
    return active == 0


def test_module_counts_and_every_key_match_a_direct_count_and_remove_takes_every_hook():
    torch.manual_seed(7)
    conv = nn.Sequential(
        nn.Conv2d(1, 6, 3),
        nn.ReLU(),
        nn.Conv2d(6, 4, 3),
        nn.PReLU(4),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
        nn.LeakyReLU(0.0),
    )
    with torch.no_grad():
        conv[0].bias[:3] = -100.0  # three dead channels
        conv[5].bias[:4] = -1000.0  # four dead units
        conv[3].weight[1] = 0.0
    seen = {i: [] for i in (1, 3, 6)}
    outputs = {i: [] for i in seen}

    def keep(i):
        def hook(module, args, output):
            seen[i].append(args[0].detach().clone())
            outputs[i].append(output.detach().clone())

        return hook

    hooks = [conv[i].register_forward_hook(keep(i)) for i in seen]
    tracker = rt.DeadUnitTracker(conv, rank_samples=6, warn_at=None)
    assert tracker.layers == ["1", "3", "6"]
    conv(torch.randn(2, 1, 8, 8))  # outside a window: not counted
    for i in seen:
        seen[i].clear()
        outputs[i].clear()
    with tracker.epoch():
        conv.train()
        conv(torch.randn(5, 1, 8, 8))
        conv.eval()
        conv(torch.randn(3, 1, 8, 8))
    report = tracker.report()
    for record, i in zip(report, seen):
        hs = [None] * len(seen[i]) if i == 1 else outputs[i]
        assert_matches(record, direct_record(seen[i], hs))
        features = torch.cat(outputs[i])[:6].double().numpy()
        assert record["effective_rank"] == relukit.effective_rank(features)
    assert report[0]["inactive"] >= 3 and report[0]["dead"] == report[0]["inactive"]
    assert report[2]["inactive"] >= 4 and report[2]["dead"] == report[2]["inactive"]  # slope 0
    assert report[1]["dead"] == int(direct_inactive(seen[3], 1)[1])  # only a zero slope can be dead
    assert report[0]["dormant"] >= 3 and report[0]["zero_fraction"] > 0.5
    assert len(tracker.history) == 1 and tracker.to_records() == report
    text = tracker.to_csv()
    header = "window,layer,kind,units,samples,inactive,inactive_fraction,dead,dormant,dormant_fraction,"
    assert text.startswith(header + "low_firing,low_firing_fraction,zero_fraction,effective_rank\n")
    assert len(text.splitlines()) == 4
    buffer = io.StringIO()
    tracker.to_csv(buffer)
    assert buffer.getvalue() == text
    assert "dormant" in tracker.table() and "rank" in tracker.table()
    tracker.start_epoch()
    conv(torch.randn(2, 1, 8, 8))
    second = tracker.end_epoch()
    assert second[0]["window"] == 1 and second[0]["samples"] == 2 * 6 * 6
    tracker.remove()
    for h in hooks:
        h.remove()
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in conv.modules())
    tracker.start_epoch()
    conv(torch.randn(2, 1, 8, 8))
    assert all(r["samples"] == 0 for r in tracker.end_epoch())


class Functional(nn.Module):
    """Every ReLU-family function, each on its own pre-activation; ``seen`` keeps, per
    expected layer name, the inputs, the outputs and the threshold."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6 * 16)
        self.act = nn.ReLU()  # a module: counted as "act", its own F.relu call is not
        self.weight = nn.Parameter(torch.tensor([0.25, 0.1, 0.0, 0.5, 0.3, 0.2]))
        with torch.no_grad():
            self.fc.bias.view(16, 6)[:, :2] = -100.0  # two dead units everywhere
        self.seen = {}

    def forward(self, x):
        z = self.fc(x).view(-1, 16, 6).unbind(1)
        calls = [
            ("relu:0", lambda a: F.relu(a), 0.0),
            ("relu:1", lambda a: torch.relu(a), 0.0),
            ("relu:2", lambda a: a.relu(), 0.0),
            ("relu:3", lambda a: torch.relu_(a), 0.0),
            ("relu:4", lambda a: F.relu(a, inplace=True), 0.0),
            ("relu:5", lambda a: a.relu_(), 0.0),
            ("leaky_relu:0", lambda a: F.leaky_relu(a, 0.1), 0.0),
            ("leaky_relu:1", lambda a: F.leaky_relu_(a.detach(), -0.5), 0.0),  # in place, slope < 0
            ("prelu:0", lambda a: F.prelu(a, self.weight), 0.0),
            ("relu6:0", lambda a: F.relu6(a), 0.0),
            ("relu6:1", lambda a: F.relu6(a, inplace=True), 0.0),
            ("rrelu:0", lambda a: F.rrelu(a, 0.1, 0.3, training=False), 0.0),
            ("threshold:0", lambda a: F.threshold(a, 0.3, 0.5), 0.3),
            ("threshold:1", lambda a: torch.threshold_(a, 0.3, 5.0), 0.3),  # in place, value > threshold
        ]
        out = self.act(z[14].contiguous())
        for (name, f, threshold), a in zip(calls, z):
            a = a.clone()
            before = a.clone()
            h = f(a)
            entry = self.seen.setdefault(name, ([], [], threshold))
            entry[0].append(before)
            entry[1].append(h.detach().clone())
            out = out + h
        return out


def test_functional_calls_are_layers_named_by_module_and_index_and_match_a_direct_count():
    torch.manual_seed(3)
    model = Functional()
    tracker = rt.DeadUnitTracker(model, warn_at=None)
    assert tracker.layers == ["act"]
    with torch.no_grad():
        model(torch.randn(4, 6))  # no window: nothing seen, no layer made
    model.seen.clear()
    assert tracker.layers == ["act"]
    with tracker.epoch():
        model(torch.randn(32, 6))
        model(torch.randn(8, 6)).sum().backward()  # a training step sees the same
    names = ["Functional/" + name for name in model.seen]
    assert tracker.layers == ["act"] + names
    records = {r["layer"]: r for r in tracker.report()}
    for name, (xs, hs, threshold) in model.seen.items():
        record = records["Functional/" + name]
        relu = name.startswith("relu:")
        direct = direct_record(xs, [None] * len(xs) if relu else hs, threshold=threshold)
        assert_matches(record, direct)
        assert record["inactive"] >= 2, name
        kind = record["kind"]
        if kind in ("ReLU", "ReLU6", "Threshold"):
            assert record["dead"] == record["inactive"], name
        elif kind == "LeakyReLU":
            assert record["dead"] == 0, name
        elif kind == "PReLU":
            assert record["dead"] == int(direct["inactive_units"][2]), name
        else:
            assert record["dead"] is None and kind == "RReLU"
    assert records["act"]["samples"] == 40 and records["act"]["kind"] == "ReLU"
    tracker.remove()


def test_functional_false_sees_modules_only_and_a_model_without_them_is_an_error():
    model = Functional()
    tracker = rt.DeadUnitTracker(model, functional=False)
    with tracker:
        model(torch.randn(4, 6))
    assert tracker.layers == ["act"]
    tracker.remove()
    with pytest.raises(ValueError, match="no ReLU-family module"):
        rt.DeadUnitTracker(nn.Linear(2, 2), functional=False)
    tracker = rt.DeadUnitTracker(nn.Linear(2, 2))  # functional calls may still come
    with tracker:
        tracker.model(torch.randn(3, 2))
    assert tracker.report() == [] and tracker.table().startswith("layer")
    tracker.remove()


def test_in_place_modules_that_overwrite_activity_are_counted_from_their_input():
    torch.manual_seed(5)
    x = torch.randn(64, 5)
    for module, threshold in [
        (nn.LeakyReLU(-0.5, inplace=True), 0.0),
        (nn.Threshold(0.2, 3.0, inplace=True), 0.2),
        (nn.Threshold(0.2, -3.0, inplace=True), 0.2),
        (nn.ReLU6(inplace=True), 0.0),
        (nn.ReLU(inplace=True), 0.0),
    ]:
        model = nn.Sequential(nn.Identity(), module)
        tracker = rt.DeadUnitTracker(model)
        with tracker:
            h = model(x.clone())
        relu = isinstance(module, nn.ReLU)
        assert_matches(tracker.report()[0], direct_record([x], [None if relu else h], threshold=threshold))
        tracker.remove()


def test_every_observes_one_forward_in_n_from_the_first_of_each_window():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU()), nn.Linear(4, 4))
    model.forward  # nested modules are one forward of the model, not several
    tracker = rt.DeadUnitTracker(model, every=3)
    batches = [torch.randn(i + 1, 3) for i in range(10)]
    with tracker:
        for b in batches:
            model(b)
    assert tracker.report()[0]["samples"] == sum(b.shape[0] for b in batches[::3])
    with tracker:
        model(batches[4])
    assert tracker.report()[0]["samples"] == 5  # each window starts with an observed forward
    tracker.remove()


def test_warn_at_warns_once_per_window_naming_the_layers_and_their_share():
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU())
    with torch.no_grad():
        model[0].bias[:2] = -100.0
    tracker = rt.DeadUnitTracker(model, warn_at=0.2)
    with pytest.warns(RuntimeWarning, match=r"'1' 20\.0% \(2 of 10\)") as caught:
        with tracker:
            model(torch.randn(16, 4))
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    for warn_at in (None, 0.5):
        quiet = rt.DeadUnitTracker(model, warn_at=warn_at)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with quiet:
                model(torch.randn(16, 4))
        quiet.remove()
    tracker.remove()


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"tau": 0.0}, "tau"),
        ({"tau": 1.5}, "tau"),
        ({"tau": float("nan")}, "tau"),
        ({"tau": "0.1"}, "tau"),
        ({"low_firing_rate": -0.01}, "low_firing_rate"),
        ({"low_firing_rate": 1.01}, "low_firing_rate"),
        ({"every": 0}, "every"),
        ({"every": 2.0}, "every"),
        ({"every": True}, "every"),
        ({"warn_at": 0.0}, "warn_at"),
        ({"warn_at": 1.1}, "warn_at"),
        ({"rank_samples": 0}, "rank_samples"),
    ],
)
def test_bad_arguments_are_value_errors_naming_them_and_hook_nothing(arguments, name):
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with pytest.raises(ValueError, match=f"`{name}`"):
        rt.DeadUnitTracker(model, **arguments)
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_misuse_is_a_clear_error():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        rt.DeadUnitTracker(lambda x: x)
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(2, 3), relu, nn.Linear(3, 4), relu)
    tracker = rt.DeadUnitTracker(model)
    with pytest.raises(TypeError, match="add_scalar"):
        tracker.log_to(object())
    with pytest.raises(RuntimeError, match="no window"):
        tracker.end_epoch()
    tracker.start_epoch()
    with pytest.raises(RuntimeError, match="already open"):
        tracker.start_epoch()
    with pytest.raises(ValueError, match="several places"):
        model(torch.randn(2, 2))
    # The failed forward left no state behind: the next one is counted normally.
    tracker.end_epoch()
    with tracker:
        model[:2](torch.randn(2, 2))
    assert tracker.report()[0]["samples"] == 2
    tracker.remove()


def test_one_dimensional_inputs_have_one_unit_per_element():
    tracker = rt.DeadUnitTracker(nn.ReLU())
    with tracker:
        tracker.model(torch.tensor([-1.0, 2.0, 0.0]))
    assert tracker.report()[0]["units"] == 3 and tracker.report()[0]["inactive"] == 2


class Logged:
    def __init__(self):
        self.calls = []

    def add_scalar(self, tag, value, global_step):
        self.calls.append((tag, value, global_step))


def test_log_to_writes_each_windows_fractions_to_a_writer_and_to_tensorboard(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.RReLU())
    tracker = rt.DeadUnitTracker(model, rank_samples=8, warn_at=None)
    fake = Logged()
    tracker.log_to(fake, prefix="run")
    optional("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    tracker.log_to(writer)
    for _ in range(2):
        with tracker:
            model(torch.randn(16, 4))
    writer.close()
    records = tracker.to_records()
    expected = []
    for r in records:
        keys = ["inactive_fraction", "dead_fraction", "dormant_fraction", "low_firing_fraction"]
        keys += ["zero_fraction", "effective_rank"]
        for key in keys:
            value = r["dead"] / r["units"] if key == "dead_fraction" and r["dead"] is not None else r.get(key)
            if key == "dead_fraction" and r["dead"] is None:
                continue
            expected.append((f"run/{r['layer']}/{key}", value, r["window"]))
    assert fake.calls == expected  # RReLU has no dead fraction
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    for tag, value, step in expected:
        tag = "dead_units/" + tag.split("/", 1)[1]
        scalars = {e.step: e.value for e in events.Scalars(tag)}
        assert scalars[step] == pytest.approx(value, rel=1e-6)  # TensorBoard stores float32


def test_windows_under_torch_compile_count_what_eager_counts():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act = nn.Linear(5, 7), nn.Linear(7, 7), nn.ReLU()

        def forward(self, x):
            x = self.act(self.a(x))
            x = F.relu(self.b(x))
            y = F.leaky_relu(x - 0.5, 0.2)
            y = (y * 2).relu_()
            return F.relu(y * 3, inplace=True) + torch.relu(x - 1.0)

    torch.manual_seed(2)
    x = torch.randn(12, 5)
    eager, compiled = Net(), Net()
    compiled.load_state_dict(eager.state_dict())
    expected = rt.DeadUnitTracker(eager, rank_samples=5)
    with expected:
        want = eager(x)
    tracker = rt.DeadUnitTracker(compiled, rank_samples=5)
    run = torch.compile(compiled)
    for _ in range(2):  # the second window runs the cached graphs
        with tracker:
            got = run(x)
        assert torch.equal(got, want)
        assert tracker.report() == [dict(r, window=tracker.report()[0]["window"]) for r in expected.report()]
    # A closed window adds nothing to the graph: fullgraph=True compiles with hooks in place.
    full = torch.compile(compiled, fullgraph=True)
    assert torch.equal(full(x), want)
    tracker.remove()
    expected.remove()


def test_the_in_place_torch_functions_compile_hides_are_the_documented_ones():
    """Dynamo does not hand torch.relu_ and the like to torch function modes: pinned so
    that a PyTorch that does fails here and the documentation is updated."""
    from relukit.torch._calls import COMPILE_UNSEEN

    functions = {
        "torch.relu_": torch.relu_,
        "F.relu_": F.relu_,
        "F.leaky_relu_": F.leaky_relu_,
        "torch.rrelu_": torch.rrelu_,
        "F.rrelu_": F.rrelu_,
        "torch.threshold_": lambda a: torch.threshold_(a, 0.0, 0.0),
        "F.threshold_": lambda a: F.threshold_(a, 0.0, 0.0),
    }
    assert sorted(functions) == sorted(COMPILE_UNSEEN)
    for name, f in functions.items():

        class Net(nn.Module):
            def forward(self, x, f=f):
                return f(x * 2) + 1

        torch._dynamo.reset()
        model = Net()
        tracker = rt.DeadUnitTracker(model)
        with tracker:
            model(torch.randn(3, 4))
        assert len(tracker.layers) == 1, name  # eager sees it
        tracker = rt.DeadUnitTracker(model)
        with tracker:
            torch.compile(model)(torch.randn(3, 4))
        assert tracker.layers == [], name  # compiled does not


def test_tracker_counts_every_batch_of_concurrent_forward_passes_once():
    import threading

    torch.manual_seed(12)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), rt.LeakyReLU(0.1))
    tracker = rt.DeadUnitTracker(model)
    batches = [torch.randn(16, 8) for _ in range(240)]
    errors = []

    def work(part):
        try:
            with torch.no_grad():
                for b in part:
                    model(b)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    with tracker.epoch():
        threads = [threading.Thread(target=work, args=(batches[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    report = tracker.report()
    assert [r["samples"] for r in report] == [240 * 16, 240 * 16]
    with torch.no_grad():
        hidden = torch.cat([model[0](b) for b in batches])
    assert report[0]["inactive"] == int(direct_inactive([hidden], 1).sum())
    tracker.remove()


def test_tracker_takes_integer_and_meta_inputs_paths_and_removal_inside_a_window(tmp_path):
    import pathlib

    relu = nn.ReLU()
    tracker = rt.DeadUnitTracker(relu)
    with tracker.epoch():
        relu(torch.tensor([[-1, 2, 0], [3, -4, 0]], dtype=torch.int64))  # nn.ReLU takes integers
        relu(torch.empty(2, 3, device="meta"))  # no values: not counted
    record = tracker.report()[0]
    assert record["units"] == 3 and record["samples"] == 2 and record["inactive"] == 1
    with tracker.epoch():
        relu(torch.tensor([[1.0, -1.0, -1.0]]))
        tracker.remove()  # the window stays open and closes normally
        relu(torch.tensor([[1.0, 1.0, 1.0]]))  # not counted: the hooks are gone
    assert tracker.report()[0]["samples"] == 1 and tracker.report()[0]["inactive"] == 2
    path = pathlib.Path(tmp_path) / "tracker.csv"
    text = tracker.to_csv(path)
    assert path.read_text(encoding="utf-8") == text and text.count("\n") == 3


def _ddp_model():
    torch.manual_seed(21)
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 12), nn.PReLU(12))
    with torch.no_grad():
        model[0].bias[:3] = -100.0
    return model


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = _ddp_model()

    def forward(self, x):
        return F.relu6(self.body(x) * 4)


def _ddp_batches():
    generator = torch.Generator().manual_seed(22)
    return [torch.randn(48, 6, generator=generator) for _ in range(2)]


def _ddp_rank(rank):
    model = _Net()
    tracker = rt.DeadUnitTracker(model, rank_samples=64, warn_at=None)
    logged = Logged()
    tracker.log_to(logged)
    with tracker:
        model(_ddp_batches()[rank])
    return tracker.to_records(), logged.calls


def test_under_torch_distributed_every_rank_gets_the_records_of_all_the_data(tmp_path):
    results = on_two_ranks(_ddp_rank, tmp_path)
    model = _Net()
    tracker = rt.DeadUnitTracker(model, rank_samples=64, warn_at=None)
    with tracker:
        for batch in _ddp_batches():  # one process, both halves, rank 0's first
            model(batch)
    expected = tracker.to_records()
    assert expected[0]["samples"] == 96 and expected[0]["inactive"] >= 3
    assert results[0][0] == expected  # sums merged in rank order: the same bits
    assert results[1][0] == expected
    assert results[0][1] and results[1][1] == []  # rank 0 alone logs


def test_the_tracker_docstring_example_runs():
    import doctest

    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = doctest.DocTestFinder().find(rt.DeadUnitTracker, "DeadUnitTracker", globs={})
    for test in tests:
        runner.run(test)
    assert runner.tries >= 4 and runner.failures == 0


@pytest.mark.parametrize("threads", [1, 2])
def test_large_dense_tensors_on_torchs_team_give_the_monitors_bits(threads):
    """Dense CPU tensors go by data pointer, split over PyTorch's OpenMP team: the window
    holds exactly what relukit.DeadUnitMonitor gives on the same data."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(4)
        for shape, module in [((16, 32, 20, 20), nn.ReLU()), ((3000, 48), nn.LeakyReLU(0.2)), ((3000, 48), nn.ReLU6())]:
            x = torch.randn(shape) * 3
            tracker = rt.DeadUnitTracker(module, warn_at=None)
            with tracker:
                h = module(x)
            monitor = relukit.DeadUnitMonitor(shape[1])
            monitor.observe(x.numpy(), outputs=None if isinstance(module, nn.ReLU) else h.numpy())
            window, _ = tracker._layers[0].window()
            assert window == monitor, (shape, module)
            tracker.remove()
    finally:
        torch.set_num_threads(before)


def test_a_window_closed_or_a_tracker_removed_during_a_forward_unhooks_when_it_ends():
    """A forward pass running on another thread when the window closes (or the tracker
    is removed) finishes its bookkeeping; the hooks go when it ends, no torch function
    mode is left behind on its thread."""
    import threading

    from torch.overrides import _get_current_function_mode_stack

    entered, release = threading.Event(), threading.Event()
    stacks = []

    class Slow(nn.Module):
        def forward(self, x):
            entered.set()
            release.wait(10)
            return F.relu(x)

    model = nn.Sequential(nn.Linear(2, 3), Slow(), nn.ReLU())
    for action in ("end_epoch", "remove"):
        tracker = rt.DeadUnitTracker(model, warn_at=None)
        tracker.start_epoch()

        def run():
            model(torch.randn(4, 2))
            stacks.append(len(_get_current_function_mode_stack()))

        worker = threading.Thread(target=run)
        worker.start()
        assert entered.wait(10)
        getattr(tracker, action)()
        assert tracker._handles  # still hooked: the forward is running
        release.set()
        worker.join()
        assert not tracker._handles and stacks[-1] == 0
        assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())
        if action == "remove":
            tracker.end_epoch()
        entered.clear()
        release.clear()
