# kills: test_default_reduction_is_mean
# the default reduction is "sum".
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="sum"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
