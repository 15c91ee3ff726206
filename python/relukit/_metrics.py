"""Metrics of a layer's features that need more than counting: the effective rank.

Above ``_layout`` only: NumPy's SVD on the host, torch recognised by its type's module
(a tensor is detached and copied to the host, torch never imported here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._layout import channel_axis, kind


def effective_rank(features: Any, axis: int = 1) -> float:
    """The effective rank of a layer's features (Roy and Vetterli 2007, as Dohare et al.
    2024 measure loss of plasticity): with ``s_1 >= s_2 >= ...`` the singular values of
    the ``[samples, units]`` matrix of ``features`` and ``p_k = s_k / sum_j s_j``,
    ``exp(-sum_k p_k log p_k)`` (terms with ``p_k = 0`` add nothing). It lies between 1
    (all units' features along one direction) and the number of units (orthogonal
    features of equal size); a matrix of zeros has rank 0.

    Parameters
    ----------
    features : array_like or torch.Tensor
        A layer's outputs (after the activation), any shape with the units along
        ``axis``; every other axis is a sample axis (for NCHW, ``n * h * w`` samples of
        ``c`` units). Computed in float64 with NumPy's SVD (a tensor is detached and
        copied to the host).
    axis : int, default 1
        The axis of the units (1 for ``[batch, units]`` and NCHW), negative from the end.

    Raises
    ------
    ValueError
        ``features`` with fewer than 1 dimension or no element, or with NaN or infinity.
    numpy.exceptions.AxisError
        ``axis`` is not an axis of ``features``.

    Examples
    --------
    >>> import numpy as np, relukit
    >>> relukit.effective_rank(np.eye(4))  # four orthogonal features of one size
    4.0
    >>> relukit.effective_rank(np.diag([3.0, 1.0]))  # p = 3/4, 1/4
    1.7547654...
    >>> round(relukit.effective_rank(np.outer(np.arange(1.0, 6.0), [1.0, -2.0, 0.5])), 9)  # one direction
    1.0
    """
    if kind(features) == "torch":
        features = features.detach().cpu().double().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 1 or x.size == 0:
        raise ValueError(
            f"effective_rank: `features` must have at least one dimension and one element, got shape {x.shape}"
        )
    unit = channel_axis(x.ndim, axis)
    assert unit is not None  # `axis` is an int
    if not np.isfinite(x).all():
        raise ValueError("effective_rank: `features` contain NaN or infinity")
    matrix = np.moveaxis(x, unit, -1).reshape(-1, x.shape[unit])
    s = np.linalg.svd(matrix, compute_uv=False)
    total = s.sum()
    if total == 0.0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))
