# kills: test_bad_reduction[avg], test_bad_reduction[MEAN]
# the ValueError does not name the bad value.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("unknown reduction")
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
