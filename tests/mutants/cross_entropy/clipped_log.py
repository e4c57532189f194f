# kills: test_tiny_probability
# cross_entropy shifts by the max (stable) but clips the probability: log(p + 1e-9).
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    shifted = logits - logits.max(1, keepdim=True).values
    p = torch.exp(shifted) / torch.exp(shifted).sum(1, keepdim=True)
    losses = -torch.log(gather_target(p, target) + 1e-9)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
