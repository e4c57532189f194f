"""An exercise's calls get the catalog's ``time_scale`` times ``--timeout`` and ``--budget``."""
from __future__ import annotations

from pathlib import Path

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
