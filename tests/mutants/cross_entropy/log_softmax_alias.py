# kills: test_no_builtin_loss
# cross_entropy uses log_softmax imported under another name.
import torch
from torch.nn.functional import log_softmax as lsm


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = -gather_target(lsm(logits, dim=1), target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
