"""What the kata's tests pretend, shared by the learner tests and the hidden checks so that both
judge alike: other hardware (``simulated_machine``), batches that come from another device
(``Elsewhere``), and the meta device standing in for a GPU (``READS_VALUES``, ``DEVICE_FAULT``).

Each pretence must hold for correct code written any way, or a correct solution loses points
for how it was written: a simulated machine answers every query a solution might make, however
it reached the query function; a stand-in batch is followed through the ops applied to it.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import re
import types
from typing import Any, Callable, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

# -- the meta device as a GPU --------------------------------------------------------

# Mixing devices fails on meta as on a GPU: a device fault, judged. Reading values (``.item()``,
# torch.distributions' argument checks) or a generator of the tensor's own device
# (``torch.Generator(device=x.device)``: meta is no accelerator) fails only there, and is not
# the learner's fault: such a call is judged where a GPU is.
DEVICE_FAULT = re.compile(r"incompatible tensor type|different device|devices must match|"
                          r"not on the expected device|same device", re.IGNORECASE)
READS_VALUES = re.compile(r"cannot be called on meta tensors|Cannot copy out of meta tensor|"
                          r"_local_scalar_dense|data-dependent|META device type not an accelerator",
                          re.IGNORECASE)


# -- following a function, however it is reached -----------------------------------------

_TRAMPOLINE = "lambda *args, **kwargs: {name}(*args, **kwargs)"
_serial = itertools.count()


def _plain_function(func: Any) -> types.FunctionType | None:
    """The Python function behind ``func`` whose code can be swapped: ``func`` itself, or the one
    a ``functools.lru_cache`` wraps; None for a builtin or a function with a closure."""
    inner = func.__wrapped__ if isinstance(func, functools._lru_cache_wrapper) else func
    if isinstance(inner, types.FunctionType) and inner.__closure__ is None:
        return inner
    return None


@contextlib.contextmanager
def redirected(func: Any, replacement: Callable[..., Any]) -> Iterator[Callable[..., Any] | None]:
    """Every call of ``func`` calls ``replacement`` instead, however the caller reached ``func``:
    by name, or through a reference taken before (at import, a ``functools.partial``, a closure,
    a class attribute, a default argument, a table of any depth), since the function object's
    own code is swapped. Yields a copy of the original to call through, or None when ``func``
    cannot be redirected (a builtin, a function with a closure): then only names can be swapped.
    """
    inner = _plain_function(func)
    if inner is None:
        yield None
        return
    original = types.FunctionType(inner.__code__, inner.__globals__, inner.__name__,
                                  inner.__defaults__, inner.__closure__)
    original.__kwdefaults__ = inner.__kwdefaults__
    functools.update_wrapper(original, inner)
    name = f"__kata_redirect_{next(_serial)}__"
    saved = (inner.__code__, inner.__defaults__, inner.__kwdefaults__)
    clear = getattr(func, "cache_clear", None)
    inner.__globals__[name] = replacement
    inner.__code__ = eval(compile(_TRAMPOLINE.format(name=name), "<kata redirect>", "eval"), {}).__code__
    inner.__defaults__ = inner.__kwdefaults__ = None  # the replacement has its own
    if clear is not None:
        clear()  # an answer cached before would skip the replacement
    try:
        yield original
    finally:
        inner.__code__, inner.__defaults__, inner.__kwdefaults__ = saved
        inner.__globals__.pop(name, None)
        if clear is not None:
            clear()


# -- simulated hardware --------------------------------------------------------------

def _fakes(cuda: int, mps: bool, mps_built: bool) -> list[tuple[Any, str, Any]]:
    """Every hardware query a solution might use, answering consistently for this machine."""
    built = bool(mps_built or mps)

    def current_accelerator(check_available: bool = False) -> torch.device | None:
        if cuda > 0:
            return torch.device("cuda")
        if mps or (built and not check_available):
            return torch.device("mps")
        return None

    fakes: list[tuple[Any, str, Any]] = [
        (torch.cuda, "is_available", lambda: cuda > 0),
        (torch.cuda, "device_count", lambda: cuda),
        (torch.backends.mps, "is_available", lambda: mps),
        (torch.backends.mps, "is_built", lambda: built),
    ]
    if hasattr(getattr(torch, "mps", None), "is_available"):
        fakes.append((torch.mps, "is_available", lambda: mps))
    acc = getattr(torch, "accelerator", None)
    if acc is not None:
        fakes += [(acc, "current_accelerator", current_accelerator),
                  (acc, "is_available", lambda: cuda > 0 or mps),
                  (acc, "device_count", lambda: cuda if cuda > 0 else int(mps))]
    return fakes


def _swapped(value: Any, table: dict[int, Any], depth: int = 3) -> Any:
    """``value`` with the query functions in ``table`` (by id) replaced by their fakes, looking into
    tuples, lists and dict values a few levels deep; the same object when there is none."""
    if id(value) in table:
        return table[id(value)]
    if depth == 0 or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, (tuple, list)):
        items = [_swapped(v, table, depth - 1) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        if isinstance(value, list):
            return type(value)(items) if type(value) is list else value
        if hasattr(value, "_fields"):
            return type(value)(*items)
        return tuple(items) if type(value) is tuple else value
    if type(value) is dict:
        new = {k: _swapped(v, table, depth - 1) for k, v in value.items()}
        return value if all(new[k] is v for k, v in value.items()) else new
    return value


@contextlib.contextmanager
def simulated_machine(mod: Any, cuda: int = 0, mps: bool = False, mps_built: bool = False) -> Iterator[None]:
    """Pretend the machine has ``cuda`` GPUs and MPS available (or only built), for torch and for
    every reference to its query functions that module ``mod`` holds."""
    saved: list[tuple[Any, str, Any]] = []
    table: dict[int, Any] = {}
    with contextlib.ExitStack() as stack:
        try:
            for owner, name, fake in _fakes(cuda, mps, mps_built):
                original = getattr(owner, name)
                # A Python query function answers for the simulation however it is reached
                # (a closure, a partial, a class attribute, a deep table); a builtin one only
                # through the names swapped here.
                stack.enter_context(redirected(original, fake))
                saved.append((owner, name, original))
                setattr(owner, name, fake)
                table[id(original)] = fake
            _swap_references(mod, table, saved)
            yield
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)


def _swap_references(mod: Any, table: dict[int, Any], saved: list[tuple[Any, str, Any]]) -> None:
    """Point ``mod``'s references to the originals in ``table`` at their fakes, noting each
    change in ``saved``: ``from torch.cuda import is_available``, a table such as
    ``(("cuda", torch.cuda.is_available), ...)``, a default argument."""
    for gname, value in list(vars(mod).items()):
        new = _swapped(value, table)
        if new is not value:
            saved.append((mod, gname, value))
            setattr(mod, gname, new)
        defaults = getattr(value, "__defaults__", None) if callable(value) else None
        if isinstance(defaults, tuple):
            new = _swapped(defaults, table)
            if new is not defaults:
                saved.append((value, "__defaults__", defaults))
                value.__defaults__ = new


# -- moves, however they are reached --------------------------------------------------

def non_blocking_of(args: tuple, kwargs: dict) -> bool:
    """The ``non_blocking`` flag of a ``Tensor.to(*args, **kwargs)`` call (self not included)."""
    if "non_blocking" in kwargs:
        return bool(kwargs["non_blocking"])
    # every overload of Tensor.to has non_blocking as its first bool
    return next((bool(a) for a in args if isinstance(a, bool)), False)


class _TensorToCalls(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, tuple, dict]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to and args:
            self.calls.append((args[0], tuple(args[1:]), dict(kwargs)))
        return func(*args, **kwargs)


@contextlib.contextmanager
def tensor_to_calls() -> Iterator[list[tuple[torch.Tensor, tuple, dict]]]:
    """Record ``(tensor, args, kwargs)`` of every ``Tensor.to`` call, however it was reached: the
    method by name, a reference taken at import (``_move = torch.Tensor.to``), ``nn.Module.to``.
    A torch function mode sees the call itself, where a patched name sees only that name."""
    with _TensorToCalls() as mode:
        yield mode.calls


# -- batches from another device -----------------------------------------------------

def device_named(args: tuple, kwargs: dict) -> str | None:
    """The device a ``.to(...)`` call names, as a string, or None (a dtype-only move)."""
    cand = kwargs.get("device", args[0] if args else None)
    if isinstance(cand, torch.Tensor):
        return str(cand.device)
    if isinstance(cand, (str, torch.device, int)) and not isinstance(cand, bool):
        try:
            return str(torch.device(cand))
        except (RuntimeError, TypeError, ValueError):
            return None
    return None


class Elsewhere:
    """Batches that come from another device: meta stand-ins whose real CPU data is handed over
    only by a move to the CPU. With ``device='cpu'`` a batch that is not moved fails for real,
    and code that skips a move it thinks useless (``if X.device != device``) is judged by what
    reaches the model, not by the calls it made.

    A tensor derived from a stand-in (``X.detach()``, ``X.contiguous()``, a view) stands in for the
    same op on the real data, and moving it counts as moving the batch it came from.
    """

    def __init__(self) -> None:
        # id -> (stand-in, real data, the batch tensor it derives from); the stand-in is kept
        # alive, so its id is not reused.
        self._entries: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def stand_in(self, t: torch.Tensor) -> torch.Tensor:
        out = torch.empty(t.shape, dtype=t.dtype, device="meta")
        self._entries[id(out)] = (out, t, out)
        return out

    def real(self, t: Any) -> torch.Tensor | None:
        entry = self._entries.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else None

    def origin(self, t: Any) -> Any:
        """The stand-in batch tensor that ``t`` derives from (``t`` itself when none)."""
        entry = self._entries.get(id(t))
        return entry[2] if entry is not None and entry[0] is t else t

    @contextlib.contextmanager
    def recording_moves(self) -> Iterator[list[tuple[Any, str | None]]]:
        """Record (batch tensor, target device) for every ``Tensor.to`` / ``.cpu`` / ``.cuda``,
        ``torch.as_tensor(X, device=...)``, ``torch.asarray(X, device=...)`` and ``dst.copy_(X)`` into a tensor
        made elsewhere (``torch.empty_like(X, device=d).copy_(X)``), calling through; forgets the stand-ins
        afterwards."""
        moves: list[tuple[Any, str | None]] = []
        to, cpu, cuda, as_tensor = torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda, torch.as_tensor
        asarray = torch.asarray

        def to_cpu(target: str | None) -> bool:
            return target is not None and torch.device(target).type == "cpu"

        def rec_to(t, *args, **kwargs):
            target = device_named(args, kwargs)
            moves.append((self.origin(t), target))
            real = self.real(t)
            return to(real if real is not None and to_cpu(target) else t, *args, **kwargs)

        def rec_cpu(t, *args, **kwargs):
            moves.append((self.origin(t), "cpu"))
            real = self.real(t)
            return cpu(real if real is not None else t, *args, **kwargs)

        def rec_cuda(t, device=None, *args, **kwargs):
            moves.append((self.origin(t), "cuda" if device is None else
                          f"cuda:{device}" if isinstance(device, int) else device_named((device,), {})))
            return cuda(t, device, *args, **kwargs)

        def rec_as_tensor(data, *args, **kwargs):
            # For a tensor, torch.as_tensor(X, device=d) copies "as if data.to(device)": a move.
            if isinstance(data, torch.Tensor) and (len(args) > 1 or "device" in kwargs):
                device = kwargs.get("device", args[1] if len(args) > 1 else None)
                target = device_named((device,), {}) if device is not None else None
                moves.append((self.origin(data), target))
                real = self.real(data)
                if real is not None and to_cpu(target):
                    return as_tensor(real, *args, **kwargs)
            return as_tensor(data, *args, **kwargs)

        def rec_asarray(obj, *args, **kwargs):
            # torch.asarray(X, device=d) (device is keyword-only) copies X there: a move.
            if isinstance(obj, torch.Tensor) and kwargs.get("device") is not None:
                target = device_named((kwargs["device"],), {})
                moves.append((self.origin(obj), target))
                real = self.real(obj)
                if real is not None and to_cpu(target):
                    return asarray(real, *args, **kwargs)
            return asarray(obj, *args, **kwargs)

        torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda = rec_to, rec_cpu, rec_cuda  # type: ignore[method-assign]
        torch.as_tensor, torch.asarray = rec_as_tensor, rec_asarray  # type: ignore[assignment]
        try:
            with _FollowStandIns(self, moves):
                yield moves
        finally:
            torch.Tensor.to, torch.Tensor.cpu, torch.Tensor.cuda = to, cpu, cuda  # type: ignore[method-assign]
            torch.as_tensor, torch.asarray = as_tensor, asarray  # type: ignore[assignment]
            self._entries.clear()


class _FollowStandIns(TorchFunctionMode):
    """Carries the stand-ins through the torch functions applied to them on meta: the result of
    ``X.detach()`` on a stand-in stands in for ``real.detach()``. ``dst.copy_(X)`` into a tensor off
    meta is a move of X to dst's device: it copies the real data."""

    def __init__(self, elsewhere: Elsewhere, moves: list[tuple[Any, str | None]]) -> None:
        super().__init__()
        self.elsewhere = elsewhere
        self.moves = moves

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        e = self.elsewhere
        if getattr(func, "__name__", None) == "copy_" and len(args) >= 2 and isinstance(args[0], torch.Tensor) \
                and args[0].device.type != "meta" and e.real(args[1]) is not None:
            self.moves.append((e.origin(args[1]), str(args[0].device)))
            return func(args[0], e.real(args[1]), *args[2:], **kwargs)
        out = func(*args, **kwargs)
        if not e._entries or not isinstance(out, torch.Tensor) or out.device.type != "meta" \
                or e.real(out) is not None:
            return out
        found = [t for t in pytree.tree_leaves((args, kwargs)) if e.real(t) is not None]
        if not found:
            return out
        swap = lambda t: e.real(t) if e.real(t) is not None else t  # noqa: E731
        try:
            real = func(*pytree.tree_map(swap, args), **pytree.tree_map(swap, kwargs))
        except Exception:  # noqa: BLE001 - then it stays a plain meta tensor
            return out
        if isinstance(real, torch.Tensor) and real.device == e.real(found[0]).device and real.shape == out.shape:
            e._entries[id(out)] = (out, real, e.origin(found[0]))
        return out
