"""MySequential through setattr (nn.Module.__setattr__ registers modules) and a stored count."""
from __future__ import annotations

from typing import Any

from torch import nn


class MySequential(nn.Module):
    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.count = 0
        for module in modules:
            setattr(self, str(self.count), module)
            self.count += 1

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, idx: int) -> nn.Module:
        if idx < 0:
            idx += self.count
        if idx < 0 or idx >= self.count:
            raise IndexError("MySequential index out of range")
        return getattr(self, str(idx))

    def forward(self, x: Any) -> Any:
        i = 0
        while i < len(self):
            x = self[i](x)
            i += 1
        return x
