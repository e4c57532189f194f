"""The warm runner behind ``watch``: fork-per-run pytest that judges exactly as a new interpreter does."""
from __future__ import annotations

import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
from learner_support import ROOT, gone, marked

from grader.learner import testrun, warmrun

pytestmark = pytest.mark.skipif(not warmrun.SUPPORTED, reason="the warm runner forks: Linux only")


@pytest.fixture
def mark(monkeypatch: pytest.MonkeyPatch) -> str:
    """A unique variable in the environment the runner and its runs inherit; no outer options."""
    for name in ("KATA_IMPL", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    value = f"warm-{uuid.uuid4().hex}"
    monkeypatch.setenv("KATA_WARM_TEST", value)
    return value


@pytest.fixture
def warm(mark: str):
    runner = warmrun.WarmRunner(testrun.environment())
    yield runner
    runner.close()
    assert not gone(mark), "the runner left processes behind"


def _impl(tmp_path: Path, **sources: str) -> Path:
    impl = tmp_path / "impl"
    impl.mkdir(exist_ok=True)
    for piece in (ROOT / "solutions").glob("*.py"):
        shutil.copy(piece, impl)
    for name, text in sources.items():
        (impl / f"{name}.py").write_text(text)
    return impl


def _verdicts(t: testrun.ExerciseTests) -> tuple[str, list[tuple[str, str, str]]]:
    return t.state, [(c.name, c.outcome, c.message.splitlines()[0] if c.message else "") for c in t.cases]


@pytest.mark.parametrize("impl", ["solutions", "exercises", "mutant"])
def test_warm_runs_judge_as_new_interpreters_do(warm, tmp_path: Path, impl: str) -> None:
    where = {"solutions": ROOT / "solutions", "exercises": ROOT / "exercises",
             "mutant": _impl(tmp_path, devices=(ROOT / "tests" / "mutants" / "devices" / "tuple_becomes_list.py")
                             .read_text())}[impl]
    hot = testrun.run(["devices"], where, warm=warm)["devices"]
    cold = testrun.run(["devices"], where)["devices"]
    assert not warm.broken  # judged warm, not by the fallback
    assert _verdicts(hot) == _verdicts(cold)
    assert hot.state == {"solutions": "done", "exercises": "not_started", "mutant": "failing"}[impl]


def test_every_run_sees_the_file_as_saved(warm, tmp_path: Path) -> None:
    """Nothing of a run survives into the next: the exercise is imported afresh each time."""
    impl = _impl(tmp_path, sequential="def broken(:\n")
    assert testrun.run(["sequential"], impl, warm=warm)["sequential"].state == "broken"
    (impl / "sequential.py").write_text((ROOT / "solutions" / "sequential.py").read_text())
    assert testrun.run(["sequential"], impl, warm=warm)["sequential"].state == "done"
    (impl / "sequential.py").write_text("raise RuntimeError('saved half-way')\n")
    assert testrun.run(["sequential"], impl, warm=warm)["sequential"].state == "broken"
    assert not warm.broken


def test_a_run_past_its_time_is_killed_with_what_it_started(warm, mark: str, tmp_path: Path) -> None:
    impl = _impl(tmp_path, devices="import subprocess\nsubprocess.Popen(['sleep', '600'])\nwhile True:\n    pass\n")
    start = time.monotonic()
    with pytest.raises(testrun.RunError, match="took more than 5 s"):
        testrun.run(["devices"], impl, timeout=5, warm=warm)
    assert time.monotonic() - start < 5 + 40  # the wait for the server's start, then 5 s
    server = warm.proc.pid
    assert gone(mark, within=10) == [server]  # the run and its sleep are gone; the server stays
    assert testrun.run(["devices"], ROOT / "solutions", warm=warm)["devices"].state == "done"


def test_a_run_that_exits_hard_is_reported(warm, tmp_path: Path) -> None:
    impl = _impl(tmp_path, sequential="import os\nos._exit(3)\n")
    with pytest.raises(testrun.RunError, match="pytest produced no report"):
        testrun.run(["sequential"], impl, warm=warm)
    assert testrun.run(["sequential"], ROOT / "solutions", warm=warm)["sequential"].state == "done"


def test_without_the_server_runs_go_cold(warm, mark: str) -> None:
    warm.proc.kill()  # the server died (or never started): the runs still happen, in new interpreters
    warm.proc.wait()
    assert testrun.run(["devices"], ROOT / "solutions", warm=warm)["devices"].state == "done"
    assert warm.broken and warm.why.startswith("the warm runner ended")
    assert testrun.run(["devices"], ROOT / "exercises", warm=warm)["devices"].state == "not_started"


def test_a_killed_client_takes_the_server_and_its_run_along(mark: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``watch`` killed with SIGKILL runs no clean-up: the kernel's parent-death signal does it."""
    import subprocess
    import sys

    monkeypatch.setenv("KATA_TEST_TIMEOUT", "0")  # no per-test limit: the run would go on for ever
    impl = _impl(tmp_path, devices="while True:\n    pass\n")
    client = subprocess.Popen([sys.executable, "-c", (
        "import sys\nfrom pathlib import Path\nfrom grader.learner import testrun, warmrun\n"
        "w = warmrun.WarmRunner(testrun.environment())\n"
        "print('go', flush=True)\n"
        f"testrun.run(['devices'], Path({str(impl)!r}), warm=w)\n")],
        cwd=ROOT, env=testrun.environment(), stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None and client.stdout.readline() == "go\n"
        deadline = time.monotonic() + 120
        while len(marked(mark)) < 3 and time.monotonic() < deadline:  # client, server, the run
            time.sleep(0.2)
        assert len(marked(mark)) >= 3, "the run never started"
    finally:
        client.send_signal(signal.SIGKILL)
        client.wait()
    assert not gone(mark)


def test_a_server_whose_client_is_gone_before_it_starts_ends_at_once() -> None:
    """A ``watch`` ended while its server was still starting must not leave the server importing
    torch for nobody; the check once asked whether init had adopted it, which a subreaper
    (a container's init, a systemd user session) does instead."""
    import subprocess
    import sys

    client = ("import os, subprocess, sys\n"
              "subprocess.Popen([sys.executable, '-m', 'grader.learner.warmrun', str(os.getpid())])\n"
              "os._exit(0)\n")
    # The server inherits this pipe: run() returns once it has ended. Had it started, it would have
    # said it was ready there (its stdin, the null device, then ends it).
    r = subprocess.run([sys.executable, "-c", client], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "ready" not in r.stdout, "the server started for a client that had gone"
