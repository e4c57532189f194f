"""A broken or hostile exercise fails alone; the rest of the submission grades normally."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "solutions" / "cross_entropy.py"


@pytest.fixture(scope="module")
def quick():
    """A session with short limits so hostile code costs seconds, not minutes."""
    from grader.session import GradingSession

    with GradingSession(call_timeout=2.0, budget=6.0) as session:
        yield session


def grade_pair(session, make_submission, hostile: str):
    sub = make_submission({"sequential": hostile, "cross_entropy": GOOD})
    start = time.monotonic()
    result = session.grade(sub, ["sequential", "cross_entropy"])
    elapsed = time.monotonic() - start
    bad, good = result.exercises
    assert good.score == good.max_points, [c.reason for c in good.checks if not c.passed]
    assert bad.score == 0
    return bad, elapsed


def test_raise_at_import(quick, make_submission) -> None:
    ce, _ = grade_pair(quick, make_submission, "import torch\nraise RuntimeError('boom at import')\n")
    assert ce.notes and "importing sequential.py failed at sequential.py:2" in ce.notes[0]
    assert "RuntimeError: boom at import" in ce.notes[0]
    assert all(c.reason == ce.notes[0] for c in ce.checks)


def test_syntax_error_names_file_and_line(quick, make_submission) -> None:
    ce, _ = grade_pair(quick, make_submission, "class MySequential(:\n    pass\n")
    assert "sequential.py:1" in ce.notes[0] and "SyntaxError" in ce.notes[0]


def test_infinite_loop_in_a_call(quick, make_submission) -> None:
    src = "class MySequential:\n    def __init__(self, *modules):\n        while True:\n            pass\n"
    ce, elapsed = grade_pair(quick, make_submission, src)
    reasons = {c.reason for c in ce.checks}
    assert any("timed out after 2 s" in r for r in reasons), reasons
    assert any("budget of 6 s is used up" in r for r in reasons), reasons
    assert elapsed < 6 + 2 + 15  # the budget, one call's overshoot, and the rest of the grading


def test_infinite_loop_at_import(quick, make_submission) -> None:
    ce, elapsed = grade_pair(quick, make_submission, "import time\nwhile True:\n    time.sleep(1)\n")
    assert "timed out after 2 s" in ce.notes[0]
    assert elapsed < 2 + 15


def test_process_that_kills_itself(quick, make_submission) -> None:
    src = "import os, signal, torch\n\nclass MySequential:\n    def __init__(self, *modules):\n" \
          "        if modules and isinstance(modules[0], torch.nn.Linear):\n            os._exit(3)\n" \
          "        os.kill(os.getpid(), signal.SIGKILL)\n"
    ce, _ = grade_pair(quick, make_submission, src)
    reasons = {c.reason for c in ce.checks}
    assert "worker died: signal 9 (SIGKILL)" in reasons
    assert "worker exited with status 3" in reasons


def test_segfault_and_sys_exit(quick, make_submission) -> None:
    src = "import ctypes, sys, torch\n\nclass MySequential:\n    def __init__(self, *modules):\n" \
          "        if modules and isinstance(modules[0], torch.nn.Linear):\n            sys.exit(0)\n" \
          "        ctypes.string_at(0)\n"
    ce, _ = grade_pair(quick, make_submission, src)
    reasons = {c.reason for c in ce.checks}
    assert "worker died: signal 11 (SIGSEGV)" in reasons
    assert any(r.startswith("raised SystemExit") for r in reasons), reasons


def test_missing_file(quick, make_submission) -> None:
    sub = make_submission({"cross_entropy": GOOD})
    seq, ce = quick.grade(sub, ["sequential", "cross_entropy"]).exercises
    assert seq.score == 0 and ce.score == ce.max_points
    assert seq.notes[0] == "sequential.py not found"
    assert all(c.reason == "sequential.py not found" for c in seq.checks)


def test_exec_workers_grade_the_same(make_submission) -> None:
    """Fresh interpreters (what a GPU machine uses, since CUDA and fork do not mix) agree with forked workers."""
    from grader.session import GradingSession

    sub = make_submission({"cross_entropy": GOOD, "sequential": "while True:\n    pass\n"})
    # Limits with room for a fresh interpreter's first calls on a machine busy with pytest -n 2
    # (3 s once cost the correct cross_entropy a check there).
    with GradingSession(method="exec", call_timeout=8.0, budget=20.0) as session:
        assert session.pool.zygote is None
        ce, seq = session.grade(sub, ["cross_entropy", "sequential"]).exercises
    assert ce.score == ce.max_points, [f"{c.name}: {c.reason}" for c in ce.checks if not c.passed]
    assert seq.score == 0 and "timed out after 8 s" in seq.notes[0]


def test_zygote_never_initialises_cuda() -> None:
    """The zygote imports torch but must leave CUDA alone, so forked workers may use it."""
    import subprocess
    import sys

    code = ("import grader.worker as w, torch; w.preload(); "
            "print(torch.cuda.is_initialized())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr


def test_cuda_checks_left_out_when_the_sandbox_cannot_use_the_gpu(make_submission) -> None:
    """A GPU the reference sees but a sandboxed worker cannot use must not cost correct work points.

    Without a GPU the sandboxed canary fails for real, which is the case under
    test; the reference is told it sees a GPU.
    """
    import torch

    from grader.session import GradingSession

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA (the canary must fail)")
    with GradingSession() as session:
        session.reference._info = {**session.reference.info(), "cuda": True}
        problem = session.pool.cuda_in_sandbox()
        assert problem and ("CUDA" in problem or "NVIDIA" in problem or "cuda" in problem), problem
        sub = make_submission({"weight_init": ROOT / "solutions" / "weight_init.py"})
        result = session.grade(sub, ["weight_init"])
    (ex,) = result.exercises
    assert ex.score == ex.max_points and ex.checks and not any(c.cuda for c in ex.checks)
    assert sum("CUDA checks are left out" in w for w in result.warnings) == 1, result.warnings


def test_gpu_machine_starts_workers_fresh(monkeypatch) -> None:
    """With a GPU attached, workers are exec'd (CUDA and fork do not mix); without one, forked."""
    import grader.worker
    from grader.pool import default_start_method

    for attached, method in ((True, "exec"), (False, "fork")):
        monkeypatch.setattr(grader.worker, "gpu_attached", lambda a=attached: a)
        assert default_start_method() == method


@pytest.mark.cuda
def test_grader_process_never_initialises_cuda() -> None:
    """On a GPU machine, grading with CUDA checks leaves CUDA to the workers: the grader may fork safely.

    In a process of its own: the learner tests' CUDA cases initialise CUDA in this one.
    """
    import subprocess
    import sys

    code = ("import torch; from pathlib import Path; from grader.session import GradingSession\n"
            "with GradingSession() as s:\n"
            "    r = s.grade(Path('solutions'), ['dropout'])\n"
            "print(sum(c.cuda for e in r.exercises for c in e.checks), torch.cuda.is_initialized())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    counted, initialised = out.stdout.split()[-2:]
    assert int(counted) > 0, out.stdout + out.stderr
    assert initialised == "False", out.stdout + out.stderr


def test_unisolated_grading_of_several_exercises_runs() -> None:
    """--start inprocess (the benchmark's floor): each exercise's probes run in a scratch folder of
    its own, and the grader gets back to where it was, not to a scratch folder already removed."""
    r = subprocess.run([sys.executable, "-m", "grader", "grade", "solutions", "-e", "cross_entropy", "-e", "datasets",
                        "-e", "sequential", "--start", "inprocess"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Total: 41.00 / 41" in r.stdout and "WARNING: no sandbox" in r.stdout, r.stdout


def test_a_grader_gone_mid_request_ends_the_zygote_quietly() -> None:
    """SIGTERM to grade-all closed a job's connection while its zygote was answering a spawn: the
    zygote printed a BrokenPipeError traceback into the instructor's terminal. It must just end."""
    import socket

    from grader import codec

    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-m", "grader.zygote", "--fd", str(theirs.fileno())],
                            cwd=ROOT, pass_fds=[theirs.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    theirs.close()
    codec.send(ours, {"op": "nothing"})  # a request whose answer finds nobody: the grader has gone
    ours.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_a_helper_whose_grader_is_gone_never_runs(tmp_path: Path) -> None:
    """The zygote and exec-started workers import torch before their own code runs. A grader stopped
    meanwhile once left them importing, orphaned, holding its stdout and stderr: a SIGTERM'd
    grade-all's output ended 1.9 s after it did (6.8 s in a parallel test run). grader.launch sets the
    death signal before anything else, and ends a helper whose parent has already gone."""
    (tmp_path / "slow_helper.py").write_text(  # stands for the torch import that took its time
        "import pathlib, time\ntime.sleep(5)\npathlib.Path('ran').write_text('')\n")
    grader = ("import os, subprocess, sys\n"
              "subprocess.Popen([sys.executable, '-m', 'grader.launch', str(os.getpid()), 'slow_helper'])\n"
              "os._exit(0)\n")
    # The helper inherits the pipe: run() returns once it has ended, however it ended.
    r = subprocess.run([sys.executable, "-c", grader], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "ran").exists(), "the helper outlived the grader that started it"
