"""Correct, written differently: the mask comes from torch.distributions.Bernoulli on x's device, whose
argument check reads values (not possible on the meta device). From a fairness round."""
import torch
from torch import nn
from torch.distributions import Bernoulli

def dropout(x, p, training=True):
    if not 0 <= p <= 1:
        raise ValueError(f"bad p {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    with torch.no_grad():
        mask = Bernoulli(probs=torch.tensor(1 - p, device=x.device)).sample(x.shape)
    return x * mask.to(x.dtype) / (1 - p)

class EpochDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"bad p {p}")
        self.p = p
        self.mask = None
    def reset_mask(self):
        self.mask = None
    @torch.no_grad()
    def _draw(self, shape, device):
        return torch.rand(shape, device=device) < 1 - self.p
    def forward(self, x):
        if not self.training:
            return x
        if self.mask is None or self.mask.shape[1:] != x.shape[1:]:
            self.mask = self._draw((1, *x.shape[1:]), x.device)
        if self.p == 1:
            return x * 0
        return x * self.mask.to(x.device).to(x.dtype) * (1 / (1 - self.p))
