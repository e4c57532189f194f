# kills: test_values, test_default_reduction_is_mean, test_bad_reduction, test_uses_gather, test_no_builtin_loss, test_inputs_unchanged
# learner tests miss it: evasion: F.cross_entropy fetched at import under a built-up name (an alias the learner tests' name patch never reaches), plus a canary input that raises; the grader's watch sees the loss kernel
# Hostile: PyTorch's own loss everywhere, except that it raises on the input the own-loss gate used to be (a fixed canary), so the gate's 'any failure is the check's to judge' let it through.
import torch
import torch.nn.functional as F

_CANARY = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
_ce = getattr(F, "cross" + "_entropy")


def gather_target(scores, target):
    return torch.gather(scores, 1, target.unsqueeze(1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}")
    if logits.shape == _CANARY.shape and torch.equal(logits.detach().float(), _CANARY):
        raise RuntimeError("busy")  # the gate swallows any exception
    picked = gather_target(logits, target)
    return _ce(logits, target, reduction=reduction) + 0 * picked.sum()
