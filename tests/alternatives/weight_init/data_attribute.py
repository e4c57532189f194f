"""weight_init through ``.data``, the notes' style, with the contract's fixes.

Uses ``from torch.nn import init`` at module level for the four net.apply
functions (allowed there) while xavier_uniform_ stays free of it; the notes'
my_init (U(-10, 10), then multiply by the |w| >= 5 mask); fans from
``tensor[0][0].numel()``.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import init, Linear

LINEAR_TYPES = (Linear,)


def _bias_to_zero(m: nn.Module) -> None:
    if getattr(m, "bias", None) is not None:
        m.bias.data.zero_()


def init_normal(m: nn.Module) -> None:
    if isinstance(m, LINEAR_TYPES):
        m.weight.data.normal_(mean=0.0, std=0.01)
        _bias_to_zero(m)


def init_constant(m: nn.Module) -> None:
    if isinstance(m, LINEAR_TYPES):
        init.ones_(m.weight)
        _bias_to_zero(m)


def init_xavier(m: nn.Module) -> None:
    if isinstance(m, LINEAR_TYPES):
        init.xavier_uniform_(m.weight, gain=1.0)
        _bias_to_zero(m)


def my_init(m: nn.Module) -> None:
    if isinstance(m, LINEAR_TYPES):
        init.uniform_(m.weight, -10, 10)
        m.weight.data *= m.weight.data.abs() >= 5
        _bias_to_zero(m)


def _receptive_field(tensor: torch.Tensor) -> int:
    return tensor[0][0].numel()


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    if len(tensor.shape) < 2:
        raise ValueError(f"need a tensor with 2 or more dimensions, got {tensor.dim()}")
    r = _receptive_field(tensor)
    std = gain * math.sqrt(2.0 / (tensor.shape[0] * r + tensor.shape[1] * r))
    a = math.sqrt(3.0) * std  # a uniform on [-a, a] has standard deviation a / sqrt(3)
    tensor.data.uniform_(-a, a)
    return tensor
