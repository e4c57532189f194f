# kills: test_dropout_source_does_not_use_torch_dropout, test_epoch_source_does_not_use_torch_dropout
# learner tests miss it: evasion: F.dropout under a built name, run in a helper thread, out of the learner tests' thread-local spy; the grader's watch covers other threads
# F.dropout fetched by a built name at import and run in a helper thread, where the probe's watchers (thread-local) cannot see it. From the red-team.
"""Hostile: torch's own dropout, bound at import under a built name, run in a helper thread
(the probe's recorder wraps module attributes; its TorchFunctionMode is thread-local)."""
import threading
import torch
from torch import nn

_F = getattr(torch.nn, "func" + "tional")
_d = getattr(_F, "drop" + "out")


def _in_thread(fn, *a, **k):
    box = {}
    def go():
        try:
            box["r"] = fn(*a, **k)
        except BaseException as e:  # noqa
            box["e"] = e
    t = threading.Thread(target=go)
    t.start(); t.join()
    if "e" in box:
        raise box["e"]
    return box["r"]


def dropout(x, p, training=True):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    grad = torch.is_grad_enabled()
    def run():
        with torch.set_grad_enabled(grad):
            return _d(x, p, True)
    return _in_thread(run)


class EpochDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p
        self.mask = None

    def reset_mask(self):
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x
        feat = (1, *x.shape[1:])
        if self.mask is None or tuple(self.mask.shape) != feat:
            ones = torch.ones(feat, dtype=x.dtype, device=x.device)
            self.mask = _in_thread(lambda: _d(ones, self.p, True))
        m = self.mask
        if m.device != x.device or m.dtype != x.dtype:
            self.mask = m = m.to(device=x.device, dtype=x.dtype)
        return x * m
