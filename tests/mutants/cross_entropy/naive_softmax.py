# kills: test_large_logits_float32, test_tiny_probability, test_gradient_large_logits
# cross_entropy computes exp(o) / sum(exp(o)) without the max shift, then log.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    p = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True)
    losses = -torch.log(gather_target(p, target))
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
