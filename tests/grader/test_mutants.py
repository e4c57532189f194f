"""Every known-wrong implementation loses points; every correct variant keeps them all.

A mutant's first line names the checks that must catch it: ``# kills: test_a, test_b``
(a name without ``[...]`` matches any of its parametrisations). A mutant that gets a
device wrong may say on its second line which CUDA checks must catch it too on a GPU
machine: ``# kills on cuda: test_c``; without a GPU those tests are skipped ("needs CUDA").
A mutant whose first line names no check is one that only a GPU can catch (identical to
a correct solution on the CPU).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = sorted((ROOT / "tests" / "mutants").glob("*/*.py"))
ALTERNATIVES = sorted((ROOT / "tests" / "alternatives").glob("*/*.py"))


def _kills(path: Path, cuda: bool = False) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if cuda:
        prefix = "# kills on cuda:"
        if len(lines) < 2 or not lines[1].startswith(prefix):
            return []
        line = lines[1]
    else:
        prefix, line = "# kills:", lines[0]
        assert line.startswith(prefix), f"{path}: first line must be '# kills: check, ...'"
    return [k.strip() for k in line.removeprefix(prefix).split(",") if k.strip()]


CPU_MUTANTS = [p for p in MUTANTS if _kills(p)]
CUDA_MUTANTS = [p for p in MUTANTS if _kills(p, cuda=True)]


def _submission(make_submission, exercise: str, path: Path) -> Path:
    """The file under test; the capstone also needs the reference pieces it glues together."""
    from grader import catalog

    pieces = {e.id: ROOT / "solutions" / f"{e.id}.py" for e in catalog.CORE} if exercise == "capstone" else {}
    return make_submission({**pieces, exercise: path})


def _matches(kill: str, name: str) -> bool:
    return name == kill or ("[" not in kill and name.startswith(kill + "["))


@pytest.mark.parametrize("path", CPU_MUTANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
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


def _cuda_checks(exercise: str) -> set[str]:
    """The names of the checks of ``exercise`` marked ``@pytest.mark.cuda``."""
    tree = ast.parse((ROOT / "grader" / "checks" / f"test_{exercise}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
            and any(ast.unparse(d) == "pytest.mark.cuda" for d in node.decorator_list)}


def test_cuda_kills_name_cuda_checks() -> None:
    """Runs without a GPU too: every name on a '# kills on cuda:' line is a CUDA check of its exercise."""
    assert len(CUDA_MUTANTS) >= 10
    assert not [p for p in MUTANTS if not _kills(p) and not _kills(p, cuda=True)], "a mutant nothing must catch"
    for path in CUDA_MUTANTS:
        cuda = _cuda_checks(path.parent.name)
        for kill in _kills(path, cuda=True):
            assert kill in cuda, f"{path.parent.name}/{path.name}: {kill} is not a CUDA check ({sorted(cuda)})"


@pytest.mark.parametrize("path", [p for p in CUDA_MUTANTS if p not in CPU_MUTANTS],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_gpu_only_mutant_is_correct_elsewhere(grading, make_submission, path: Path) -> None:
    """A mutant only a GPU can catch must be right in every other way, or it proves nothing about CUDA."""
    exercise = path.parent.name
    result = grading.grade(_submission(make_submission, exercise, path), [exercise]).exercises[0]
    failed = [f"{c.name}: {c.reason}" for c in result.checks if not c.passed and not c.cuda]
    assert result.checks and not failed


@pytest.mark.cuda
@pytest.mark.parametrize("path", CUDA_MUTANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_device_mutant_loses_cuda_checks(grading, make_submission, path: Path) -> None:
    exercise = path.parent.name
    graded = grading.grade(_submission(make_submission, exercise, path), [exercise])
    result = graded.exercises[0]
    cuda = [c for c in result.checks if c.cuda]
    assert cuda, f"the CUDA checks were left out: {graded.warnings}"
    failed = [c.name for c in cuda if not c.passed]
    for kill in _kills(path, cuda=True):
        assert any(_matches(kill, n) for n in failed), f"{path.name}: {kill} passed on the GPU; failed: {failed}"


def _needs_torch(path: Path) -> str | None:
    """An alternative written with a newer API says so: 'Needs torch>=2.6' in its docstring."""
    found = re.search(r"Needs torch>=(\d+(?:\.\d+)*)", path.read_text(encoding="utf-8"))
    return found[1] if found else None


@pytest.mark.parametrize("path", ALTERNATIVES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_alternative_keeps_full_marks(grading, make_submission, path: Path) -> None:
    import torch

    exercise = path.parent.name
    needs = _needs_torch(path)
    if needs and torch.__version__ < needs:  # a TorchVersion compares as a version; a learner here cannot write it
        pytest.skip(f"written for torch>={needs}; this is torch {torch.__version__}")
    result = grading.grade(_submission(make_submission, exercise, path), [exercise]).exercises[0]
    failed = [f"{c.name}: {c.reason}" for c in result.checks if not c.passed]
    assert not failed and result.score == result.max_points, failed


@pytest.mark.parametrize("path", ALTERNATIVES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_alternative_passes_the_learner_tests(learner_tests, path: Path) -> None:
    """The learner tests judge as the grader does: what keeps full marks is green there too,
    or a learner whose correct code is written differently is told it is wrong."""
    import torch

    needs = _needs_torch(path)
    if needs and torch.__version__ < needs:
        pytest.skip(f"written for torch>={needs}; this is torch {torch.__version__}")
    verdict = learner_tests(path.parent.name, path)
    assert not verdict.error and verdict.ran, verdict.error or "no learner test ran"
    assert not verdict.failed, _failures(verdict)


def _failures(verdict) -> str:
    return "\n\n".join(f"{c.name}: {c.message[:1500]}" for c in verdict.failed)


# Why the learner tests may let a mutant pass (the grader still takes points for it):
LEARNER_MISS = "# learner tests miss it:"
MISS_KINDS = {
    # a deliberate way around a rule of the sheet (torch's own code borrowed through a thread,
    # TorchScript, an alias...): the learner tests check the rule the plain ways, the grader's watch
    # also the devious ones
    "evasion",
    # told apart only by far more draws than a test that should feel instant can afford
    "statistics",
}


def _learner_miss(path: Path) -> tuple[str, str] | None:
    """(kind, why) from a '# learner tests miss it: kind: why' line in the header; None if absent."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(LEARNER_MISS):
            kind, _, why = line.removeprefix(LEARNER_MISS).partition(":")
            return kind.strip(), why.strip()
    return None


@pytest.mark.parametrize("path", CPU_MUTANTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_learner_tests_catch_mutant(learner_tests, path: Path) -> None:
    """What loses points is red in the learner tests too, so a learner who gets all green is not
    surprised by the grade. A mutant they are not meant to catch says why on a
    '# learner tests miss it: <kind>: <why>' line, and must then pass them, so the line stays true."""
    miss = _learner_miss(path)
    if miss:
        assert miss[0] in MISS_KINDS and miss[1], f"{path.name}: '{LEARNER_MISS} <kind>: <why>', kind in {MISS_KINDS}"
    verdict = learner_tests(path.parent.name, path)
    assert not verdict.error and verdict.ran, verdict.error or "no learner test ran"
    if miss:
        caught = [c.name for c in verdict.failed]
        assert not caught, f"{path.name} says the learner tests miss it, but {caught} caught it: drop that line"
    else:
        assert verdict.failed, (f"{path.name} loses points but passes every learner test: add a learner test "
                                f"that catches it, or a '{LEARNER_MISS} <kind>: <why>' line")


def test_every_exercise_has_mutants_and_alternatives() -> None:
    from grader import catalog

    for ex in catalog.EXERCISES:
        if not (ROOT / "grader" / "checks" / f"test_{ex.id}.py").exists():
            continue
        assert list((ROOT / "tests" / "mutants" / ex.id).glob("*.py")), f"no mutants for {ex.id}"
        alternatives = list((ROOT / "tests" / "alternatives" / ex.id).glob("*.py"))
        # At least one that every supported torch runs.
        assert [p for p in alternatives if not _needs_torch(p)], f"no alternative for {ex.id} on any torch"
