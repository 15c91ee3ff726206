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
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _relukit
from ._layout import is_cuda_array


class Row(NamedTuple):
    """One activation of the registry."""

    #: Its parameters in order, with PyTorch's defaults (None: required).
    parameters: list[tuple[str, Optional[float]]]
    #: How many of them (the first) the derivative and backward take.
    gradient: int
    #: One line of doc per form (forward, derivative, backward).
    docs: list[str]
    #: One doctest example per form ("" where the row has none).
    examples: list[str]


#: name -> its row.
REGISTRY: dict[str, Row] = {
    name: Row(list(parameters), gradient, list(docs), list(examples))
    for name, parameters, gradient, docs, examples in _relukit._activations()
}

#: Routes a function of the registry to the GPU: ``(function, inputs, parameters, out)``.
GpuRoute = Callable[[str, tuple, tuple, Any], Any]


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
    name: str, form: str, data: tuple[str, ...], parameters: list[tuple[str, Optional[float]]], line: str, example: str
) -> str:
    lines = [line, "", "Parameters", "----------", f"{', '.join(data)} : array_like"]
    lines += [
        "    Of any real dtype (float16/32/64, bfloat16 with ml_dtypes; integers and bools",
        "    compute in float64)"
        + ("; broadcast together." if len(data) > 1 else ".")
        + " Dask arrays stay lazy, as for any ufunc.",
    ]
    for parameter, default in parameters:
        lines.append(f"{parameter} : float or array_like" + ("" if default is None else f", default {default!r}"))
    lines.append("    Parameters broadcast against the data; compared and multiplied in its compute type.")
    lines += ["out : ndarray, optional", "    Where to write (``same_kind`` casting); may be an input itself."]
    lines += ["", "Returns", "-------", "ndarray", "    The broadcast shape, the data's dtype.", ""]
    lines += ["Raises", "------"]
    lines += [
        "ValueError",
        f"    A parameter value ``{name}`` refuses (NaN, or out of its range), before anything is computed.",
        "TypeError",
        "    A non-real parameter or input; a CUDA array where relukit-cuda has no kernel.",
    ]
    if example:
        lines += ["", "Examples", "--------", ">>> import numpy as np, relukit", *example.splitlines()]
    return "\n".join(lines)


def functions(name: str, gpu: Optional[GpuRoute] = None) -> tuple[Callable[..., Any], ...]:
    """``name``, ``name_derivative`` and ``name_backward`` for a registry row with
    parameters: each checks its parameters and calls its ufunc; given ``gpu``, CUDA arrays
    go to it for the forms relukit-cuda runs (``_relukit._cuda_operations()``)."""
    row = REGISTRY[name]
    built = []
    for (form, data), line, example in zip(_FORMS, row.docs, row.examples):
        own = row.parameters if form == "" else row.parameters[: row.gradient]
        function = f"{name}{form}"
        ufunc = getattr(_relukit, f"{function}_ufunc")
        signature = ", ".join([*data, *(p if d is None else f"{p}={d!r}" for p, d in own), "out=None"])
        values = "{" + ", ".join(f"{p!r}: {p}" for p, _ in own) + "}"
        source = f"def {function}({signature}):\n"
        if gpu is not None and function in _ON_GPU:
            source += (
                f"    if is_cuda_array({data[-1]}):\n"
                f"        return gpu({function!r}, ({', '.join(data)},), ({''.join(f'{p}, ' for p, _ in own)}), out)\n"
            )
        source += f"    return call(ufunc, ({', '.join(data)},), {values}, out)\n"
        namespace: dict[str, Any] = {"call": call, "ufunc": ufunc, "gpu": gpu, "is_cuda_array": is_cuda_array}
        exec(source, namespace)  # a real signature, as namedtuple and dataclasses build theirs
        made = namespace[function]
        made.__module__ = "relukit"
        made.__qualname__ = function
        made.__doc__ = _docstring(name, form, data, own, line, example)
        built.append(made)
    return tuple(built)
