# kills: test_not_a_builtin_container
# learner tests miss it: evasion: nn.Sequential._get_item_by_idx called through an alias taken at import, before the learner tests' spies patch the class; the grader's call watch knows its code
# __getitem__ calls nn.Sequential._get_item_by_idx through an alias taken at import. From red-team round 6.
"""MySequential: a container of your own (reference solution)."""
from __future__ import annotations

import operator
from typing import Any

from torch import nn

_pick = nn.Sequential._get_item_by_idx


class MySequential(nn.Module):
    """Chain modules: the output of one is the input of the next."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()  # must come first: it creates the _modules registry
        for idx, module in enumerate(modules):
            # add_module registers the very object (no copy) as child "idx", so
            # parameters(), state_dict(), .to(), .apply() and repr() all find it.
            self.add_module(str(idx), module)

    def forward(self, x: Any) -> Any:
        # _modules is ordered by insertion and, unlike children(), does not
        # skip a module that appears twice.
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, idx: int) -> nn.Module:
        idx = operator.index(idx)  # accept any integer type, reject floats and slices
        return _pick(self, self._modules.values(), idx)
