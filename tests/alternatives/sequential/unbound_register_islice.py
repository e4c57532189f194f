"""nn.Module.register_module called unbound; operator.index + islice for indexing; while loop forward."""
from __future__ import annotations

import itertools
import operator
from typing import Any

from torch import nn


class MySequential(nn.Module):
    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        i = 0
        while i < len(modules):
            nn.Module.register_module(self, str(i), modules[i])
            i += 1

    def forward(self, x: Any) -> Any:
        it = iter(self._modules.values())
        while True:
            try:
                layer = next(it)
            except StopIteration:
                return x
            x = layer(x)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, idx: int) -> nn.Module:
        idx = operator.index(idx)
        n = len(self)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"index {idx} is out of range for MySequential of length {n}")
        return next(itertools.islice(self._modules.values(), idx, None))
