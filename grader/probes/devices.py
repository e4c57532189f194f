"""Probes for the ``devices`` exercise (run inside the worker, next to the submission).

Hardware is simulated, consistently, by ``grader.learner.simulation``, as in
the learner tests: every query a correct solution might use is replaced
(``torch.cuda``, ``torch.backends.mps``, ``torch.mps``, ``torch.accelerator``),
also where the submission took a reference at import; all of them are
restored afterwards. The "other device" for ``to_device`` is ``meta``.

``to_device`` inputs are sent as a small spec language (plain data) and built
here; outputs come back as a description (kinds, dtypes, shapes, devices,
identities) plus the tensors' values where they have some.
"""
from __future__ import annotations

import os
import weakref
from collections import deque, namedtuple
from typing import Any

import torch
from torch import nn

from grader.learner.simulation import non_blocking_of, simulated_machine, tensor_to_calls

Batch = namedtuple("Batch", ["X", "y"])
Triple = namedtuple("Triple", ["first", "second", "third"])
NAMEDTUPLES = {"Batch": Batch, "Triple": Triple}


def _dev(d: Any) -> Any:
    """A device as plain data: its string, or what else it was."""
    if isinstance(d, torch.device):
        return str(d)
    return {"not a torch.device": f"{type(d).__name__} {d!r}"[:120]}


def pick(mod: Any, cuda: int, mps: bool, mps_built: bool) -> Any:
    with simulated_machine(mod, cuda, mps, mps_built):
        return _dev(mod.pick_device())


def gpu(mod: Any, cuda: int, i: int | None) -> Any:
    with simulated_machine(mod, cuda):
        return _dev(mod.try_gpu() if i is None else mod.try_gpu(i))


def all_gpus(mod: Any, cuda: int) -> dict:
    with simulated_machine(mod, cuda):
        out = mod.try_all_gpus()
    items = [_dev(d) for d in out] if isinstance(out, (list, tuple)) else _dev(out)
    return {"type": type(out).__name__, "items": items}


def real(mod: Any) -> dict:
    """No simulation: what the functions report on this machine."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"count": n, "pick": _dev(mod.pick_device()), "all": [_dev(d) for d in mod.try_all_gpus()],
            "gpu0": _dev(mod.try_gpu(0)), "gpu_last": _dev(mod.try_gpu(max(n - 1, 0))),
            "gpu_n": _dev(mod.try_gpu(n))}


# -- to_device: building inputs and describing outputs -------------------------------------

class Thing:
    """A plain object that to_device must hand back untouched."""

    def __repr__(self) -> str:
        return "Thing()"


class Movable:
    """Not a tensor nor a module, though it has a ``.to``: still "anything else"."""

    def to(self, *args: Any, **kwargs: Any) -> "Movable":
        return Movable()

    def __repr__(self) -> str:
        return "Movable()"


# Other objects that must come back as the same object: some look like containers or tensors.
OTHERS = {"thing": Thing, "movable": Movable, "bytes": lambda: bytes([97, 98]), "range": lambda: range(3),
          "set": lambda: {1, 2}, "frozenset": lambda: frozenset({3}),
          "ndarray": lambda: __import__("numpy").arange(3.0), "deque": lambda: deque(["a", 1])}


def _module(n_in: int, n_out: int) -> nn.Module:
    """Linear + BatchNorm with distinct, fixed values (so a move that loses them shows)."""
    m = nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out))
    with torch.no_grad():
        for k, t in enumerate(m.state_dict().values()):
            if t.is_floating_point():
                t.copy_(torch.linspace(-1.0, 1.0, t.numel()).reshape(t.shape) + 0.25 * k + 0.5)
    return m


# Modules built by ["stats", n]: their state_dict as it was before the move, to compare in the probe.
_BEFORE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _stats(n: int) -> nn.Module:
    """A BatchNorm1d without parameters (affine=False), only buffers, filled in place with values drawn
    afresh for every call: no freed memory holds them, so a move that allocates new buffers and does not
    copy (``to_empty``) cannot give them back by chance. Compared with a copy taken here, not with the reference."""
    m = nn.BatchNorm1d(n, affine=False)
    g = torch.Generator().manual_seed(int.from_bytes(os.urandom(6), "little"))
    m.running_mean.uniform_(-3.0, 3.0, generator=g)
    m.running_var.uniform_(0.5, 2.0, generator=g)
    m.num_batches_tracked.fill_(int(torch.randint(10**6, 10**9, (1,), generator=g)))
    _BEFORE[m] = {k: v.clone() for k, v in m.state_dict().items()}
    return m


def _build(spec: Any, tensors: list, pin: bool = False, src: str | None = None) -> Any:
    """Spec language: a tensor; ["list", [specs]]; ["tuple", [specs]]; ["dict", [[key, spec], ...]];
    ["nt", "Batch" | "Triple", [specs]]; ["module", in, out]; ["stats", n] (a module with buffers only);
    ["param", tensor]; ["nonleaf", tensor] (2 * a leaf that requires grad: it has a grad_fn);
    ["complex", real, imag]; ["thing"] or ["thing", name in OTHERS]; ["value", plain value]."""
    if isinstance(spec, torch.Tensor):
        t = spec.pin_memory() if pin else spec.to(src) if src else spec
        tensors.append(t)
        return t
    kind = spec[0]
    if kind == "param":
        t = nn.Parameter(_build(spec[1], [], pin, src))
        tensors.append(t)
        return t
    if kind == "nonleaf":
        leaf = _build(spec[1], [], pin, src).float().requires_grad_(True)
        t = leaf * 2
        tensors.append(t)
        return t
    if kind == "complex":
        t = torch.complex(spec[1].float(), spec[2].float())
        t = t.to(src) if src else t
        tensors.append(t)
        return t
    if kind == "stats":
        m = _stats(int(spec[1]))
        return m.to(src) if src else m
    if kind == "list":
        return [_build(s, tensors, pin, src) for s in spec[1]]
    if kind == "tuple":
        return tuple(_build(s, tensors, pin, src) for s in spec[1])
    if kind == "dict":
        return {k: _build(s, tensors, pin, src) for k, s in spec[1]}
    if kind == "nt":
        return NAMEDTUPLES[spec[1]](*(_build(s, tensors, pin, src) for s in spec[2]))
    if kind == "module":
        m = _module(int(spec[1]), int(spec[2]))
        return m.to(src) if src else m
    if kind == "thing":
        return OTHERS[spec[1] if len(spec) > 1 else "thing"]()
    return spec[1]


def _describe(out: Any, inp: Any, values: list) -> Any:
    """Plain-data description of to_device's output ``out`` for the input ``inp``."""
    if isinstance(out, torch.Tensor):
        if out.device.type != "meta":
            values.append(out.detach().cpu())
        # requires_grad too: Tensor.to keeps it (a Parameter moved through .data would lose it)
        grad = ", requires_grad" if out.requires_grad else ""
        grad += ", with a grad_fn" if out.grad_fn is not None else ""
        return f"tensor {str(out.dtype).replace('torch.', '')} {tuple(out.shape)} on {out.device}{grad}"
    if isinstance(inp, nn.Module):
        where = sorted({str(t.device) for t in inp.state_dict().values()})
        before = _BEFORE.get(inp)
        if before is None:
            values.extend(t.detach().cpu() for t in inp.state_dict().values() if t.device.type != "meta")
            return {"module": {"same object": out is inp, "input module now on": where}}
        now = inp.state_dict()
        if any(t.device.type == "meta" for t in now.values()):
            kept: Any = "not readable on meta"
        else:
            kept = list(now) == list(before) and all(
                now[k].dtype == b.dtype and now[k].shape == b.shape and torch.equal(now[k].detach().cpu(), b)
                for k, b in before.items())
        return {"module": {"same object": out is inp, "input module now on": where, "buffers keep their values": kept}}
    if isinstance(inp, deque):  # "anything else": the same object; a deque again, with the same items, at least
        return {"deque": {"type": type(out).__name__,
                          "items": repr(list(out))[:100] if isinstance(out, (deque, list, tuple)) else repr(out)[:100]}}
    if isinstance(inp, dict):
        if not isinstance(out, dict):
            return {"expected a dict, got": f"{type(out).__name__}: {out!r}"[:150]}
        keys = list(out)  # in order: a dict keeps its keys, and their order
        return {"dict": {"type": type(out).__name__, "keys": [repr(k) for k in keys],
                         "items": [_describe(out[k], inp.get(k), values) for k in keys]}}
    if isinstance(inp, tuple) and hasattr(inp, "_fields"):
        same = type(out) is type(inp)
        fields = list(getattr(out, "_fields", ())) if isinstance(out, tuple) else None
        items = [_describe(o, i, values) for o, i in zip(out, inp)] if isinstance(out, (list, tuple)) else None
        return {"namedtuple": {"class": type(out).__name__, "same class": same, "fields": fields,
                               "items": items}}
    if isinstance(inp, (list, tuple)):
        if not isinstance(out, (list, tuple)):
            return {f"expected a {type(inp).__name__}, got": f"{type(out).__name__}: {out!r}"[:150]}
        return {type(out).__name__: [_describe(o, i, values) for o, i in zip(out, inp)]
                + ([f"{len(out)} items instead of {len(inp)}"] if len(out) != len(inp) else [])}
    return {"unchanged": out is inp, "repr": repr(out)[:100], "type": type(out).__name__}


def move(mod: Any, spec: Any, device: str, as_device: bool = False, non_blocking: bool | None = None,
         pin: bool = False, src: str | None = None) -> dict:
    """Build ``spec``, call to_device on it, and describe the result."""
    tensors: list = []
    obj = _build(spec, tensors, pin=pin, src=src)
    target: Any = torch.device(device) if as_device else device
    if non_blocking is None:
        out = mod.to_device(obj, target)
    else:
        out = mod.to_device(obj, target, non_blocking=non_blocking)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    values: list = []
    return {"structure": _describe(out, obj, values), "values": values}


def left_alone(mod: Any, spec: Any, device: str) -> dict:
    """Call to_device and say what it changed of its input: containers whose items are no longer the
    same objects, and tensors now on another device (moved in place, e.g. through ``.data``)."""
    tensors: list = []
    obj = _build(spec, tensors)
    held: list = []  # (path, container, its items before the call)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            held.append((path, node, list(node.items())))
            for k, v in node.items():
                walk(v, f"{path}[{k!r}]")
        elif isinstance(node, (list, tuple)):
            if isinstance(node, list):
                held.append((path, node, list(node)))
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(obj, "batch")
    where = [str(t.device) for t in tensors]
    mod.to_device(obj, device)
    changed = []
    for path, container, items in held:
        now = list(container.items()) if isinstance(container, dict) else list(container)
        if len(now) != len(items) or any(
                (a[0] != b[0] or a[1] is not b[1]) if isinstance(container, dict) else a is not b
                for a, b in zip(now, items)):
            changed.append(path)
    moved = [[k, str(t.device)] for k, (t, w) in enumerate(zip(tensors, where)) if str(t.device) != w]
    return {"containers changed": changed, "tensors moved in place": moved}


def non_blocking_calls(mod: Any, spec: Any, device: str, non_blocking: bool | None,
                       positional: bool = False) -> dict:
    """Call to_device while recording the non_blocking flag of every Tensor.to call
    (``positional``: non_blocking as the third argument)."""
    tensors: list = []
    obj = _build(spec, tensors)
    with tensor_to_calls() as seen:
        if non_blocking is None:
            mod.to_device(obj, device)
        elif positional:
            mod.to_device(obj, device, non_blocking)
        else:
            mod.to_device(obj, device, non_blocking=non_blocking)
    calls = [[next((k for k, t in enumerate(tensors) if t is tensor), -1), non_blocking_of(args, kwargs)]
             for tensor, args, kwargs in seen]
    return {"tensors": len(tensors), "calls": calls}
