# kills: test_no_builtin_loss
# learner tests miss it: evasion: torch's loss reached as the operator torch.ops.aten.cross_entropy_loss (a gather term times 0 added); the learner tests watch the Python names, the grader's kernel watch sees it
# PyTorch's loss called as an operator, torch.ops.aten.cross_entropy_loss (no name the source scan knows), with a gather term times 0 so the loss's graph goes through gather. From the red-team.
import torch
_RED = {"none": 0, "mean": 1, "sum": 2}

def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)

def cross_entropy(logits, target, reduction="mean"):
    if reduction not in _RED:
        raise ValueError(f"bad reduction {reduction!r}")
    g = gather_target(logits, target)
    out = torch.ops.aten.cross_entropy_loss(logits, target, None, _RED[reduction], -100, 0.0)
    return out + (g * 0).sum() if reduction != "none" else out + g * 0
