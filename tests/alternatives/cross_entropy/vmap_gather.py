"""Per-row gather through torch.vmap; Tensor.logsumexp; reductions in a table."""
from __future__ import annotations

import torch


def _pick(row: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return row.gather(0, t.unsqueeze(0))


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.vmap(_pick)(scores, target).squeeze(-1)


_REDUCE = {
    "mean": lambda v: v.mean(),
    "sum": lambda v: v.sum(),
    "none": lambda v: v,
}


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    try:
        reduce = _REDUCE[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"unknown reduction {reduction!r}") from None
    lse = logits.logsumexp(1)
    return reduce(lse - gather_target(logits, target))
