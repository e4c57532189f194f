# kills: test_to_device_leaves_the_callers_batch_alone
# The caller's dict is filled with the moved values and returned: its batch is gone from where it was. From audit round 13.
"""Devices: choosing a GPU and moving data (reference solution)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def pick_device() -> torch.device:
    """``cuda`` if available, else ``mps`` if available, else ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():  # is_built() alone is not enough: it may lack a GPU
        return torch.device("mps")
    return torch.device("cpu")


def try_gpu(i: int = 0) -> torch.device:
    """``cuda:i`` if there are at least ``i + 1`` GPUs, else ``cpu``."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    """Every ``cuda:i``; ``[cpu]`` when there is none."""
    devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device("cpu")]


def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move every tensor inside ``obj`` to ``device``, keeping the containers' types."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, nn.Module):
        return obj.to(device, non_blocking=non_blocking)  # in place; returns the module itself
    if isinstance(obj, dict):
        for k in obj:  # BROKEN: fills the caller's dict in place
            obj[k] = to_device(obj[k], device, non_blocking)
        return obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple: rebuild by position
        return type(obj)(*(to_device(v, device, non_blocking) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, non_blocking) for v in obj)
    return obj  # strings, numbers, None, ...: nothing to move
