"""Correct, written differently: the loss is a torch.autograd.Function of its own (forward gathers with
gather_target, backward returns softmax - onehot), so the autograd graph is one custom node. From a fairness round."""
import torch

def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)

class _CEFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target):
        m = logits.max(1, keepdim=True).values
        z = logits - m
        e = z.exp()
        s = e.sum(1, keepdim=True)
        loss = s.log().squeeze(1) - gather_target(z, target)
        ctx.save_for_backward(e / s, target)
        return loss

    @staticmethod
    def backward(ctx, grad):
        prob, target = ctx.saved_tensors
        g = prob.clone()
        g.scatter_add_(1, target.view(-1, 1), -torch.ones_like(target, dtype=g.dtype).view(-1, 1))
        return g * grad.unsqueeze(1), None

def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"bad reduction {reduction!r}")
    loss = _CEFunction.apply(logits, target)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
