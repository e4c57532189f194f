"""Correct, written differently: manual max shift, take_along_dim-free gather via torch.gather, float sums in another order."""
import torch


def gather_target(scores, target):
    return torch.gather(scores, dim=1, index=target.unsqueeze(-1)).view(-1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction == "mean" or reduction == "sum" or reduction == "none":
        m = logits.max(dim=1, keepdim=True).values.detach()
        lse = m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1))
        losses = lse - gather_target(logits, target)
        if reduction == "none":
            return losses
        total = losses.flip(0).sum()
        return total / losses.numel() if reduction == "mean" else total
    raise ValueError("reduction must be 'mean', 'sum' or 'none', not " + repr(reduction))
