# kills: test_gather_uses_gather, test_uses_gather
# gather_target uses advanced indexing instead of torch.gather.
import torch


def gather_target(scores, target):
    return scores[torch.arange(scores.shape[0]), target]


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
