# kills:
# kills on cuda: test_cuda_matches_cpu
# The max shift is taken "safely" on the CPU: identical results there, but on a GPU `logits - m` mixes devices.
import torch


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")
    m = logits.detach().max(dim=1, keepdim=True).values.cpu()
    lse = m.squeeze(1).to(logits.device) + torch.log(torch.exp(logits - m).sum(dim=1))
    losses = lse - gather_target(logits, target)
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()
