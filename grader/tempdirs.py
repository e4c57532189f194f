"""The grader's temporary files: one folder per grading process, removed when that process ends,
and by the next grader when it could not (killed with SIGKILL, the machine restarted).

Worker scratch folders, their output files and unpacked zips hold copies of students' code: they
must not pile up in the temp folder. A folder's owner holds an ``flock`` on its ``.lock`` for as
long as it lives; the kernel releases it however the owner ends, so a lock that can be taken means
the owner is gone (a reused pid cannot fool it).
"""
from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile

PREFIX = "kata-run-"
_root: str | None = None


def root() -> str:
    """This process's folder (made on first use, after sweeping folders left by dead graders).
    A child forked from this process shares it."""
    global _root
    if _root is None or not os.path.isdir(_root):
        sweep()
        path = tempfile.mkdtemp(prefix=PREFIX)
        # Locked before it is named .lock: a sweep that can take a .lock has found a dead grader's,
        # never one that its owner is about to take (grade-all starts its jobs at once).
        making = os.path.join(path, ".lock-making")
        fd = os.open(making, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until this process ends
        os.rename(making, os.path.join(path, ".lock"))
        atexit.register(_remove, path, os.getpid())
        _root = path
    return _root


def _remove(path: str, owner: int) -> None:
    if os.getpid() == owner:  # not a forked child leaving
        shutil.rmtree(path, ignore_errors=True)


def sweep() -> list[str]:
    """Remove the folders of graders that ended without removing their own; returns them."""
    tmp = tempfile.gettempdir()
    removed = []
    try:
        names = [n for n in os.listdir(tmp) if n.startswith(PREFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(tmp, name)
        try:
            fd = os.open(os.path.join(path, ".lock"), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # no lock yet: a grader is making it right now
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its grader is alive
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
