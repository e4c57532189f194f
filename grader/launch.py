"""``python -m grader.launch PARENT MODULE ARGS...``: run MODULE as ``__main__`` in a process that
dies with PARENT, from its very first line.

The zygote and an exec-started worker import torch (a second or two, far more on a busy machine)
before their own code runs. Were their death signal set only then, a grader stopped meanwhile
(Ctrl-C, SIGTERM, a job killed) left them importing, orphaned, with its stdout and stderr still
open: whoever read those (a pipe, ``| tee``, a CI log) waited until they had finished. Here the
death signal is set before anything is imported, and a parent already gone ends the process.
"""
from __future__ import annotations

import runpy
import sys

from grader.sandbox import die_with_parent  # the standard library only: no torch yet


def main(argv: list[str]) -> None:
    parent, module, *args = argv
    die_with_parent(int(parent))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
