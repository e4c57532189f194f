"""Correct, written differently: pick_device walks a preference table of (name, availability function) pairs
built at import. The functions are called at call time (no answer is cached), so the grader's simulated
machines must reach them in the table too, as they do names imported with ``from ... import``. Namedtuples
are rebuilt with keyword fields. From a fairness round."""
import torch
from torch import nn

_PREFERENCE = (("cuda", torch.cuda.is_available), ("mps", torch.backends.mps.is_available))


def pick_device():
    for name, available in _PREFERENCE:
        if available():
            return torch.device(name)
    return torch.device("cpu")


def try_gpu(i=0):
    return torch.device("cuda", i) if i < torch.cuda.device_count() else torch.device("cpu")


def try_all_gpus():
    return [torch.device("cuda", i) for i in range(torch.cuda.device_count())] or [torch.device("cpu")]


def to_device(obj, device, non_blocking=False):
    if isinstance(obj, (torch.Tensor, nn.Module)):
        out = obj.to(device, non_blocking=non_blocking)
        return out
    if isinstance(obj, dict):
        return type(obj)({k: to_device(v, device, non_blocking) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):
        return type(obj)(**{f: to_device(getattr(obj, f), device, non_blocking) for f in obj._fields})
    if isinstance(obj, list):
        return [to_device(v, device, non_blocking) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_device(v, device, non_blocking) for v in obj)
    return obj
