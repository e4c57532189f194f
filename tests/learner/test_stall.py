"""The capstone's stall watchdog, in process: it stops the learner's endless loop and names the line,
and never fires while the learner's code is not running (the grader's own slow work is not a stall)."""
from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

from grader.learner.stall import Watchdog


def _busy(seconds: float) -> None:
    """Slow work in this file, which is not the learner's (like writing the capstone's PNG files)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_the_graders_own_slow_work_is_not_a_stall(tmp_path: Path) -> None:
    interrupted = False
    try:
        with Watchdog(0.4, tmp_path, grace=30) as dog:
            _busy(2.0)  # five times the stall limit, with no beat
    except KeyboardInterrupt:
        interrupted = True
    assert not dog.fired and not interrupted, dog.stuck_at


def test_the_learners_endless_loop_is_stopped_and_located(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text("def spin():\n    while True:\n        pass\n")
    spec = importlib.util.spec_from_file_location("kata_test_spin", tmp_path / "spin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        with Watchdog(0.4, tmp_path, grace=30) as dog:
            _busy(1.0)  # the caller's own work first: it must not count towards the stall
            module.spin()
    except KeyboardInterrupt:
        pass
    # Stopped in spin: not during the caller's second, five times the stall limit.
    assert dog.fired
    assert re.fullmatch(r"spin\.py:[23] in spin: (while True:|pass)", dog.stuck_at), dog.stuck_at
