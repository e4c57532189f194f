# kills: test_gradient[mean], test_gradient[sum], test_gradient[none], test_gradient_large_logits
# the logsumexp term is computed on detached logits, so the gradient misses the softmax part.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = torch.logsumexp(logits.detach(), dim=1) - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
