"""A memory cgroup per worker (as root, where the machine's cgroup tree takes one).

RLIMIT_DATA counts private memory only, so pages of shared mappings (``mmap(MAP_SHARED)``,
``memfd``) go past it; the cgroup counts every page the worker's processes use, and the kernel
ends the worker when they pass ``--memory`` plus the scratch folder plus a margin.
"""
from __future__ import annotations

import glob
import os
import time


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


CGROUP_MARGIN = 512 * 2**20  # over --memory and the scratch tmpfs: what RLIMIT_DATA does not see of torch


def _own_cgroup_dirs() -> list[str]:
    """This process's memory cgroup folders, v1 (the ``memory`` hierarchy) then v2 (unified)."""
    mounts = {}  # "memory" or "unified" -> mount point
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _, options = (right.split() + ["", "", ""])[:3]
            point = left.split()[4]
            if fstype == "cgroup" and "memory" in options.split(","):
                mounts.setdefault("memory", point)
            elif fstype == "cgroup2":
                mounts.setdefault("unified", point)
    found = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            kind = "unified" if controllers == "" else "memory" if "memory" in controllers.split(",") else None
            if kind in mounts:
                found.append((kind, os.path.join(mounts[kind], path.lstrip("/"))))
    return [d for kind, d in sorted(found, key=lambda kd: kd[0] != "memory")]


class MemoryCgroup:
    """A memory cgroup of its own for one worker: made by the waiter, joined by the worker's side
    of the fork, removed by the waiter once every process in it has ended."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def make(cls, limit: int) -> "MemoryCgroup | None":
        """None where this machine gives no cgroup to limit (no root, a read-only or v2 tree
        without the memory controller delegated)."""
        if os.geteuid() != 0:
            return None
        for parent in _own_cgroup_dirs():
            v1 = os.path.exists(os.path.join(parent, "memory.limit_in_bytes"))
            if not v1:
                try:
                    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                        if "memory" not in f.read().split():
                            continue
                except OSError:
                    continue
            _sweep(parent)
            path = os.path.join(parent, f"kata-worker-{os.getpid()}")
            try:
                os.mkdir(path)
            except OSError:
                continue
            try:
                _write(os.path.join(path, "memory.limit_in_bytes" if v1 else "memory.max"), str(limit))
                if not v1:
                    try:
                        _write(os.path.join(path, "memory.swap.max"), "0")
                    except OSError:
                        pass  # no swap accounting: the limit above still holds
                return cls(path)
            except OSError:
                os.rmdir(path)
        return None

    def join(self) -> bool:
        """Move the calling process in; False if that failed (the cgroup is then simply not in force)."""
        try:
            _write(os.path.join(self.path, "cgroup.procs"), "0")  # "0": the writing process
            return True
        except OSError:
            return False

    def remove(self) -> None:
        # The namespace's processes end with its init, a moment after the waiter has reaped it.
        for _ in range(200):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)


def _sweep(parent: str) -> None:
    """Remove the cgroups of workers whose waiter was killed before it could. Only a dead waiter's:
    a live one's cgroup is empty for a moment, between its making and its worker joining."""
    for path in glob.glob(os.path.join(parent, "kata-worker-*")):
        try:
            os.kill(int(path.rsplit("-", 1)[1]), 0)
            continue  # its waiter lives
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        try:
            os.rmdir(path)  # refused while a process is in it
        except OSError:
            pass
