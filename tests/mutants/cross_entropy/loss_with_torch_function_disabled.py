# kills: test_no_builtin_loss
# learner tests miss it: evasion: torch._C._nn.cross_entropy_loss fetched at import under a built-up name and run with torch function handling off (a gather term times 0 added); only the grader's kernel watch sees it
# PyTorch's loss as its C binding, fetched at import under a built-up name (before any watch could wrap it) and run with torch function handling switched off, where the torch-function watch is blind; a gather term times 0 keeps gather in the graph. Caught at the kernel level.
import torch

_LOSS = getattr(torch._C._nn, "cross" + "_entropy" + "_loss")
_RED = {"none": 0, "mean": 1, "sum": 2}


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"bad reduction {reduction!r}")
    g = gather_target(logits, target)
    with torch._C.DisableTorchFunction():
        out = _LOSS(logits, target, None, _RED[reduction], -100, 0.0)
    return out + (g * 0).sum() if reduction != "none" else out + g * 0
