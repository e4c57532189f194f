"""A learner test's crash in a few lines: what raised, where in the learner's code, and why.

pytest would print every frame of pytest, of the test harness and of torch. A learner needs the
call and the contract point (from ``kata.run``), the error, their own lines, the library line it
ended in, and a hint for the errors whose message does not say what they did. A stub's own
``raise NotImplementedError`` is one line: "not implemented yet" (:mod:`grader.learner.unwritten`).
"""
from __future__ import annotations

import re
import traceback
from pathlib import Path

import pluggy
import pytest
import _pytest

from grader import suggest, tracebacks
from grader.learner import unwritten
from grader.learner.common import ROOT

# Frames no learner needs to see: the test plumbing (the simulation's torch function modes are on the
# stack of every call made under them) and pytest.
_HERE = Path(__file__).resolve().parent
_HARNESS_FILES = (ROOT / "tests" / "conftest.py", ROOT / "tests" / "kata.py",
                  *(_HERE / f"{m}.py" for m in ("simulation", "time_limits", "impl_loader")))
_PYTEST = tuple(Path(m.__file__).resolve().parent for m in (pytest, _pytest, pluggy))


def _harness(path: Path) -> bool:
    return path in _HARNESS_FILES or any(path.is_relative_to(d) for d in _PYTEST)


def where(frame: traceback.FrameSummary, lib: bool = False) -> str:
    """``  dropout.py:41, in dropout: mask = ...``; a library's file with its package path."""
    path = Path(frame.filename)
    name = path.name
    for marker in ("site-packages", "dist-packages"):
        if lib and marker in path.parts:  # torch/nn/modules/module.py says more than module.py
            name = "/".join(path.parts[path.parts.index(marker) + 1:])
    src = (frame.line or "").strip()
    return f"  {name}:{frame.lineno}, in {frame.name}" + (f": {src}" if src else "")


def short(err: BaseException, limit: int = 600) -> str:
    text = f"{type(err).__name__}: {suggest.message(err)}".strip()
    return text if len(text) <= limit else text[:limit] + " ..."


# Module attributes nn.Module.__init__ creates: missing, they mean it never ran.
_MODULE_INIT_ATTRS = re.compile(r"has no attribute '_(modules|parameters|buffers|forward_hooks|forward_pre_hooks|"
                                r"backward_hooks|backward_pre_hooks|state_dict_hooks|non_persistent_buffers_set|"
                                r"is_full_backward_hook|load_state_dict_pre_hooks)'")
# torch's broadcasting error: "The size of tensor a (3) must match the size of tensor b (2) at ..."
_SIZE_MISMATCH = re.compile(r"The size of tensor a \(\d+\) must match the size of tensor b \(\d+\)")


def why_hint(err: BaseException) -> str | None:
    """One line for errors whose message does not say what the learner did."""
    text = str(err)
    if isinstance(err, AttributeError) and _MODULE_INIT_ATTRS.search(text):
        return "hint: nn.Module.__init__ never ran: call super().__init__() first thing in your __init__"
    if "meta" in text and isinstance(err, (RuntimeError, NotImplementedError, ValueError)):
        return ("hint: the meta device stands in for a GPU in these tests (tensors with a shape and a device, "
                "no values): make new tensors on the input's device")
    if isinstance(err, RuntimeError) and _SIZE_MISMATCH.search(text):
        return ("hint: two tensors whose shapes do not line up: a sum/max/argmax over the wrong dim, or a "
                "reduction without keepdim=True before broadcasting against the original?")
    if type(err).__name__ == "BdbQuit":
        return "hint: a breakpoint() was reached where nobody can answer it: run `pytest -m <exercise>` in a terminal"
    return None


def crash_report(err: BaseException, *, impl: Path, test_file: Path, context: str | None) -> str | None:
    """A few lines about ``err`` raised in a learner test of ``test_file`` that tests the files in
    ``impl``; ``context`` is ``kata.run``'s call and contract point. None leaves pytest's traceback:
    nothing of the learner's or the test's is involved (a harness bug)."""
    frames = []  # (kind, frame), innermost last, without pytest's and the harness's frames
    for f in traceback.extract_tb(err.__traceback__):
        path = Path(f.filename).resolve()
        if _harness(path):
            continue
        frames.append(("theirs" if path.parent == impl else "test" if path == test_file else "lib", f))
    theirs = [f for kind, f in frames if kind == "theirs"]
    tests = [f for kind, f in frames if kind == "test"]
    last = frames[-1][1] if frames else None
    if (isinstance(err, NotImplementedError) and last is not None and frames[-1][0] == "theirs"
            and (last.line or "").lstrip().startswith("raise")):
        # The stub's own `raise NotImplementedError`. torch's (numpy() of a meta tensor, say) also
        # seems to come from their line, as C code has no frame: that line is no `raise`.
        return unwritten.message(tracebacks.qualname(err) or last.name, Path(last.filename).name, last.lineno)
    if context is None and not theirs and not tests:
        return None
    # With run()'s context the call and the contract point come first, and the rest is indented under them.
    pad = "  " if context else ""
    lines = [context] if context else []
    who = "your code raised" if theirs else "it raised" if context else "testing your code raised"
    lines.append(f"{pad}{who} {short(err)}")
    if tests and context is None:  # the test's line that made the call
        lines.append(where(tests[-1]))
    lines.extend(pad + where(f) for f in theirs[-3:])
    if frames and frames[-1][0] == "lib":  # raised inside a library (torch): where, not its source
        lines.append(pad + where(frames[-1][1], lib=True))
    hint = why_hint(err)
    if hint:
        lines.append(pad + "  " + hint)
    return "\n".join(lines)


# What a test printed, shown with its failure: the first and last lines are what a learner reads
# (an endless loop that prints once filled 12.5 MB of a terminal, 400,000 lines, in one run).
_HEAD, _TAIL, _WIDE = 20, 20, 500


def trim_output(text: str) -> str:
    """``text`` with its middle left out when it is long, and each line cut at ``_WIDE`` characters."""
    lines = text.splitlines()
    if len(lines) > _HEAD + _TAIL + 1:
        left = len(lines) - _HEAD - _TAIL
        size = len(text.encode("utf-8", "replace"))
        lines = [*lines[:_HEAD],
                 f"... {left} lines left out ({size:,} bytes printed in all; the first {_HEAD} and last {_TAIL} "
                 f"lines are shown) ...",
                 *lines[-_TAIL:]]
    elif len(text) <= _WIDE * (_HEAD + _TAIL):
        return text
    cut = [line if len(line) <= _WIDE else f"{line[:_WIDE]}... ({len(line) - _WIDE:,} more characters)"
           for line in lines]
    return "\n".join(cut) + ("\n" if text.endswith("\n") else "")
