"""weight_init with ``from torch.nn import init`` at module level for the four net.apply
functions (allowed there), while xavier_uniform_ draws into a LOCAL variable that happens
to be called ``init``.

Inside xavier_uniform_ that name is its own variable, not torch.nn.init (which it never
touches): the scan resolves names by scope.
"""
import math

import torch
from torch import nn
from torch.nn import init


def _zero_bias(m):
    if m.bias is not None:
        init.zeros_(m.bias)


def init_normal(m):
    if isinstance(m, nn.Linear):
        init.normal_(m.weight, 0.0, 0.01)
        _zero_bias(m)


def init_constant(m):
    if isinstance(m, nn.Linear):
        init.ones_(m.weight)
        _zero_bias(m)


def init_xavier(m):
    if isinstance(m, nn.Linear):
        xavier_uniform_(m.weight)
        _zero_bias(m)


def my_init(m):
    if isinstance(m, nn.Linear):
        init.uniform_(m.weight, -10, 10)
        with torch.no_grad():
            m.weight.masked_fill_(m.weight.abs() < 5, 0)
        _zero_bias(m)


def xavier_uniform_(tensor, gain=1.0):
    if tensor.dim() < 2:
        raise ValueError("xavier_uniform_ needs a tensor of at least 2 dimensions")
    r = math.prod(tensor.shape[2:])
    a = gain * math.sqrt(6.0 / (r * tensor.size(0) + r * tensor.size(1)))
    init = torch.empty_like(tensor).uniform_(-a, a)   # the initial values
    with torch.no_grad():
        tensor.copy_(init)
    return tensor
