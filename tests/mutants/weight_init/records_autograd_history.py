# kills: test_parameters_stay_trainable_leaves
# my_init copies a value that requires grad into the weight, so the weight gets a grad_fn and stops being a leaf.
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
        w = m.weight
        w.requires_grad_(False)
        u = torch.empty_like(w).uniform_(-10.0, 10.0).requires_grad_()
        w.copy_(u * (u.abs() >= 5))  # records CopyBackwards: w is no longer a leaf
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
