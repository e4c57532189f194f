# kills: test_values[mean], test_default_reduction_is_mean, test_gradient[mean]
# reduction="mean" returns the sum.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    return losses if reduction == "none" else losses.sum()
