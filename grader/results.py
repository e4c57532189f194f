"""Result records and scoring: plain dataclasses, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field

from grader import catalog

# The end of a check's point when it failed only because an earlier point it needs did: the report
# lists such checks under that point once, not each with figures of its own.
GATE = "(needed before this point can count)"


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

    def _thousandths(self) -> list[int]:
        """Each check's share of max_points in thousandths, summing to max_points exactly.

        Largest remainder: the per-check points shown (Gradescope's tests) add up to
        the exercise's points, and a fully passed exercise gets exactly its points.
        """
        total = sum(c.weight for c in self.checks)
        units = round(self.max_points * 1000)
        if total <= 0:
            return [0] * len(self.checks)
        exact = [units * c.weight / total for c in self.checks]
        shares = [int(e) for e in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))
        for i in by_remainder[:units - sum(shares)]:
            shares[i] += 1
        return shares

    @property
    def score(self) -> float:
        shares = self._thousandths()
        return sum(n for n, c in zip(shares, self.checks) if c.passed) / 1000

    def check_points(self, check: CheckResult) -> float:
        for n, c in zip(self._thousandths(), self.checks):
            if c is check:
                return n / 1000
        raise ValueError("not a check of this exercise")


@dataclass
class SubmissionResult:
    submission: str
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    protections: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cuda_checks: bool | None = None  # counted (a usable GPU), left out (none), unknown

    @property
    def core(self) -> list[ExerciseResult]:
        return [e for e in self.exercises if not catalog.get(e.exercise).bonus]

    @property
    def bonus(self) -> list[ExerciseResult]:
        return [e for e in self.exercises if catalog.get(e.exercise).bonus]

    @property
    def score(self) -> float:
        """The score out of the core exercises' points; bonus points are reported apart."""
        return round(sum(e.score for e in self.core), 3)

    @property
    def max_score(self) -> float:
        return float(sum(e.max_points for e in self.core))

    @property
    def bonus_score(self) -> float:
        return round(sum(e.score for e in self.bonus), 3)


def empty_result(exercise_id: str) -> ExerciseResult:
    return ExerciseResult(exercise_id, float(catalog.get(exercise_id).points))
