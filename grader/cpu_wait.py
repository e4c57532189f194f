"""Time limits that a busy machine does not shorten.

A limit on wall-clock time alone makes a score depend on the load: on a machine grading a class
with more jobs than cores, or a shared CI runner, a correct call that takes 2 s on its own can take
8 s on the clock, and an honest submission would lose points that it keeps on an idle machine.

Linux counts, for each thread, the time it was ready to run but waited for a CPU (the second field
of ``/proc/<tid>/schedstat``). A :class:`Stopwatch` charges the clock's time minus that wait: the
time the code ran, or slept, or waited for anything but a CPU. An endless loop on an idle machine
is still stopped after the limit; a sleep is charged in full (it waits for no CPU). So that code
which makes the machine busy itself (threads that spin beside its main thread) cannot stretch
a limit without end, a call is charged at least ``1 / STRETCH`` of the clock's time: no call
outlasts ``STRETCH`` times its limit on the clock.

Where the statistics cannot be read (another OS, a kernel without them, a process that is gone),
nothing is subtracted: the limits are plain wall-clock limits.
"""
from __future__ import annotations

import time

# At most this many times a limit on the clock: how much a busy machine may stretch a call.
STRETCH = 3.0
_clock = time.monotonic  # the clock of grader.codec's deadlines; a name of its own, for a test to fake


def waited(tid: int | None = None) -> float:
    """Seconds the thread ``tid`` (the calling thread by default) has spent ready to run but not
    running, since it started; 0.0 where the kernel does not say."""
    path = "/proc/thread-self/schedstat" if tid is None else f"/proc/{tid}/schedstat"
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class Stopwatch:
    """Charges the time since it started, less what ``tid`` waited for a CPU (see the module)."""

    def __init__(self, tid: int | None = None) -> None:
        self.tid = tid
        self.started = _clock()
        self._waited_before = waited(tid)

    def clock(self) -> float:
        """Seconds on the clock since the start."""
        return _clock() - self.started

    def waiting(self) -> float:
        """Seconds the thread has waited for a CPU since the start."""
        return max(waited(self.tid) - self._waited_before, 0.0)

    def charged(self) -> float:
        clock = self.clock()
        return max(clock - self.waiting(), clock / STRETCH)

    def deadline(self, limit: float) -> float:
        """The ``time.monotonic()`` at which ``limit`` seconds will have been charged if the thread
        waits for no CPU from now on; it moves later when it does (call again to see)."""
        return self.started + min(limit + self.waiting(), limit * STRETCH)

    def busy_note(self, limit: float) -> str:
        """Why a timed-out call lasted longer than ``limit`` on the clock; "" when it did not."""
        clock = self.clock()
        if clock < limit + 1.0:
            return ""
        return f"{clock:.0f} s on the clock: the machine was busy, and time spent waiting for a CPU is not counted"
