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


def test_report_groups_checks_failing_for_one_reason_and_shows_what_each_cost() -> None:
    from grader import report
    from grader.results import SubmissionResult

    same = "dropout(torch.ones(8, 8), 0.5): draw the mask yourself\n  got: calls to ['F.dropout']"
    checks = [CheckResult(exercise="dropout", name=f"c{i}", title=f"point {i}", weight=1.0, passed=False,
                          reason=same) for i in range(8)]
    checks += [CheckResult(exercise="dropout", name="other", title="keeps the dtype", weight=2.0, passed=False,
                           reason="dropout(x): keeps the dtype\n  got: float64"),
               CheckResult(exercise="dropout", name="ok", title="fine", weight=2.0, passed=True)]
    ex = ExerciseResult("dropout", 12.0, checks)
    text = report.summary(SubmissionResult("sub", [ex], cuda_checks=False))
    assert text.count("draw the mask yourself") == 1, text  # said once for the 8 checks
    assert "  - 8 checks (-8.00), for one reason:" in text and "and 2 more" in text, text
    assert "      point 0 (-1.00)" in text and "point 7" not in text
    assert "  - keeps the dtype (-2.00): dropout(x): keeps the dtype" in text and "got: float64" in text
    assert "CUDA checks: left out" in text
    ex.checks = [CheckResult(exercise="dropout", name=f"c{i}", title=f"point {i}", weight=1.0, passed=False,
                             reason="timed out after 10 s") for i in range(3)]
    assert "  - all 3 checks (-12.00):\n      timed out after 10 s" in report.summary(SubmissionResult("sub", [ex]))


def test_report_sums_up_checks_that_wait_for_an_unwritten_function() -> None:
    """Their titles say nothing (the function is not there): one line per function, in the order
    of work, or one line for a file of stubs."""
    from grader import report
    from grader.results import SubmissionResult

    def check(i: int, reason: str, passed: bool = False) -> CheckResult:
        return CheckResult(exercise="dropout", name=f"c{i}", title=f"point {i}", weight=1.0, passed=passed,
                           reason=reason)

    forward = "not implemented yet: EpochDropout.forward in dropout.py (line 120)"
    reset = "not implemented yet: EpochDropout.reset_mask in dropout.py (line 95)"
    ex = ExerciseResult("dropout", 10.0, [check(0, forward), check(1, forward), check(2, reset), check(3, "", True),
                                          check(4, "dropout(x): keeps the dtype\n  got: float64")])
    lines = report.summary(SubmissionResult("sub", [ex])).splitlines()
    at = lines.index("  - 1 check (-2.00): " + reset)
    assert lines[at + 1] == "  - 2 checks (-4.00): " + forward  # reset_mask comes first in the file
    # The mistake comes first; the stubs' checks are not listed one by one.
    assert lines.index("  - point 4 (-2.00): dropout(x): keeps the dtype") < at and "point 0" not in "\n".join(lines)
    ex.checks = [check(0, forward), check(1, reset), check(2, forward)]
    assert "  - all 3 checks (-10.00): not implemented yet (EpochDropout.reset_mask, EpochDropout.forward)" in \
        report.summary(SubmissionResult("sub", [ex])).splitlines()


def test_what_a_submission_printed_reads_as_a_quote_in_results_json() -> None:
    """A student printing "Total: 100.00 / 100" must not add a line that passes for the grader's."""
    from grader import report
    from grader.results import SubmissionResult

    ex = ExerciseResult("dropout", 16.0, [CheckResult(exercise="dropout", name="c", title="t", weight=1.0,
                                                      passed=False, reason="wrong")],
                        output="\nTotal: 100.00 / 100\ndropout: 16/16\n")
    output = report.gradescope(SubmissionResult("sub", [ex]))["output"].splitlines()
    assert output[:4] == ["dropout: 0/16", "  printed:", "    | Total: 100.00 / 100", "    | dropout: 16/16"], output
    assert not any(line.startswith(("Total", "dropout: 16")) for line in output)


def test_checks_that_wait_for_a_failed_point_are_listed_under_it_once() -> None:
    """A wrong std in init_normal once printed 9 entries, each with its own call and figures."""
    from grader import report
    from grader.results import GATE, SubmissionResult

    def gated(i: int) -> CheckResult:
        reason = (f"init_normal(nn.Linear({10 + i}, 30)): init_normal initialises the weight of the "
                  f"nn.Linear {GATE}\n  expected: std about 0.01\n  got:      std {9.6 + i / 10:.2f}e-05")
        return CheckResult(exercise="weight_init", name=f"g{i}", title=f"point {i}", weight=1.0, passed=False,
                           reason=reason)

    checks = [gated(i) for i in range(9)] + [CheckResult(exercise="weight_init", name="own", title="own point",
                                                         weight=1.0, passed=False, reason="init_xavier(x)\n  got: 2")]
    text = report.summary(SubmissionResult("sub", [ExerciseResult("weight_init", 14.0, checks + [
        CheckResult(exercise="weight_init", name="ok", title="fine", weight=1.0, passed=True)])]))
    assert "  - 9 checks (-" in text and text.count("init_normal(nn.Linear(") == 1, text
    assert "      init_normal(nn.Linear(10, 30)): init_normal initialises" in text and "std 9.60e-05" in text, text
    assert "  - own point (-1.27): init_xavier(x)" in text, text


def test_the_cases_of_one_parametrised_check_that_break_one_point_are_listed_once() -> None:
    from grader import report
    from grader.results import SubmissionResult

    def case(v: str) -> CheckResult:
        return CheckResult(exercise="cross_entropy", name=f"test_bad_reduction[{v}]", title=f"names the value[{v}]",
                           weight=1.0, passed=False,
                           reason=f"cross_entropy(x, reduction={v!r}): raises ValueError naming the value\n"
                                  f"  expected: ValueError mentioning {v!r}\n  got:      ValueError: bad reduction")

    other = CheckResult(exercise="cross_entropy", name="test_other[a]", title="other[a]", weight=1.0, passed=False,
                        reason="cross_entropy(x): another point\n  got: 2")
    ex = ExerciseResult("cross_entropy", 15.0, [case("avg"), case("MEAN"), other])
    text = report.summary(SubmissionResult("sub", [ex]))
    assert "  - 2 checks (-10.00), for one reason:" in text and text.count("bad reduction") == 1, text
    assert "  - other[a] (-5.00): cross_entropy(x): another point" in text, text
