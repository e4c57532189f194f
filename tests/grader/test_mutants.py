"""Every known-wrong implementation loses points; every correct variant keeps them all.

A mutant's first line names the checks that must catch it: ``# kills: test_a, test_b``
(a name without ``[...]`` matches any of its parametrisations).
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = sorted((ROOT / "tests" / "mutants").glob("*/*.py"))
ALTERNATIVES = sorted((ROOT / "tests" / "alternatives").glob("*/*.py"))


def _kills(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# kills:"), f"{path}: first line must be '# kills: check, ...'"
    return [k.strip() for k in first.removeprefix("# kills:").split(",") if k.strip()]


def _submission(make_submission, exercise: str, path: Path) -> Path:
    """The file under test; the capstone also needs the reference pieces it glues together."""
    from grader import catalog

    pieces = {e.id: ROOT / "solutions" / f"{e.id}.py" for e in catalog.CORE} if exercise == "capstone" else {}
    return make_submission({**pieces, exercise: path})


def _matches(kill: str, name: str) -> bool:
    return name == kill or ("[" not in kill and name.startswith(kill + "["))


@pytest.mark.parametrize("path", MUTANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_mutant_loses_points(grading, make_submission, path: Path) -> None:
    exercise = path.parent.name
    kills = _kills(path)
    result = grading.grade(_submission(make_submission, exercise, path), [exercise]).exercises[0]
    assert result.score < result.max_points, f"{path.name} kept full marks"
    failed = [c.name for c in result.checks if not c.passed]
    known = [c.name for c in result.checks]
    for kill in kills:
        assert any(_matches(kill, n) for n in known), f"{path.name}: no check named {kill}"
        assert any(_matches(kill, n) for n in failed), (
            f"{path.name}: {kill} passed; failed checks were {failed}")


@pytest.mark.parametrize("path", ALTERNATIVES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_alternative_keeps_full_marks(grading, make_submission, path: Path) -> None:
    exercise = path.parent.name
    result = grading.grade(_submission(make_submission, exercise, path), [exercise]).exercises[0]
    failed = [f"{c.name}: {c.reason}" for c in result.checks if not c.passed]
    assert not failed and result.score == result.max_points, failed


def test_every_exercise_has_mutants_and_alternatives() -> None:
    from grader import catalog

    for ex in catalog.EXERCISES:
        if not (ROOT / "grader" / "checks" / f"test_{ex.id}.py").exists():
            continue
        assert list((ROOT / "tests" / "mutants" / ex.id).glob("*.py")), f"no mutants for {ex.id}"
        assert list((ROOT / "tests" / "alternatives" / ex.id).glob("*.py")), f"no alternative for {ex.id}"
