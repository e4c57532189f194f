"""Run the learner tests (``tests/test_<id>.py``) in a subprocess and read the verdicts from JUnit XML.

Used by ``progress`` (all exercises in one run) and ``watch`` (one exercise
per run). These are the learner tests, not the grader's hidden checks.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from grader.learner.common import ROOT
from grader.learner.impl_loader import FILE_MISSING, IMPORT_FAILED, SAME_FAILURE
from grader.learner.unwritten import UNWRITTEN, order_of_work, waits_for
from grader.learner.warmrun import TimedOut, Unavailable, WarmRunner



@dataclass
class Case:
    name: str
    outcome: str  # "passed", "failed" or "skipped"
    message: str = ""


@dataclass
class ExerciseTests:
    exercise: str
    cases: list[Case] = field(default_factory=list)
    error: str = ""  # the tests could not be collected or run at all

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if c.outcome == "failed"]

    @property
    def unwritten(self) -> list[Case]:
        """Failed only because they reached a stub's ``raise NotImplementedError``."""
        return [c for c in self.failed if c.message.startswith(UNWRITTEN)]

    @property
    def wrong(self) -> list[Case]:
        """Failed for any other reason: these report a mistake."""
        return [c for c in self.failed if not c.message.startswith(UNWRITTEN)]

    @property
    def next_to_write(self) -> str:
        """The unwritten function to write first ("dropout in dropout.py (line 40)"): an earlier
        exercise's before this one's, then the first in its file."""
        waits = {waits_for(c.message.splitlines()[0]) or "?" for c in self.unwritten}
        return min(waits, key=order_of_work, default="")

    @property
    def passed(self) -> list[Case]:
        return [c for c in self.cases if c.outcome == "passed"]

    @property
    def skipped(self) -> list[Case]:
        return [c for c in self.cases if c.outcome == "skipped"]

    @property
    def ran(self) -> int:
        return len(self.cases) - len(self.skipped)

    @property
    def state(self) -> str:
        """``"error"``, ``"missing"`` (no file), ``"not_started"``, ``"broken"`` (does not import),
        ``"failing"`` (some test reports a mistake), ``"in_progress"`` (the tests that can run
        pass, the others wait for a stub) or ``"done"``."""
        if self.error or not self.cases:
            return "error"
        failed = self.failed
        if not failed:
            return "done"  # skipped (needs CUDA) tests count as fine
        if len(failed) == self.ran and not self.wrong:
            return "not_started"
        if len(failed) == self.ran and all(c.message.startswith(IMPORT_FAILED) for c in failed):
            return "broken"
        if len(failed) == self.ran and all(FILE_MISSING in c.message.split("\n", 1)[0] for c in failed):
            return "missing"
        return "failing" if self.wrong else "in_progress"

    @property
    def import_failure(self) -> str:
        """Why the module does not import, in a few words (state "broken")."""
        for c in self.failed:
            if SAME_FAILURE in c.message:
                return c.message.split(SAME_FAILURE, 1)[1].splitlines()[0].strip()
        first = self.first_failure
        return first.message.splitlines()[0].strip() if first else ""

    @property
    def first_failure(self) -> Case | None:
        """The first test that reports a mistake; failing that, the first that waits for a stub."""
        failed = self.wrong or self.unwritten
        return failed[0] if failed else None


def tests_path(exercise: str) -> Path:
    return ROOT / "tests" / f"test_{exercise}.py"


def _exercise_of(case: ET.Element) -> str | None:
    # classname "tests.test_dropout"; a collection error has no classname and names the module.
    dotted = case.get("classname") or case.get("name") or ""
    module = dotted.split(".")[-1] if dotted else ""
    return module[5:] if module.startswith("test_") else None


def parse(xml_path: Path, exercises: list[str]) -> dict[str, ExerciseTests]:
    results = {e: ExerciseTests(e) for e in exercises}
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        ex = _exercise_of(case)
        if ex not in results:
            continue
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                message = (child.text or child.get("message") or "").strip()
                if not case.get("classname"):
                    results[ex].error = message.splitlines()[-1] if message else "collection failed"
                break
            if child.tag == "skipped":
                outcome, message = "skipped", (child.get("message") or child.text or "").strip()
        if case.get("classname"):
            results[ex].cases.append(Case(case.get("name") or "?", outcome, message))
    return results


class RunError(Exception):
    """pytest did not produce a report (crashed, timed out, bad options)."""


def environment() -> dict[str, str]:
    # No terminal answers a breakpoint() here: skip it instead of failing the test with BdbQuit.
    return dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONBREAKPOINT="0")


def _cold(args: list[str], output: Path, timeout: float, env: dict[str, str] | None) -> None:
    """pytest in a new interpreter, its output written to ``output``."""
    with output.open("wb") as out:
        try:
            subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env or environment(),
                           stdout=out, stderr=subprocess.STDOUT, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RunError(f"the learner tests took more than {timeout:g} s") from None


def run(exercises: list[str], impl: Path | None, timeout: float = 900.0,
        extra: list[str] | None = None, warm: WarmRunner | None = None,
        env: dict[str, str] | None = None) -> dict[str, ExerciseTests]:
    """Run the learner tests of ``exercises`` once and classify each exercise: in a new
    interpreter (with ``env``, by default :func:`environment`), or in a fork of ``warm``
    (see :mod:`grader.learner.warmrun`) while it works."""
    present = [e for e in exercises if tests_path(e).is_file()]
    results: dict[str, ExerciseTests] = {}
    for e in exercises:
        if e not in present:
            results[e] = ExerciseTests(e, error=f"tests/test_{e}.py not found")
    if not present:
        return results
    with tempfile.TemporaryDirectory(prefix="kata-junit-") as tmp:
        xml, output = Path(tmp) / "report.xml", Path(tmp) / "output.txt"
        args = [*(str(tests_path(e).relative_to(ROOT)) for e in present),
                "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", "-o", "junit_family=xunit2",
                *([f"--impl={impl}"] if impl is not None else []), *(extra or [])]
        try:
            if warm is None or warm.broken:
                raise Unavailable
            warm.run(args, output, timeout)
        except TimedOut:
            raise RunError(f"the learner tests took more than {timeout:g} s") from None
        except Unavailable:
            _cold(args, output, timeout, env)
        if not xml.is_file():
            tail = output.read_text(errors="replace").strip().splitlines()[-5:]
            raise RunError("pytest produced no report:\n  " + "\n  ".join(tail))
        results.update(parse(xml, present))
    return {e: results[e] for e in exercises}
