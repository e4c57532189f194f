"""devices with torch.mps, Mapping/Sequence ABCs, namedtuple._make and torch.Tensor.to spelled out.

Needs torch>=2.5 (torch.mps.is_available).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def pick_device() -> torch.device:
    name = "cuda" if torch.cuda.is_available() else ("mps" if torch.mps.is_available() else "cpu")
    return torch.device(name)


def try_gpu(i: int = 0) -> torch.device:
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return torch.device(f"cuda:{i}") if 0 <= i < n else torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        return [torch.device("cpu")]
    return list(map(try_gpu, range(n)))


def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    if torch.is_tensor(obj):
        return torch.Tensor.to(obj, torch.device(device), None, non_blocking)
    if hasattr(obj, "to") and isinstance(obj, torch.nn.Module):
        obj.to(device=device)
        return obj
    if isinstance(obj, Mapping):
        return dict((k, to_device(v, device, non_blocking)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_make"):
        return obj._make(to_device(v, device, non_blocking) for v in obj)
    if isinstance(obj, tuple):
        return tuple(to_device(v, device, non_blocking) for v in obj)
    if isinstance(obj, list):
        return [to_device(v, device, non_blocking) for v in obj]
    return obj
