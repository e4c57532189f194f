"""An exercise's calls get the catalog's ``time_scale`` times ``--timeout`` and ``--budget``; a busy
machine does not shorten them (grader/cpu_wait.py)."""
from __future__ import annotations

import re
from pathlib import Path

from busy_cpu import SPIN_SECONDS, needs_schedstat, pinned

ROOT = Path(__file__).resolve().parents[2]


def test_the_capstone_trains_within_its_scaled_limit(make_submission) -> None:
    """One call of the capstone trains a model for 10 epochs: a 5 s pause in ``train`` (more than
    the 4 s per call given here, far less than the capstone's 6 times that) costs nothing."""
    from grader import catalog
    from grader.session import GradingSession

    assert catalog.get("capstone").time_scale == 6 and catalog.get("training").time_scale == 1
    src = (ROOT / "solutions" / "capstone.py").read_text()
    assert src.count("    device = devices.pick_device() if device is None else device\n") == 1
    src = src.replace("    device = devices.pick_device() if device is None else device\n",
                      "    import time\n    time.sleep(5)\n"
                      "    device = devices.pick_device() if device is None else device\n")
    pieces = {e.id: ROOT / "solutions" / f"{e.id}.py" for e in catalog.CORE}
    with GradingSession(call_timeout=4, budget=40) as session:
        result = session.grade(make_submission({**pieces, "capstone": src}), ["capstone"]).exercises[0]
    failed = [f"{c.name}: {c.reason}" for c in result.checks if not c.passed]
    assert result.checks and not failed and result.score == result.max_points, failed


# --- a busy machine (grader/cpu_wait.py) ----------------------------------------------------

def _on_the_busy_cpu(cpu: int, body: str) -> str:
    """The reference cross_entropy.py, whose import then runs ``body`` pinned to ``cpu``."""
    return (ROOT / "solutions" / "cross_entropy.py").read_text() + "\n" + pinned(cpu, body)


@needs_schedstat
def test_a_busy_machine_does_not_cost_a_correct_submission_points(busy_cpu, make_submission) -> None:
    """1 s of the worker's own CPU time at import takes 4 s or more on the clock beside three
    spinners: a 3 s wall-clock limit would fail the whole exercise; waits for a CPU are not charged."""
    from grader.session import GradingSession

    sub = make_submission({"cross_entropy": _on_the_busy_cpu(busy_cpu, SPIN_SECONDS.format(1.0))})
    with GradingSession(call_timeout=3, budget=30) as session:
        result = session.grade(sub, ["cross_entropy"]).exercises[0]
    failed = [f"{c.name}: {c.reason}" for c in result.checks if not c.passed]
    assert result.checks and not failed and result.score == result.max_points, (failed, result.notes)


@needs_schedstat
def test_an_endless_loop_on_a_busy_machine_still_stops(busy_cpu, make_submission) -> None:
    """Code that spins beside busy processes (or makes the machine busy itself) is stopped after
    at most cpu_wait.STRETCH times its limit on the clock, and the report says why it took longer."""
    from grader import cpu_wait
    from grader.session import GradingSession

    sub = make_submission({"cross_entropy": _on_the_busy_cpu(busy_cpu, "while True:\n    pass\n")})
    with GradingSession(call_timeout=2, budget=5) as session:
        result = session.grade(sub, ["cross_entropy"]).exercises[0]
    assert result.score == 0 and result.notes and "timed out after 2 s" in result.notes[0], result.notes
    clock = re.search(r"\((\d+) s on the clock: the machine was busy", result.notes[0])
    assert clock, result.notes[0]
    # At a quarter of a CPU, 2 s of its own time would take 8 s: the stretch ends it at 6 s (plus the
    # half second the grader spends asking where it was).
    assert 3 <= int(clock[1]) <= 2 * cpu_wait.STRETCH + 1, result.notes[0]


def test_a_stopwatch_charges_the_clock_less_the_waits_for_a_cpu(monkeypatch) -> None:
    from grader import cpu_wait

    now, waits = [100.0], [5.0]
    monkeypatch.setattr(cpu_wait, "_clock", lambda: now[0])
    monkeypatch.setattr(cpu_wait, "waited", lambda tid=None: waits[0])
    watch = cpu_wait.Stopwatch(1234)
    assert watch.deadline(10) == 110.0  # no wait yet: a plain 10 s
    now[0], waits[0] = 108.0, 9.0  # 8 s on the clock, 4 of them waiting for a CPU
    assert watch.charged() == 4.0 and watch.deadline(10) == 114.0
    now[0], waits[0] = 125.0, 26.0  # waiting nearly all the time: charged a third of the clock at least
    assert watch.charged() == 25.0 / 3 and watch.deadline(10) == 100.0 + 10 * cpu_wait.STRETCH
    assert watch.busy_note(10) and not cpu_wait.Stopwatch().busy_note(10)
    monkeypatch.setattr(cpu_wait, "waited", lambda tid=None: 0.0)  # no statistics: a wall clock
    plain = cpu_wait.Stopwatch(1234)
    now[0] += 7
    assert plain.charged() == 7.0 and plain.deadline(10) == 125.0 + 10
