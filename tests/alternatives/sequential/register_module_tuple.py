"""MySequential with register_module, a plain tuple of the same modules walked by forward,
and IndexError made from the KeyError of a missing name.

Written by an independent red-team from the exercise sheet alone (2026-11-30).
"""
from torch import nn

class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            self.register_module(str(i), m)
        self._order = tuple(modules)

    def forward(self, x):
        for m in self._order:
            x = m(x)
        return x

    def __len__(self):
        return len(self._order)

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        try:
            if idx < 0:
                raise KeyError(idx)
            return self._modules[str(idx)]
        except KeyError:
            raise IndexError(f"index {idx} out of range") from None
