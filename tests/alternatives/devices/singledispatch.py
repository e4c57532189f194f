"""devices with functools.singledispatch for to_device, torch.backends.mps checked both ways,
device counts compared with range(), and the fallback list written with `or`.

Uses only APIs every supported torch has (torch.accelerator and torch.mps.is_available
came later): the alternative that runs on the oldest torch too.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn


def pick_device() -> torch.device:
    mps = torch.backends.mps
    for name, usable in (("cuda", torch.cuda.is_available), ("mps", lambda: mps.is_built() and mps.is_available())):
        if usable():
            return torch.device(name)
    return torch.device("cpu")


def try_gpu(i: int = 0) -> torch.device:
    return torch.device("cuda", i) if i in range(torch.cuda.device_count()) else torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    return [torch.device("cuda", i) for i in range(torch.cuda.device_count())] or [torch.device("cpu")]


@functools.singledispatch
def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    return obj  # not a tensor, module or container: nothing to move


@to_device.register
def _(obj: torch.Tensor, device: torch.device | str, non_blocking: bool = False) -> torch.Tensor:
    return obj.to(device=device, non_blocking=non_blocking)


@to_device.register
def _(obj: nn.Module, device: torch.device | str, non_blocking: bool = False) -> nn.Module:
    obj.to(device)
    return obj


@to_device.register
def _(obj: dict, device: torch.device | str, non_blocking: bool = False) -> dict:
    return type(obj)({key: to_device(value, device, non_blocking) for key, value in obj.items()})


@to_device.register
def _(obj: list, device: torch.device | str, non_blocking: bool = False) -> list:
    return type(obj)([to_device(value, device, non_blocking) for value in obj])


@to_device.register
def _(obj: tuple, device: torch.device | str, non_blocking: bool = False) -> tuple:
    moved = [to_device(value, device, non_blocking) for value in obj]
    return type(obj)(*moved) if hasattr(type(obj), "_fields") else type(obj)(moved)
