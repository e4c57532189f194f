"""The zygote: imports torch once, then forks a fresh worker per request.

Forking from a process that has imported (but never initialised) CUDA is
safe; the zygote never touches CUDA, so each worker may. It also never loads
the hidden checks, so a worker inherits nothing worth stealing from it.

Control protocol (a Unix socket inherited as fd ``--fd``):
  spawn  + one passed fd -> {"pid": n}
  reap   {"pid": n}      -> {"status": waitpid status or None}
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import time

from grader import codec, worker


def _serve(ctl: socket.socket, msg: bytes, fds: list[int], statuses: dict[int, int], children: set[int]) -> None:
    """Answer one request of the grader (spawn a worker, or reap one)."""
    # The 8-byte prefix is the frame length of the JSON request that follows.
    (n,) = struct.unpack(">Q", msg)
    req = codec.decode(codec.recv_exact(ctl, n))
    op = req.get("op")
    if op == "spawn":
        zygote = os.getpid()
        pid = os.fork()
        if pid == 0:
            ctl.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            worker.run(fds[0], req["impl"], req.get("exercise"), req["scratch"], req["output"],
                       req.get("policy"), parent=zygote)
        os.close(fds[0])
        children.add(pid)
        codec.send(ctl, {"pid": pid})
    elif op == "reap":
        pid = int(req["pid"])
        status = statuses.pop(pid, None)
        if status is None and pid in children:
            # With a grace period, only wait that long: the caller kills and asks again.
            deadline = time.monotonic() + float(req.get("grace") or 0)
            while True:
                done, status = os.waitpid(pid, os.WNOHANG if req.get("grace") else 0)
                if done or time.monotonic() >= deadline:
                    break
                time.sleep(0.005)
            if not done:
                codec.send(ctl, {"status": None, "alive": True})
                return
        children.discard(pid)
        codec.send(ctl, {"status": status})
    else:
        codec.send(ctl, {"error": f"unknown op {op!r}"})


def main(fd: int) -> None:
    # Started through grader.launch: a grader killed with SIGKILL takes its zygote, and so its
    # workers, along.
    worker.preload()
    ctl = socket.socket(fileno=fd)
    statuses: dict[int, int] = {}
    children: set[int] = set()
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 8, 1)
        except OSError:
            break
        if not msg:
            break
        try:
            _serve(ctl, msg, fds, statuses, children)
        except (OSError, EOFError):
            break  # the grader went away mid-request (SIGTERM, Ctrl-C): nobody is left to answer
        # Reap anything else that has ended, so nothing lingers as a zombie.
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                statuses[pid] = status
                children.discard(pid)
    os._exit(0)


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--fd") + 1]))
