"""Correct, written differently: the availability queries are staticmethods of a small class made
at import, called at call time. From fairness round 4 (2026-12-01)."""
import torch
from torch import nn


class _Hw:
    cuda_ok = staticmethod(torch.cuda.is_available)
    cuda_n = staticmethod(torch.cuda.device_count)
    mps_ok = staticmethod(torch.backends.mps.is_available)


def pick_device():
    if _Hw.cuda_ok():
        return torch.device("cuda")
    if _Hw.mps_ok():
        return torch.device("mps")
    return torch.device("cpu")


def try_gpu(i=0):
    return torch.device(f"cuda:{i}") if _Hw.cuda_n() >= i + 1 else torch.device("cpu")


def try_all_gpus():
    return [torch.device(f"cuda:{i}") for i in range(_Hw.cuda_n())] or [torch.device("cpu")]


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

