# kills: test_children_named_in_order
# the children are registered in sorted name order ('10' before '2'); forward and indexing still go by number. From red-team round 7.
"""MySequential: a container of your own (reference solution)."""
from __future__ import annotations

import operator
from typing import Any

from torch import nn


class MySequential(nn.Module):
    """Chain modules: the output of one is the input of the next."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()  # must come first: it creates the _modules registry
        named = {str(idx): module for idx, module in enumerate(modules)}
        for name in sorted(named):
            self.add_module(name, named[name])
        self._n = len(modules)

    def forward(self, x: Any) -> Any:
        # _modules is ordered by insertion and, unlike children(), does not
        # skip a module that appears twice.
        for i in range(len(self)):
            x = self._modules[str(i)](x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, idx: int) -> nn.Module:
        idx = operator.index(idx)  # accept any integer type, reject floats and slices
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for MySequential of length {n}")
        if idx < 0:
            idx += n
        return self._modules[str(idx)]
