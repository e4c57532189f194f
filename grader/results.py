"""Result records and scoring: plain dataclasses, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field

from grader import catalog


@dataclass
class CheckResult:
    exercise: str
    name: str          # the check function's name, stable across runs
    title: str         # the contract point it tests (docstring summary)
    weight: float
    passed: bool
    reason: str = ""
    cuda: bool = False


@dataclass
class ExerciseResult:
    exercise: str
    max_points: float
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not-found, import errors, output, ...
    output: str = ""  # what the submission printed (already capped)

    @property
    def score(self) -> float:
        total = sum(c.weight for c in self.checks)
        if total == 0:
            return 0.0
        passed = sum(c.weight for c in self.checks if c.passed)
        return self.max_points if passed == total else round(self.max_points * passed / total, 2)

    def check_points(self, check: CheckResult) -> float:
        total = sum(c.weight for c in self.checks) or 1
        return round(self.max_points * check.weight / total, 3)


@dataclass
class SubmissionResult:
    submission: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    protections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def core(self) -> list[ExerciseResult]:
        return [e for e in self.exercises if not catalog.get(e.exercise).bonus]

    @property
    def bonus(self) -> list[ExerciseResult]:
        return [e for e in self.exercises if catalog.get(e.exercise).bonus]

    @property
    def score(self) -> float:
        """The score out of the core exercises' points; bonus points are reported apart."""
        return round(sum(e.score for e in self.core), 2)

    @property
    def max_score(self) -> float:
        return float(sum(e.max_points for e in self.core))

    @property
    def bonus_score(self) -> float:
        return round(sum(e.score for e in self.bonus), 2)


def empty_result(exercise_id: str) -> ExerciseResult:
    return ExerciseResult(exercise_id, float(catalog.get(exercise_id).points))
