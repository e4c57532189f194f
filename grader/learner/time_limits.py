"""A time limit per learner test, so that a learner's endless loop costs seconds.

pytest-timeout's 120 s per test is the whole suite's safety net, and an endless loop in one
function would pay it in every test that calls it. A learner test gets ``limit`` seconds (10 by
default, ``KATA_TEST_TIMEOUT``); once one test of an exercise has run out, its other tests get
:data:`AFTER_TIMEOUT` each. The slowest learner test takes about 0.1 s on the reference.
Time spent importing a library, or waiting for a CPU on a busy machine, is not the learner's.
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Iterator

from grader import cpu_wait
from grader.learner.failure_report import where

DEFAULT = 10.0
AFTER_TIMEOUT = 2.0
# torch imports torch._dynamo on the first operation on the meta device, seconds on a busy machine.
# Up to this much import time is not counted.
IMPORT_GRACE = 60.0


def call_limit(text: str | None) -> float:
    """KATA_TEST_TIMEOUT's seconds (default 10; 0 or less: no limit); ValueError names a bad value."""
    if text is None or not text.strip():
        return DEFAULT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"KATA_TEST_TIMEOUT must be a number of seconds (0 turns the limit off), got {text!r}")
    return value


class KataTimeout(BaseException):
    """Raised in a learner test when its time is up; a BaseException, so that an ``except
    Exception`` in the learner's code (or in ``kata.run``) does not swallow it."""

    def __init__(self, limit: float, note: str = "") -> None:
        super().__init__(f"did not finish within {limit:g} s" + (f" ({note})" if note else ""))
        self.limit, self.note = limit, note


def _importing_a_library(frame: FrameType | None, impl: Path) -> bool:
    """Whether Python is running the import of a module other than the learner's own: the
    innermost frame of the import machinery comes before any frame of the learner's files."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<frozen importlib"):
            return True
        if Path(filename).resolve().parent == impl:
            return False  # their code runs (perhaps as their module is imported): it counts
        frame = frame.f_back
    return False


class TimeLimits:
    """The limits of one pytest process testing the files in ``impl``."""

    def __init__(self, limit: float, impl: Path) -> None:
        self.limit, self.impl = limit, impl
        self.timed_out: dict[str, float] = {}  # exercise -> the limit its first timeout ran into

    @contextlib.contextmanager
    def running(self, exercise: str | None) -> Iterator[None]:
        """Raise :class:`KataTimeout` in the block when a test of ``exercise`` runs past its time
        (SIGALRM: on the main thread of a POSIX system only; elsewhere no limit)."""
        if (exercise is None or self.limit <= 0 or not hasattr(signal, "setitimer")
                or threading.current_thread() is not threading.main_thread()):
            yield
            return
        limit = min(AFTER_TIMEOUT, self.limit) if exercise in self.timed_out else self.limit
        grace = IMPORT_GRACE
        # Time this thread waited for a CPU is not the learner's either (a busy machine, `pytest -n`
        # with more workers than cores): see grader/cpu_wait.py. Not once the exercise has timed out:
        # its other tests are then to cost seconds, as the report promises.
        stretch = exercise not in self.timed_out
        watch = cpu_wait.Stopwatch()

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            nonlocal grace, watch
            left = watch.deadline(limit) - time.monotonic() if stretch else 0.0
            if left > 0.001:
                signal.setitimer(signal.ITIMER_REAL, left)
                return
            if grace > 0 and _importing_a_library(frame, self.impl):
                grace -= limit
                watch = cpu_wait.Stopwatch()
                signal.setitimer(signal.ITIMER_REAL, limit)  # the time starts again once it is done
                return
            raise KataTimeout(limit, watch.busy_note(limit) if stretch else "")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        outer, _ = signal.setitimer(signal.ITIMER_REAL, limit)  # pytest-timeout's alarm, if it set one
        start = time.monotonic()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer:
                signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 0.001))

    def report(self, exercise: str, err: KataTimeout) -> str:
        """The learner's lines that were running; the first timeout of an exercise says what now."""
        first = exercise not in self.timed_out
        self.timed_out.setdefault(exercise, err.limit)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve().parent == self.impl]
        lines = [f"your code did not return within {err.limit:g} s: an endless loop, or a wait that never ends?"]
        if err.note:
            lines.append(f"  {err.note}")
        if frames:
            lines.append("  it was running:")
            # The outermost of their frames too: an endless loop in fit shows as fit's line, not only
            # as whatever it was calling when the time ran out.
            shown = frames[-3:] if len(frames) <= 3 else [frames[0], None, *frames[-2:]]
            lines.extend("  ..." if f is None else "  " + where(f) for f in shown)
        if first:
            lines.append(f"  (the other tests of {exercise} get {min(AFTER_TIMEOUT, self.limit):g} s each from now on; "
                         "KATA_TEST_TIMEOUT=SECONDS changes the limit)")
        return "\n".join(lines)
