"""A warm pytest runner for ``watch``: torch is imported once, and every run is a fresh fork.

``watch`` re-runs an exercise's learner tests on every save. A new interpreter pays
``import torch`` each time, and the first operation on the meta device (the learner tests'
stand-in for a GPU) loads ``torch._dynamo`` on top: together most of the run. This server
imports both once and forks a child per run. The child imports the exercise, the tests and
their conftest afresh, so every edit counts. The server runs no torch operation before
forking, as torch's thread pools do not survive a fork (the grader's zygote works the same way).

Linux only: elsewhere (macOS forbids much after a fork, Windows has none) ``watch`` starts a
new pytest per run, as it does here whenever the server cannot start. The server has a session
of its own, so a Ctrl-C in the terminal reaches ``watch`` alone, which then ends the run and
the server; a ``watch`` killed outright takes both along (the kernel's parent-death signal).

Protocol, one JSON object per line: the server says ``{"ready": pid}``; for each request
``{"argv": [...], "output": path}`` it answers ``{"pid": child}`` and, once the child has
ended, ``{"rc": exit code}`` (negative: killed by that signal).
"""
from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from grader.learner.common import ROOT

SUPPORTED = sys.platform.startswith("linux")
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """The kernel kills this process when its parent ends (the student release has no
    ``grader.sandbox``, whose function does the same for the grader's workers)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# What every run imports: third-party modules only, as the learner's own files change between runs.
PRELOAD = ("numpy", "PIL.Image", "pytest", "_pytest.junitxml", "_pytest.python", "torch", "torch.utils.data",
           "torchvision", "torch._dynamo")  # torch._dynamo: what the first meta-device operation loads


def _preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the run will say so, as a new interpreter would


def _child(req: dict[str, Any]) -> None:
    """Run pytest in this forked child and leave with its exit code; never returns."""
    code = 70  # EX_SOFTWARE: the run itself broke
    try:
        _die_with_parent()
        os.setpgid(0, 0)  # a group of its own: a timeout kills what the tests started too
        signal.signal(signal.SIGINT, signal.default_int_handler)
        out = os.open(req["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        # A new interpreter would draw fresh seeds for these; the fork would share the server's.
        import random

        import numpy

        random.seed()
        numpy.random.seed()
        import pytest

        code = int(pytest.main(list(req["argv"])))
    except BaseException:  # noqa: BLE001 - whatever happened, say it in the output and leave
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:
        return  # watch ended before the line above took effect (we now belong to init or a subreaper)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # watch ends us: SIGKILL, or our stdin closing
    _preload()
    reply = sys.stdout

    def say(obj: dict[str, Any]) -> None:
        reply.write(json.dumps(obj) + "\n")
        reply.flush()

    say({"ready": os.getpid()})
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req)
        say({"pid": pid})
        _, status = os.waitpid(pid, 0)
        say({"rc": os.waitstatus_to_exitcode(status)})


class Unavailable(Exception):
    """The server did not start or went away: run pytest the cold way instead."""


class TimedOut(Exception):
    """The run took longer than it was given; it was killed."""


class WarmRunner:
    """The client side: starts the server at once (it warms while ``watch`` does other things)
    and waits for it only when the first run needs it."""

    def __init__(self, env: dict[str, str], start_timeout: float = 180.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "grader.learner.warmrun", str(os.getpid())], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self._buf = b""
        self._ready_by: float | None = time.monotonic() + start_timeout
        self._running: int | None = None
        self.broken = False
        self.why = ""  # why it broke, for the learner

    def _line(self, deadline: float | None) -> dict[str, Any] | None:
        """The server's next message; None at the deadline. Raises Unavailable when it has gone."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise Unavailable("the warm runner ended")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise Unavailable(f"the warm runner said {line[:80]!r}") from None

    def _fail(self, why: str) -> Unavailable:
        self.broken, self.why = True, why
        self.close()
        return Unavailable(why)

    def run(self, argv: list[str], output: Path, timeout: float) -> int:
        """pytest's exit code for ``argv``, its output written to ``output``."""
        if self.broken:
            raise Unavailable("the warm runner is not available")
        try:
            if self._ready_by is not None:
                if self._line(self._ready_by) is None:
                    raise self._fail("the warm runner did not start in time")
                self._ready_by = None
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"argv": argv, "output": str(output)}) + "\n").encode())
            self.proc.stdin.flush()
            started = self._line(time.monotonic() + 30)
            if not started or "pid" not in started:
                raise self._fail("the warm runner did not start the run")
            self._running = int(started["pid"])
            done = self._line(time.monotonic() + timeout)
            if done is None:
                self._kill_run()
                done = self._line(time.monotonic() + 30)
                self._running = None
                if done is None:
                    raise self._fail("the warm runner did not end a run that timed out")
                raise TimedOut
            self._running = None
            return int(done["rc"])
        except OSError as err:  # a pipe to a server that has ended
            raise self._fail(f"the warm runner ended ({err.strerror or err})") from None
        except Unavailable as err:
            if self.broken:
                raise
            raise self._fail(str(err)) from None

    def _kill_run(self) -> None:
        if self._running is not None:
            try:
                os.killpg(self._running, signal.SIGKILL)
            except OSError:
                pass  # already gone, or its group not yet made: the server's wait ends either way
            try:
                os.kill(self._running, signal.SIGKILL)
            except OSError:
                pass

    def close(self) -> None:
        """End any run in progress and the server; safe to call twice."""
        self._kill_run()
        self._running = None
        if self.proc.poll() is None:
            self.proc.kill()  # it holds nothing worth a clean exit, and may still be importing torch
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
