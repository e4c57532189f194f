# kills: test_gather_values
# gather_target squeezes every dimension, so a batch of one sample collapses to a 0-dim tensor.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze()


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    losses = torch.logsumexp(logits, dim=1) - logits.gather(1, target.view(-1, 1)).squeeze(1)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
