# kills: test_no_builtin_loss
# learner tests miss it: evasion: torch's own log_softmax borrowed from its reference implementation torch._refs (no name the learner tests patch); the grader's watch covers torch._refs
# the loss is torch._refs.log_softmax (torch's reference implementation) gathered. From red-team round 6.
"""Reference solution: cross-entropy with gather and LogSumExp."""
from __future__ import annotations

import torch
import torch._refs

_REDUCTIONS = ("mean", "sum", "none")


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # gather along the class dimension picks one column per row.
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    # log softmax(o)_y = o_y - logsumexp(o); logsumexp shifts by the max, so nothing overflows.
    losses = -gather_target(torch._refs.log_softmax(logits, 1), target)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
