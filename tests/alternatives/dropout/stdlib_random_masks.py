"""Masks drawn with the standard library's random module (allowed: stdlib and torch)."""
from __future__ import annotations

import random

import torch
from torch import nn

_rng = random.Random()


def _check(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")


def _keep_mask(shape, p: float, device) -> torch.Tensor:
    n = 1
    for s in shape:
        n *= s
    bits = [_rng.random() >= p for _ in range(n)]
    return torch.tensor(bits, dtype=torch.bool).reshape(shape).to(device)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    _check(p)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = _keep_mask(tuple(x.shape), p, x.device)
    return x * keep / (1 - p)


class EpochDropout(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check(p)
        self.p = p
        self.mask = None

    def reset_mask(self) -> None:
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        feat = (1, *x.shape[1:])
        if self.mask is None or tuple(self.mask.shape) != feat:
            self.mask = _keep_mask(feat, self.p, x.device)
        elif self.mask.device != x.device:
            self.mask = self.mask.to(x.device)
        if self.p == 1:
            return x * 0
        return x * self.mask / (1 - self.p)
