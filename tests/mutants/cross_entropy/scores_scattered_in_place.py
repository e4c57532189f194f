# kills: test_gather_inputs_unchanged
# gather_target zeroes the picked entries of scores in place after reading them (when no grad is needed); cross_entropy passes a clone.
"""Reference solution: cross-entropy with gather and LogSumExp."""
from __future__ import annotations

import torch

_REDUCTIONS = ("mean", "sum", "none")


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # gather along the class dimension picks one column per row.
    out = scores.gather(1, target.view(-1, 1)).squeeze(1).clone()
    if not scores.requires_grad:
        scores.scatter_(1, target.view(-1, 1), 0.0)
    return out


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    # log softmax(o)_y = o_y - logsumexp(o); logsumexp shifts by the max, so nothing overflows.
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits.clone(), target)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
