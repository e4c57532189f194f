"""Fixtures for the tests of the learner commands (helpers in ``learner_support.py``)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from learner_support import Kata, _ignore, copy_checkout
import busy_cpu as _busy

busy_cpu = _busy.busy_cpu  # a fixture: one CPU made busy on purpose


@pytest.fixture(scope="session")
def release_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student release, built once by the instructor's ``grader.release``."""
    from grader.release import release

    out = tmp_path_factory.mktemp("release") / "torch-kata"
    release(out)
    return out


@pytest.fixture
def checkout(tmp_path: Path) -> Kata:
    return Kata(copy_checkout(tmp_path / "clone"), tmp_path / "state")


@pytest.fixture
def student(tmp_path: Path, release_template: Path) -> Kata:
    root = tmp_path / "release"
    shutil.copytree(release_template, root, ignore=_ignore)
    return Kata(root, tmp_path / "state")


@pytest.fixture(params=["checkout", "release"])
def kata(request: pytest.FixtureRequest) -> Kata:
    """The same test in a fresh checkout and in the student release."""
    return request.getfixturevalue("checkout" if request.param == "checkout" else "student")
