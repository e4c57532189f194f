"""Fixtures for the grader's own tests: one grading session shared by all of them."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import busy_cpu as _busy

busy_cpu = _busy.busy_cpu  # a fixture: one CPU made busy on purpose

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


@pytest.fixture(scope="session")
def learner_tests():
    """learner_tests(exercise, file) -> the learner tests' verdicts on ``file`` as ``exercise``
    (the other exercises from ``solutions/``): each run a fork of one warm process, as ``watch``
    runs them, so hundreds of runs pay ``import torch`` once per test worker."""
    import tempfile

    from grader.learner import testrun
    from grader.learner.warmrun import WarmRunner

    # No per-test time limit: on a busy machine a slow test must not count as a failure.
    env = {k: v for k, v in testrun.environment().items() if k not in ("KATA_IMPL", "PYTEST_ADDOPTS")}
    env["KATA_TEST_TIMEOUT"] = "0"
    runner = WarmRunner(env)

    def run(exercise: str, file: Path) -> testrun.ExerciseTests:
        with tempfile.TemporaryDirectory(prefix="kata-impl-") as tmp:
            impl = Path(tmp)
            for piece in (ROOT / "solutions").glob("*.py"):
                shutil.copy(piece, impl)
            shutil.copy(file, impl / f"{exercise}.py")
            return testrun.run([exercise], impl, timeout=300, warm=runner, env=env)[exercise]

    yield run
    runner.close()


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
