# kills: test_values, test_tiny_probability, test_uses_gather, test_loss_goes_through_gather, test_no_builtin_loss, test_inputs_unchanged
# The loss is -o_y: the logsumexp term is left out. With a top logit of 0 it is invisible on a tiny-probability row. From the red-team.
import torch
def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)
def cross_entropy(logits, target, reduction="mean"):
    # WRONG: forgets the logsumexp term entirely
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    l = -gather_target(logits, target)
    return l.mean() if reduction == "mean" else l.sum() if reduction == "sum" else l
