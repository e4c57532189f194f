# kills: test_not_a_builtin_container
# learner tests miss it: evasion: a ModuleList made without its __init__, hidden in a dict attribute (not a child) and walked through aliases of its methods taken at import; the grader's call watch knows their code
# a ModuleList made without its __init__, kept in a dict attribute, its __iter__/__len__ called through aliases. From red-team round 6.
"""MySequential: a container of your own (reference solution)."""
from __future__ import annotations

import operator
from typing import Any

from torch import nn

_ML_ITER, _ML_LEN = nn.ModuleList.__iter__, nn.ModuleList.__len__


class MySequential(nn.Module):
    """Chain modules: the output of one is the input of the next."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()  # must come first: it creates the _modules registry
        for idx, module in enumerate(modules):
            # add_module registers the very object (no copy) as child "idx", so
            # parameters(), state_dict(), .to(), .apply() and repr() all find it.
            self.add_module(str(idx), module)
        # A ModuleList kept inside (not registered: it lives in a dict), built without its __init__.
        store = nn.ModuleList.__new__(nn.ModuleList)
        nn.Module.__init__(store)
        for idx, module in enumerate(modules):
            store.add_module(str(idx), module)
        self.__dict__["_store"] = {"list": store}

    def forward(self, x: Any) -> Any:
        # _modules is ordered by insertion and, unlike children(), does not
        # skip a module that appears twice.
        for module in _ML_ITER(self.__dict__["_store"]["list"]):
            x = module(x)
        return x

    def __len__(self) -> int:
        return _ML_LEN(self.__dict__["_store"]["list"])

    def __getitem__(self, idx: int) -> nn.Module:
        idx = operator.index(idx)  # accept any integer type, reject floats and slices
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for MySequential of length {n}")
        if idx < 0:
            idx += n
        return self._modules[str(idx)]
