"""The NumPy functions of the element-by-element activations, derived from the extension's
registry (``_relukit._activations()``, one row per activation in ``relukit-py/src/family.rs``).

For an activation ``name`` with parameters, the registry's ufuncs are ``name_ufunc``,
``name_derivative_ufunc`` and ``name_backward_ufunc`` (parameters as float64 operands);
the functions built here (``name``, ``name_derivative``, ``name_backward``) check the
parameters first with relukit's rules, so a bad one raises ``ValueError`` instead of
giving NaN. Their signatures, defaults (PyTorch's) and docstrings come from the row.

This is the package's bottom layer beside ``_layout``: it imports nothing of relukit's
but the extension and ``_layout``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _relukit
from ._layout import is_cuda_array

#: name -> (parameters with defaults, how many the gradients take, the forms' docs).
REGISTRY: dict[str, tuple[list[tuple[str, float | None]], int, list[str]]] = {
    name: (list(parameters), gradient, list(docs)) for name, parameters, gradient, docs in _relukit._activations()
}


def dtype_of(operand: Any) -> np.dtype:
    """An operand's dtype, without computing it (a dask array has one)."""
    dtype = getattr(operand, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(operand).dtype


_ON_GPU = _relukit._cuda_operations()


def no_gpu(function: str) -> TypeError:
    """The error for a CUDA array given to a function without GPU kernels."""
    return TypeError(
        f"relukit.{function}: no GPU kernel for this function; relukit.cuda runs "
        f"{', '.join(_ON_GPU[:-1])} and {_ON_GPU[-1]} on CUDA arrays"
    )


def call(ufunc: np.ufunc, data: tuple, parameters: dict, out: Any) -> Any:
    """Calls a ufunc with float64 parameter operands after checking every parameter value
    in the compute type of the loop the ufunc will run (float32 for float16 and float32
    data), with relukit's own rules and messages (ValueError): the loops cannot raise."""
    if any(is_cuda_array(d) for d in data):
        raise no_gpu(ufunc.__name__.removesuffix("_ufunc"))
    values = []
    for name, value in parameters.items():
        if value is None:
            raise TypeError(f"{name} must be a real number or an array of them, got None")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be real, got dtype {array.dtype}")
        values.append(array.astype(np.float64))
    try:
        loop = ufunc.resolve_dtypes(tuple(dtype_of(d) for d in data) + (np.dtype(np.float64),) * len(values) + (None,))
    except (TypeError, ValueError):
        loop = None  # the ufunc raises its own error for these operands
    if loop is not None:
        if all(v.ndim == 0 for v in values):
            rows = [[float(v) for v in values]]  # the common case, without NumPy's overhead
        else:
            stacked = np.stack(np.broadcast_arrays(*values), axis=-1).reshape(-1, len(values))
            rows = np.unique(stacked, axis=0).tolist()
        _relukit._check_parameters(ufunc.__name__, loop[0], rows)
    return ufunc(*data, *values, out=out)


_FORMS = (("", ("x",)), ("_derivative", ("x",)), ("_backward", ("grad_output", "x")))


def _docstring(
    name: str, form: str, data: tuple[str, ...], parameters: list[tuple[str, float | None]], line: str
) -> str:
    lines = [line, "", "Parameters", "----------", f"{', '.join(data)} : array_like"]
    for parameter, default in parameters:
        lines.append(f"{parameter} : float or array_like" + ("" if default is None else f", default {default!r}"))
    lines.append("    Parameters broadcast against the data; compared and multiplied in its compute type.")
    lines += ["out : ndarray, optional", "", "Returns", "-------", "ndarray", "", "Raises", "------"]
    lines += [
        "ValueError",
        f"    A parameter ``{name}`` refuses (NaN, or out of its range), before anything is computed.",
        "TypeError",
        "    A CUDA array (no GPU kernel), a non-real parameter.",
    ]
    return "\n".join(lines)


def functions(name: str) -> tuple[Callable[..., Any], ...]:
    """``name``, ``name_derivative`` and ``name_backward`` for a registry row with parameters."""
    parameters, gradient, docs = REGISTRY[name]
    built = []
    for (form, data), line in zip(_FORMS, docs):
        own = parameters if form == "" else parameters[:gradient]
        function = f"{name}{form}"
        ufunc = getattr(_relukit, f"{function}_ufunc")
        signature = ", ".join([*data, *(p if d is None else f"{p}={d!r}" for p, d in own), "out=None"])
        values = "{" + ", ".join(f"{p!r}: {p}" for p, _ in own) + "}"
        source = f"def {function}({signature}):\n    return call(ufunc, ({', '.join(data)},), {values}, out)\n"
        namespace: dict[str, Any] = {"call": call, "ufunc": ufunc}
        exec(source, namespace)  # a real signature, as namedtuple and dataclasses build theirs
        made = namespace[function]
        made.__module__ = "relukit"
        made.__doc__ = _docstring(name, form, data, own, line)
        built.append(made)
    return tuple(built)
