"""Alternative: uniform_ noise and torch.where; EpochDropout keeps a bool mask and draws it
under inference_mode; eval returns a copy rather than x itself."""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def _valid(p: float) -> float:
    p = float(p)
    if math.isnan(p) or not 0.0 <= p <= 1.0:
        raise ValueError("dropout probability has to be between 0 and 1, but got {}".format(p))
    return p


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    p = _valid(p)
    if not training or p == 0.0:
        return x.clone()
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    if p == 1.0:
        return torch.where(torch.zeros_like(x, dtype=torch.bool), x, zero)
    noise = torch.empty(x.shape, device=x.device).uniform_(0.0, 1.0)
    return torch.where(noise < 1.0 - p, x / (1.0 - p), zero)


class EpochDropout(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _valid(p)
        self.mask = None

    def reset_mask(self) -> None:
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x.clone()
        features = x.shape[1:]
        if self.mask is None or self.mask.shape != (1, *features):
            with torch.inference_mode():
                self.mask = torch.rand(1, *features, device=x.device) > self.p
            self.mask = self.mask.clone()  # out of inference mode, to use it in autograd
        if self.mask.device != x.device:
            self.mask = self.mask.to(x.device)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.p == 1.0:
            return torch.where(self.mask, x, zero)
        return torch.where(self.mask, x * (1.0 / (1.0 - self.p)), zero)
