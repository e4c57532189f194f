"""Correct, written differently: the availability queries are wrapped once, at import, in
``functools.partial`` objects and called at call time (no answer cached). The simulated machine
must answer through them: it swaps the query functions' own code, not only the names.
From fairness round 4 (2026-12-01)."""
import functools

import torch
from torch import nn

_cuda_ok = functools.partial(torch.cuda.is_available)
_cuda_n = functools.partial(torch.cuda.device_count)
_mps_ok = functools.partial(torch.backends.mps.is_available)


def pick_device():
    if _cuda_ok():
        return torch.device("cuda")
    if _mps_ok():
        return torch.device("mps")
    return torch.device("cpu")


def try_gpu(i=0):
    return torch.device(f"cuda:{i}") if _cuda_n() >= i + 1 else torch.device("cpu")


def try_all_gpus():
    return [torch.device(f"cuda:{i}") for i in range(_cuda_n())] or [torch.device("cpu")]


def to_device(obj, device, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, nn.Module):
        obj.to(device)
        return obj
    if isinstance(obj, dict):
        return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_device(v, device, non_blocking) for v in obj]
    if isinstance(obj, tuple):
        vals = [to_device(v, device, non_blocking) for v in obj]
        return type(obj)(*vals) if hasattr(obj, "_fields") else tuple(vals)
    return obj

