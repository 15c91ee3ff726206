"""relukit.torch.ReDo: the structure it finds (and what it skips, and why), the
recycling invariants (the output does not change but for the zeroed outgoing weights,
bit for bit; nothing else changes; recycled units come back), the schedule, the
optimizers, bfloat16, torch.compile and bad arguments.

The test command installs torch and sets RELUKIT_REQUIRE_OPTIONAL=1, so that a missing
torch fails there instead of skipping."""

import copy

import pytest
from conftest import optional
from distributed_ranks import on_two_ranks

torch = optional("torch")
from torch import nn  # noqa: E402

import relukit.torch as rt  # noqa: E402


class Net(nn.Module):
    """A CNN with every kind of link: conv -> BN -> ReLU -> pool -> flatten -> linear,
    linear -> ReLU -> dropout -> linear, and a ReLU whose output goes to two places."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3)
        self.bn = nn.BatchNorm2d(6)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6 * 3 * 3, 12)
        self.act2 = nn.LeakyReLU(0.0)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(12, 3)
        self.side = nn.Linear(3, 3)
        self.act3 = nn.ReLU()

    def forward(self, x):
        y = self.out(self.drop(self.act2(self.fc(self.flat(self.pool(self.act(self.bn(self.conv(x)))))))))
        z = self.act3(self.side(y))
        return z + y


def dead_net(dtype=torch.float32):
    torch.manual_seed(1)
    model = Net().to(dtype)
    with torch.no_grad():
        model.conv.bias[:2] = -100.0
        model.bn.bias[:2] = -100.0  # channels 0 and 1 dead after the norm
        model.fc.bias[:4] = -1000.0  # units 0-3 dead
    return model


def train(model, optimizer, steps=3, dtype=torch.float32):
    generator = torch.Generator().manual_seed(2)
    for _ in range(steps):
        x = torch.randn(16, 1, 8, 8, generator=generator).to(dtype)
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()


def test_the_structure_is_found_by_tracing_and_what_cannot_be_recycled_says_why():
    model = Net()
    redo = rt.ReDo(model, torch.optim.Adam(model.parameters()))
    assert redo.layers == ["act", "act2"]
    assert [(p.producer, p.norm, p.consumer, p.positions) for p in redo.pairs] == [
        (model.conv, model.bn, model.fc, 9),
        (model.fc, None, model.out, 1),
    ]
    assert redo.skipped == [("act3", "its output goes to add (not a Linear or Conv)")]
    redo.remove()
    given = rt.ReDo(model, torch.optim.Adam(model.parameters()), pairs=[(model.fc, model.act2, model.out)])
    assert given.layers == ["act2"] and given.skipped == []
    given.remove()
    # A DataParallel (or DistributedDataParallel) wrapper is looked through: the same
    # structure, named as in the wrapped model.
    wrapped = rt.ContinualBackprop(nn.DataParallel(model), torch.optim.Adam(model.parameters()))
    assert wrapped.layers == ["act", "act2"] and wrapped.pairs[0].producer is model.conv
    wrapped.remove()


def test_recycling_changes_the_output_only_by_the_zeroed_outgoing_weights_and_nothing_else():
    model = dead_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train(model, optimizer)
    before = copy.deepcopy(model.state_dict())
    state = {name: {k: v.clone() for k, v in optimizer.state[p].items()} for name, p in model.named_parameters()}
    redo = rt.ReDo(model, optimizer, tau=0.1)
    done = redo.recycle(torch.randn(64, 1, 8, 8))
    units = {d["layer"]: d["units"] for d in done}
    assert set(units["act"]) >= {0, 1} and set(units["act2"]) >= {0, 1, 2, 3}
    assert redo.history == done and all(d["step"] == 0 for d in done)
    conv_units, fc_units = units["act"], units["act2"]
    fc_columns = [u * 9 + j for u in conv_units for j in range(9)]
    # Where each parameter changed, exactly: (rows of dim 0, columns of dim 1).
    changed = {
        "conv.weight": (conv_units, None),
        "conv.bias": (conv_units, None),
        "bn.weight": (conv_units, None),
        "bn.bias": (conv_units, None),
        "bn.running_mean": (conv_units, None),
        "bn.running_var": (conv_units, None),
        "fc.weight": (fc_units, fc_columns),
        "fc.bias": (fc_units, None),
        "out.weight": (None, fc_units),
    }
    after = model.state_dict()
    for name, value in before.items():
        rows, columns = changed.get(name, (None, None))
        keep = torch.ones(value.shape, dtype=torch.bool)
        if rows is not None:
            keep[rows] = False
        if columns is not None:
            keep[:, columns] = False
        assert torch.equal(after[name][keep], value[keep]), name
    assert torch.equal(after["out.weight"][:, fc_units], torch.zeros(3, len(fc_units)))
    kept_rows = [r for r in range(12) if r not in fc_units]  # the others were re-drawn whole
    assert torch.equal(after["fc.weight"][kept_rows][:, fc_columns], torch.zeros(len(kept_rows), len(fc_columns)))
    assert torch.equal(after["fc.bias"][fc_units], torch.zeros(len(fc_units)))
    assert torch.equal(after["bn.weight"][conv_units], torch.ones(len(conv_units)))
    assert torch.equal(after["bn.running_var"][conv_units], torch.ones(len(conv_units)))
    assert not torch.equal(after["conv.weight"][conv_units], before["conv.weight"][conv_units])
    for name, p in model.named_parameters():
        rows, columns = changed.get(name, (None, None))
        for key, old in state[name].items():
            new = optimizer.state[p][key]
            if key == "step":
                assert torch.equal(new, old)
                continue
            keep = torch.ones(old.shape, dtype=torch.bool)
            if rows is not None:
                keep[rows] = False
            if columns is not None:
                keep[:, columns] = False
            assert torch.equal(new[keep], old[keep]), (name, key)
            assert not new[~keep].any(), (name, key)  # recycled entries: zero
    # The output is the old model's with the recycled units' outgoing weights zero, bit
    # for bit: the re-drawn incoming weights change nothing downstream.
    reference = Net()
    reference.load_state_dict(before)
    with torch.no_grad():
        reference.fc.weight[:, fc_columns] = 0
        reference.out.weight[:, fc_units] = 0
    model.eval()
    reference.eval()
    x = torch.randn(32, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    redo.remove()


def test_recycled_dead_units_are_active_again_with_weights_in_the_layers_init_range():
    model = dead_net()
    redo = rt.ReDo(model, torch.optim.Adam(model.parameters()))
    units = {d["layer"]: d["units"] for d in redo.recycle(torch.randn(64, 1, 8, 8))}["act2"]
    bound = 1 / (model.fc.in_features**0.5)  # kaiming_uniform_(a=sqrt(5)) of nn.Linear
    rows = model.fc.weight[units]
    assert rows.abs().max() <= bound and rows.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        features = model.flat(model.pool(model.act(model.bn(model.conv(torch.randn(256, 1, 8, 8))))))
        fresh = copy.deepcopy(model.fc)
        fresh.reset_parameters()
        fresh.bias.zero_()
        recycled = (model.fc(features)[:, units] > 0).any(dim=0).float().mean()
        expected = (fresh(features) > 0).any(dim=0).float().mean()
    # Active again as often as units just drawn by the layer's initialisation are (on
    # non-negative ReLU features some are not, whatever the draw).
    assert recycled > 0.5 and abs(recycled - expected) <= 0.35
    redo.remove()


def test_the_draw_is_the_one_reset_parameters_makes():
    model = dead_net()
    model.eval()  # no dropout: scoring draws nothing
    redo = rt.ReDo(model, torch.optim.Adam(model.parameters()))
    scoring = torch.randn(64, 1, 8, 8)
    torch.manual_seed(9)
    conv_fresh = copy.deepcopy(model.conv)
    conv_fresh.reset_parameters()
    fc_fresh = copy.deepcopy(model.fc)
    fc_fresh.reset_parameters()
    torch.manual_seed(9)
    done = {d["layer"]: d["units"] for d in redo.recycle(scoring)}
    assert torch.equal(model.conv.weight[done["act"]], conv_fresh.weight[done["act"]])
    assert torch.equal(model.fc.weight[done["act2"]], fc_fresh.weight[done["act2"]])
    redo.remove()


def test_step_recycles_on_every_nth_step_scoring_that_steps_forward_only():
    model = dead_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    redo = rt.ReDo(model, optimizer, every=3)
    generator = torch.Generator().manual_seed(3)
    steps_done = []
    for step in range(1, 8):
        assert redo._tracker._open == (step % 3 == 0)  # only the scored step's forward is seen
        if step == 4:
            with torch.no_grad():
                model.fc.bias[5] = -1000.0  # dies after the first recycling
        optimizer.zero_grad()
        model(torch.randn(16, 1, 8, 8, generator=generator)).sum().backward()
        optimizer.step()
        done = redo.step()
        steps_done += [(d["step"], d["layer"]) for d in done]
        if step == 3:
            assert 5 not in {u for d in done for u in d["units"]}
        if step == 6:
            assert 5 in next(d["units"] for d in done if d["layer"] == "act2")
            assert not optimizer.state[model.out.weight]["momentum_buffer"][:, 5].any()
    assert {s for s, _ in steps_done} == {3, 6}
    assert redo.history == [d for d in redo.history if d["step"] in (3, 6)]
    redo.remove()


def test_bfloat16_parameters_and_a_compiled_model_are_recycled_in_place():
    model = dead_net(torch.bfloat16)
    model.eval()
    optimizer = torch.optim.AdamW(model.parameters())
    train(model, optimizer, steps=1, dtype=torch.bfloat16)
    compiled = torch.compile(model, backend="aot_eager")
    x = torch.randn(8, 1, 8, 8).to(torch.bfloat16)
    compiled(x)
    redo = rt.ReDo(model, optimizer)
    done = redo.recycle(torch.randn(64, 1, 8, 8).to(torch.bfloat16))
    assert {d["layer"] for d in done} == {"act", "act2"}
    assert model.fc.weight.dtype == torch.bfloat16 and not model.out.weight[:, done[-1]["units"]].any()
    with torch.no_grad():
        assert torch.equal(compiled(x), model(x))  # the compiled model sees the new weights
    redo.remove()


def test_optimizers_and_bad_arguments_are_clear_errors_that_change_nothing():
    model = dead_net()
    before = copy.deepcopy(model.state_dict())
    adam = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="RMSprop.*reset_optimizer=False"):
        rt.ReDo(model, torch.optim.RMSprop(model.parameters()))
    with pytest.raises(ValueError, match="does not hold the parameters"):
        rt.ReDo(model, torch.optim.Adam(model.out.parameters()))
    for arguments, name in [({"tau": 0.0}, "tau"), ({"tau": 1.5}, "tau"), ({"every": 0}, "every")]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            rt.ReDo(model, adam, **arguments)
    with pytest.raises(ValueError, match="pairs"):
        rt.ReDo(model, adam, pairs=[(model.fc, model.act2, model.side)])  # 12 units into 3 inputs
    with pytest.raises(ValueError, match="pairs"):
        rt.ReDo(model, adam, pairs=[(model.fc, model.act2)])
    with pytest.raises(ValueError, match="nothing in the model can be recycled"):
        rt.ReDo(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), torch.optim.SGD(model.parameters(), lr=0.1))

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.act = nn.Linear(2, 2), nn.ReLU()

        def forward(self, x):
            return self.act(self.fc(x)) if x.sum() > 0 else x

    with pytest.raises(ValueError, match="pairs="):
        branchy = Branchy()
        rt.ReDo(branchy, torch.optim.SGD(branchy.parameters(), lr=0.1))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())
    plain = rt.ReDo(model, torch.optim.RMSprop(model.parameters()), reset_optimizer=False)
    assert plain.recycle(torch.randn(32, 1, 8, 8))
    plain.remove()


def test_the_redo_docstring_example_runs():
    import doctest

    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(rt.ReDo, "ReDo", globs={}):
        runner.run(test)
    assert runner.tries >= 4 and runner.failures == 0


def _halves():
    generator = torch.Generator().manual_seed(12)
    return [torch.randn(32, 1, 8, 8, generator=generator) for _ in range(2)]


def _redo_rank(rank):
    model = dead_net()
    # Wrapped for DDP training, as users do: ReDo looks through the wrapper.
    wrapped = nn.parallel.DistributedDataParallel(model)
    redo = rt.ReDo(wrapped, torch.optim.Adam(wrapped.parameters()))
    assert redo.layers == ["act", "act2"]
    torch.manual_seed(100 + rank)  # each rank would draw other weights: rank 0's win
    return redo.recycle(_halves()[rank]), model.state_dict()


def test_under_torch_distributed_every_rank_recycles_the_same_units_with_the_same_weights(tmp_path):
    (done0, state0), (done1, state1) = on_two_ranks(_redo_rank, tmp_path)
    assert done0 == done1 and done0
    assert all(torch.equal(state0[k], state1[k]) for k in state0)  # the replicas stay identical
    model = dead_net()
    redo = rt.ReDo(model, torch.optim.Adam(model.parameters()))
    assert redo.recycle(torch.cat(_halves())) == done0  # scores of all the data
    redo.remove()


def mlp(dead=0):
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 3))
    if dead:
        with torch.no_grad():
            model[0].bias[:dead] = -100.0
    return model


def test_continual_backprop_replaces_the_lowest_utility_mature_units_at_the_accumulated_rate():
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    rate, maturity, decay = 0.07, 3, 0.9
    cbp = rt.ContinualBackprop(model, optimizer, replacement_rate=rate, maturity=maturity, decay=decay)
    assert cbp.layers == ["1"]
    seen = []
    model[1].register_forward_hook(lambda m, a, o: seen.append(o.detach().double()))
    # The definition, computed here: ages, utilities, owed replacements.
    age = torch.zeros(10, dtype=torch.long)
    utility = torch.zeros(10, dtype=torch.float64)
    owed = 0.0
    generator = torch.Generator().manual_seed(8)
    for step in range(1, 40):
        x = torch.randn(16, 4, generator=generator)
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
        h = seen.pop()
        outgoing = model[2].weight.detach().double().abs().sum(dim=0)
        age += 1
        utility = decay * utility + (1 - decay) * h.abs().mean(dim=0) * outgoing
        mature = torch.nonzero(age > maturity).reshape(-1)
        owed += rate * len(mature)
        count = int(owed)
        owed -= count
        corrected = utility / (1 - decay ** age.double())
        expected = sorted(mature[torch.sort(corrected[mature], stable=True).indices[:count]].tolist())
        done = cbp.step()
        assert done == ([{"step": step, "layer": "1", "units": expected}] if count else []), step
        age[expected] = 0
        utility[expected] = 0
        assert torch.equal(cbp.ages("1"), age)
        live = age > 0
        corrected = utility / (1 - decay ** age.double())
        torch.testing.assert_close(cbp.utility("1")[live], corrected[live], rtol=1e-12, atol=0)
    assert cbp.history and all(d["step"] > maturity for d in cbp.history)
    cbp.remove()


def test_continual_backprop_moves_the_mean_contribution_into_the_consumers_bias():
    for model, consumer in [(mlp(), 2), (None, None)]:
        if model is None:  # conv -> ReLU -> flatten -> linear: per position
            torch.manual_seed(7)
            model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
            consumer = 3
            x = torch.randn(32, 1, 6, 6)
        else:
            x = torch.randn(32, 4)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # the means see one model
        cbp = rt.ContinualBackprop(model, optimizer, replacement_rate=0.2, maturity=5, decay=0.5)
        head = nn.Sequential(*list(model)[:consumer])
        done = []
        while not done:
            with torch.no_grad():
                before = model(x).mean(dim=0)
            done = cbp.step()
        with torch.no_grad():
            after = model(x).mean(dim=0)
            assert not torch.equal(head(x), head(x) * 0)  # the replaced units are live ones
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
        cbp.remove()


def test_continual_backprop_into_a_conv_consumer_moves_a_constant_channel_into_its_bias():
    """conv -> ReLU -> conv (no padding): a channel whose output is the same everywhere,
    replaced, leaves every output of the consumer as it was (its kernel's sum times the
    channel's mean, now in the bias)."""
    torch.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3))
    with torch.no_grad():
        model[0].bias.fill_(2.0)  # every channel active
        model[0].weight[2] = 0.0
        model[0].bias[2] = 0.5  # channel 2: 0.5 everywhere
        model[2].weight[:, 2] *= 1e-3  # and by far the lowest utility
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # only replacement changes weights
    cbp = rt.ContinualBackprop(model, optimizer, replacement_rate=0.3, maturity=2, decay=0.5)
    assert cbp.layers == ["1"]
    x = torch.randn(8, 1, 9, 9)
    done = []
    for _ in range(10):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
        with torch.no_grad():
            before = model(x)
            kernel_sum = model[2].weight[:, 2].sum(dim=(1, 2)).clone()
            bias = model[2].bias.clone()
        done = cbp.step()
        if done:
            break
    assert done and done[0]["units"] == [2], done
    with torch.no_grad():
        torch.testing.assert_close(model[2].bias, bias + 0.5 * kernel_sum, rtol=1e-6, atol=1e-7)
        assert not model[2].weight[:, 2].any()  # outgoing kernel zero
        assert model[0].weight[2].abs().sum() > 0  # incoming re-drawn
        torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)
    cbp.remove()


def test_continual_backprop_of_dead_units_changes_no_output_bit():
    model = mlp(dead=3)
    optimizer = torch.optim.Adam(model.parameters())
    cbp = rt.ContinualBackprop(model, optimizer, replacement_rate=0.3, maturity=1)
    x = torch.randn(64, 4)
    done = []
    while not done:
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
        with torch.no_grad():
            probe = torch.randn(16, 4)
            before, bias = model(probe), model[2].bias.clone()
        done = cbp.step()
    assert done[0]["units"] == [0, 1, 2][: len(done[0]["units"])]  # utility 0: replaced first
    with torch.no_grad():
        assert torch.equal(model[2].bias, bias) and torch.equal(model(probe), before)
    state = optimizer.state[model[2].weight]
    assert not state["exp_avg"][:, done[0]["units"]].any()
    cbp.remove()


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"replacement_rate": -0.1}, "replacement_rate"),
        ({"replacement_rate": 1.0}, "replacement_rate"),
        ({"maturity": -1}, "maturity"),
        ({"maturity": 1.5}, "maturity"),
        ({"decay": 1.0}, "decay"),
    ],
)
def test_continual_backprop_bad_arguments_are_value_errors_naming_them(arguments, name):
    model = mlp()
    with pytest.raises(ValueError, match=f"`{name}`"):
        rt.ContinualBackprop(model, torch.optim.Adam(model.parameters()), **arguments)
    assert all(not m._forward_hooks for m in model.modules())


def test_the_continual_backprop_docstring_example_runs():
    import doctest

    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(rt.ContinualBackprop, "ContinualBackprop", globs={}):
        runner.run(test)
    assert runner.tries >= 4 and runner.failures == 0


def _cbp_rank(rank):
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    cbp = rt.ContinualBackprop(model, optimizer, replacement_rate=0.2, maturity=2)
    generator = torch.Generator().manual_seed(30 + rank)  # each rank its own data
    torch.manual_seed(200 + rank)  # and its own draws: rank 0's win
    for _ in range(8):
        model(torch.randn(16, 4, generator=generator))
        cbp.step()
    return cbp.history, model.state_dict()


def test_continual_backprop_under_torch_distributed_keeps_the_replicas_identical(tmp_path):
    results = on_two_ranks(_cbp_rank, tmp_path)
    (history0, state0), (history1, state1) = results
    assert history0 == history1 and history0
    assert all(torch.equal(state0[k], state1[k]) for k in state0)
