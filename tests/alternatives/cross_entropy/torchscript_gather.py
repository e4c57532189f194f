"""Correct, written differently: gather_target is a TorchScript function (torch.jit.script), so torch.gather
runs inside the TorchScript interpreter, under no Python torch function, where a name recording cannot
see it; cross_entropy uses that gather_target with Tensor.logsumexp. The gather is there (the ATen gather
kernel runs, GatherBackward0 is in the graph). From a fairness round."""
import torch


@torch.jit.script
def _gather(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.gather(scores, 1, target.unsqueeze(1)).squeeze(1)


def gather_target(scores, target):
    return _gather(scores, target)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = logits.logsumexp(dim=1) - gather_target(logits, target)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
