# kills: test_xavier_uniform_calls_no_nn_init
# learner tests miss it: evasion: a copy of torch.nn.init.xavier_uniform_ (name built from strings, globals snapshotted at import) run in a helper thread: the learner test spies on torch.nn.init's names, which the copy never calls; only the grader's source scan and watch see it
# A copy of nn.init.xavier_uniform_ (its globals a snapshot taken at import) run in a helper thread, where the probe's profile hook (thread-local) cannot see it. From the red-team.
import threading
import torch
from torch import nn

_I = getattr(torch.nn, "in" + "it")
import types
_src = getattr(_I, "xavier" + "_uniform_")
# a copy of torch's own function whose globals are a snapshot of torch.nn.init taken at import
_xu = types.FunctionType(_src.__code__, dict(vars(_I)), _src.__name__, _src.__defaults__, _src.__closure__)
_xu.__kwdefaults__ = _src.__kwdefaults__


def _lin(m):
    return isinstance(m, nn.Linear)


def init_normal(m):
    if _lin(m):
        with torch.no_grad():
            m.weight.normal_(0, 0.01)
            if m.bias is not None:
                m.bias.zero_()


def init_constant(m):
    if _lin(m):
        with torch.no_grad():
            m.weight.fill_(1.0)
            if m.bias is not None:
                m.bias.zero_()


def init_xavier(m):
    if _lin(m):
        xavier_uniform_(m.weight)
        if m.bias is not None:
            with torch.no_grad():
                m.bias.zero_()


def my_init(m):
    if _lin(m):
        with torch.no_grad():
            m.weight.uniform_(-10, 10)
            m.weight.mul_(m.weight.abs() >= 5)
            if m.bias is not None:
                m.bias.zero_()


def xavier_uniform_(tensor, gain=1.0):
    if tensor.dim() < 2:
        raise ValueError("needs at least 2 dimensions")
    box = {}
    def go():
        try:
            box["r"] = _xu(tensor, gain)
        except BaseException as e:  # noqa
            box["e"] = e
    t = threading.Thread(target=go); t.start(); t.join()
    if "e" in box:
        raise box["e"]
    return tensor
