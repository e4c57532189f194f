# kills: test_inputs_unchanged
# cross_entropy subtracts the row max from the logits in place.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    with torch.no_grad():
        logits -= logits.max(1, keepdim=True).values
    losses = torch.log(torch.exp(logits).sum(1)) - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
