"""Correct, written differently: ``Tensor.to`` fetched once at import (``_move = torch.Tensor.to``)
and called with the tensor first, non_blocking by keyword. The non_blocking watch must see the call
itself (a torch function mode), not only the name ``Tensor.to``. From fairness round 4 (2026-12-01)."""
import torch
from torch import nn

_move = torch.Tensor.to


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def try_gpu(i=0):
    return torch.device(f"cuda:{i}") if torch.cuda.device_count() >= i + 1 else torch.device("cpu")


def try_all_gpus():
    return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())] or [torch.device("cpu")]


def to_device(obj, device, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        return _move(obj, device, non_blocking=non_blocking)
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
