"""A watchdog for long learner runs (``python -m grader capstone``): when the learner's code makes no
progress for a while (an endless loop in a forward, a ``while`` that never ends), stop it and say
where it was, instead of hanging until Ctrl-C.

Progress is whatever the caller reports with :meth:`Watchdog.beat` (one training batch, one phase),
and any time the learner's code is not running: the caller's own work (writing the data set's
files takes seconds on a slow machine) or importing a module that is not the learner's (torchvision
can take seconds to import on a cold machine). Neither is the learner's stall.
The watchdog interrupts the main thread as Ctrl-C would; code that swallows that interrupt is ended
outright a few seconds later.
"""
from __future__ import annotations

import _thread
import linecache
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Callable

from grader import tracebacks


def _stack(frame: FrameType | None):
    """``frame`` and its callers, innermost first."""
    while frame is not None:
        yield frame
        frame = frame.f_back


def stuck_in(frame: FrameType | None, root: Path) -> FrameType | None:
    """The innermost frame of ``frame``'s stack whose file lies in ``root``: where the learner's code
    is now. None when none of theirs is on the stack, or while it imports a module that is not
    theirs (an import machinery frame deeper than their innermost one)."""
    root_s = str(root.resolve())
    for f in _stack(frame):  # one walk, innermost first: whichever comes first decides
        if f.f_code.co_filename.startswith("<frozen importlib"):
            return None
        if tracebacks.under(f.f_code.co_filename, root_s):
            return f
    return None


def where(frame: FrameType | None) -> str:
    """``dropout.py:57 in EpochDropout.forward: while True:``, or '' for no frame."""
    if frame is None:
        return ""
    code = frame.f_code
    line = linecache.getline(code.co_filename, frame.f_lineno).strip()
    text = f"{Path(code.co_filename).name}:{frame.f_lineno} in {getattr(code, 'co_qualname', code.co_name)}"
    return text + (f": {line}" if line else "")


class Watchdog:
    """``with Watchdog(60, impl) as dog: ... dog.beat() ...``; after a stall, ``dog.fired`` is True, the
    ``with`` body got a ``KeyboardInterrupt`` and ``dog.stuck_at`` says where the learner's code was."""

    def __init__(self, seconds: float, root: Path, on_hard_stop: Callable[[str], None] | None = None,
                 grace: float | None = None) -> None:
        # After the interrupt, wait as long as the stall itself (at most 10 s) before ending the process.
        self.seconds, self.root = seconds, root
        self.grace = grace if grace is not None else min(10.0, max(seconds, 1.0))
        self.on_hard_stop = on_hard_stop
        self.fired, self.stuck_at = False, ""
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._thread: threading.Thread | None = None
        self._old_sigint: object = None

    def beat(self) -> None:
        self._last = time.monotonic()

    def __enter__(self) -> "Watchdog":
        if self.seconds > 0:
            self.beat()
            if threading.current_thread() is threading.main_thread():
                # interrupt_main does nothing while SIGINT is ignored (a background job of a script).
                self._old_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
            self._thread = threading.Thread(target=self._watch, name="kata-stall-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._old_sigint is not None:
            signal.signal(signal.SIGINT, self._old_sigint)  # type: ignore[arg-type]

    def _stalled(self) -> bool:
        """Whether the main thread is stuck now; if so, remember where. Holds no frame afterwards:
        a frame kept alive into interpreter shutdown can take torch objects down with it (abort)."""
        frame = sys._current_frames().get(self._main)  # noqa: SLF001 - the documented way to see a stuck thread
        theirs = None
        try:
            theirs = stuck_in(frame, self.root)
            if theirs is None:
                self.beat()
                return False
            self.stuck_at = where(theirs)
            return True
        finally:
            del frame, theirs

    def _watch(self) -> None:
        tick = min(0.5, self.seconds / 4)
        while not self._stop.wait(tick):
            if time.monotonic() - self._last < self.seconds:
                continue
            if not self._stalled():
                continue
            self.fired = True
            _thread.interrupt_main()
            if self._stop.wait(self.grace):
                return
            # The interrupt was swallowed (a bare except in a loop): end the process.
            if self.on_hard_stop is not None:
                self.on_hard_stop(self.stuck_at)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
