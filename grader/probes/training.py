"""Probes for training (run inside the worker, next to the submission).

Every probe builds its own model, loader, loss and optimizer from plain data
sent by the check (a model seed, sizes, explicit tensors), so the submission and
the reference see identical objects. Models are float64 so that trajectories
can be compared tightly. The probe model records, at every forward, whether it
was in training mode and whether grad mode was on; batches come from a
``DataLoader`` whose collate function keeps every batch tensor, so moves of
exactly those tensors can be recorded.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset
from torch.utils.data._utils.collate import default_collate

from grader.learner.simulation import Elsewhere, device_named
from grader.probing import raised_by_stub


# --------------------------------------------------------------------------- building blocks

class _Spy(nn.Module):
    """Identity layer logging (training flag, grad mode) at every forward."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self._log = log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "train" if self.training else "eval"
        self._log.append(f"fwd:{mode}:{'grad' if torch.is_grad_enabled() else 'nograd'}")
        return x


class _Resettable(nn.Module):
    """Identity layer with a reset_mask() that logs its calls (an EpochDropout stand-in)."""

    def __init__(self, log: list[str], name: str) -> None:
        super().__init__()
        self._log, self._name = log, name

    def reset_mask(self) -> None:
        self._log.append(f"reset:{self._name}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _Inherited(_Resettable):
    """A masked layer whose reset_mask() is inherited, not written in its own class."""


class _Net(nn.Sequential):
    """The probe model: an nn.Sequential that records how it is moved and what each forward sees."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__(*layers)
        self._moves: list[Any] = []
        self._forwards: list[dict[str, str]] = []  # per forward: the input's and the weights' device
        # Calls through model(X) (Module.__call__), which runs hooks; model.forward(X) skips them.
        self._called: list[int] = []
        self.register_forward_pre_hook(_Net._count_call)

    def _count_call(self, args: Any) -> None:
        self._called.append(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self._forwards.append({"input": str(x.device) if isinstance(x, torch.Tensor) else type(x).__name__,
                               "params": str(next(self.parameters()).device)})
        return super().forward(x)

    def to(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        self._moves.append(device_named(args, kwargs))
        return super().to(*args, **kwargs)

    def cpu(self):  # type: ignore[override]
        self._moves.append("cpu")
        return super().cpu()

    def cuda(self, device: Any = None):  # type: ignore[override]
        self._moves.append("cuda" if device is None else str(torch.device("cuda", device)
                                                             if isinstance(device, int) else device))
        return super().cuda(device)


class _MaskedNet(_Net):
    """A probe model that has a reset_mask() of its own (the root of model.modules())."""

    def __init__(self, log: list[str], *layers: nn.Module) -> None:
        super().__init__(*layers)
        self._log = log

    def reset_mask(self) -> None:
        self._log.append("reset:root")


def _model(spec: dict, log: list[str], root_mask: bool = False) -> _Net:
    """``spec``: in, out, hidden (0: a single linear layer), seed, weight (optional tensor).

    With hidden units the model holds two masked layers: ``a``, and ``b`` nested one level
    deeper, whose ``reset_mask`` is inherited; with ``root_mask`` the model has one itself.
    """
    torch.manual_seed(int(spec["seed"]))
    d_in, d_out, hidden = int(spec["in"]), int(spec["out"]), int(spec.get("hidden", 0))
    if hidden:
        layers = (nn.Linear(d_in, hidden), _Spy(log), _Resettable(log, "a"),
                  nn.Sequential(nn.Tanh(), _Inherited(log, "b")), nn.Linear(hidden, d_out))
        net = _MaskedNet(log, *layers) if root_mask else _Net(*layers)
    else:
        net = _Net(nn.Linear(d_in, d_out), _Spy(log))
    net = net.double()
    if spec.get("weight") is not None:
        with torch.no_grad():
            net[0].weight.copy_(spec["weight"])
            net[0].bias.zero_()
    return net


def _loss(kind: str):
    return {"ce": nn.CrossEntropyLoss(), "ce_fn": nn.functional.cross_entropy,
            "mse": nn.MSELoss()}[kind]


def _optimizer(kind: str, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if kind == "sgd":
        return torch.optim.SGD(params, lr=0.1)
    if kind == "sgd0":
        return torch.optim.SGD(params, lr=0.0)
    if kind == "momentum":
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)
    if kind == "adam":
        return torch.optim.Adam(params, lr=0.01)
    raise ValueError(kind)


# Batches from another device: see grader.learner.simulation.Elsewhere.
_ELSEWHERE = Elsewhere()


class _Stream(IterableDataset):
    """The batches of a loader, handed out by a DataLoader over an IterableDataset: no ``len()``
    (it raises TypeError), so ``if loader:`` fails where ``is not None`` works."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __iter__(self):
        return iter(self.loader)


def _loader(batches: "_Batches", generator: bool = False, stream: bool = False) -> Any:
    if stream:
        return DataLoader(_Stream(batches.loader), batch_size=None)  # batch_size=None: the pairs as they come
    return (pair for pair in batches.loader) if generator else batches.loader


class _Batches:
    """A DataLoader over (X, y) whose batch tensors are all kept, to spot moves of them."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int,
                 log: list[str] | None = None, name: str = "", elsewhere: bool = False,
                 drop_last: bool = False) -> None:
        self.made: list[torch.Tensor] = []

        def collate(items):
            X_b, y_b = default_collate(items)
            if elsewhere:
                X_b, y_b = _ELSEWHERE.stand_in(X_b), _ELSEWHERE.stand_in(y_b)
            self.made += [X_b, y_b]
            if log is not None:  # when each batch is drawn, whatever mode the model is in
                log.append(f"load:{name}")
            return X_b, y_b

        self.loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=False,
                                 collate_fn=collate, drop_last=drop_last)


@contextlib.contextmanager
def _noting(raised: dict, on: bool, mod: Any) -> Iterator[None]:
    """With ``on``, an exception becomes a fact in ``raised`` (a batch left on the meta device fails).

    The submission's own NotImplementedError (an unwritten stub) still propagates.
    """
    try:
        yield
    except Exception as err:  # noqa: BLE001 - judged by the check, together with the moves
        if not on or raised_by_stub(err, getattr(mod, "__file__", None)):
            raise
        raised["raised"] = f"{type(err).__name__}: {str(err)[:200]}"


def _same_device(a: str, b: str) -> bool:
    """'cuda' and 'cuda:0' name the same device (the current one is device 0 here)."""
    da, db = torch.device(a), torch.device(b)
    return da.type == db.type and (da.index or 0) == (db.index or 0)


def _unmoved(batches: _Batches, moves: list, device: str) -> list[str]:
    """Names of the batch tensors never moved to ``device``."""
    out = []
    for i, t in enumerate(batches.made):
        if not any(s is t and d is not None and _same_device(d, device) for s, d in moves):
            out.append(f"{'X' if i % 2 == 0 else 'y'} of batch {i // 2}")
    return out


def _value(v: Any) -> dict:
    """A returned value described as plain data: its type and its number (when it has one)."""
    info: dict[str, Any] = {"type": type(v).__name__,
                            "is_float": isinstance(v, float) and not isinstance(v, bool),
                            "is_int": isinstance(v, int) and not isinstance(v, bool), "value": None}
    try:
        info["value"] = float(v)
    except Exception:  # noqa: BLE001 - not a number: the check reports the type
        pass
    return info


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _devices(model: nn.Module) -> list[str]:
    return [str(p.device) for p in model.parameters()]


def _steps(opt: torch.optim.Optimizer) -> list[int]:
    count = [0]
    opt.register_step_post_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return count


def _set_mode(model: nn.Module, mode: str) -> None:
    """``train`` / ``eval``, or ``train-child-eval`` / ``eval-child-train``: the model in one mode
    and its spy layer (model[1]) left in the other, as a partial ``.eval()`` or ``.train()`` leaves it."""
    top, _, child = mode.partition("-child-")
    model.train(top == "train")
    if child:
        model[1].train(child == "train")  # type: ignore[index]


def _as_given(device: str | None, as_object: bool) -> Any:
    """The device as the submission gets it: the string, or ``torch.device(string)``."""
    return torch.device(device) if as_object and device is not None else device


def _device_args(device: str | None, as_object: bool, positional: bool) -> tuple[tuple, dict]:
    """How ``device`` reaches the submission: not at all, by position, or by keyword."""
    if device is None:
        return (), {}
    given = _as_given(device, as_object)
    return ((given,), {}) if positional else ((), {"device": given})


def _place(model: nn.Module, where: str | None) -> None:
    if where is not None:
        nn.Module.to(model, where)  # not through _Net.to: the probe's own move is not recorded
        model._moves.clear()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- probes

def train_epoch(mod, spec: dict, X, y, batch_size: int, loss: str = "ce", opt: str = "sgd",
                mode: str = "eval", device: str | None = None, model_on: str | None = None,
                elsewhere: bool = False, as_object: bool = False, drop_last: bool = False,
                generator: bool = False, positional: bool = False) -> dict:
    """Run ``train_epoch`` once on a fresh model left in ``mode``; report everything observable.

    ``elsewhere``: the batches start on the meta device (see ``Elsewhere``).
    ``as_object``: ``device`` is handed over as a ``torch.device``, not as a string.
    ``generator``: the loader is a generator of the same batches (no ``len``, no ``.dataset``).
    ``positional``: ``device`` is passed by position (the sheet's signature allows it).
    """
    log: list[str] = []
    model = _model(spec, log)
    _place(model, model_on)
    _set_mode(model, mode)
    optimizer = _optimizer(opt, model)
    steps = _steps(optimizer)
    batches = _Batches(X, y, batch_size, elsewhere=elsewhere, drop_last=drop_last)
    raised: dict = {"raised": None}
    result = None
    # On meta (the model left on the CPU, or the model on meta and the batches on the CPU)
    # training cannot run: only where the model ends, or what reached it, counts.
    with _ELSEWHERE.recording_moves() as moves, _noting(raised, elsewhere or "meta" in (device, model_on), mod):
        loader = _loader(batches, generator)
        args, kwargs = _device_args(device, as_object, positional)
        result = mod.train_epoch(model, loader, _loss(loss), optimizer, *args, **kwargs)
    return {"result": _value(result), "params": _params(model), "log": log, "steps": steps[0],
            "batches": len(batches.made) // 2, "raised": raised["raised"], "devices": _devices(model),
            "forwards": list(model._forwards), "called": len(model._called),
            "unmoved": _unmoved(batches, moves, device) if device is not None else []}


def evaluate(mod, spec: dict, X, y, batch_size: int, loss: str = "ce", mode: str = "train",
             device: str | None = None, model_on: str | None = None, elsewhere: bool = False,
             as_object: bool = False, drop_last: bool = False, generator: bool = False,
             positional: bool = False) -> dict:
    """Run ``evaluate`` once on a fresh model left in ``mode`` with stale gradients
    (``generator``: the loader is a generator of the same batches; ``positional``: ``device`` by position)."""
    log: list[str] = []
    model = _model(spec, log)
    _place(model, model_on)
    _set_mode(model, mode)
    for p in model.parameters():  # stale gradients, as a training epoch leaves them
        p.grad = torch.full_like(p, 0.5)
    before = _params(model)
    batches = _Batches(X, y, batch_size, elsewhere=elsewhere, drop_last=drop_last)
    raised: dict = {"raised": None}
    result = None
    with _ELSEWHERE.recording_moves() as moves, _noting(raised, elsewhere or model_on == "meta", mod):
        loader = _loader(batches, generator)
        args, kwargs = _device_args(device, as_object, positional)
        result = mod.evaluate(model, loader, _loss(loss), *args, **kwargs)
    after = _params(model)
    items = list(result) if isinstance(result, (tuple, list)) and len(result) < 10 else []
    # A namedtuple is a tuple: it unpacks as one.
    return {"type": "tuple" if isinstance(result, tuple) else type(result).__name__,
            "items": [_value(v) for v in items], "log": log,
            "raised": raised["raised"], "batches": len(batches.made) // 2,
            # (no values on meta: a model placed there is judged by what reached it)
            "params_same": model_on == "meta" or all(torch.equal(a, b) for a, b in zip(before, after)),
            "params_change": 0.0 if model_on == "meta" else max(float((a - b).abs().max())
                                                                for a, b in zip(before, after)),
            "forwards": list(model._forwards), "called": len(model._called),
            "unmoved": _unmoved(batches, moves, device) if device is not None else []}


def _history(h: Any) -> Any:
    """``fit``'s return value as plain data: per entry its keys and described values."""
    if not isinstance(h, list):
        return {"type": type(h).__name__}
    out = []
    for entry in h[:100]:
        if isinstance(entry, dict):
            out.append({"keys": [k if isinstance(k, str) else repr(k) for k in entry],
                        "values": {str(k): _value(v) for k, v in entry.items()}})
        else:
            out.append({"type": type(entry).__name__})
    return out


def fit(mod, spec: dict, X, y, batch_size: int, epochs: int, Xv=None, yv=None,
        val_batch_size: int = 0, loss: str = "ce", opt: str = "sgd", device: str | None = None,
        elsewhere: bool = False, as_object: bool = False, root_mask: bool = False,
        model_on: str | None = None, positional: bool = False, all_positional: bool = False,
        stream: bool = False) -> dict:
    """Run ``fit`` on a fresh model; report history, final parameters, event log and moves.

    ``positional`` passes ``epochs`` as the fifth positional argument, ``all_positional`` also
    ``val_loader`` and ``device`` (the sheet's signature allows both). ``stream``: the loaders are
    DataLoaders over an IterableDataset (they have no ``len()``)."""
    log: list[str] = []
    model = _model(spec, log, root_mask=root_mask)
    _place(model, model_on)
    optimizer = _optimizer(opt, model)
    steps = _steps(optimizer)
    batches = _Batches(X, y, batch_size, log, "train", elsewhere=elsewhere)
    val = _Batches(Xv, yv, val_batch_size, log, "val", elsewhere=elsewhere) if Xv is not None else None
    kwargs: dict[str, Any] = {}
    if val is not None:
        kwargs["val_loader"] = _loader(val, stream=stream)
    if device is not None:
        kwargs["device"] = _as_given(device, as_object)
    raised: dict = {"raised": None}
    history = None
    # On meta training cannot run (no values): only where the model ends up counts then.
    with _ELSEWHERE.recording_moves() as moves, _noting(raised, elsewhere or "meta" in (device, model_on), mod):
        # epochs and val_loader by keyword, as the sheet's example calls them (or epochs by position)
        train = _loader(batches, stream=stream)
        if all_positional:
            history = mod.fit(model, train, _loss(loss), optimizer, epochs, kwargs.get("val_loader"),
                              kwargs.get("device"))
        elif positional:
            history = mod.fit(model, train, _loss(loss), optimizer, epochs, **kwargs)
        else:
            history = mod.fit(model, train, _loss(loss), optimizer, epochs=epochs, **kwargs)
    unmoved: list[str] = []
    if device is not None:
        unmoved = [f"train {n}" for n in _unmoved(batches, moves, device)]
        if val is not None:
            unmoved += [f"val {n}" for n in _unmoved(val, moves, device)]
    return {"history": _history(history), "params": _params(model), "devices": _devices(model),
            "raised": raised["raised"], "batches": len(batches.made) // 2,
            "log": log, "model_moves": list(model._moves), "unmoved": unmoved, "steps": steps[0],
            "forwards": list(model._forwards), "called": len(model._called)}
