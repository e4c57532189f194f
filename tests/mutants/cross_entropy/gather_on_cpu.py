# kills:
# kills on cuda: test_cuda_matches_cpu
# gather_target gathers on the CPU whatever the device of scores (cross_entropy moves it back): right on a CPU. From red-team round 6.
"""Reference solution: cross-entropy with gather and LogSumExp."""
from __future__ import annotations

import torch

_REDUCTIONS = ("mean", "sum", "none")


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # gather along the class dimension picks one column per row.
    # computed on the CPU, whatever the device of scores
    return scores.cpu().gather(1, target.cpu().view(-1, 1)).squeeze(1)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    # log softmax(o)_y = o_y - logsumexp(o); logsumexp shifts by the max, so nothing overflows.
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target).to(logits.device)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
