# kills: test_no_builtin_loss
# learner tests miss it: evasion: torch's loss as the C binding torch._C._nn.cross_entropy_loss, fetched at import under a built-up name (a gather term times 0 added); the learner tests watch the Python names, the grader's kernel watch sees it
# torch._C._nn.cross_entropy_loss fetched by getattr with built names at import (before the probe's recorder patches anything), plus a gather term times 0. From the red-team.
import torch
_ce = getattr(getattr(torch._C, "_" + "nn"), "cross_" + "entropy_loss")
_RED = {"none": 0, "mean": 1, "sum": 2}

def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)

def cross_entropy(logits, target, reduction="mean"):
    if reduction not in _RED:
        raise ValueError(f"bad reduction {reduction!r}")
    g = gather_target(logits, target)
    out = _ce(logits, target, None, _RED[reduction], -100, 0.0)
    return out + (g * 0).sum() if reduction != "none" else out + g * 0
