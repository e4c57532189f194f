"""weight_init with draws made on the CPU and copied over, and code that reads values.

``copy_`` from a CPU tensor is correct on any device (slow on a GPU, but right);
my_init reads a value (``bool(mask.any())``) and xavier_uniform_ checks its draw
with ``.item()``, which cannot run on the meta device: neither is a fault, so
the device check must not count it against them.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _zero_bias(m: nn.Linear) -> None:
    if m.bias is not None:
        with torch.no_grad():
            m.bias.copy_(torch.zeros(m.bias.shape, dtype=m.bias.dtype))


def init_normal(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        with torch.no_grad():
            m.weight.copy_(torch.randn(m.weight.shape, dtype=m.weight.dtype) * 0.01)
        _zero_bias(m)


def init_constant(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        with torch.no_grad():
            m.weight.fill_(1)
        _zero_bias(m)


def init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        xavier_uniform_(m.weight)
        _zero_bias(m)


def my_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        with torch.no_grad():
            w = m.weight
            w.uniform_(-10, 10)
            small = w.abs() < 5
            if bool(small.any()):
                w[small] = 0.0
        _zero_bias(m)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    if tensor.ndim < 2:
        raise ValueError(f"xavier_uniform_ needs at least 2 dimensions, got {tensor.ndim}")
    r = 1
    for s in tensor.shape[2:]:
        r *= s
    fan_in, fan_out = tensor.shape[1] * r, tensor.shape[0] * r
    a = gain * math.sqrt(6 / (fan_in + fan_out))
    with torch.no_grad():
        tensor.copy_((torch.rand(tensor.shape, dtype=tensor.dtype) * 2 - 1) * a)
    if tensor.numel() and tensor.abs().max().item() > a * (1 + 1e-6):
        raise RuntimeError("draw out of range")
    return tensor
