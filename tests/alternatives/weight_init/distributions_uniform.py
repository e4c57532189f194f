"""Module-level from-imports of torch.nn.init names (one aliased xavier_uniform_) for the init
functions; own xavier_uniform_ samples torch.distributions.Uniform and copies in."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.init import normal_, ones_, uniform_, zeros_
from torch.nn.init import xavier_uniform_ as library_xavier


def _bias(m: nn.Linear) -> None:
    if m.bias is not None:
        zeros_(m.bias)


def init_normal(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        normal_(m.weight, std=0.01)
        _bias(m)


def init_constant(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        ones_(m.weight)
        _bias(m)


def init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        library_xavier(m.weight)
        _bias(m)


def my_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        uniform_(m.weight, -10, 10)
        with torch.no_grad():
            m.weight.masked_fill_(m.weight.abs() < 5, 0.0)
        _bias(m)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    if len(tensor.shape) < 2:
        raise ValueError("fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    r = tensor[0][0].numel()
    fan_in, fan_out = tensor.size(1) * r, tensor.size(0) * r
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    lo = torch.tensor(-a, dtype=tensor.dtype, device=tensor.device)
    hi = torch.tensor(a, dtype=tensor.dtype, device=tensor.device)
    sample = torch.distributions.Uniform(lo, hi, validate_args=False).sample(tensor.shape)
    with torch.no_grad():
        tensor.copy_(sample)
    return tensor
