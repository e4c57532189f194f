"""Registers ``--impl`` at the repository root, and runs the learner tests from ``exercises/`` too.

pytest reads ``--impl DIR`` before it loads ``tests/conftest.py`` (and would
take ``DIR`` for a test path), so the option lives here; everything else about
the learner tests is in ``tests/conftest.py``. For a directory outside the
repository write ``--impl=DIR``: a lone ``DIR`` there would make pytest look for
its configuration beside ``DIR``, never load this file, and reject ``--impl``.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--impl", default=None, metavar="DIR",
                     help="directory holding the <exercise>.py files to test (default: exercises, or $KATA_IMPL)")


def _exercises_dir(config: pytest.Config) -> Path:
    return config.rootpath / "exercises"


def pytest_configure(config: pytest.Config) -> None:
    # pytest uses testpaths only when started in the rootdir; from exercises/, where learners
    # edit, a bare `pytest` searched that folder and found no tests. Run the learner tests instead.
    here = config.invocation_params.dir
    from_dir = config.args_source is pytest.Config.ArgsSource.INVOCATION_DIR
    if from_dir and here.is_relative_to(_exercises_dir(config)):
        paths = [str(config.rootpath / p) for p in config.getini("testpaths") if (config.rootpath / p).is_dir()]
        if paths:
            config.args, config.args_source = paths, pytest.Config.ArgsSource.TESTPATHS


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    # `pytest exercises/dropout.py` collects nothing (no tests in it) and says only "no tests ran".
    if exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED:
        return
    inside = [a for a in config.args
              if Path(a.split("::")[0]).resolve().is_relative_to(_exercises_dir(config).resolve())]
    if inside:
        name = Path(inside[0].split("::")[0]).stem
        example = name if name != "exercises" else "dropout"
        terminalreporter.write_line(f"hint: exercises/ holds your code, not tests: run `python -m pytest -m "
                                    f"{example}` (its tests are tests/test_{example}.py)", yellow=True)
