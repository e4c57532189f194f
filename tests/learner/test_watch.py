"""``python -m grader watch``, tested as a learner uses it: start it, save a file, read what it prints."""
from __future__ import annotations

import argparse
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from learner_support import ROOT, Kata, gone


class Output:
    """Lines printed by a running process, read on a thread so that waiting can time out."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.lines, self._q = proc, [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._q.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
                if left <= 0:
                    raise AssertionError(f"no line with {text!r} within {timeout} s; got:\n" + "\n".join(self.lines))
                continue
            if line is None:
                raise AssertionError(f"the process ended before printing {text!r}; got:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if text in line:
                return line

    def rest(self, timeout: float = 60) -> str:
        """Wait for the process to end; everything it printed."""
        self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
        return "\n".join(self.lines)


@pytest.fixture
def started():
    procs: list[subprocess.Popen] = []

    def start(kata: Kata, *args: str, **env: str) -> Output:
        proc = kata.popen("watch", *args, **env)
        procs.append(proc)
        return Output(proc)

    yield start
    for proc in procs:  # never leave a watcher behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _touch(path: Path, text: str | None = None) -> None:
    """Save a file the way an editor does: new content, a later modification time."""
    time.sleep(0.2)
    path.write_text(text if text is not None else path.read_text() + "\n# saved again\n")


def test_saving_a_file_runs_its_tests(kata: Kata, started) -> None:
    out = started(kata, "--max-runs", "1", "--timeout", "120")
    assert "file-system events" in out.wait_for("watching exercises")
    _touch(kata.root / "exercises" / "devices.py", (ROOT / "solutions" / "devices.py").read_text())
    out.wait_for("devices.py changed")
    line = out.wait_for("devices:")
    assert line.startswith("✓ devices: ") and line.split()[2].split("/")[0] == line.split()[2].split("/")[1]
    assert "passed" in line
    text = out.rest()
    assert out.proc.returncode == 0 and "Traceback" not in text
    assert "warm runner" not in text  # it works in the student release too


def test_a_failure_shows_the_first_failing_check(checkout: Kata, started) -> None:
    out = started(checkout, "--poll", "--interval", "0.2", "--max-runs", "1", "--timeout", "120")
    assert "polling" in out.wait_for("watching exercises")
    mutant = ROOT / "tests" / "mutants" / "devices" / "tuple_becomes_list.py"
    _touch(checkout.root / "exercises" / "devices.py", mutant.read_text())
    line = out.wait_for("devices:")
    assert line.startswith("✗ devices: ") and " failing; test_" in line
    text = out.rest()
    assert "contract:" in text  # the check's message follows, indented
    assert out.proc.returncode == 0


def test_without_watchfiles_it_polls(tmp_path: Path, checkout: Kata, started) -> None:
    fake = tmp_path / "no_watchfiles"
    (fake / "watchfiles").mkdir(parents=True)
    (fake / "watchfiles" / "__init__.py").write_text("raise ImportError('watchfiles is not installed (test)')\n")
    out = started(checkout, "--max-runs", "1", "--timeout", "120", PYTHONPATH=str(fake))
    assert "(polling)" in out.wait_for("watching exercises")
    _touch(checkout.root / "exercises" / "sequential.py")
    line = out.wait_for("sequential:")
    assert line.startswith("… sequential: 0/") and "not implemented yet; write next: " in line
    out.rest()
    assert out.proc.returncode == 0


def test_other_files_do_not_trigger_a_run(checkout: Kata, started) -> None:
    out = started(checkout, "--poll", "--interval", "0.2", "--timeout", "3")
    out.wait_for("watching exercises")
    _touch(checkout.root / "exercises" / "hints" / "dropout.en.toml")
    _touch(checkout.root / "exercises" / "notes.py", "x = 1\n")
    text = out.rest()
    assert "changed" not in text and "watch: time is up" in text and out.proc.returncode == 0


@pytest.mark.parametrize("when", ["idle", "while testing"])
def test_ctrl_c_exits_cleanly(checkout: Kata, started, when: str) -> None:
    mark = f"watch-{uuid.uuid4().hex}"
    out = started(checkout, "--timeout", "120", KATA_WATCH_TEST=mark)
    out.wait_for("watching exercises")
    if when == "while testing":
        _touch(checkout.root / "exercises" / "weight_init.py")
        out.wait_for("weight_init.py changed")
    out.proc.send_signal(signal.SIGINT)
    text = out.rest(timeout=30)
    assert out.proc.returncode == 0, text
    assert "stopped watching" in text and "Traceback" not in text and "KeyboardInterrupt" not in text
    assert not gone(mark), "the warm runner or a run of the tests outlived the watch"


@pytest.mark.parametrize("cold", [False, True])
def test_runs_are_warm_unless_told_cold(monkeypatch: pytest.MonkeyPatch, cold: bool) -> None:
    """By default one warm runner serves every run (and is closed at the end); --cold starts none."""
    from grader.learner import cli, testrun, warmrun

    made: list[warmrun.WarmRunner] = []
    real_run = testrun.run

    class Counting(warmrun.WarmRunner):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.calls = 0
            made.append(self)

        def run(self, *args, **kwargs) -> int:
            self.calls += 1
            return super().run(*args, **kwargs)

    results: list[testrun.ExerciseTests] = []

    def recording_run(*args, **kwargs):
        got = real_run(*args, **kwargs)
        results.extend(got.values())
        return got

    monkeypatch.setattr(warmrun, "WarmRunner", Counting)
    monkeypatch.setattr(testrun, "run", recording_run)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["watch", "devices", "--impl", str(ROOT / "solutions"), "--max-runs", "1",
                              *(["--cold"] if cold else [])])
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(args.func(args)))  # not the main thread: no
    worker.start()                                                            # signal handlers installed
    worker.join(timeout=240)
    assert codes == [0] and [r.state for r in results] == ["done"]
    if cold or not warmrun.SUPPORTED:
        assert made == []
    else:
        assert len(made) == 1 and made[0].calls == 1 and not made[0].broken
        assert made[0].proc.returncode is not None  # closed with the watch


def test_a_named_exercise_is_tested_at_once(checkout: Kata, started) -> None:
    checkout.solve("devices")
    out = started(checkout, "devices", "--poll", "--max-runs", "1", "--timeout", "120")
    out.wait_for("running the learner tests of devices")
    line = out.wait_for("devices:")
    assert line.startswith("✓ devices: ") and "passed" in line
    text = out.rest()
    assert out.proc.returncode == 0 and "watching exercises" not in text  # --max-runs ended it before watching


def test_saving_an_import_reruns_the_named_exercise(checkout: Kata, started) -> None:
    out = started(checkout, "capstone", "--poll", "--interval", "0.2", "--max-runs", "3", "--timeout", "180")
    assert out.wait_for("capstone:").startswith("… capstone: ")  # a fresh checkout: its stubs wait
    out.wait_for("watching exercises")
    _touch(checkout.root / "exercises" / "dropout.py")
    out.wait_for("dropout.py changed: running its learner tests")
    assert out.wait_for("dropout:").startswith("… dropout: ")
    out.wait_for("dropout.py changed, and capstone imports it")
    out.wait_for("capstone:")
    text = out.rest()
    assert out.proc.returncode == 0 and "Traceback" not in text


def test_an_unknown_exercise_is_a_usage_error(checkout: Kata) -> None:
    out = checkout.run("watch", "dropuot", "--timeout", "5")
    assert out.returncode == 2 and out.stderr.startswith("error: unknown exercise 'dropuot' (did you mean dropout?)")


def test_dependents_follow_the_imports(tmp_path: Path) -> None:
    from grader.learner.watch import imported_exercises, to_run

    (tmp_path / "capstone.py").write_text("import torch\nfrom dropout import EpochDropout\n"
                                          "def f():\n    import training.x as t\n")
    (tmp_path / "training.py").write_text("def broken(:\n")
    assert imported_exercises(tmp_path / "capstone.py") == {"dropout", "training"}
    assert imported_exercises(tmp_path / "training.py") == set()  # does not parse: nothing to follow
    assert imported_exercises(tmp_path / "missing.py") == set()
    assert to_run(tmp_path, ["dropout"], ["capstone"]) == ["dropout", "capstone"]
    assert to_run(tmp_path, ["devices"], ["capstone"]) == ["devices"]
    assert to_run(tmp_path, ["capstone", "dropout"], ["capstone"]) == ["dropout", "capstone"]
    assert to_run(tmp_path, ["dropout"], []) == ["dropout"]


def test_a_mistake_is_told_apart_from_a_function_not_written_yet() -> None:
    from grader.learner import i18n
    from grader.learner.testrun import Case, ExerciseTests
    from grader.learner.watch import describe

    msgs = i18n.messages("en")
    stub = "not implemented yet: train_epoch in training.py (line 40)"
    waiting = ExerciseTests("training", [Case("test_a", "passed"), Case("test_b", "failed", stub)])
    assert describe(msgs, waiting, fancy=True) == \
        "… training: 1/2 passed, 1 not implemented yet; write next: train_epoch in training.py (line 40)"
    assert describe(msgs, waiting, fancy=False).startswith("TODO training: 1/2 passed")
    # A mistake is shown first, whatever the order of the tests; the stub is still counted.
    wrong = Case("test_c", "failed", "evaluate(...)\n  contract: the mean loss per sample")
    both = ExerciseTests("training", [*waiting.cases, wrong])
    assert describe(msgs, both, fancy=True).splitlines() == [
        "✗ training: 1/3 failing, 1 not implemented yet; test_c: evaluate(...)",
        "      contract: the mean loss per sample"]
    assert describe(msgs, ExerciseTests("training", [Case("test_a", "passed"), wrong]), fancy=False) \
        .startswith("FAIL training: 1/2 failing; test_c: ")
