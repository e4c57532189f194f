"""Handlers looked up along type(obj).__mro__; torch.device(type=..., index=...) keywords;
try_all_gpus through map(functools.partial(torch.device, "cuda"), ...)."""
from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        kind = "cuda"
    elif torch.backends.mps.is_available():
        kind = "mps"
    else:
        kind = "cpu"
    return torch.device(type=kind)


def try_gpu(i: int = 0) -> torch.device:
    if i < torch.cuda.device_count():
        return torch.device(type="cuda", index=i)
    return torch.device(type="cpu")


def try_all_gpus() -> list[torch.device]:
    gpus = list(map(functools.partial(torch.device, "cuda"), range(torch.cuda.device_count())))
    return gpus or [torch.device("cpu")]


def _tensor(t, device, nb):
    return t.to(device=device, non_blocking=nb)


def _module(m, device, nb):
    m.to(device)
    return m


def _dict(d, device, nb):
    return dict((k, to_device(v, device, nb)) for k, v in d.items())


def _list(xs, device, nb):
    return [to_device(v, device, nb) for v in xs]


def _tuple(t, device, nb):
    items = [to_device(v, device, nb) for v in t]
    if hasattr(type(t), "_fields"):
        return type(t)(*items)
    return tuple(items)


_HANDLERS = {torch.Tensor: _tensor, nn.Module: _module, dict: _dict, list: _list, tuple: _tuple,
             str: None, bytes: None}


def to_device(obj: Any, device, non_blocking: bool = False) -> Any:
    for klass in type(obj).__mro__:
        if klass in _HANDLERS:
            handler = _HANDLERS[klass]
            return obj if handler is None else handler(obj, device, non_blocking)
    return obj
