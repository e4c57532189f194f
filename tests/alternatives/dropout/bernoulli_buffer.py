"""Alternative: torch.bernoulli masks in x's dtype; EpochDropout keeps a scaled mask in a
non-persistent buffer (so module.to() moves it, and state_dict() never holds it)."""
from __future__ import annotations

import torch
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    if p < 0 or p > 1 or p != p:
        raise ValueError(f"p must lie in [0, 1], not {p}")
    if training is False or p == 0:
        return x
    if p == 1:
        return x.mul(0)
    with torch.no_grad():  # the mask itself needs no graph
        mask = torch.bernoulli(torch.full_like(x, 1 - p)) / (1 - p)
    return x.mul(mask)


class EpochDropout(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        if not (0 <= p <= 1):
            raise ValueError(f"p must lie in [0, 1], not {p}")
        super().__init__()
        self.p = float(p)
        self.register_buffer("mask", None, persistent=False)

    def reset_mask(self) -> None:
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if self.p == 1:  # every feature dropped: a mask of zeros (no bernoulli draw, no 0/0)
            self.mask = torch.zeros((1, *x.shape[1:]), dtype=x.dtype, device=x.device)
            return x * self.mask
        if self.mask is None or self.mask.shape[1:] != x.shape[1:]:
            probs = torch.full((1, *x.shape[1:]), 1 - self.p, dtype=torch.float64, device=x.device)
            self.mask = (torch.bernoulli(probs) / (1 - self.p)).to(x.dtype)
        elif self.mask.device != x.device or self.mask.dtype != x.dtype:
            self.mask = self.mask.to(x.device, x.dtype)
        return x * self.mask
