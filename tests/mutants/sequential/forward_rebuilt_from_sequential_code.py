# kills: test_not_a_builtin_container
# learner tests miss it: evasion: forward is nn.Sequential.forward's code re-made as a new function object, neither the same object nor a call through the class; the grader's call watch knows its code
# forward is nn.Sequential.forward rebuilt as a new function object from its code. From red-team round 6.
"""MySequential: a container of your own (reference solution)."""
from __future__ import annotations

import operator
from typing import Any

import types

from torch import nn


class MySequential(nn.Module):
    """Chain modules: the output of one is the input of the next."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()  # must come first: it creates the _modules registry
        for idx, module in enumerate(modules):
            # add_module registers the very object (no copy) as child "idx", so
            # parameters(), state_dict(), .to(), .apply() and repr() all find it.
            self.add_module(str(idx), module)

    # nn.Sequential's own forward, re-made as a fresh function object from its code.
    forward = types.FunctionType(nn.Sequential.forward.__code__, nn.Sequential.forward.__globals__, "forward")

    def __iter__(self):
        return iter(self._modules.values())

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
