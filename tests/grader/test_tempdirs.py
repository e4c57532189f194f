"""The grader's temp folders: a killed grader's copies of student code do not pile up."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import tempdirs

ROOT = Path(__file__).resolve().parents[2]
HOLDER = "from grader import tempdirs; import sys, time; print(tempdirs.root(), flush=True); time.sleep(600)"


def test_a_live_graders_folder_is_kept_and_a_dead_ones_swept(tmp_path: Path, monkeypatch) -> None:
    # A temp folder of its own: a grader that a test beside this one starts (pytest -n) sweeps the
    # shared one, and could take the killed process's folder before this test looks.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        folder = Path(proc.stdout.readline().strip())
        assert folder.parent == tmp_path
        (folder / "kata-worker-x").mkdir()
        (folder / "kata-worker-x" / "student.py").write_text("a student's code\n")
        assert folder.name.startswith(tempdirs.PREFIX) and folder.is_dir()
        assert str(folder) not in tempdirs.sweep() and folder.is_dir(), "a live grader's folder was swept"
    finally:
        proc.send_signal(signal.SIGKILL)  # no atexit, no cleanup: as when the machine kills it
        proc.wait()
    assert folder.is_dir(), "the killed process removed its folder after all: this test proves nothing"
    assert str(folder) in tempdirs.sweep()
    assert not folder.exists()


def test_a_grader_removes_its_folder_when_it_ends() -> None:
    out = subprocess.run([sys.executable, "-c", "from grader import tempdirs; print(tempdirs.root())"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert out and not os.path.exists(out)


def test_sweep_leaves_a_folder_without_a_lock_alone() -> None:
    """A folder just made by mkdtemp, its lock not yet taken, belongs to a grader starting now."""
    young = Path(tempfile.mkdtemp(prefix=tempdirs.PREFIX))
    try:
        assert str(young) not in tempdirs.sweep() and young.is_dir()
    finally:
        young.rmdir()


def test_a_sweep_at_the_worst_moment_leaves_a_starting_grader_alone(tmp_path: Path, monkeypatch) -> None:
    """Another grader's sweep (grade-all starts its jobs at once) running just before this one takes
    its lock once found a .lock nobody held yet, and removed the folder under its owner."""
    import fcntl

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempdirs, "_root", None)
    real, swept = fcntl.flock, []

    def flock(fd: int, op: int) -> None:
        if not swept:
            swept.append(None)  # once: the sweep's own flock calls go through
            swept.append(tempdirs.sweep())
        real(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    folder = Path(tempdirs.root())
    assert swept == [None, []] and folder.parent == tmp_path, swept
    assert folder.is_dir() and (folder / ".lock").is_file()
    monkeypatch.setattr(fcntl, "flock", real)
    assert tempdirs.sweep() == [] and folder.is_dir()  # its owner, this process, is alive
