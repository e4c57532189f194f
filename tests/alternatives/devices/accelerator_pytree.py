"""devices via torch.accelerator, names imported from torch.cuda, and torch.utils._pytree.

Needs torch>=2.6 (torch.accelerator).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.cuda import device_count
from torch.utils import _pytree as pytree


def pick_device() -> torch.device:
    acc = torch.accelerator.current_accelerator(check_available=True)
    return torch.device(acc.type) if acc is not None else torch.device("cpu")


def try_gpu(i: int = 0) -> torch.device:
    return torch.device("cuda", i) if i < device_count() else torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    return [torch.device("cuda", i) for i in range(device_count())] or [torch.device("cpu")]


def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    def leaf(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.to(device=device, non_blocking=non_blocking)
        if isinstance(x, nn.Module):
            x.to(device)
        return x

    # pytree knows dicts, lists, tuples and namedtuples and rebuilds each with its own type.
    return pytree.tree_map(leaf, obj)
