"""Learner-test plumbing: which implementation to test, markers, and short failures.

``pytest`` tests ``exercises/``; ``pytest --impl=DIR`` (or ``KATA_IMPL=DIR``)
tests another directory, e.g. ``solutions``. Each ``test_<id>.py`` gets the
marker ``<id>`` and the fixture ``ex``: the module ``<id>`` imported from that
directory.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
from grader import cpu_wait, suggest, tracebacks  # noqa: E402
from grader.catalog import EXERCISES as _CATALOG  # noqa: E402

EXERCISES = tuple(e.id for e in _CATALOG)


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
    config._kata_impl = path.resolve()  # type: ignore[attr-defined]
    global CALL_LIMIT
    CALL_LIMIT = _call_limit(os.environ.get("KATA_TEST_TIMEOUT"))


def _call_limit(text: str | None) -> float:
    """KATA_TEST_TIMEOUT's seconds (default 10; 0 or less: no limit); a usage error, not a traceback."""
    if text is None or not text.strip():
        return 10.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise pytest.UsageError(f"KATA_TEST_TIMEOUT must be a number of seconds (0 turns the limit off), "
                                f"got {text!r}")
    return value


def pytest_report_header(config: pytest.Config) -> str:
    header = f"kata: testing the implementation in {config._kata_impl}"  # type: ignore[attr-defined]
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
    if config._kata_impl == (ROOT / "solutions").resolve():  # type: ignore[attr-defined]
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
    here = Path(__file__).parent
    if collection_path.parent == here and collection_path.is_dir():
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


class ImplImportError(Exception):
    """The learner's module failed to import; the message points at their file and line."""


_modules: dict[str, object] = {}
_broken: dict[str, str] = {}  # exercise -> why its module does not import (reported in full once)
_broken_report: dict[str, str] = {}  # exercise -> that full report, repeated at the end of the run
_broken_tests: dict[str, int] = {}  # exercise -> how many tests could not run because of it


def _syntax_lines(err: SyntaxError) -> list[str]:
    """The offending line with a caret under the spot, as Python prints it."""
    if not err.text:
        return []
    text = err.text.rstrip("\n")
    stripped = text.lstrip()
    lines = [f"    {stripped}"]
    if err.offset:
        col = max(err.offset - 1 - (len(text) - len(stripped)), 0)
        lines.append("    " + " " * col + "^")
    return lines


def load_impl(config: pytest.Config, name: str):
    """Import ``name`` from the implementation directory (once per session)."""
    if name in _modules:
        return _modules[name]
    if name in _broken:
        # One full report is enough: the other tests of this module say so in one line.
        _broken_tests[name] = _broken_tests.get(name, 1) + 1
        raise ImplImportError(f"importing {name}.py failed, as in its first test above: {_broken[name]}")
    impl: Path = config._kata_impl  # type: ignore[attr-defined]
    file = impl / f"{name}.py"
    if not file.is_file():
        raise ImplImportError(f"{file} not found: create it (copy exercises/{name}.py to start)")
    if str(impl) not in sys.path:
        sys.path.insert(0, str(impl))
    try:
        mod = importlib.import_module(name)
    except KataTimeout as err:
        sys.modules.pop(name, None)
        frames = [f for f in traceback.extract_tb(err.__traceback__) if _in_dir(f.filename, impl)]
        at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        _broken[name] = f"the import did not finish within {err.limit:g} s{at}"
        _broken_report[name] = (f"importing {name}.py failed: it did not finish within {err.limit:g} s{at} "
                                "(an endless loop or a wait at the top level of the file?)")
        raise ImplImportError(_broken_report[name]) from None
    except Exception as err:  # noqa: BLE001 - report any import failure as the learner's
        frames = [f for f in traceback.extract_tb(err.__traceback__) if _in_dir(f.filename, impl)]
        where = frames[-1].filename if frames else str(file)
        line = frames[-1].lineno if frames else None
        if isinstance(err, SyntaxError) and err.filename:
            where, line = err.filename, err.lineno
        at = f"{where}:{line}" if line else where
        # capstone.py imports the other exercises: say which of them is broken.
        culprit = Path(where).name
        short_at = f"{culprit}:{line}" if line else culprit
        if culprit != file.name and culprit.endswith(".py"):
            at = f": your {culprit}, which it imports, is broken at {at}"
        else:
            at = f" at {at}"
        _broken[name] = f"{type(err).__name__} at {short_at}"
        detail = _syntax_lines(err) if isinstance(err, SyntaxError) else []
        _broken_report[name] = "\n".join([f"importing {name}.py failed{at}: {type(err).__name__}: {err}", *detail,
                                          "  (none of its tests can run until it imports)"])
        raise ImplImportError(_broken_report[name]) from None
    if Path(getattr(mod, "__file__", "") or "").resolve().parent != impl:
        raise ImplImportError(f"'import {name}' found {getattr(mod, '__file__', '?')}, not {file}")
    _modules[name] = mod
    return mod


@pytest.fixture
def ex(request: pytest.FixtureRequest):
    """The module under test, chosen by the test file's name (``test_dropout.py`` -> ``dropout``)."""
    name = _exercise_of(Path(str(request.node.fspath)))
    assert name, "the ex fixture is for tests/test_<exercise>.py files"
    return load_impl(request.config, name)


@pytest.fixture
def load(request: pytest.FixtureRequest):
    """``load("dropout")``: import another exercise module from the same implementation."""
    return lambda name: load_impl(request.config, name)


def _in_dir(filename: str | None, folder: Path) -> bool:
    return bool(filename) and Path(filename).resolve().parent == folder


_HARNESS = (Path(__file__).resolve(), Path(__file__).resolve().parent / "kata.py",
            # The simulation's torch function modes are on the stack of every call made under them.
            Path(__file__).resolve().parents[1] / "grader" / "learner" / "simulation.py")
_PYTEST = tuple(Path(m.__file__).resolve().parent for m in (pytest, __import__("_pytest"), __import__("pluggy")))


def _where(frame: traceback.FrameSummary, lib: bool = False) -> str:
    path = Path(frame.filename)
    name = path.name
    for marker in ("site-packages", "dist-packages"):
        if lib and marker in path.parts:  # torch/nn/modules/module.py says more than module.py
            name = "/".join(path.parts[path.parts.index(marker) + 1:])
    src = (frame.line or "").strip()
    return f"  {name}:{frame.lineno}, in {frame.name}" + (f": {src}" if src else "")


def _short(err: BaseException, limit: int = 600) -> str:
    text = f"{type(err).__name__}: {suggest.message(err)}".strip()
    return text if len(text) <= limit else text[:limit] + " ..."


# Module attributes nn.Module.__init__ creates: missing, they mean it never ran.
_MODULE_INIT_ATTRS = re.compile(r"has no attribute '_(modules|parameters|buffers|forward_hooks|forward_pre_hooks|"
                                r"backward_hooks|backward_pre_hooks|state_dict_hooks|non_persistent_buffers_set|"
                                r"is_full_backward_hook|load_state_dict_pre_hooks)'")


# torch's broadcasting error: "The size of tensor a (3) must match the size of tensor b (2) at ..."
_SIZE_MISMATCH = re.compile(r"The size of tensor a \(\d+\) must match the size of tensor b \(\d+\)")


def _why_hint(err: BaseException) -> str | None:
    """One line for errors whose message does not say what the learner did."""
    text = str(err)
    if isinstance(err, AttributeError) and _MODULE_INIT_ATTRS.search(text):
        return "hint: nn.Module.__init__ never ran: call super().__init__() first thing in your __init__"
    if "meta" in text and isinstance(err, (RuntimeError, NotImplementedError, ValueError)):
        return ("hint: the meta device stands in for a GPU in these tests (tensors with a shape and a device, "
                "no values): make new tensors on the input's device")
    if isinstance(err, RuntimeError) and _SIZE_MISMATCH.search(text):
        return ("hint: two tensors whose shapes do not line up: a sum/max/argmax over the wrong dim, or a "
                "reduction without keepdim=True before broadcasting against the original?")
    if type(err).__name__ == "BdbQuit":
        return "hint: a breakpoint() was reached where nobody can answer it: run `pytest -m <exercise>` in a terminal"
    return None


def _crash_report(item: pytest.Item, err: BaseException, context: str | None) -> str | None:
    """A few lines about ``err`` for the learner, or None to leave pytest's traceback (a harness bug)."""
    impl: Path = item.config._kata_impl  # type: ignore[attr-defined]
    test_file = item.path.resolve()
    frames = []  # (kind, frame), innermost last, without pytest's and the harness's frames
    for f in traceback.extract_tb(err.__traceback__):
        path = Path(f.filename).resolve()
        if path in _HARNESS or any(path.is_relative_to(d) for d in _PYTEST):
            continue
        frames.append(("theirs" if path.parent == impl else "test" if path == test_file else "lib", f))
    theirs = [f for kind, f in frames if kind == "theirs"]
    tests = [f for kind, f in frames if kind == "test"]
    last = frames[-1][1] if frames else None
    if (isinstance(err, NotImplementedError) and last is not None and frames[-1][0] == "theirs"
            and (last.line or "").lstrip().startswith("raise")):
        # The stub's own `raise NotImplementedError`. torch's (numpy() of a meta tensor, say) also
        # seems to come from their line, as C code has no frame: that line is no `raise`.
        return f"{UNWRITTEN}: {tracebacks.qualname(err) or last.name} in {Path(last.filename).name} (line {last.lineno})"
    if context is None and not theirs and not tests:
        return None
    # With run()'s context the call and the contract point come first, and the rest is indented under them.
    pad = "  " if context else ""
    lines = [context] if context else []
    who = "your code raised" if theirs else "it raised" if context else "testing your code raised"
    lines.append(f"{pad}{who} {_short(err)}")
    if tests and context is None:  # the test's line that made the call
        lines.append(_where(tests[-1]))
    lines.extend(pad + _where(f) for f in theirs[-3:])
    if frames and frames[-1][0] == "lib":  # raised inside a library (torch): where, not its source
        lines.append(pad + _where(frames[-1][1], lib=True))
    hint = _why_hint(err)
    if hint:
        lines.append(pad + "  " + hint)
    return "\n".join(lines)


# A learner's infinite loop must not cost pytest-timeout's 120 s per test (that limit is the
# whole suite's safety net): a learner test gets CALL_LIMIT seconds, and once one test of an
# exercise has run out, its other tests get AFTER_TIMEOUT each. The slowest learner test takes
# about 0.1 s on the reference.
CALL_LIMIT = 10.0  # KATA_TEST_TIMEOUT, read by pytest_configure (_call_limit)
AFTER_TIMEOUT = 2.0
# Time spent importing a library is not the learner's: torch imports torch._dynamo on the first
# operation on the meta device, seconds on a busy machine. Up to this much of it is not counted.
IMPORT_GRACE = 60.0
_timed_out: dict[str, float] = {}  # exercise -> the limit its first timeout ran into


class KataTimeout(BaseException):
    """Raised in a learner test when its time is up; a BaseException, so that an ``except
    Exception`` in the learner's code (or in ``kata.run``) does not swallow it."""

    def __init__(self, limit: float, note: str = "") -> None:
        super().__init__(f"did not finish within {limit:g} s" + (f" ({note})" if note else ""))
        self.limit, self.note = limit, note


def _importing_a_library(frame: FrameType | None, impl: Path) -> bool:
    """Whether Python is running the import of a module other than the learner's own: the
    innermost frame of the import machinery comes before any frame of the learner's files."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith("<frozen importlib"):
            return True
        if Path(filename).resolve().parent == impl:
            return False  # their code runs (perhaps as their module is imported): it counts
        frame = frame.f_back
    return False


@contextlib.contextmanager
def _time_limit(item: pytest.Item) -> Iterator[None]:
    ex = _exercise_of(item.path)
    if (ex is None or CALL_LIMIT <= 0 or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return
    limit = min(AFTER_TIMEOUT, CALL_LIMIT) if ex in _timed_out else CALL_LIMIT
    impl: Path = item.config._kata_impl  # type: ignore[attr-defined]
    grace = IMPORT_GRACE
    # Time this thread waited for a CPU is not the learner's either (a busy machine, `pytest -n`
    # with more workers than cores): see grader/cpu_wait.py. Not once the exercise has timed out:
    # its other tests are then to cost seconds, as the report promises.
    stretch = ex not in _timed_out
    watch = cpu_wait.Stopwatch()

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        nonlocal grace, watch
        left = watch.deadline(limit) - time.monotonic() if stretch else 0.0
        if left > 0.001:
            signal.setitimer(signal.ITIMER_REAL, left)
            return
        if grace > 0 and _importing_a_library(frame, impl):
            grace -= limit
            watch = cpu_wait.Stopwatch()
            signal.setitimer(signal.ITIMER_REAL, limit)  # the time starts again once it is done
            return
        raise KataTimeout(limit, watch.busy_note(limit) if stretch else "")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, limit)  # pytest-timeout's alarm, if it set one
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 0.001))


# A test that fails only because it reached a stub's `raise NotImplementedError` is counted apart and
# summed up by function at the end: a fresh checkout's `pytest` printed 256 failures of two lines each,
# then 256 summary lines, to say that 25 functions are not written yet. _crash_report writes the
# message, _unwritten reads it.
UNWRITTEN = "not implemented yet"


def _unwritten(report: pytest.TestReport) -> str | None:
    """The function a failed test waits for ("dropout in dropout.py (line 40)"), or None."""
    text = report.longrepr if report.failed else None
    return text[len(UNWRITTEN) + 2:] if isinstance(text, str) and text.startswith(UNWRITTEN + ": ") else None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if _unwritten(report):
        # Still a failure (exit status, --lf, --sw, junit): only where pytest lists and counts it.
        return UNWRITTEN, "F", ("NOT IMPLEMENTED YET", {"yellow": True})
    return None


def _summarise_unwritten(terminalreporter) -> None:
    reports = terminalreporter.stats.get(UNWRITTEN, [])
    if not reports:
        return
    waits: dict[str, int] = {}  # function -> how many tests wait for it
    order: dict[str, tuple[int, int]] = {}  # function -> (its exercise's rank, its line): -n runs in any order
    exercises: set[str] = set()
    for r in reports:
        fn = _unwritten(r)
        waits[fn] = waits.get(fn, 0) + 1
        ex = _exercise_of(Path(r.location[0]))
        if ex:
            exercises.add(ex)
        line = re.search(r"\(line (\d+)\)$", fn)
        key = (EXERCISES.index(ex) if ex else len(EXERCISES), int(line.group(1)) if line else 0)
        order[fn] = min(order.get(fn, key), key)
    waits = dict(sorted(waits.items(), key=lambda kv: order[kv[0]]))
    tests = f"{len(reports)} tests wait" if len(reports) > 1 else "1 test waits"
    terminalreporter.write_sep("=", f"{UNWRITTEN}: {tests} for {len(waits)} function{'s' if len(waits) > 1 else ''}",
                               yellow=True)
    width = max(len(fn) for fn in waits)
    for fn, n in waits.items():
        terminalreporter.write_line(f"  {fn:<{width}}  {n} test{'s' if n > 1 else ''}")
    if len(exercises) > 1:
        first = min(exercises, key=EXERCISES.index)
        terminalreporter.write_line(f"next: `python -m pytest -m {first}` (stuck? `python -m grader hint {first}`)")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config):
    """After the short summary: what is not written yet, in a few lines; then the full reason once
    more for a file whose many tests could not run: the first test's report, with the line and the
    caret, has scrolled far up by then."""
    yield
    _summarise_unwritten(terminalreporter)
    for name, report in _broken_report.items():
        if _broken_tests.get(name, 1) > 1:
            terminalreporter.write_sep("=", f"{name}.py does not import: {_broken_tests[name]} tests could not run",
                                       red=True, bold=True)
            terminalreporter.write_line(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):  # the `ex` fixture imports the learner's module here
    with _time_limit(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _time_limit(item):
        yield


def _timeout_report(item: pytest.Item, err: KataTimeout) -> str:
    impl: Path = item.config._kata_impl  # type: ignore[attr-defined]
    ex = _exercise_of(item.path) or ""
    first = ex not in _timed_out
    _timed_out.setdefault(ex, err.limit)
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve().parent == impl]
    lines = [f"your code did not return within {err.limit:g} s: an endless loop, or a wait that never ends?"]
    if err.note:
        lines.append(f"  {err.note}")
    if frames:
        lines.append("  it was running:")
        # The outermost of their frames too: an endless loop in fit shows as fit's line, not only
        # as whatever it was calling when the time ran out.
        shown = frames[-3:] if len(frames) <= 3 else [frames[0], None, *frames[-2:]]
        lines.extend("  ..." if f is None else "  " + _where(f) for f in shown)
    if first:
        lines.append(f"  (the other tests of {ex} get {min(AFTER_TIMEOUT, CALL_LIMIT):g} s each from now on; "
                     "KATA_TEST_TIMEOUT=SECONDS changes the limit)")
    return "\n".join(lines)


def _kata_longrepr(item: pytest.Item, call: pytest.CallInfo) -> str | None:
    """The report of a failure the kata explains itself; None for pytest's own."""
    if call.excinfo is None:
        return None
    from kata import KataCrash, KataFailure

    exc = call.excinfo.value
    if isinstance(exc, (KataFailure, ImplImportError)):
        return str(exc)
    if isinstance(exc, KataTimeout):
        return _timeout_report(item, exc)
    if item.config.getoption("fulltrace"):
        return None  # the whole traceback, as asked
    if isinstance(exc, KataCrash) and exc.__cause__ is not None:
        text = _crash_report(item, exc.__cause__, exc.context())
        return text if text is not None else str(exc)
    if isinstance(exc, Exception) and not isinstance(exc, AssertionError):
        # The learner's code crashed, or torch did on what they built: a few lines, not torch's source.
        return _crash_report(item, exc, None)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    text = _kata_longrepr(item, call)
    if text is None:
        yield
        return
    # pytest would first format the whole traceback of a failed call, reading and parsing the source
    # of every frame (80 ms a failure: 18 s of a first run over all the stubs), only for this text to
    # replace it. A setup error (a module that does not import) takes pytest's other path: replaced below.
    item.repr_failure = lambda excinfo, style=None: text  # type: ignore[method-assign]
    try:
        outcome = yield
    finally:
        del item.repr_failure
    report = outcome.get_result()
    if not report.passed:
        report.longrepr = text
