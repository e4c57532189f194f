"""devices with a match statement: the device normalised with torch.device(device) first,
namedtuples rebuilt with _replace, a module moved by a bare obj.to(device).

Written by an independent red-team from the exercise sheet alone (2026-11-30).
"""
from __future__ import annotations
from typing import Any
import torch
from torch import nn


def pick_device():
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    return torch.device("cuda" if cuda else "mps" if mps else "cpu")


def try_gpu(i=0):
    count = torch.cuda.device_count()
    return torch.device("cpu") if count < i + 1 else torch.device(f"cuda:{i}")


def try_all_gpus():
    n = torch.cuda.device_count()
    return [torch.device(f"cuda:{i}") for i in range(n)] if n else [torch.device("cpu")]


def to_device(obj, device, non_blocking=False):
    device = torch.device(device)
    match obj:
        case torch.Tensor():
            return obj.to(device, non_blocking=non_blocking)
        case nn.Module():
            obj.to(device)
            return obj
        case dict():
            return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
        case tuple() if hasattr(obj, "_fields"):
            return obj._replace(**{f: to_device(getattr(obj, f), device, non_blocking) for f in obj._fields})
        case list() | tuple():
            return type(obj)(to_device(v, device, non_blocking) for v in obj)
        case _:
            return obj
