"""Scoring: the per-check points add up to the exercise's points, whatever the weights."""
from __future__ import annotations

import random

import pytest

from grader.results import CheckResult, ExerciseResult


@pytest.mark.parametrize("seed", range(200))
def test_check_points_add_up(seed: int) -> None:
    r = random.Random(seed)
    checks = [CheckResult(exercise="x", name=f"c{i}", title="t", weight=r.choice([0.5, 1, 1.5, 2, 3]),
                          passed=r.random() < 0.5) for i in range(r.randint(1, 30))]
    ex = ExerciseResult("x", float(r.choice([10, 12, 14, 15, 16, 17])), checks)
    points = [ex.check_points(c) for c in checks]
    # Gradescope shows each check's points: they must sum to the exercise's, and the score
    # to the points of the checks passed.
    assert sum(points) == pytest.approx(ex.max_points, abs=1e-9)
    assert all(p >= 0 for p in points)
    assert ex.score == pytest.approx(sum(p for p, c in zip(points, checks) if c.passed), abs=1e-9)
    for c in checks:
        c.passed = True
    assert ex.score == pytest.approx(ex.max_points, abs=1e-9)
