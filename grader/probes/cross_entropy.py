"""Probes for cross_entropy (run inside the worker, next to the submission)."""
from __future__ import annotations

import torch

from grader.probing import recording

FORBIDDEN = [
    "torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "torch.nn.functional.log_softmax",
    "torch.log_softmax", "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss.forward",
    "torch.nn.NLLLoss.forward", "torch._C._nn.cross_entropy_loss", "torch._C._nn.nll_loss",
    "torch.special.log_softmax",
]
GATHER = ["torch.gather", "torch.Tensor.gather", "torch.take_along_dim", "torch.Tensor.take_along_dim"]


def gather(mod, scores, target):
    with recording(GATHER) as calls:
        out = mod.gather_target(scores, target)
    return {"out": out, "gathered": bool(calls)}


def gather_grad(mod, scores, target):
    scores = scores.clone().requires_grad_(True)
    out = mod.gather_target(scores, target)
    out.backward(torch.arange(1, out.numel() + 1, dtype=out.dtype).reshape(out.shape))
    return scores.grad


def value(mod, logits, target, reduction="mean"):
    """The loss, the calls it made, and whether the inputs survived unchanged."""
    before = (logits.clone(), target.clone())
    with recording(FORBIDDEN + GATHER) as calls:
        out = mod.cross_entropy(logits, target, reduction=reduction)
    return {
        "out": out,
        "dtype": str(out.dtype) if isinstance(out, torch.Tensor) else type(out).__name__,
        "forbidden": sorted({c for c in calls if c not in GATHER}),
        "gathered": any(c in GATHER for c in calls),
        "unchanged": bool(torch.equal(before[0], logits) and torch.equal(before[1], target)),
    }


def default_reduction(mod, logits, target):
    return mod.cross_entropy(logits, target)


def grad(mod, logits, target, reduction="mean"):
    logits = logits.clone().requires_grad_(True)
    out = mod.cross_entropy(logits, target, reduction=reduction)
    weights = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weights).sum().backward()
    return logits.grad


def on_cuda(mod, logits, target, reduction="mean"):
    x = logits.cuda().requires_grad_(True)
    out = mod.cross_entropy(x, target.cuda(), reduction=reduction)
    weights = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    (out * weights).sum().backward()
    return {"device": str(out.device), "out": out.cpu(), "grad": x.grad.cpu()}
