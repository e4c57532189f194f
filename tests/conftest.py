"""Learner-test plumbing: which implementation to test, markers, and short failures.

``pytest`` tests ``exercises/``; ``pytest --impl DIR`` (or ``KATA_IMPL=DIR``)
tests another directory, e.g. ``solutions``. Each ``test_<id>.py`` gets the
marker ``<id>`` and the fixture ``ex``: the module ``<id>`` imported from that
directory.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
    config._kata_impl = path  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str:
    return f"kata: testing the implementation in {config._kata_impl}"  # type: ignore[attr-defined]


def _exercise_of(path: Path) -> str | None:
    stem = path.stem
    return stem[5:] if stem.startswith("test_") and stem[5:] in EXERCISES else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    has_cuda = torch.cuda.is_available()
    for item in items:
        ex = _exercise_of(Path(str(item.fspath)))
        if ex:
            item.add_marker(getattr(pytest.mark, ex))
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


class ImplImportError(Exception):
    """The learner's module failed to import; the message points at their file and line."""


_modules: dict[str, object] = {}


def load_impl(config: pytest.Config, name: str):
    """Import ``name`` from the implementation directory (once per session)."""
    if name in _modules:
        return _modules[name]
    impl: Path = config._kata_impl  # type: ignore[attr-defined]
    file = impl / f"{name}.py"
    if not file.is_file():
        raise ImplImportError(f"{file} not found: create it (copy exercises/{name}.py to start)")
    if str(impl) not in sys.path:
        sys.path.insert(0, str(impl))
    try:
        mod = importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - report any import failure as the learner's
        frames = [f for f in traceback.extract_tb(err.__traceback__) if str(impl) in (f.filename or "")]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else str(file)
        if isinstance(err, SyntaxError) and err.filename:
            where = f"{err.filename}:{err.lineno}"
        raise ImplImportError(f"importing {name}.py failed at {where}: {type(err).__name__}: {err}") from None
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or report.passed:
        return
    from kata import KataFailure

    exc = call.excinfo.value
    if isinstance(exc, NotImplementedError):
        frame = call.excinfo.traceback[-1]
        report.longrepr = f"not implemented yet: {frame.name} in {Path(str(frame.path)).name} (line {frame.lineno + 1})"
    elif isinstance(exc, (KataFailure, ImplImportError)):
        report.longrepr = str(exc)
    elif isinstance(exc, Exception) and not isinstance(exc, AssertionError):
        # The learner's code crashed: show where in *their* file, not the harness's frames.
        impl = str(item.config._kata_impl)  # type: ignore[attr-defined]
        frames = [e for e in call.excinfo.traceback if str(e.path).startswith(impl)]
        if frames:
            lines = [f"your code raised {type(exc).__name__}: {exc}"]
            for e in frames[-3:]:
                src = str(e.statement).strip() if e.statement is not None else ""
                lines.append(f"  {Path(str(e.path)).name}:{e.lineno + 1}, in {e.name}: {src}")
            report.longrepr = "\n".join(lines)
