"""The worker's memory cgroup (grader/memory_cgroup.py): made, joined, removed, and never swept from
under a live worker. test_hostile.py checks that it holds shared memory to the limit."""
from __future__ import annotations

import os

import pytest

from grader import memory_cgroup


@pytest.fixture
def cgroup():
    made = memory_cgroup.MemoryCgroup.make(2**30)
    if made is None:
        pytest.skip("no memory cgroup here (needs root and a writable cgroup tree): grade lists it as missing")
    yield made
    made.remove()


def test_a_worker_joins_its_cgroup_and_the_waiter_removes_it(cgroup) -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker's side
        try:
            assert cgroup.join()
            with open("/proc/self/cgroup") as f:
                os.write(w, f.read().encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        seen = f.read()
    os.waitpid(pid, 0)
    assert os.path.basename(cgroup.path) in seen, seen
    cgroup.remove()
    assert not os.path.exists(cgroup.path)


def test_the_sweep_spares_a_live_waiters_cgroup(cgroup) -> None:
    """Between its making and its worker joining, a cgroup is empty: another worker's sweep must
    leave it alone (grade-all starts workers side by side). A dead waiter's goes."""
    parent = os.path.dirname(cgroup.path)
    dead = os.path.join(parent, "kata-worker-999999999")  # above any pid_max: no such waiter
    os.mkdir(dead)
    try:
        memory_cgroup._sweep(parent)
        assert os.path.isdir(cgroup.path) and not os.path.exists(dead)
    finally:
        if os.path.isdir(dead):
            os.rmdir(dead)
