"""weight_init without any torch.nn.init, writing under torch.inference_mode().

Different random calls from the reference: normal draws via torch.randn and
copy_, my_init as an explicit three-way mixture (a component draw, then a
magnitude 5 + 5u and a sign), xavier_uniform_ via torch.rand rescaled.
"""
from __future__ import annotations

from functools import reduce
from operator import mul

import torch
from torch import nn


def _like(t: torch.Tensor) -> dict:
    return {"dtype": t.dtype, "device": t.device}


def _fill_linear(m: nn.Module, make_weight) -> None:
    if not isinstance(m, nn.Linear):
        return
    with torch.inference_mode():
        m.weight.copy_(make_weight(m.weight))
        if m.bias is not None:
            m.bias.fill_(0)


def init_normal(m: nn.Module) -> None:
    _fill_linear(m, lambda w: torch.randn(w.shape, **_like(w)) * 0.01)


def init_constant(m: nn.Module) -> None:
    _fill_linear(m, lambda w: torch.ones_like(w))


def init_xavier(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        xavier_uniform_(m.weight)
        with torch.inference_mode():
            if m.bias is not None:
                m.bias.zero_()


def _mixture(w: torch.Tensor) -> torch.Tensor:
    part = torch.rand(w.shape, **_like(w))              # < 1/4: positive, >= 3/4: negative
    magnitude = 5 + 5 * torch.rand(w.shape, **_like(w))  # U(5, 10)
    sign = torch.where(part < 0.25, 1.0, -1.0).to(w.dtype)
    keep = (part < 0.25) | (part >= 0.75)
    return torch.where(keep, sign * magnitude, torch.zeros_like(w))


def my_init(m: nn.Module) -> None:
    _fill_linear(m, _mixture)


def _fans(shape: torch.Size) -> tuple[int, int]:
    receptive = reduce(mul, shape[2:], 1)
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    if tensor.ndim < 2:
        raise ValueError("Xavier initialisation needs at least 2 dimensions")
    fan_in, fan_out = _fans(tensor.shape)
    bound = gain * (6 / (fan_in + fan_out)) ** 0.5
    noise = torch.rand(tensor.shape, **_like(tensor)) * (2 * bound) - bound
    with torch.inference_mode():
        tensor.copy_(noise)
    return tensor
