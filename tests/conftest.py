"""Learner-test plumbing: which implementation to test, markers, and short failures.

``pytest`` tests ``exercises/``; ``pytest --impl=DIR`` (or ``KATA_IMPL=DIR``)
tests another directory, e.g. ``solutions``. Each ``test_<id>.py`` gets the
marker ``<id>`` and the fixture ``ex``: the module ``<id>`` imported from that
directory. The hooks here wire in the pieces of ``grader/learner/``:
``impl_loader`` (importing the learner's modules), ``time_limits`` (an endless
loop costs seconds), ``failure_report`` (a crash in a few lines) and
``unwritten`` (tests that only wait for a stub, summed up by function).
"""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
from grader.catalog import EXERCISES as _CATALOG  # noqa: E402
from grader.learner import failure_report, unwritten  # noqa: E402
from grader.learner.impl_loader import SAME_FAILURE, ImplImportError, ImplLoader  # noqa: E402
from grader.learner.time_limits import KataTimeout, TimeLimits, call_limit  # noqa: E402

EXERCISES = tuple(e.id for e in _CATALOG)
IMPL = pytest.StashKey[Path]()  # the folder of the learner's files under test
LOADER = pytest.StashKey[ImplLoader]()  # imports them
LIMITS = pytest.StashKey[TimeLimits]()  # each test's time
COULD_NOT_RUN = "could not run"  # the tests of a module that does not import, after its first


def pytest_configure(config: pytest.Config) -> None:
    for name in EXERCISES:
        config.addinivalue_line("markers", f"{name}: learner tests of the {name} exercise")
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (skipped without one)")
    impl = config.getoption("--impl") or os.environ.get("KATA_IMPL") or "exercises"
    path = Path(impl)
    if not path.is_absolute():
        path = (Path(config.invocation_params.dir) / path).resolve()
        if not path.is_dir():
            path = (ROOT / impl).resolve()
    if not path.is_dir():
        raise pytest.UsageError(f"--impl {impl}: no such directory")
    try:
        limit = call_limit(os.environ.get("KATA_TEST_TIMEOUT"))
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None  # one line, not a traceback
    config.stash[IMPL] = path = path.resolve()
    config.stash[LOADER] = ImplLoader(path)
    config.stash[LIMITS] = TimeLimits(limit, path)



def pytest_report_header(config: pytest.Config) -> str:
    header = f"kata: testing the implementation in {config.stash[IMPL]}"
    if any((HERE / d).is_dir() for d in OWN_TESTS) and not _runs_own_tests(config):
        header += " (learner tests only: the kata's own tests run with --impl solutions)"
    return header


# The kata's own tests: the grader's and the learner tools'. They never use --impl, so a learner's
# `pytest` skipped nothing by running them but took 45 minutes on 2 cores to say nothing about
# the learner's code. They run against the references (the maintainers' and CI's command) or when
# a path names them. (A student release has neither folder.)
HERE = Path(__file__).resolve().parent
OWN_TESTS = ("grader", "learner")


def _runs_own_tests(config: pytest.Config) -> bool:
    if config.stash[IMPL] == (ROOT / "solutions").resolve():
        return True
    own = [HERE / d for d in OWN_TESTS]
    invoked = Path(config.invocation_params.dir)
    return any((invoked / a.split("::")[0]).resolve().is_relative_to(d) for a in config.args for d in own)


def _exercise_of(path: Path) -> str | None:
    stem = path.stem
    return stem[5:] if stem.startswith("test_") and stem[5:] in EXERCISES else None


def _marked_exercises(config: pytest.Config) -> set[str] | None:
    """The exercises ``-m`` selects when it is only exercise names joined by ``or``, else None."""
    names = re.split(r"\s+or\s+", (config.option.markexpr or "").strip())
    return set(names) if all(n in EXERCISES for n in names) else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.parent == HERE and collection_path.name in OWN_TESTS and not _runs_own_tests(config):
        return True
    # `pytest -m dropout` would import every test module (torchvision, the grader's tests) only to
    # deselect them: their tests carry other exercises' markers, or none, so skip them unread.
    wanted = _marked_exercises(config)
    if wanted is None:
        return None
    if collection_path.parent == HERE and collection_path.is_dir():
        return True  # tests/grader, tests/learner: no exercise markers
    ex = _exercise_of(collection_path)
    return True if ex is not None and ex not in wanted else None


# tryfirst: sort before plugins that pick by position (--sw); --ff/--nf reorder after us anyway.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    has_cuda = torch.cuda.is_available()
    for item in items:
        ex = _exercise_of(item.path)
        if ex:
            item.add_marker(getattr(pytest.mark, ex))
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
    # The catalog's order of work, not the alphabet's (which puts the bonus capstone first);
    # the sort is stable, so each file keeps its own order, and other tests come last.
    rank = {name: i for i, name in enumerate(EXERCISES)}
    items.sort(key=lambda item: rank.get(_exercise_of(item.path) or "", len(rank)))


def pytest_collection_finish(session: pytest.Session) -> None:
    # "-m crossentropy" deselects everything and pytest only says "no tests ran".
    expr = (session.config.option.markexpr or "").strip()
    if session.items or not re.fullmatch(r"[\w.:+\-\[\]/\\]+", expr) or expr in ("not", "and", "or"):
        return
    known = {re.split(r"[:(]", line, maxsplit=1)[0].strip() for line in session.config.getini("markers")}
    if expr in known:
        return
    guess = difflib.get_close_matches(expr.lower().replace("-", "_"), EXERCISES, n=1, cutoff=0.6)
    raise pytest.UsageError(f"-m {expr}: unknown exercise {expr!r}"
                            + (f" (did you mean {guess[0]}?)" if guess else "")
                            + f"; the exercises are: {', '.join(EXERCISES)}")


@pytest.fixture
def ex(request: pytest.FixtureRequest):
    """The module under test, chosen by the test file's name (``test_dropout.py`` -> ``dropout``)."""
    name = _exercise_of(Path(str(request.node.fspath)))
    assert name, "the ex fixture is for tests/test_<exercise>.py files"
    return request.config.stash[LOADER].load(name)


@pytest.fixture
def load(request: pytest.FixtureRequest):
    """``load("dropout")``: import another exercise module from the same implementation."""
    return request.config.stash[LOADER].load


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    # Still failures (exit status, --lf, --sw, junit): only where pytest lists and counts them changes.
    if report.failed and unwritten.waits_for(report.longrepr):
        return unwritten.UNWRITTEN, "F", ("NOT IMPLEMENTED YET", {"yellow": True})
    if report.failed and isinstance(report.longrepr, str) and SAME_FAILURE in report.longrepr.split("\n", 1)[0]:
        # A module that does not import: its first test showed why, in full, and the end of the run
        # says it again; the others, one ERROR section each, were a wall around one cause.
        return COULD_NOT_RUN, "E", ("COULD NOT RUN", {"red": True})
    return None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config):
    """After the short summary: what is not written yet, in a few lines; then the full reason once
    more for a file whose many tests could not run: the first test's report, with the line and the
    caret, has scrolled far up by then."""
    yield
    unwritten.summarise(terminalreporter, lambda path: _exercise_of(Path(path)))
    for name, tests, report in config.stash[LOADER].still_broken():
        terminalreporter.write_sep("=", f"{name}.py does not import: {tests} tests could not run", red=True, bold=True)
        terminalreporter.write_line(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):  # the `ex` fixture imports the learner's module here
    with item.config.stash[LIMITS].running(_exercise_of(item.path)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with item.config.stash[LIMITS].running(_exercise_of(item.path)):
        yield


def _kata_longrepr(item: pytest.Item, call: pytest.CallInfo) -> str | None:
    """The report of a failure the kata explains itself; None for pytest's own."""
    if call.excinfo is None:
        return None
    from kata import KataCrash, KataFailure

    exc = call.excinfo.value
    if isinstance(exc, (KataFailure, ImplImportError)):
        return str(exc)
    if isinstance(exc, KataTimeout):
        return item.config.stash[LIMITS].report(_exercise_of(item.path) or "", exc)
    if item.config.getoption("fulltrace"):
        return None  # the whole traceback, as asked
    where = {"impl": item.config.stash[IMPL], "test_file": item.path.resolve()}
    if isinstance(exc, KataCrash) and exc.__cause__ is not None:
        text = failure_report.crash_report(exc.__cause__, context=exc.context(), **where)
        return text if text is not None else str(exc)
    if isinstance(exc, Exception) and not isinstance(exc, AssertionError):
        # The learner's code crashed, or torch did on what they built: a few lines, not torch's source.
        return failure_report.crash_report(exc, context=None, **where)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    text = _kata_longrepr(item, call)
    if text is not None:
        # pytest would first format the whole traceback of a failed call, reading and parsing the source
        # of every frame (80 ms a failure: 18 s of a first run over all the stubs), only for this text to
        # replace it. A setup error (a module that does not import) takes pytest's other path: replaced below.
        item.repr_failure = lambda excinfo, style=None: text  # type: ignore[method-assign]
    try:
        outcome = yield
    finally:
        if text is not None:
            del item.repr_failure
    report = outcome.get_result()
    if text is not None and not report.passed:
        report.longrepr = text
    # What the learner's code printed: its first and last lines, not megabytes of a loop's output.
    report.sections = [(title, failure_report.trim_output(content) if title.startswith("Captured") else content)
                       for title, content in report.sections]
