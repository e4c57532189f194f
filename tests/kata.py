"""Assertions for the learner tests that explain themselves.

Each helper raises :class:`KataFailure` with a message that names the call, the
inputs, what was expected, what came back and the point of the contract that
broke. ``conftest.py`` prints that message alone, without a traceback.
:func:`run` does the same for a call that crashes: ``conftest.py`` reports the
call and the contract point with the exception and the lines of the learner's
file it came from.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import torch
from torch.testing import _comparison

from grader.learner.closeness import beyond_the_dtype
# The meta device stands in for a GPU in these tests: see grader.learner.simulation.
from grader.learner.simulation import DEVICE_FAULT, READS_VALUES

__all__ = ["KataCrash", "KataFailure", "describe", "expect", "expect_close", "expect_raises", "call_str", "run",
           "run_on_meta", "run_pure", "untouched", "guard_forward", "DEVICE_FAULT", "READS_VALUES"]

_MAX_VALUES = 16


class KataFailure(AssertionError):
    """A learner-facing failure: its message is the whole report."""


class KataCrash(Exception):
    """The learner's code raised during :func:`run`; the exception is ``__cause__``.

    ``conftest.py`` decides how to show it (an unwritten stub is "not implemented
    yet", anything else a crash with the learner's lines), so this only carries
    the context.
    """

    def __init__(self, call: str, point: str, inputs: dict[str, Any] | None = None) -> None:
        super().__init__(call)
        self.call, self.point, self.inputs = call, point, inputs

    def context(self) -> str:
        return _report(self.call, self.point, self.inputs, [])

    def __str__(self) -> str:  # without conftest.py (e.g. --fulltrace) the context still shows
        cause = self.__cause__
        return self.context() + (f"\n  raised:   {type(cause).__name__}: {cause}" if cause else "")


def _fmt(values: Any) -> str:
    """Five significant digits: enough to see a difference, short enough to read."""
    if isinstance(values, list):
        return "[" + ", ".join(_fmt(v) for v in values) + "]"
    return f"{values:.5g}" if isinstance(values, float) else repr(values)


def describe(value: Any) -> str:
    """One line for a value: tensors by dtype, shape and device, plus values when small."""
    if isinstance(value, torch.Tensor):
        head = f"tensor {str(value.dtype).replace('torch.', '')} {tuple(value.shape)} on {value.device}"
        if value.device.type == "meta":
            return head
        if value.numel() <= _MAX_VALUES:
            return f"{head} = {_fmt(value.detach().cpu().tolist())}"
        return f"{head}, first values {_fmt(value.detach().cpu().flatten()[:6].tolist())} ..."
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__} module"
    if isinstance(value, (list, tuple, dict)) and not isinstance(value, str):
        # Name the container: a list where a tuple is due must show, and tensors inside read as above.
        text = f"a {type(value).__name__} of {len(value)}: {_inside(value)}"
    else:
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _inside(value: Any, depth: int = 0) -> str:
    """A container's items, tensors as in describe() and nested containers alike (three levels deep)."""
    if isinstance(value, torch.Tensor):
        return describe(value)
    if not isinstance(value, (list, tuple, dict)) or depth > 2:
        return repr(value) if not isinstance(value, torch.nn.Module) else describe(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_inside(v, depth + 1)}" for k, v in list(value.items())[:8]) + \
            (", ..." if len(value) > 8 else "") + "}"
    items = [_inside(v, depth + 1) for v in list(value)[:8]] + (["..."] if len(value) > 8 else [])
    if hasattr(value, "_fields"):  # a namedtuple: its class and fields
        return f"{type(value).__name__}(" + ", ".join(f"{f}={i}" for f, i in zip(value._fields, items)) + ")"
    if isinstance(value, tuple):
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return "[" + ", ".join(items) + "]"


def call_str(fn_name: str, *args: Any, **kwargs: Any) -> str:
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return f"{fn_name}({', '.join(parts)})"


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"<{str(value.dtype).replace('torch.', '')} {tuple(value.shape)}>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _report(call: str, point: str, inputs: dict[str, Any] | None, lines: list[str]) -> str:
    out = [call, f"  contract: {point}"]
    for i, (name, val) in enumerate((inputs or {}).items()):
        out.append(f"  {'input:   ' if i == 0 else '         '} {name} = {describe(val)}")
    out.extend("  " + line for line in lines)
    if any(line.startswith("got:      None") for line in lines):
        # The beginner's most common slip, and nothing above names it.
        out.append("  hint:     None is what a Python function gives back when it has no `return` "
                   "(or ends without reaching one): a missing `return`?")
    return "\n".join(out)


def expect(condition: bool, *, call: str, point: str, expected: str, got: str,
           inputs: dict[str, Any] | None = None) -> None:
    """Fail with a teaching message unless ``condition`` holds."""
    if not condition:
        raise KataFailure(_report(call, point, inputs, [f"expected: {expected}", f"got:      {got}"]))


def _assert_close(actual: Any, expected: Any, **kwargs: Any) -> None:
    """``torch.testing.assert_close``, without its first call's import of ``torch.distributed.tensor``
    (0.5-1.3 s of a learner's run), which it makes only to unwrap DTensors: none can exist before
    that module is imported, so until then the unwrap is skipped. Any other torch: the plain call."""
    if "torch.distributed.tensor" in sys.modules or not isinstance(getattr(_comparison, "_HAS_DTENSOR", None), bool):
        torch.testing.assert_close(actual, expected, **kwargs)
        return
    saved, _comparison._HAS_DTENSOR = _comparison._HAS_DTENSOR, False
    try:
        torch.testing.assert_close(actual, expected, **kwargs)
    finally:
        _comparison._HAS_DTENSOR = saved


def expect_close(actual: Any, expected: Any, *, call: str, point: str,
                 inputs: dict[str, Any] | None = None, rtol: float | None = None,
                 atol: float | None = None, check_dtype: bool = True,
                 check_device: bool = True) -> None:
    """``torch.testing.assert_close`` with the learner's context around its verdict."""
    if isinstance(expected, torch.Tensor) and not isinstance(actual, torch.Tensor):
        raise KataFailure(_report(call, point, inputs, [
            f"expected: {describe(expected)}", f"got:      {describe(actual)} (a {type(actual).__name__}, not a tensor)"]))
    try:
        _assert_close(actual, expected, rtol=rtol, atol=atol, check_dtype=check_dtype, check_device=check_device)
    except AssertionError as err:
        why = str(err).strip().splitlines()
        if check_dtype and (also := beyond_the_dtype(actual, expected, rtol=rtol, atol=atol)):
            why = why[:1] + [also]  # assert_close stops at the dtype: say whether the values are wrong too
        raise KataFailure(_report(call, point, inputs, [
            f"expected: {describe(expected)}", f"got:      {describe(actual)}",
            "why:      " + (why[0] if why else "values differ"),
            *("          " + w for w in why[1:4])])) from None


def run(fn: Callable[..., Any], *args: Any, call: str, point: str,
        inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; if it raises, the failure names ``call`` and ``point``."""
    try:
        return fn(*args, **kwargs)
    except KataFailure:
        raise
    except Exception as err:  # noqa: BLE001 - conftest.py tells a stub from a crash
        raise KataCrash(call, point, inputs) from err


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same dtype, shape and values (NaN where NaN was)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    a = a.detach().cpu()
    return torch.equal(a, b) or bool(((a == b) | (a.isnan() & b.isnan())).all())


@contextlib.contextmanager
def untouched(tensors: dict[str, Any], *, call: str) -> Iterator[None]:
    """Fail first if the code run inside changes any of ``tensors`` in place (values, device, or an
    in-place operation that changes no value): the checks that follow read those tensors to judge
    the result, and would blame something else (an in-place dropout looks "not scaled")."""
    kept = {name: (t, t._version, t.device, None if t.device.type == "meta" else t.detach().cpu().clone())
            for name, t in tensors.items() if isinstance(t, torch.Tensor)}
    yield
    for name, (t, version, device, before) in kept.items():
        if t.device != device:
            got = f"{name} moved in place, to {t.device}"
        elif before is not None and not _same(t, before):
            got = f"{name} changed in place, now {describe(t.detach())}"
        elif t._version != version:
            got = (f"an in-place operation ran on {name} ({name}._version went from {version} to {t._version}), "
                   "though its values are the same")
        else:
            continue
        shown = {f"{n} before the call": (b if b is not None else tt) for n, (tt, _, _, b) in kept.items()}
        raise KataFailure(_report(call, f"{name} itself is never modified: no in-place operation on it "
                                        f"({name}.mul_(...), {name} *= ..., {name}[...] = ...); the caller still owns it",
                                  shown, [f"expected: {name} unchanged", f"got:      {got}"]))


def run_pure(fn: Callable[..., Any], *args: Any, call: str, point: str,
             inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """:func:`run` for a function whose contract says it never modifies its arguments: a tensor
    argument changed in place is reported first (see :func:`untouched`). Arguments are named as in
    ``inputs`` (by identity), else by keyword or position."""
    named = {**{next((k for k, v in (inputs or {}).items() if v is a), f"argument {i + 1}"): a
                for i, a in enumerate(args)}, **kwargs}
    with untouched(named, call=call):
        return run(fn, *args, call=call, point=point, inputs=inputs, **kwargs)


def guard_forward(module: torch.nn.Module, call: str) -> torch.nn.Module:
    """Make every forward of ``module`` (whose contract says it never modifies its input) report a
    change of its input in place first, however the test calls it: ``m(x)`` directly too."""
    pending: list[contextlib.AbstractContextManager[None]] = []

    def before(_: torch.nn.Module, args: tuple[Any, ...]) -> None:
        pending[:] = [untouched({("x" if i == 0 else f"argument {i + 1}"): a for i, a in enumerate(args)},
                                call=call)]
        pending[0].__enter__()

    def after(_: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if pending:
            guard = pending.pop()
            guard.__exit__(None, None, None)

    module.register_forward_pre_hook(before)
    module.register_forward_hook(after)
    return module


def run_on_meta(fn: Callable[..., Any], *args: Any, call: str, point: str,
                inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """:func:`run` for a call on the meta device; None when it failed only because meta tensors
    hold no values (reading them works on a GPU, so it is not judged here). A device mismatch
    is judged: it fails on a GPU too."""
    try:
        return fn(*args, **kwargs)
    except KataFailure:
        raise
    except Exception as err:  # noqa: BLE001 - conftest.py tells a stub from a crash
        if READS_VALUES.search(str(err)) and not DEVICE_FAULT.search(str(err)):
            return None
        raise KataCrash(call, point, inputs) from err


def expect_raises(exc_type: type[BaseException], fn: Callable[..., Any], *args: Any,
                  call: str, point: str, inputs: dict[str, Any] | None = None,
                  match: str | None = None, **kwargs: Any) -> BaseException:
    """Call ``fn`` and require it to raise ``exc_type`` (optionally mentioning ``match``)."""
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError as err:  # the stub, or torch's; conftest.py tells which
        raise KataCrash(call, point, inputs) from err
    except exc_type as err:
        if match is not None and match not in str(err):
            raise KataFailure(_report(call, point, inputs, [
                f"expected: {exc_type.__name__} whose message mentions {match!r}",
                f"got:      {type(err).__name__}: {err}"])) from None
        return err
    except Exception as err:  # noqa: BLE001 - any other exception is the learner's bug to see
        raise KataFailure(_report(call, point, inputs, [
            f"expected: {exc_type.__name__}", f"got:      {type(err).__name__}: {err}"])) from None
    raise KataFailure(_report(call, point, inputs, [
        f"expected: {exc_type.__name__}", f"got:      no exception, it returned {describe(result)}"]))
