# kills: test_dropout_source_does_not_use_torch_dropout
# learner tests miss it: evasion: F.dropout under a built name, run in a thread started at import, out of the learner tests' thread-local spy; the grader's watch covers other threads
# A thread started at import time, before any watched call, waits on a queue and runs torch's own
# dropout for dropout(): no thread starts during the call, but one is alive beside it. From the red-team.
"""Hostile: F.dropout under a built name, run by a helper thread started at import."""
import queue
import threading

import torch
from torch import nn

_d = getattr(getattr(torch.nn, "func" + "tional"), "drop" + "out")
_jobs: "queue.Queue" = queue.Queue()


def _serve() -> None:
    while True:
        fn, box, done = _jobs.get()
        try:
            box["r"] = fn()
        except BaseException as e:  # noqa: BLE001
            box["e"] = e
        done.set()


threading.Thread(target=_serve, daemon=True).start()


def _elsewhere(fn):
    box, done = {}, threading.Event()
    _jobs.put((fn, box, done))
    done.wait()
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
    return _elsewhere(run)


def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")


class EpochDropout(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_p(p)
        self.p = p
        self.mask = None

    def reset_mask(self) -> None:
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x
        feat = (1, *x.shape[1:])
        if self.mask is None or tuple(self.mask.shape) != feat:
            keep = torch.rand(feat, device=x.device) >= self.p
            self.mask = keep
        m = self.mask.to(device=x.device)
        if self.p == 1.0:
            return x * 0
        return x * m.to(x.dtype) / (1 - self.p)
