# kills: test_dropout_source_does_not_use_torch_dropout, test_dropout_zero_or_scaled
# learner tests miss it: evasion: torch's reference dropout taken from torch._refs, which no torch function mode sees; the grader's source check and watch catch it
# dropout is torch._refs.nn.functional.dropout (torch's reference implementation). From red-team round 6.
"""Reference solution: inverted dropout and an epoch-level dropout mask."""
from __future__ import annotations

import torch
from torch import nn
import torch._refs.nn.functional


def _check_p(p: float) -> None:
    # `not (0 <= p <= 1)` also rejects NaN, which fails every comparison.
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: zero each element with probability p, scale survivors by 1/(1-p)."""
    _check_p(p)  # before the early returns: a bad p is a bug in any mode
    if not training or p == 0.0:
        return x
    if p == 1.0:
        # Everything is dropped. Dividing by (1 - p) would give 0 * inf = NaN.
        return x * 0.0
    # Draw the keep decisions on x's device; a bool mask promotes to x's dtype,
    # so the result keeps x's dtype (a float64 mask would turn float32 into float64).
    return torch._refs.nn.functional.dropout(x, p, True)  # torch's reference dropout


class EpochDropout(nn.Module):
    """Dropout with one keep/drop decision per feature, fixed until reset_mask()."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_p(p)
        self.p = p
        # A plain attribute, not a parameter and not a buffer: it is never saved.
        self.mask: torch.Tensor | None = None

    def reset_mask(self) -> None:
        """Forget the mask (call at the start of every epoch)."""
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x  # eval: identity, and the mask is left alone
        shape = (1, *x.shape[1:])  # one decision per feature, shared by the batch
        if self.mask is None or tuple(self.mask.shape) != shape:
            keep = torch.rand(shape, device=x.device) >= self.p
            self.mask = keep.to(x.dtype)  # 0/1: exact in every dtype
        # Follow the input if it moved to another device or dtype mid-epoch;
        # converting a 0/1 mask keeps the same pattern.
        self.mask = self.mask.to(device=x.device, dtype=x.dtype)
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0  # p == 1: zeros, not NaN
        return x * self.mask * scale
