"""Fixtures for the grader's own tests: one grading session shared by all of them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.grader)


@pytest.fixture(scope="session")
def grading():
    """A GradingSession: the zygote imports torch once for every test here."""
    from grader.session import GradingSession

    with GradingSession() as session:
        yield session


@pytest.fixture
def make_submission(tmp_path: Path):
    """make_submission({"dropout": "source..." or Path}) -> a submission directory."""
    def make(files: dict[str, str | Path], name: str = "sub") -> Path:
        d = tmp_path / name
        d.mkdir()
        for ex, content in files.items():
            target = d / f"{ex}.py"
            if isinstance(content, Path):
                shutil.copy(content, target)
            else:
                target.write_text(content)
        return d
    return make


@pytest.fixture
def processes_with():
    """The pids of the processes whose environment holds ``mark`` (a marker a test sets, e.g.
    ``KATA_TEST_MARK=...``): to prove that no process of a stopped grader outlived it."""
    def find(mark: str) -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if mark.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
        return found
    return find
