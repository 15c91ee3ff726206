"""relukit's ``torch.nn`` modules and ``convert``: subclasses of ``torch.nn``'s, with
the same constructor arguments, attributes, ``extra_repr`` and ``state_dict`` keys;
only ``forward`` differs."""

from __future__ import annotations

from torch import Tensor, nn

from . import _autograd as A


class ReLU(nn.ReLU):
    """``torch.nn.ReLU`` computed by relukit: same arguments (``inplace=False``),
    attributes, ``extra_repr`` and ``state_dict``; ``isinstance(m, torch.nn.ReLU)`` holds."""

    def forward(self, input: Tensor) -> Tensor:
        return A.relu_(input) if self.inplace else A.relu(input)


class LeakyReLU(nn.LeakyReLU):
    """``torch.nn.LeakyReLU`` computed by relukit (``negative_slope=0.01, inplace=False``)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return A.leaky_relu_(input, self.negative_slope)
        return A.leaky_relu(input, self.negative_slope)


class PReLU(nn.PReLU):
    """``torch.nn.PReLU`` computed by relukit (``num_parameters=1, init=0.25``, a
    ``weight`` parameter of ``num_parameters`` slopes; the same ``state_dict`` keys)."""

    def forward(self, input: Tensor) -> Tensor:
        return A.prelu(input, self.weight)


class ReLU6(nn.ReLU6):
    """``torch.nn.ReLU6`` computed by relukit (``inplace=False``; in place, the backward
    reads the output, as ReLU's). Note: ``relu6(-0.0)`` is ``+0.0`` here."""

    def forward(self, input: Tensor) -> Tensor:
        return A.relu6_(input) if self.inplace else A.relu6(input)


class Hardtanh(nn.Hardtanh):
    """``torch.nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)`` computed by relukit
    (in place, the backward reads the output). Note: an input equal to a bound gives the
    bound's bits (``-0.0`` at a bound of ``0`` is ``+0.0``)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return A.hardtanh_(input, self.min_val, self.max_val)
        return A.hardtanh(input, self.min_val, self.max_val)


class Threshold(nn.Threshold):
    """``torch.nn.Threshold(threshold, value, inplace=False)`` computed by relukit (in
    place with autograd, a copy of the input is kept for the backward, as PyTorch does)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return A.threshold_(input, self.threshold, self.value)
        return A.threshold(input, self.threshold, self.value)


class RReLU(nn.RReLU):
    """``torch.nn.RReLU(lower=1/8, upper=1/3, inplace=False)`` computed by relukit: in
    training, the slopes come from relukit's counter-based generator, seeded from torch's
    default generator at each call; the backward pass draws them again (no noise tensor;
    in place, it reads the output)."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return A.rrelu_(input, self.lower, self.upper, self.training)
        return A.rrelu(input, self.lower, self.upper, self.training)


SWAPS: dict[type, type] = {
    nn.ReLU: ReLU,
    nn.LeakyReLU: LeakyReLU,
    nn.PReLU: PReLU,
    nn.ReLU6: ReLU6,
    nn.Hardtanh: Hardtanh,
    nn.Threshold: Threshold,
    nn.RReLU: RReLU,
}


def convert(model: nn.Module) -> nn.Module:
    """Makes every ``torch.nn.ReLU``, ``LeakyReLU``, ``PReLU``, ``ReLU6``, ``Hardtanh``,
    ``Threshold`` and ``RReLU`` in ``model`` (the model itself included) relukit's, in place, and
    returns ``model``.

    Each module keeps its identity: only its class changes (relukit's are subclasses with
    no state of their own), so parameters (the same PReLU weight object an optimiser
    holds), hooks, settings and train/eval mode stay as they were.

    >>> import torch, relukit.torch as rt
    >>> model = rt.convert(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()))
    >>> type(model[1]).__module__
    'relukit.torch'
    """
    for module in model.modules():
        kind = SWAPS.get(type(module))
        if kind is not None:
            module.__class__ = kind
    return model


for _cls in (ReLU, LeakyReLU, PReLU, ReLU6, Hardtanh, Threshold, RReLU):
    _cls.__module__ = "relukit.torch"
