"""A CPU made busy on purpose, for the tests of limits that a busy machine must not shorten
(grader/cpu_wait.py). The conftests of tests/grader and tests/learner offer the fixture."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

needs_schedstat = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not os.path.exists("/proc/thread-self/schedstat"),
    reason="needs Linux's scheduler statistics (/proc/<tid>/schedstat) and CPU affinity")


@pytest.fixture
def busy_cpu():
    """One CPU made busy by three spinning processes pinned to it: code that pins itself there
    too gets about a quarter of it (less when the suite's other work lands there as well). Each in
    a session of its own, as a worker is: with the kernel's autogroups, the processes of one session
    share one slice."""
    cpu = min(os.sched_getaffinity(0))
    spin = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True:\n    pass\n"
    spinners = [subprocess.Popen([sys.executable, "-c", spin], start_new_session=True) for _ in range(3)]
    try:
        yield cpu
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def pinned(cpu: int, body: str, indent: int = 0) -> str:
    """Source that runs ``body`` with the calling thread pinned to ``cpu``, indented by ``indent``."""
    code = (f"import os as _os\n_cpus = _os.sched_getaffinity(0)\n_os.sched_setaffinity(0, {{{cpu}}})\n"
            f"try:\n{textwrap.indent(textwrap.dedent(body), '    ')}finally:\n    _os.sched_setaffinity(0, _cpus)\n")
    return textwrap.indent(code, " " * indent)


SPIN_SECONDS = "import time as _time\n_t = _time.thread_time()\nwhile _time.thread_time() - _t < {}:\n    pass\n"
