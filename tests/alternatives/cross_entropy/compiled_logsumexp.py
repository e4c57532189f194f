"""Correct, written differently: the logsumexp is a torch.compile(backend="eager") function, which needs a
writable temp folder in the sandbox. From a fairness round.

Needs torch>=2.11: torch 2.3's torch.compile starts a helper thread or process on its first call,
and a watched call with another thread or process beside it cannot earn the "no builtin loss"
point (what runs there cannot be watched)."""
import torch

def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)

@torch.compile(backend="eager", dynamic=True)
def _lse(x):
    m = x.amax(1, keepdim=True)
    return (m + (x - m).exp().sum(1, keepdim=True).log()).squeeze(1)

def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    loss = _lse(logits) - gather_target(logits, target)
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
