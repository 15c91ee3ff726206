"""relukit.torch against PyTorch's own test material: the OpInfo samples (sample_inputs,
reference_inputs, error_inputs of ``torch.testing._internal``'s ``op_db``) of the six
operations and the ModuleInfo samples (``module_db``) of the modules, in the four float
dtypes: forward and backward bits, double backward, forward-mode AD, the torch.func
transforms, in-place modules and error inputs.

The README's documented differences are applied by one explicit rule each
(``expected_forward`` and ``expected_error``), never by skipping a sample:
- ``relu(-0.0)`` and ``relu6(-0.0)`` are ``+0.0`` in relukit, and ``hardtanh`` of an
  input equal to a bound is the bound's bits (a signed zero at a bound of zero);
- RReLU in training draws its slopes from relukit's generator, not torch's: its output
  is checked against the slopes it reports (range, and gradient = output / input);
- the PReLU weight gradient is summed in relukit's fixed order: compared with torch's
  within the dtype's tolerance, every other value bit for bit;
- an invalid argument raises ``ValueError`` or ``TypeError`` where PyTorch raises
  ``RuntimeError``.
"""

import pytest
from conftest import optional

torch = optional("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402
from torch.testing._internal.common_modules import module_db  # noqa: E402

import relukit.torch as rt  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}
OPS = {o.name: o for o in op_db}

# PyTorch's functional op -> relukit's, same arguments.
FUNCTIONS = {
    "nn.functional.relu": rt.relu,
    "nn.functional.leaky_relu": rt.leaky_relu,
    "nn.functional.prelu": rt.prelu,
    "nn.functional.relu6": rt.relu6,
    "nn.functional.hardtanh": rt.hardtanh,
    "nn.functional.threshold": rt.threshold,
    "nn.functional.rrelu": rt.rrelu,
}
MODULES = {
    nn.ReLU: rt.ReLU,
    nn.LeakyReLU: rt.LeakyReLU,
    nn.PReLU: rt.PReLU,
    nn.ReLU6: rt.ReLU6,
    nn.Threshold: rt.Threshold,
}
MODULES[nn.Hardtanh] = rt.Hardtanh


def bits(t):
    return t.contiguous().view(INT[t.element_size()])


def assert_same_bits(got, expected):
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan = torch.isnan(expected)
    assert torch.equal(torch.isnan(got), nan)
    assert torch.equal(bits(got)[~nan], bits(expected)[~nan])


def expected_forward(name, result, bounds=(-1.0, 1.0)):
    """The documented difference of the forward pass: -0.0 becomes +0.0 under ReLU and
    ReLU6 (relukit's max(0, x) is +0 for every x <= 0); hardtanh (its `bounds`) gives a
    bound's own bits where the result equals it (PyTorch's clamp keeps the input's sign
    there)."""
    if name in ("nn.functional.relu", "nn.functional.relu6"):
        return torch.where(result == 0, torch.zeros_like(result), result)
    if name == "nn.functional.hardtanh":
        for bound in bounds:
            b = torch.tensor(bound, dtype=result.dtype)
            result = torch.where(result == b, b, result)
    return result


def hardtanh_bounds(sample):
    """A hardtanh sample's (min_val, max_val), PyTorch's defaults where not given."""
    values = dict(zip(("min_val", "max_val"), sample.args))
    values.update({k: v for k, v in sample.kwargs.items() if k in ("min_val", "max_val")})
    return values.get("min_val", -1.0), values.get("max_val", 1.0)


def expected_backward(x, grad):
    """The documented difference of the backward pass: where x is NaN, relukit's input
    gradient is that NaN (PyTorch's select passes grad_output through, or scales it)."""
    return torch.where(torch.isnan(x), x, grad)


def assert_weight_gradient(got, g, x, weight):
    """The rule for the PReLU weight gradient: relukit sums in its own fixed order, so it
    is compared with the exact sum (float64) of the terms g * x where x <= 0, within the
    dtype's rounding of the sum of their magnitudes (PyTorch's own bfloat16 sums are
    further from the exact one than that; its float32/64 ones within it)."""
    terms = torch.where(x <= 0, g.double() * x.double(), 0.0)
    terms = torch.where(torch.isnan(x), x.double(), terms)
    if weight.numel() == 1 or x.dim() < 2:
        exact, size = terms.sum().reshape(weight.shape), terms.abs().sum().reshape(weight.shape)
    else:
        dims = [d for d in range(x.dim()) if d != 1]
        exact, size = terms.sum(dims).reshape(weight.shape), terms.abs().sum(dims).reshape(weight.shape)
    eps = torch.finfo(x.dtype).eps
    nan = torch.isnan(exact)
    assert torch.equal(torch.isnan(got), nan)
    assert ((got.double() - exact).abs()[~nan] <= 2 * eps * size[~nan] + 1e-300).all(), (got, exact)


def samples(name, dtype, requires_grad):
    op = OPS[name]
    yield from op.sample_inputs("cpu", dtype, requires_grad=requires_grad)
    yield from op.reference_inputs("cpu", dtype, requires_grad=requires_grad)


def call(name, function, sample, x=None):
    x = sample.input if x is None else x
    kwargs = dict(sample.kwargs)
    kwargs.pop("inplace", None)
    return function(x, *sample.args, **kwargs)


def is_rrelu_training(name, sample):
    return name == "nn.functional.rrelu" and sample.kwargs.get("training", False)


def leaves(sample):
    """The sample's input and tensor arguments as fresh leaves (same values)."""
    x = sample.input.detach().clone().requires_grad_(sample.input.dtype.is_floating_point)
    args = [a.detach().clone().requires_grad_() if isinstance(a, torch.Tensor) else a for a in sample.args]
    kwargs = {
        k: (v.detach().clone().requires_grad_() if isinstance(v, torch.Tensor) else v) for k, v in sample.kwargs.items()
    }
    return x, args, kwargs


def run(function, x, args, kwargs):
    kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    return function(x, *args, **kwargs)


def check_rrelu_training(x, y, lower, upper):
    """The rule for RReLU in training: x where x > 0, s * x elsewhere with s in [lower, upper]."""
    positive = x > 0
    assert torch.equal(y[positive], x[positive])
    negative = (x < 0) & torch.isfinite(x)
    assert torch.isnan(y[torch.isnan(x)]).all()
    if negative.any():
        s = y[negative].double() / x[negative].double()
        tolerance = 1e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-6
        assert s.min() >= lower - tolerance and s.max() <= upper + tolerance


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_opinfo_forward_and_backward(name, dtype):
    function = FUNCTIONS[name]
    theirs = OPS[name].op
    count = 0
    for sample in samples(name, dtype, requires_grad=True):
        count += 1
        x, args, kwargs = leaves(sample)
        xr, argsr, kwargsr = leaves(sample)
        if is_rrelu_training(name, sample):
            torch.manual_seed(0)
            y = run(function, x, args, kwargs)
            check_rrelu_training(x.detach(), y.detach(), kwargs.get("lower", 1 / 8), kwargs.get("upper", 1 / 3))
            if y.numel():
                y.backward(torch.ones_like(y))
                negative = (x.detach() < 0) & torch.isfinite(x.detach())
                # The gradient is the slope the forward pass drew: grad * x rounds to y.
                lower, upper = kwargs.get("lower", 1 / 8), kwargs.get("upper", 1 / 3)
                s_, xs, ys = x.grad[negative].double(), x.detach()[negative].double(), y.detach()[negative].double()
                info = torch.finfo(dtype)
                assert ((s_ >= lower) & (s_ <= upper)).all()
                assert ((s_ * xs - ys).abs() <= info.eps * ys.abs() + info.smallest_normal * info.eps).all()
                assert (x.grad[x.detach() > 0] == 1).all()
                nan = torch.isnan(x.detach())
                assert torch.isnan(x.grad[nan]).all() and torch.isnan(y.detach()[nan]).all()
            continue
        y = run(function, x, args, kwargs)
        expected = run(theirs, xr, argsr, kwargsr)
        bounds = hardtanh_bounds(sample) if name == "nn.functional.hardtanh" else ()
        assert_same_bits(y.detach(), expected_forward(name, expected.detach(), bounds))
        if y.numel() == 0:
            continue
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(count)).to(dtype)
        y.backward(g)
        expected.backward(g)
        assert_same_bits(x.grad, expected_backward(x.detach(), xr.grad))
        for weight in list(args) + list(kwargs.values()):
            if isinstance(weight, torch.Tensor):  # the PReLU weight
                assert_weight_gradient(weight.grad, g, x.detach(), weight)
    assert count > 0


def gradcheck_function(name, function, sample):
    """The sample as a function of its tensors (input first) for gradcheck; RReLU in
    training with a fixed seed, so that every evaluation draws the same slopes."""
    kwargs = {k: v for k, v in sample.kwargs.items() if k != "inplace"}
    if is_rrelu_training(name, sample):
        lower, upper = kwargs.get("lower", 1 / 8), kwargs.get("upper", 1 / 3)
        return (lambda x: rt.rrelu_with_seed(x, lower, upper, True, 7)), [sample.input]
    slots, tensors = [], [sample.input]
    for i, a in enumerate(sample.args):
        if isinstance(a, torch.Tensor):
            slots.append(("arg", i))
            tensors.append(a)
    for k, v in kwargs.items():
        if isinstance(v, torch.Tensor):
            slots.append(("kw", k))
            tensors.append(v)

    def f(x, *ts):
        args, kw = list(sample.args), dict(kwargs)
        for (kind, key), t in zip(slots, ts):
            if kind == "arg":
                args[key] = t
            else:
                kw[key] = t
        return function(x, *args, **kw)

    return f, tensors


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_opinfo_gradgradcheck_and_forward_ad(name):
    """Second derivatives and forward-mode AD (and forward over reverse), numerically
    checked in float64 on PyTorch's samples, away from the kinks."""
    checked = 0
    for sample in OPS[name].sample_inputs("cpu", torch.float64, requires_grad=True):
        if sample.input.numel() == 0:
            continue
        f, tensors = gradcheck_function(name, FUNCTIONS[name], sample)
        kinks = [0.0]
        if name == "nn.functional.threshold":
            kinks = [sample.args[0]]
        elif name == "nn.functional.relu6":
            kinks = [0.0, 6.0]
        elif name == "nn.functional.hardtanh":
            kinks = list(hardtanh_bounds(sample))
        if any(((tensors[0] - kink).abs() < 1e-3).any() for kink in kinks):
            continue
        assert torch.autograd.gradcheck(f, tensors, check_forward_ad=True, check_backward_ad=True, fast_mode=True)
        assert torch.autograd.gradgradcheck(f, tensors, check_fwd_over_rev=True, fast_mode=True)
        checked += 1
    assert checked > 0


def test_double_backward_matches_torch():
    """Gradients of gradients (a gradient penalty, a Hessian-vector product) equal PyTorch's."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 4, 5, dtype=torch.float64, generator=g)
    w = torch.rand(4, dtype=torch.float64, generator=g) - 0.3
    v = torch.randn(6, 4, 5, dtype=torch.float64, generator=g)
    for ours, theirs in [
        (lambda a, b: rt.prelu(a, b), lambda a, b: F.prelu(a, b)),
        (lambda a, b: rt.leaky_relu(a * b.sum(), 0.2), lambda a, b: F.leaky_relu(a * b.sum(), 0.2)),
        (lambda a, b: rt.relu(a) * b.sum(), lambda a, b: torch.relu(a) * b.sum()),
    ]:
        results = []
        for f in (ours, theirs):
            a, b = x.clone().requires_grad_(), w.clone().requires_grad_()
            out = f(a, b).pow(2).sum()
            ga, gb = torch.autograd.grad(out, (a, b), create_graph=True)
            hvp = torch.autograd.grad((ga * v).sum() + gb.sum(), (a, b))
            results.append((ga.detach(), gb.detach(), *hvp))
        for got, expected in zip(*results):
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_torch_func_transforms_match_torch():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 3, 4, dtype=torch.float64, generator=g)
    w = torch.rand(3, dtype=torch.float64, generator=g) - 0.3
    t = torch.randn_like(x)
    pairs = [
        (rt.relu, torch.relu),
        (lambda a: rt.leaky_relu(a, 0.1), lambda a: F.leaky_relu(a, 0.1)),
        (lambda a: rt.prelu(a, w[:1]), lambda a: F.prelu(a, w[:1])),
        (lambda a: rt.relu6(a * 4), lambda a: F.relu6(a * 4)),
        (lambda a: rt.hardtanh(a, -0.5, 1.5), lambda a: F.hardtanh(a, -0.5, 1.5)),
        (lambda a: rt.threshold(a, 0.2, -1.0), lambda a: F.threshold(a, 0.2, -1.0)),
        # PyTorch has no vmap rule for rrelu; in evaluation it is leaky_relu at (lower + upper) / 2.
        (lambda a: rt.rrelu(a, 0.1, 0.3), lambda a: F.leaky_relu(a, (0.1 + 0.3) / 2)),
    ]
    func = torch.func
    for ours, theirs in pairs:
        assert torch.equal(func.jvp(ours, (x,), (t,))[1], func.jvp(theirs, (x,), (t,))[1])
        assert torch.equal(func.jacfwd(ours)(x[0, 0]), func.jacfwd(theirs)(x[0, 0]))
        assert torch.equal(func.jacrev(ours)(x[0, 0]), func.jacrev(theirs)(x[0, 0]))
        assert torch.equal(func.grad(lambda a: ours(a).sum())(x), func.grad(lambda a: theirs(a).sum())(x))
        assert torch.equal(
            func.vmap(func.grad(lambda a: ours(a).sum()))(x), func.vmap(func.grad(lambda a: theirs(a).sum()))(x)
        )
        assert torch.equal(func.vmap(ours)(x), func.vmap(theirs)(x))
        torch.testing.assert_close(
            func.hessian(lambda a: ours(a).pow(3).sum())(x[0]), func.hessian(lambda a: theirs(a).pow(3).sum())(x[0])
        )
    # PReLU in the weight: per-example weights under vmap, Jacobians in the weight.
    torch.testing.assert_close(func.jacrev(rt.prelu, argnums=1)(x, w), func.jacrev(F.prelu, argnums=1)(x, w))
    torch.testing.assert_close(func.jacfwd(rt.prelu, argnums=1)(x, w), func.jacfwd(F.prelu, argnums=1)(x, w))
    ws = torch.rand(5, 3, dtype=torch.float64, generator=g)
    xs = torch.randn(5, 2, 3, 4, dtype=torch.float64, generator=g)
    assert torch.equal(func.vmap(rt.prelu)(xs, ws), func.vmap(F.prelu)(xs, ws))
    assert torch.equal(func.vmap(rt.prelu, in_dims=(0, None))(xs, w), func.vmap(F.prelu, in_dims=(0, None))(xs, w))
    gs = torch.randn_like(xs)
    ours = func.vmap(rt.prelu_backward, in_dims=(0, 0, None))(gs, xs, w)
    for i in range(5):  # per example, the weight gradient of that example alone
        gi, gw = rt.prelu_backward(gs[i], xs[i], w)
        assert torch.equal(ours[0][i], gi) and torch.equal(ours[1][i], gw)
    torch.testing.assert_close(
        func.hessian(lambda b: rt.prelu(x, b).pow(2).sum())(w), func.hessian(lambda b: F.prelu(x, b).pow(2).sum())(w)
    )


def test_forward_ad_dual_tensors_carry_tangents():
    import torch.autograd.forward_ad as fwad

    x = torch.tensor([-1.0, 0.5, 2.0, -3.0])
    t = torch.tensor([1.0, 2.0, 3.0, 4.0])
    with fwad.dual_level():
        tangent = fwad.unpack_dual(rt.relu(fwad.make_dual(x, t))).tangent
        assert tangent.tolist() == [0.0, 2.0, 3.0, 0.0]
        tangent = fwad.unpack_dual(rt.leaky_relu(fwad.make_dual(x, t), 0.5)).tangent
        assert tangent.tolist() == [0.5, 2.0, 3.0, 2.0]
        dual = fwad.make_dual(x.clone(), t.clone())
        out = rt.relu_(dual)
        assert fwad.unpack_dual(out).tangent.tolist() == [0.0, 2.0, 3.0, 0.0]


@pytest.mark.parametrize("name", ["nn.functional.prelu", "nn.functional.rrelu"])
def test_opinfo_error_inputs(name):
    """PyTorch's error inputs raise here too (ValueError/TypeError for its RuntimeError,
    the documented difference), and nothing is written."""
    count = 0
    for error in OPS[name].error_inputs("cpu"):
        sample = error.sample_input
        before = sample.input.clone()
        with pytest.raises((ValueError, TypeError)):
            call(name, FUNCTIONS[name], sample)
        assert torch.equal(sample.input, before)
        with pytest.raises(error.error_type):  # and PyTorch refuses them as well
            call(name, OPS[name].op, sample)
        count += 1
    assert count > 0


def module_cases(dtype):
    for info in module_db:
        if info.module_cls not in MODULES:
            continue
        for case in info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=True, training=True):
            yield info.module_cls, case


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_moduleinfo_modules_match_torch_nn(dtype):
    """Each ModuleInfo case: relukit's module built with the same arguments gives torch.nn's
    output and gradients, out of place and (where the module takes it) in place, on a
    non-leaf input that other operations use, as in a real network."""
    count = 0
    for cls, case in module_cases(dtype):
        args, kwargs = case.constructor_input.args, case.constructor_input.kwargs
        for inplace in (False, True):
            if inplace and cls is nn.PReLU:
                continue
            extra = {"inplace": True} if inplace else {}
            torch.manual_seed(0)
            theirs = cls(*args, **kwargs, **extra).to(dtype)
            ours = MODULES[cls](*args, **kwargs, **extra).to(dtype)
            ours.load_state_dict(theirs.state_dict())
            x = case.forward_input.args[0].detach()
            results = []
            for module in (ours, theirs):
                leaf = x.clone().requires_grad_()
                hidden = leaf * 1.0  # a non-leaf, as a layer's output would be
                out = module(hidden)
                if inplace:
                    assert out is hidden
                if out.numel():
                    out.backward(torch.ones_like(out) * 0.5)
                results.append((out.detach(), leaf.grad, [p.grad for p in module.parameters()]))
            (out, grad, pgrads), (ref, ref_grad, ref_pgrads) = results
            if cls is nn.Hardtanh:
                ref = expected_forward("nn.functional.hardtanh", ref, (theirs.min_val, theirs.max_val))
            elif cls in (nn.ReLU, nn.ReLU6):
                ref = expected_forward("nn.functional.relu", ref)
            assert_same_bits(out, ref)
            if grad is not None or ref_grad is not None:
                assert_same_bits(grad, ref_grad)
            for p, weight in zip(pgrads, ours.parameters()):  # PReLU's weight
                assert_weight_gradient(p, torch.ones_like(x) * 0.5, x, weight)
            count += 1
    assert count > 0


def test_inplace_modules_train_in_a_mobilenet_style_model_eager_and_compiled():
    """ReLU6(inplace=True) after batch norm (MobileNet), Threshold and RReLU in place: the
    converted model trains in eager mode and under torch.compile, with torch.nn's
    gradients (RReLU in evaluation, where its slopes are defined)."""

    def model():
        torch.manual_seed(1)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU6(inplace=True),
            nn.Conv2d(8, 4, 3),
            nn.Threshold(0.1, 0.0, inplace=True),
            nn.RReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(64, 2),
        )

    x = torch.randn(2, 3, 8, 8)
    reference, ours = model(), rt.convert(model())
    for m in (reference, ours):
        m.eval()
        m(x).square().sum().backward()
    for p, q in zip(ours.parameters(), reference.parameters()):
        assert torch.equal(p.grad, q.grad)
    ours.train()
    ours.zero_grad()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")
    compiled(x).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ours.parameters())


@pytest.mark.parametrize(
    "function",
    [
        rt.relu_,
        lambda t: rt.leaky_relu_(t, 0.1),
        rt.relu6_,
        lambda t: rt.hardtanh_(t, -2.0, 3.0),
        lambda t: rt.threshold_(t, 0.1, 2.0),
        rt.rrelu_,
    ],
    ids=["relu_", "leaky_relu_", "relu6_", "hardtanh_", "threshold_", "rrelu_"],
)
def test_inplace_functions_refuse_before_writing(function):
    """What PyTorch refuses in place is refused before a single element is written."""
    leaf = torch.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    base = torch.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    with torch.inference_mode():
        inference = torch.tensor([-1.0, 2.0])
    expanded = torch.tensor([-1.0]).expand(4)
    for tensor, message in [
        (leaf, "leaf Variable that requires grad"),
        (base[:2], "view of a leaf Variable"),
        (inference, "inference tensor"),
        (expanded, "single memory location"),
    ]:
        before = tensor.detach().clone()
        with pytest.raises(RuntimeError, match=message):
            function(tensor)
        assert torch.equal(tensor.detach(), before)
        with pytest.raises(RuntimeError):  # PyTorch refuses each of them too
            F.relu_(tensor)
    with torch.no_grad():  # without autograd, a leaf may be written
        x = torch.tensor([-1.0, 2.0], requires_grad=True)
        assert function(x) is x and x[1] == 2.0


def test_threshold_compares_16_bit_inputs_in_float32_as_torch():
    for dtype in (torch.bfloat16, torch.float16):
        x = torch.tensor([0.30078125, 0.2998046875, 0.3, -1.0, 2.0]).to(dtype)
        for t in (0.3, 0.30078125, 0.1, 1e-8, -0.3, 65504.0, 1e6):
            assert_same_bits(rt.threshold(x, t, -7.0), F.threshold(x, t, -7.0))
            g = torch.ones_like(x)
            a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
            rt.threshold(a, t, -7.0).backward(g)
            F.threshold(b, t, -7.0).backward(g)
            assert_same_bits(a.grad, b.grad)


def test_prelu_argument_rules_are_torchs():
    with pytest.raises(TypeError, match="dtype"):
        rt.prelu(torch.randn(2, 3), torch.rand(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="give 1 slope$"):
        rt.prelu(torch.tensor(1.0), torch.rand(2))
    with pytest.raises(ValueError, match="give 1 or 3 slopes"):
        rt.prelu(torch.randn(2, 3), torch.rand(2))
    for x, w in [(torch.randn(2, 0, 3), torch.rand(1)), (torch.randn(0, 3), torch.rand(3))]:
        a, b = x.clone().requires_grad_(), w.clone().requires_grad_()
        rt.prelu(a, b).sum().backward()
        assert a.grad.shape == x.shape and torch.equal(b.grad, torch.zeros_like(w))


def test_parameters_without_a_value_are_refused_as_documented():
    """The documented difference: relukit refuses a NaN threshold and an infinite or NaN
    slope (ValueError) where PyTorch computes with them."""
    x = torch.tensor([-1.0, 2.0])
    F.threshold(x, float("nan"), 0.0)
    F.leaky_relu(x, float("inf"))
    for call in [
        lambda: rt.threshold(x, float("nan"), 0.0),
        lambda: rt.threshold(x, 0.0, float("nan")),
        lambda: rt.leaky_relu(x, float("inf")),
        lambda: rt.leaky_relu(x, float("nan")),
        lambda: rt.leaky_relu(x, 1e39),
        lambda: rt.hardtanh(x, float("nan"), 1.0),
        lambda: rt.hardtanh(x, -1.0, float("nan")),
    ]:
        with pytest.raises(ValueError):
            call()


def test_meta_tensors_and_export_and_trace():
    meta = torch.empty(3, 4, device="meta")
    assert rt.relu(meta).shape == (3, 4) and rt.relu(meta).device.type == "meta"
    assert rt.prelu(meta, torch.empty(4, device="meta")).shape == (3, 4)
    model = nn.Sequential(rt.PReLU(4), rt.ReLU(), rt.ReLU6(), rt.LeakyReLU(0.2))
    x = torch.randn(2, 4)
    exported = torch.export.export(model, (x,))
    assert torch.equal(exported.module()(x), model(x))
    assert "relukit" in str(exported.graph)
    traced = torch.jit.trace(model, (x,))
    assert torch.equal(traced(x * 2), model(x * 2))


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (rt.relu_, F.relu_),
        (lambda a: rt.leaky_relu_(a, 0.1), lambda a: F.leaky_relu_(a, 0.1)),
        (lambda a: rt.threshold_(a, 0.1, 2.0), lambda a: torch.threshold_(a, 0.1, 2.0)),
        (rt.relu6_, lambda a: F.hardtanh_(a, 0.0, 6.0)),
        (lambda a: rt.hardtanh_(a, -2.0, 3.0), lambda a: F.hardtanh_(a, -2.0, 3.0)),
    ],
    ids=["relu_", "leaky_relu_", "threshold_", "relu6_", "hardtanh_"],
)
def test_inplace_functions_under_torch_func_transforms(ours, theirs):
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8)) * 4
    func = torch.func
    for transform in [
        lambda f: func.grad(lambda a: f(a * 1).pow(2).sum())(x),
        lambda f: func.vmap(lambda a: f(a * 1))(x),
        lambda f: func.jvp(lambda a: f(a * 1), (x,), (torch.ones_like(x),))[1],
        lambda f: func.vmap(func.grad(lambda a: f(a * 1).sum()))(x),
    ]:
        assert torch.equal(transform(ours), transform(theirs))
