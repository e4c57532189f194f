# kills: test_values[none], test_gradient[none]
# reduction="none" returns the mean instead of per-sample losses.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    return losses.sum() if reduction == "sum" else losses.mean()
