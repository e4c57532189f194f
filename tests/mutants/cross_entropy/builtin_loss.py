# kills: test_no_builtin_loss, test_values, test_gradient, test_large_logits_float32, test_bad_reduction, test_keeps_dtype
# cross_entropy calls F.cross_entropy (the gather is there only for show).
import torch
import torch.nn.functional as F


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    gather_target(logits, target)
    return F.cross_entropy(logits, target, reduction=reduction)
