"""weight_init with its helpers grouped as static methods of a namespace class.

xavier_uniform_ uses only ``_Init.fans`` (hand-written fans), while ``_Init.linear_only``,
used by the four net.apply functions, calls torch.nn.init (allowed there): the scan of what
xavier_uniform_ reaches follows ``_Init.fans`` alone, not the whole class.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class _Init:
    @staticmethod
    def fans(shape: torch.Size) -> tuple[int, int]:
        r = math.prod(shape[2:])
        return shape[1] * r, shape[0] * r

    @staticmethod
    def linear_only(m: nn.Module, fill) -> None:
        if isinstance(m, nn.Linear):
            fill(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_normal(m: nn.Module) -> None:
    _Init.linear_only(m, lambda w: nn.init.normal_(w, std=0.01))


def init_constant(m: nn.Module) -> None:
    _Init.linear_only(m, nn.init.ones_)


def init_xavier(m: nn.Module) -> None:
    _Init.linear_only(m, nn.init.xavier_uniform_)


def _my(w: torch.Tensor) -> None:
    nn.init.uniform_(w, -10, 10)
    with torch.no_grad():
        w.mul_(w.abs() >= 5)


def my_init(m: nn.Module) -> None:
    _Init.linear_only(m, _my)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    if tensor.dim() < 2:
        raise ValueError("at least 2 dimensions needed")
    fan_in, fan_out = _Init.fans(tensor.shape)
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    with torch.no_grad():
        tensor.uniform_(-a, a)
    return tensor
