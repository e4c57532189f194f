# kills: test_bad_reduction[avg], test_bad_reduction[MEAN]
# an unknown reduction silently falls back to "mean".
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()
