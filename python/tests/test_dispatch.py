"""The non-ufunc functions with other array types: dask arrays stay lazy and give NumPy's
bits, torch tensors come back as tensors; and the docstrings' examples run (doctest)."""

import doctest
import importlib

import numpy as np
import pytest
from conftest import optional

import relukit
import relukit._dispatch
import relukit._family


def test_the_articles_example_and_the_one_channel_rule():
    assert relukit.prelu(np.array([-2.0, -1, 0, 1, 2]), 0.25).tolist() == [-0.5, -0.25, 0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="one channel"):
        relukit.prelu(np.array([-2.0, 1.0]), [0.1, 0.2])
    assert relukit.prelu(np.array([-2.0, 1.0]), [0.1, 0.2], axis=0).tolist() == [-0.2, 1.0]


def test_memory_order_is_kept_and_out_is_written_in_place():
    x = np.asfortranarray(np.random.default_rng(0).standard_normal((5, 4, 3)))
    w = np.linspace(0.1, 0.4, 4)
    y = relukit.prelu(x, w)
    assert y.flags.f_contiguous
    out = np.empty_like(x)
    assert relukit.prelu(x, w, out=out) is out and np.array_equal(out, y)
    gi, gw = np.empty_like(x), np.empty(4)
    r = relukit.prelu_backward(np.ones_like(x), x, w, out=(gi, gw))
    assert r[0] is gi and r[1] is gw
    expected = relukit.prelu_backward(np.ones_like(x), np.ascontiguousarray(x), w)
    assert np.array_equal(gi, expected[0]) and np.array_equal(gw, expected[1])


def test_dask_arrays_stay_lazy_and_match_numpy():
    da = optional("dask.array")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5, 8)).astype(np.float32)
    g = rng.standard_normal((6, 5, 8)).astype(np.float32)
    w = np.linspace(-0.5, 0.5, 5).astype(np.float32)
    dx = da.from_array(x, chunks=(2, 2, 3))
    y = relukit.prelu(dx, w)
    assert isinstance(y, da.Array)
    assert np.array_equal(y.compute(), relukit.prelu(x, w))
    d = relukit.prelu_derivative(dx, w)
    assert isinstance(d, da.Array) and np.array_equal(d.compute(), relukit.prelu_derivative(x, w))
    gi, gw = relukit.prelu_backward(da.from_array(g, chunks=(3, 5, 8)), dx, w)
    assert isinstance(gi, da.Array) and isinstance(gw, da.Array)
    egi, egw = relukit.prelu_backward(g, x, w)
    assert np.array_equal(gi.compute(), egi)
    exact = (g.astype(np.float64) * x * (x <= 0)).sum(axis=(0, 2))
    np.testing.assert_allclose(gw.compute(), exact, rtol=1e-5)
    assert gw.dtype == np.float32 and gw.shape == (5,)
    one = relukit.prelu(da.from_array(x[0, 0], chunks=3), 0.5)
    assert np.array_equal(one.compute(), relukit.prelu(x[0, 0], 0.5))
    shared_gi, shared_gw = relukit.prelu_backward(dx, dx, np.float32(0.5))
    np.testing.assert_allclose(shared_gw.compute(), relukit.prelu_backward(x, x, np.float32(0.5))[1], rtol=1e-5)
    m, n = relukit.DeadUnitMonitor(5), relukit.DeadUnitMonitor(5)
    m.observe(dx)
    n.observe(x)
    assert m == n
    m2, n2 = relukit.DeadUnitMonitor(5), relukit.DeadUnitMonitor(5)
    r = relukit.relu_observed(dx, m2)
    assert isinstance(r, da.Array)
    assert np.array_equal(r.compute(), relukit.relu_observed(x, n2)) and m2 == n2


def test_torch_tensors_come_back_as_tensors():
    torch = optional("torch")
    x = torch.randn(4, 3, 5)
    w = torch.rand(3)
    y = relukit.prelu(x, w)
    assert isinstance(y, torch.Tensor) and torch.equal(y, torch.nn.functional.prelu(x, w))
    gi, gw = relukit.prelu_backward(torch.ones_like(x), x, w)
    assert isinstance(gi, torch.Tensor) and gw.shape == (3,)
    w5 = torch.rand(5)
    moved = relukit.prelu(x, w5, axis=-1)
    assert isinstance(moved, torch.Tensor) and moved.shape == x.shape
    assert np.array_equal(moved.numpy(), relukit.prelu(x.numpy(), w5.numpy(), axis=-1))
    m, n = relukit.DeadUnitMonitor(3), relukit.DeadUnitMonitor(3)
    out = relukit.relu_observed(x, m)
    assert isinstance(out, torch.Tensor) and torch.equal(out, torch.relu(x))
    n.observe(x.numpy())
    assert m == n
    v = torch.tensor([-2.0, 1.0, -4.0])
    per_element = relukit.prelu(v, [0.5, 0.1, 0.25], axis=0)
    assert isinstance(per_element, torch.Tensor) and per_element.tolist() == [-1.0, 1.0, -1.0]
    gv, gwv = relukit.prelu_backward(torch.ones(3), v, [0.5, 0.1, 0.25], axis=0)
    assert gv.tolist() == [0.5, 1.0, 0.25] and gwv.tolist() == [-2.0, 0.0, -4.0]
    b = x.to(torch.bfloat16)
    assert relukit.prelu(b, w.to(torch.bfloat16)).dtype == torch.bfloat16
    with pytest.raises(TypeError, match="out="):
        relukit.prelu(x, w, out=np.empty((4, 3, 5), np.float32))


@pytest.mark.parametrize(
    "module", ["relukit", "relukit._relukit", "relukit._dispatch", "relukit._layout", "relukit.cuda"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_registry_functions_examples_run():
    """The NumPy functions built from the extension's registry (``relukit._family``) carry
    one example each from their row, which ``doctest.testmod`` does not collect (their
    globals are not the module's): run here, every one."""
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    names = [
        f"{name}{form}"
        for name, row in relukit._family.REGISTRY.items()
        if row.parameters
        for form in ("", "_derivative", "_backward")
    ]
    assert len(names) >= 12
    for name in names:
        tests = finder.find(getattr(relukit, name), name, globs={})
        assert sum(len(t.examples) for t in tests) == 2, name  # the import, and the call
        for test in tests:
            runner.run(test)
    assert runner.failures == 0


def test_relukit_torch_docstring_examples_run():
    optional("torch")
    import relukit.torch
    import relukit.torch._modules

    failed = attempted = 0
    for module in (relukit.torch, relukit.torch._modules):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        failed, attempted = failed + result.failed, attempted + result.attempted
    assert failed == 0 and attempted >= 5


def test_the_package_works_without_its_optional_dependencies():
    """torch, ml_dtypes and dask blocked: relukit imports and computes, relukit.torch
    says what it needs, bfloat16 is simply not there."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('torch', 'ml_dtypes', 'dask'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np, relukit\n"
        "assert relukit.prelu(np.array([-2.0, 1.0]), 0.5).tolist() == [-1.0, 1.0]\n"
        "assert relukit.relu(np.array([-1.0, 3.0])).tolist() == [0.0, 3.0]\n"
        "import relukit.cuda\n"
        "assert relukit.cuda.relu(np.array([-1.0, 3.0])).tolist() == [0.0, 3.0]\n"
        "try:\n"
        "    import relukit.torch\n"
        "except ImportError as e:\n"
        "    assert 'PyTorch' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('relukit.torch imported without torch')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_dask_rrelu_is_lazy_and_has_the_bits_of_the_whole_array():
    da = optional("dask.array")
    x = np.random.default_rng(1).standard_normal((37, 6, 5)).astype(np.float32)
    g = np.random.default_rng(2).standard_normal((37, 6, 5)).astype(np.float32)
    for chunks in [(5, 2, 3), (37, 6, 5), (1, 1, 1)]:
        for training in (True, False):
            for name, operands in [("rrelu", (x,)), ("rrelu_derivative", (x,)), ("rrelu_backward", (g, x))]:
                function = getattr(relukit, name)
                lazy = function(*[da.from_array(a, chunks=chunks) for a in operands], 0.1, 0.3, training, 99)
                assert isinstance(lazy, da.Array), name
                eager = function(*operands, 0.1, 0.3, training, 99)
                np.testing.assert_array_equal(lazy.compute().view(np.uint32), eager.view(np.uint32))
    with pytest.raises(ValueError, match="seed"):
        relukit.rrelu(da.from_array(x), training=True)  # refused now, not when computed


def test_dask_arrays_of_unknown_chunk_sizes_are_refused_clearly():
    da = optional("dask.array")
    d = da.from_array(np.arange(60.0).reshape(10, 6) - 30, chunks=(3, 2))
    unknown = d[d[:, 0] > -100]
    for call in [
        lambda: relukit.prelu(unknown, np.ones(6)),
        lambda: relukit.prelu_derivative(unknown, np.ones(6)),
        lambda: relukit.prelu_backward(unknown, unknown, np.ones(6)),
        lambda: relukit.rrelu(unknown, seed=1),
        lambda: relukit.DeadUnitMonitor(6).observe(unknown),
    ]:
        with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
            call()


def _package_imports():
    """Each module of the installed package -> (the relukit modules it imports at its top
    level, the relukit imports written inside functions)."""
    import ast
    import pathlib

    root = pathlib.Path(relukit.__file__).parent
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts if parts[-1] == "__init__" else parts[:-1]
        if parts[-1] == "__init__":
            parts, package = parts[:-1], parts[:-1]
        name = ".".join(parts)
        top, inner = set(), []
        tree = ast.parse(path.read_text())
        inside = {
            id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                if module.split(".")[0] == "relukit":
                    targets = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "relukit"]
            for target in targets:
                if id(node) in inside:
                    inner.append(target)
                else:
                    top.add(target)
        found[name] = (top, inner)
    return found


def test_the_package_is_a_dag_without_imports_inside_functions():
    """Layers import only from below, at their top; relukit.torch, optional, is loaded by
    the router's importlib call (not an import statement inside a function)."""
    found = _package_imports()
    assert {"relukit", "relukit.cuda", "relukit._dispatch", "relukit.torch._interop"} <= set(found)
    assert {name: inner for name, (_, inner) in found.items() if inner} == {}
    modules = set(found) | {"relukit._relukit"}

    def edges(name):
        # importing relukit.x runs the package itself first: not an edge of the graph
        return {t if t in modules else t.rsplit(".", 1)[0] for t in found.get(name, ((), ()))[0]} - {"relukit"}

    state = {}

    def visit(name, path):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", f"an import cycle: {' -> '.join(path + [name])}"
        state[name] = "open"
        for target in edges(name):
            visit(target, path + [name])
        state[name] = "done"

    for name in found:
        visit(name, [])
    assert "relukit._dispatch" not in {
        t for n in ("relukit._layout", "relukit._gpu", "relukit._dask", "relukit._family") for t in edges(n)
    }
