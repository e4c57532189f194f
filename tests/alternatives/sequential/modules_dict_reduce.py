"""MySequential as in d2l: write into self._modules directly; list indexing does the rest."""
from __future__ import annotations

import functools
from typing import Any

from torch import nn


class MySequential(nn.Module):
    def __init__(self, *args: nn.Module) -> None:
        super().__init__()
        for idx, module in enumerate(args):
            # _modules is the OrderedDict nn.Module keeps its children in.
            self._modules[str(idx)] = module

    def forward(self, X: Any) -> Any:
        return functools.reduce(lambda acc, block: block(acc), self._modules.values(), X)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, idx: int) -> nn.Module:
        # A list gives negative indices and IndexError for free.
        return list(self._modules.values())[idx]
