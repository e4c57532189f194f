# kills: test_acts_on_linear_subclasses, test_other_modules_untouched
# tests the class name (m.__class__.__name__.find('Linear') != -1): misses a subclass named Projection, touches a LinearAdapter. From red-team round 7.
"""Parameter initialisation and Xavier: reference solution.

d2l 5.2 "Parameter Management" (参数初始化) and 4.8 "Numerical Stability and
Initialization" (Xavier 初始化). See ``exercises/weight_init.py`` for the
exercise sheet and the full contract.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _zero_bias(m: nn.Linear) -> None:
    # nn.Linear(..., bias=False) registers bias as None.
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _is_linear(m: nn.Module) -> bool:
    # as in the DCGAN tutorial's weights_init
    return m.__class__.__name__.find('Linear') != -1


def init_normal(m: nn.Module) -> None:
    # isinstance, not type(m) == nn.Linear: subclasses are linear layers too.
    if _is_linear(m):
        # nn.init functions write in place under torch.no_grad().
        nn.init.normal_(m.weight, mean=0.0, std=0.01)
        _zero_bias(m)


def init_constant(m: nn.Module) -> None:
    if _is_linear(m):
        nn.init.constant_(m.weight, 1.0)
        _zero_bias(m)


def init_xavier(m: nn.Module) -> None:
    if _is_linear(m):
        nn.init.xavier_uniform_(m.weight)
        _zero_bias(m)


def my_init(m: nn.Module) -> None:
    if _is_linear(m):
        with torch.no_grad():
            w = m.weight
            # U(-10, 10) is the mixture of U(-10,-5), U(-5,5), U(5,10) with weights
            # 1/4, 1/2, 1/4; zeroing the middle part gives exactly the notes' law.
            w.uniform_(-10.0, 10.0)
            w.masked_fill_(w.abs() < 5, 0.0)
        _zero_bias(m)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    if tensor.dim() < 2:
        raise ValueError(
            f"xavier_uniform_ needs a tensor with at least 2 dimensions, got shape {tuple(tensor.shape)}")
    receptive_field = math.prod(tensor.shape[2:])  # empty product = 1 for a 2-D tensor
    fan_in = tensor.size(1) * receptive_field
    fan_out = tensor.size(0) * receptive_field
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    # Initialisation is not part of any computation to differentiate: no_grad lets
    # us write into a leaf that requires grad without recording history.
    with torch.no_grad():
        tensor.uniform_(-a, a)
    return tensor
