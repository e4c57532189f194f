"""What hidden checks use to judge a submission's answers (grader side only).

Checks never touch student objects: ``sub.<probe>(...)`` returns data decoded
by ``grader.codec``. Every helper here raises :class:`CheckFailed` with a
message written for the learner: the call, what was expected, what came back
and the contract point.
"""
from __future__ import annotations

import ast
import re
from typing import Any, Callable, Iterable

import torch

from grader.codec import Opaque
from grader.learner import unwritten
from grader.learner.closeness import beyond_the_dtype

__all__ = ["CheckFailed", "Raised", "expect", "expect_close", "expect_equal", "expect_raises",
           "uses_any", "describe", "import_aliases", "import_time_walk", "is_main_guard"]


class CheckFailed(AssertionError):
    """A check's verdict: the message is the reason shown to the learner."""


class Raised(Exception):
    """The submission raised inside a probe; only its names and message cross over."""

    def __init__(self, type_name: str, mro: list[str], message: str, where: str | None,
                 stub: bool = False, function: str | None = None) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.mro, self.message, self.where = type_name, mro, message, where
        self.stub = stub  # the exercise's own `raise NotImplementedError` (grader.probing.raised_by_stub)
        self.function = function  # then the function it is in ("EpochDropout.reset_mask")

    def reason(self) -> str:
        if self.stub and "NotImplementedError" in self.mro:
            # Which function the check waits for, in the words of the learner tests' report.
            at = re.fullmatch(r"(\w+\.py):(\d+)", self.where or "")
            if self.function and at and re.fullmatch(r"[\w.<>]{1,100}", self.function):
                return unwritten.message(self.function, at[1], int(at[2]))
            return unwritten.UNWRITTEN
        missing = re.fullmatch(r"module '(\w+)' has no attribute '(\w+)'(?:\. Did you mean: '(\w+)'\?)?", self.message)
        if missing and self.type_name == "AttributeError":
            typo = f"; is your {missing[3]} meant to be it?" if missing[3] else ""
            return f"{missing[1]}.py does not define {missing[2]} (the exercise asks for it by that name{typo})"
        at = f" at {self.where}" if self.where else ""
        msg = self.message if len(self.message) <= 300 else self.message[:297] + "..."
        return f"raised {self.type_name}{at}: {msg}"


def _fmt(values: Any) -> str:
    """Six significant digits: enough to see the difference, short enough to read."""
    if isinstance(values, list):
        return "[" + ", ".join(_fmt(v) for v in values) + "]"
    return f"{values:.6g}" if isinstance(values, float) else repr(values)


def describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        head = f"tensor {str(value.dtype).replace('torch.', '')} {tuple(value.shape)}"
        if value.device.type == "meta":
            return head + " (no data)"
        if value.numel() <= 12:
            return f"{head} = {_fmt(value.tolist())}"
        return f"{head}, first values {_fmt(value.flatten()[:6].tolist())} ..."
    if isinstance(value, Opaque):
        return value.text if value.type_name == "Tensor" else f"a {value.type_name} object"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _fail(call: str, point: str, lines: list[str]) -> CheckFailed:
    return CheckFailed("\n".join([f"{call}: {point}", *("  " + ln for ln in lines)]))


def expect(condition: bool, *, call: str, point: str, expected: str = "", got: str = "") -> None:
    if condition is not True:
        lines = []
        if expected:
            lines.append(f"expected: {expected}")
        if got:
            lines.append(f"got:      {got}")
        raise _fail(call, point, lines)


def _is_plain_tensor(value: Any) -> bool:
    return type(value) is torch.Tensor


def expect_close(got: Any, want: Any, *, call: str, point: str, rtol: float | None = None,
                 atol: float | None = None, check_dtype: bool = True, equal_nan: bool = False) -> None:
    """``torch.testing.assert_close`` on decoded data; non-tensors where tensors are due fail."""
    if _is_plain_tensor(want) and not _is_plain_tensor(got):
        raise _fail(call, point, [f"expected: {describe(want)}",
                                  f"got:      {describe(got)} (not a tensor)"])
    if _valueless(got, want):
        raise _fail(call, point, [f"expected: {describe(want)}",
                                  f"got:      {describe(got)}: a tensor without values, where values are due"])
    try:
        torch.testing.assert_close(got, want, rtol=rtol, atol=atol, check_dtype=check_dtype,
                                   check_device=False, equal_nan=equal_nan)
    except (AssertionError, TypeError, ValueError, RuntimeError) as err:
        why = [ln for ln in str(err).strip().splitlines() if ln.strip()][:4]
        if check_dtype and (also := beyond_the_dtype(got, want, rtol=rtol, atol=atol, equal_nan=equal_nan)):
            why = why[:1] + [also]  # assert_close stops at the dtype: say whether the values are wrong too
        raise _fail(call, point, [f"expected: {describe(want)}", f"got:      {describe(got)}",
                                  *(f"why:      {w}" if i == 0 else f"          {w}" for i, w in enumerate(why))]) from None


def expect_equal(got: Any, want: Any, *, call: str, point: str) -> None:
    """Exact equality of decoded plain data (types included: 1 is not 1.0 or True)."""
    if not _same(got, want):
        raise _fail(call, point, [f"expected: {describe(want)}", f"got:      {describe(got)}"])


def _valueless(got: Any, want: Any) -> bool:
    """A meta tensor (no values) where the expected tensor has values. assert_close and a shape test
    pass meta tensors whatever they hold, so a submission could answer every value check with one."""
    return (isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor)
            and got.device.type == "meta" and want.device.type != "meta")


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        if (a.device.type == "meta") != (b.device.type == "meta"):
            return False  # values on one side only
        return a.dtype == b.dtype and a.shape == b.shape and (a.device.type == "meta" or torch.equal(a, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, Opaque):
        return False
    return bool(a == b)


def expect_raises(exc_name: str, fn: Callable[..., Any], *args: Any, call: str, point: str,
                  match: str | None = None, **kwargs: Any) -> Raised:
    """Require the submission to raise ``exc_name`` (a subclass counts)."""
    try:
        result = fn(*args, **kwargs)
    except Raised as err:
        if "NotImplementedError" in err.mro and exc_name != "NotImplementedError":
            raise
        if exc_name not in err.mro:
            raise _fail(call, point, [f"expected: {exc_name}", f"got:      {err.type_name}: {err.message[:200]}"]) from None
        if match is not None and match not in err.message:
            raise _fail(call, point, [f"expected: {exc_name} mentioning {match!r}",
                                      f"got:      {err.type_name}: {err.message[:200]}"]) from None
        return err
    raise _fail(call, point, [f"expected: {exc_name}", f"got:      no exception, it returned {_returned(result)}"])


def _returned(result: Any) -> str:
    """What a call that should have raised gave back: the function's own value when the probe passes
    it on (``out``), never the probe's bookkeeping (calls seen, flags)."""
    if isinstance(result, dict):
        if "out" in result:
            return describe(result["out"])
        return "an nn.Module" if result.get("is_module") else "normally"
    return describe(result)


def is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (either order): its body never runs when the file is imported."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    t = node.test
    if len(t.ops) != 1 or not isinstance(t.ops[0], ast.Eq):
        return False
    sides = [t.left, t.comparators[0]]
    return (any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides)
            and any(isinstance(x, ast.Constant) and x.value == "__main__" for x in sides))


def _rebinds_main_name(tree: ast.AST) -> bool:
    """A file that may change its own ``__name__`` (assigns it, or names it in a string, as in
    ``globals()["__name__"]``) can make the guarded block run at import: then no block is left out."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__name__" and not isinstance(node.ctx, ast.Load):
            return True
        if isinstance(node, (ast.Global, ast.Nonlocal)) and "__name__" in node.names:
            return True
        if isinstance(node, ast.Constant) and node.value == "__name__":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "__name__" and not isinstance(node.ctx, ast.Load):
            return True
    return False


def import_time_walk(tree: ast.AST):
    """``ast.walk`` over the code that can run when the file is imported: the body of a top-level
    ``if __name__ == "__main__":`` is left out (its ``else`` is kept, and so is everything else)."""
    todo = [tree]
    if _rebinds_main_name(tree):
        yield from ast.walk(tree)
        return
    while todo:
        node = todo.pop(0)
        yield node
        if isinstance(node, ast.Module):
            for stmt in node.body:
                if is_main_guard(stmt):
                    yield stmt
                    todo.append(stmt.test)
                    todo.extend(stmt.orelse)
                else:
                    todo.append(stmt)
        else:
            todo.extend(ast.iter_child_nodes(node))


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """What each imported name stands for (``F`` -> ``torch.nn.functional``), over the code that
    runs at import (see :func:`import_time_walk`)."""
    aliases: dict[str, str] = {}
    for node in import_time_walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def uses_any(source: str | None, names: Iterable[str]) -> list[str]:
    """Which of the dotted ``names`` the source refers to, resolving import aliases.

    ``import torch.nn.functional as F; F.dropout`` and ``from torch.nn import
    functional; functional.dropout`` both count as ``torch.nn.functional.dropout``.
    The body of a top-level ``if __name__ == "__main__":`` (a self-test run as a
    script) is not looked at: it never runs when the grader imports the file.
    Returns ``["name (line N)", ...]``; a source that does not parse returns [].
    """
    if not source:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    wanted = set(names)
    aliases = import_aliases(tree)
    found: list[str] = []

    def dotted(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    for node in import_time_walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)):
            full = dotted(node)
            if full in wanted:
                found.append(f"{full} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if f"{node.module}.{a.name}" in wanted:
                    found.append(f"{node.module}.{a.name} (line {node.lineno})")
    return sorted(set(found), key=found.index)
