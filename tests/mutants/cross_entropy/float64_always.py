# kills: test_keeps_dtype[float32]
# the loss is computed and returned in float64 whatever the input dtype.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    logits = logits.double()
    losses = torch.logsumexp(logits, dim=1) - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
