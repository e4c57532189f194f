# kills: test_no_builtin_loss
# learner tests miss it: evasion: torch's log_softmax (fetched at import from torch._C._VariableFunctions) run inside a tensor subclass's __torch_function__ disguised as neg; only the grader's kernel-level watch sees it
# The log-softmax taken inside a tensor subclass's __torch_function__ (where torch function handling is off, so the torch-function watch is blind), with the builtin fetched at import under a built-up name (before any watch could wrap it); the target picked with gather. Caught at the kernel level.
import torch

_LOG_SOFTMAX = getattr(torch._C._VariableFunctions, "log" + "_soft" + "max")


class _Shifted(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") == "neg":
            return _LOG_SOFTMAX(args[0].as_subclass(torch.Tensor), 1).as_subclass(torch.Tensor)
        return super().__torch_function__(func, types, args, kwargs or {})


def gather_target(scores, target):
    return scores.gather(1, target.view(-1, 1)).squeeze(1)


def cross_entropy(logits, target, reduction="mean"):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"bad reduction {reduction!r}")
    log_p = torch.neg(logits.as_subclass(_Shifted))  # a log-softmax in disguise
    loss = -gather_target(log_p, target)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss
