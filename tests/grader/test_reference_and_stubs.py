"""The reference scores full marks, the stubs zero, and the learner tests agree."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader import catalog

ROOT = Path(__file__).resolve().parents[2]


def test_catalog_is_complete() -> None:
    # The seven exercises of the course, in order (others may come before, between or after them).
    seven = ["cross_entropy", "datasets", "sequential", "dropout", "weight_init", "training", "devices"]
    assert [e for e in catalog.BY_ID if e in seven] == seven
    assert all(not catalog.BY_ID[e].bonus for e in seven) and catalog.BY_ID["capstone"].bonus
    assert catalog.TOTAL == 100
    for ex in catalog.EXERCISES:
        for path in (f"exercises/{ex.id}.py", f"solutions/{ex.id}.py", f"tests/test_{ex.id}.py",
                     f"grader/checks/test_{ex.id}.py", f"grader/probes/{ex.id}.py",
                     f"exercises/hints/{ex.id}.en.toml", f"exercises/hints/{ex.id}.zh.toml"):
            assert (ROOT / path).is_file(), f"{ex.id}: {path} is missing"
    # and nothing the catalog forgot: an exercise file without its entry would never be graded
    sheets = {p.stem for p in (ROOT / "exercises").glob("*.py") if not p.stem.startswith("_")}
    assert sheets == set(catalog.BY_ID), sheets ^ set(catalog.BY_ID)


def test_exercises_with_cuda_checks_are_read_from_the_checks() -> None:
    """What gpu_check.py and the CUDA test expect: the six exercises where the device matters."""
    found = catalog.with_cuda_checks()
    assert {"cross_entropy", "sequential", "dropout", "weight_init", "training", "devices"} <= set(found), found
    assert "capstone" not in found and "datasets" not in found


def test_reference_scores_100(grading) -> None:
    result = grading.grade(ROOT / "solutions")
    failed = [f"{e.exercise}/{c.name}: {c.reason}" for e in result.exercises for c in e.checks if not c.passed]
    assert not failed
    assert result.score == 100.0
    for e in result.exercises:
        assert e.checks, f"{e.exercise} has no checks"


@pytest.mark.cuda
def test_reference_passes_the_cuda_checks(grading) -> None:
    """On a GPU machine the CUDA checks count, for every exercise where the device matters."""
    result = grading.grade(ROOT / "solutions")
    cuda = {e.exercise: [c for c in e.checks if c.cuda] for e in result.exercises}
    assert sorted(ex for ex, checks in cuda.items() if checks) == sorted(catalog.with_cuda_checks()), result.warnings
    failed = [f"{ex}/{c.name}: {c.reason}" for ex, checks in cuda.items() for c in checks if not c.passed]
    assert not failed
    assert result.score == 100.0


def test_grading_is_reproducible(grading) -> None:
    a = grading.grade(ROOT / "tests" / "mutants" / "cross_entropy", ["cross_entropy"])
    b = grading.grade(ROOT / "tests" / "mutants" / "cross_entropy", ["cross_entropy"])
    assert [(c.name, c.passed, c.reason) for c in a.exercises[0].checks] == \
        [(c.name, c.passed, c.reason) for c in b.exercises[0].checks]


def test_stubs_score_zero_and_say_not_implemented(grading) -> None:
    result = grading.grade(ROOT / "exercises")
    assert result.score == 0.0
    for e in result.exercises:
        assert e.checks
        for c in e.checks:
            assert not c.passed
            assert "not implemented" in c.reason, f"{e.exercise}/{c.name}: {c.reason}"


def test_failed_checks_are_not_formatted_by_pytest(grading, monkeypatch) -> None:
    """No terminal shows pytest's report of a check: formatting its traceback (the source of every
    frame, parsed) cost 80 ms a failed check, 17 s of grading the stubs, for nothing."""
    calls = []
    original = pytest.ExceptionInfo.getrepr
    monkeypatch.setattr(pytest.ExceptionInfo, "getrepr",
                        lambda self, *args, **kwargs: calls.append(1) or original(self, *args, **kwargs))
    result = grading.grade(ROOT / "exercises", ["sequential"])
    checks = result.exercises[0].checks
    assert checks and not any(c.passed for c in checks)
    assert all("not implemented" in c.reason for c in checks), [c.reason for c in checks]
    assert calls == [], f"pytest formatted {len(calls)} failed checks"


def _junit(tmp_path: Path, impl: str) -> list[tuple[str, str, str]]:
    xml = tmp_path / f"{impl}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "--impl", impl, f"--junitxml={xml}", "-q",
                    *[f"tests/test_{e.id}.py" for e in catalog.EXERCISES]],
                   cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        kids = {k.tag: (k.get("message") or "") + (k.text or "") for k in case}
        state = "failed" if "failure" in kids or "error" in kids else "skipped" if "skipped" in kids else "passed"
        out.append((case.get("name") or "", state, kids.get("failure", kids.get("error", kids.get("skipped", "")))))
    return out


def test_learner_tests_fail_on_every_stub(tmp_path: Path) -> None:
    cases = _junit(tmp_path, "exercises")
    assert len(cases) > 7 * 5
    for name, state, message in cases:
        if state == "skipped":
            assert "needs CUDA" in message, name
            continue
        assert state == "failed", f"{name} passed on the stub"
        assert "Traceback" not in message and len(message.splitlines()) <= 3, f"{name}: {message[:500]}"
        assert "not implemented yet" in message, f"{name}: {message[:300]}"
