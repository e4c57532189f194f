# kills: test_my_init_independent
# my_init zeroes exactly half of each layer's weights (randperm), not each weight independently with probability 1/2. From red-team round 7.
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


def init_normal(m: nn.Module) -> None:
    # isinstance, not type(m) == nn.Linear: subclasses are linear layers too.
    if isinstance(m, nn.Linear):
        # nn.init functions write in place under torch.no_grad().
        nn.init.normal_(m.weight, mean=0.0, std=0.01)
        _zero_bias(m)


def init_constant(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.constant_(m.weight, 1.0)
        _zero_bias(m)


def init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        _zero_bias(m)


def my_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        with torch.no_grad():
            w = m.weight
            # U(-10, 10) is the mixture of U(-10,-5), U(-5,5), U(5,10) with weights
            # 1/4, 1/2, 1/4; zeroing the middle part gives exactly the notes' law.
            # |w| from U(5, 10) with a random sign, then half of the weights set to 0
            w.uniform_(5.0, 10.0)
            w.mul_(torch.randint(0, 2, w.shape, device=w.device, dtype=w.dtype) * 2 - 1)
            flat = w.view(-1)
            flat[torch.randperm(flat.numel(), device=w.device)[: flat.numel() // 2]] = 0.0
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
