"""Grading one submission after another in one process.

A session holds what is worth keeping between submissions: the zygote that
has imported torch, and the reference worker with its cached answers.
"""
from __future__ import annotations

import io
import contextlib
import time
from pathlib import Path

import pytest

from grader import catalog
from grader.plugin import KataPlugin, Reference
from grader.pool import Pool
from grader.sandbox import Policy
from grader.results import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "grader" / "checks"
SOLUTIONS = ROOT / "solutions"


class GradingSession:
    def __init__(self, *, method: str | None = None, call_timeout: float = 10.0,
                 budget: float = 60.0, solutions: Path = SOLUTIONS, memory_gib: float = 4.0,
                 hide: list[Path] = (), sandbox: bool = True, zygote=None) -> None:
        hidden = [solutions, ROOT / "grader", ROOT / "tests", ROOT / ".git", *hide]
        policy = Policy(memory_bytes=int(memory_gib * 2**30), hide=[str(p) for p in hidden])
        self.pool = Pool(method, policy, sandbox=sandbox, zygote=zygote)
        self.reference = Reference(self.pool, solutions)
        self.call_timeout, self.budget = call_timeout, budget

    def grade(self, submission: Path, exercises: list[str] | None = None, seed: int = 0) -> SubmissionResult:
        start = time.monotonic()
        exercises = list(exercises or [e.id for e in catalog.EXERCISES])
        submission = submission.resolve()
        files = [str(CHECKS / f"test_{ex}.py") for ex in exercises if (CHECKS / f"test_{ex}.py").is_file()]
        plugin = KataPlugin(self.pool, self.reference, submission, exercises, seed=seed,
                            call_timeout=self.call_timeout, budget=self.budget)
        if files:
            # rootdir at the repository root makes the checks' module names grader.checks.test_<id>,
            # which cannot clash with the learner tests' test_<id> modules in the same process.
            args = [*files, "-c", str(CHECKS / "pytest.ini"), "--rootdir", str(ROOT), "--confcutdir", str(CHECKS),
                    "-p", "no:terminal", "-p", "no:timeout", "--import-mode=importlib",
                    "--continue-on-collection-errors"]
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                code = pytest.main(args, plugins=[plugin])
            if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
                raise RuntimeError(f"the hidden checks did not run (pytest exit {int(code)}):\n{log.getvalue()[-3000:]}")
            for ex in plugin.broken_check_files:
                plugin.results[ex].notes.append("grader error: the hidden checks failed to load (tell your instructor)")
        results = plugin.finish()
        for r in results:
            if not r.checks and not (CHECKS / f"test_{r.exercise}.py").is_file():
                r.notes.append("no hidden checks for this exercise yet")
        return SubmissionResult(str(submission), results, round(time.monotonic() - start, 3),
                                protections=list(self.pool.protections),
                                warnings=list(self.pool.warnings), cuda_checks=plugin.has_cuda)

    def close(self) -> None:
        self.reference.close()
        self.pool.close()

    def __enter__(self) -> "GradingSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
