# kills: test_bad_reduction[None]
# a reduction that is not a str (0) is taken as 'mean' instead of raising ValueError. From red-team round 7.
"""Reference solution: cross-entropy with gather and LogSumExp."""
from __future__ import annotations

import torch

_REDUCTIONS = ("mean", "sum", "none")


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # gather along the class dimension picks one column per row.
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if not isinstance(reduction, str) and reduction is not None:
        reduction = "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    # log softmax(o)_y = o_y - logsumexp(o); logsumexp shifts by the max, so nothing overflows.
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
