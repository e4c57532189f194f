# kills: test_gather_non_contiguous, test_non_contiguous_logits
# gather_target gathers from scores.view(-1) at row * C + target: it raises for non-contiguous scores (a transpose, a slice).
"""Reference solution: cross-entropy with gather and LogSumExp."""
from __future__ import annotations

import torch

_REDUCTIONS = ("mean", "sum", "none")


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # gather along the class dimension picks one column per row.
    return scores.view(-1).gather(0, target + torch.arange(scores.shape[0], device=target.device) * scores.shape[1])


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    # log softmax(o)_y = o_y - logsumexp(o); logsumexp shifts by the max, so nothing overflows.
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
