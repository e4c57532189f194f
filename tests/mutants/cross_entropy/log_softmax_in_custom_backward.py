# kills: test_no_builtin_loss
# learner tests miss it: evasion: torch's log_softmax, an alias taken at import, run only in a custom autograd.Function's backward; the learner tests patch the names, the grader's watch covers aliases and the backward
# a custom autograd.Function: forward by gather and logsumexp, backward by torch's log_softmax (an alias taken at import). From red-team round 6.
"""Reference solution: cross-entropy with gather and LogSumExp."""
from __future__ import annotations

import torch

_REDUCTIONS = ("mean", "sum", "none")


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # gather along the class dimension picks one column per row.
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


_LSM = getattr(torch, "log_" + "softmax")


class _Loss(torch.autograd.Function):
    """Forward by gather and logsumexp; the backward uses torch's log_softmax."""

    @staticmethod
    def forward(ctx, logits, target):
        ctx.save_for_backward(logits, target)
        return torch.logsumexp(logits, dim=1) - gather_target(logits, target)

    @staticmethod
    def backward(ctx, grad):
        logits, target = ctx.saved_tensors
        g = _LSM(logits, 1).exp()
        g = g.scatter_add(1, target.view(-1, 1), -torch.ones_like(g[:, :1]))
        return g * grad.unsqueeze(1), None


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    # log softmax(o)_y = o_y - logsumexp(o); logsumexp shifts by the max, so nothing overflows.
    losses = _Loss.apply(logits, target)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
