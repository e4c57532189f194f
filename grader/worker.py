"""The worker: runs probes against one implementation, answering over a socket.

Started either forked from the zygote (``grader.zygote``) or as a fresh
process (``python -m grader.worker``). Everything it sends is plain data
(see ``grader.codec``); the grader decides every verdict on its own side.
"""
from __future__ import annotations

import importlib
import os
import random
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from grader import codec, suggest, tracebacks
from grader.probing import count_spawns, raised_by_stub

PROBE_PACKAGE = "grader.probes"
# One intra-op thread per worker: checks use small tensors, and parallel jobs share the cores.
WORKER_THREADS = 1


def preload() -> None:
    """Import what every worker needs, so a forked worker starts warm."""
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401
    import torch.utils.data  # noqa: F401
    import grader.probing  # noqa: F401
    import grader.sandbox  # noqa: F401
    from grader import catalog

    for ex in catalog.EXERCISES:
        with_suppress_import(f"{PROBE_PACKAGE}.{ex.id}")


def gpu_attached() -> bool:
    """An NVIDIA GPU is attached, judged by its device files: no CUDA call, so safe before a fork."""
    return any(Path("/dev").glob("nvidia[0-9]*")) or os.path.exists("/dev/dxg")  # dxg: WSL 2


def warm_cuda() -> None:
    """Create the CUDA context and load cuBLAS now, before the worker says it is ready.

    That takes seconds, which would otherwise be charged to a submission's first CUDA call.
    """
    import torch

    try:
        if torch.cuda.is_available():
            a = torch.ones(2, 2, device="cuda")
            (a @ a).sum().item()
    except Exception:  # noqa: BLE001 - an unusable GPU shows in the checks and the grader's canary
        pass


def with_suppress_import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError:
        pass


def _own_frame(frames: traceback.StackSummary, impl: str) -> traceback.FrameSummary | None:
    """The innermost frame in the submission's own files."""
    own = [f for f in frames if f.filename and f.filename.startswith(impl)]
    return own[-1] if own else None


def _where(tb: Any, impl: str) -> str | None:
    f = _own_frame(traceback.extract_tb(tb), impl)
    return f"{os.path.basename(f.filename)}:{f.lineno}" if f else None


def _code(err: BaseException, impl: str) -> str | None:
    """The submission's line the error comes from (with a caret under a syntax error's spot)."""
    if isinstance(err, SyntaxError):
        text = (err.text or "").rstrip("\n")
        if not text.strip():
            return None
        indent = len(text) - len(text.lstrip())
        caret = " " * max(0, (err.offset or 1) - 1 - indent) + "^" if err.offset else ""
        return text.strip()[:200] + ("\n" + caret if caret else "")
    f = _own_frame(traceback.extract_tb(err.__traceback__), impl)
    return f.line.strip()[:200] if f and f.line else None


def describe_exception(err: BaseException, impl: str) -> dict[str, Any]:
    where = _where(err.__traceback__, impl)
    if isinstance(err, SyntaxError) and err.filename:
        where = f"{os.path.basename(err.filename)}:{err.lineno}"
    try:
        code = _code(err, impl)
    except Exception:  # noqa: BLE001 - a hostile exception: no line, then
        code = None
    try:
        message = suggest.message(err)
    except Exception:  # noqa: BLE001 - a hostile __str__
        message = "<unprintable>"
    try:
        mro = [c.__name__ for c in type(err).__mro__]
    except Exception:  # noqa: BLE001
        mro = ["BaseException"]
    try:
        stub = raised_by_stub(err, impl)
        # The unwritten function, by its qualified name ("EpochDropout.reset_mask"), as the learner tests say it.
        function = tracebacks.qualname(err) if stub else None
    except Exception:  # noqa: BLE001 - a hostile traceback: call it a crash
        stub, function = False, None
    return {"type": mro[0], "mro": mro, "message": message[:2000], "where": where, "stub": stub, "code": code,
            "function": function}


def reset_state(seed: int) -> None:
    import numpy as np
    import torch

    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    if torch.get_num_threads() != WORKER_THREADS:
        torch.set_num_threads(WORKER_THREADS)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


class Worker:
    def __init__(self, sock: socket.socket, impl: str, exercise: str | None) -> None:
        self.sock, self.impl, self.exercise = sock, os.path.realpath(impl), exercise
        self.modules: dict[str, Any] = {}

    def module(self, name: str) -> Any:
        if name not in self.modules:
            self.modules[name] = importlib.import_module(name)
        return self.modules[name]

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op == "info":
            import torch
            return {"ok": {"cuda": torch.cuda.is_available(),
                           "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
                           "torch": torch.__version__, "pid": os.getpid()}}
        if op == "cuda_canary":
            # Run by the grader in a sandboxed worker that imported no submitted code.
            import torch
            try:
                ok = torch.ones(2, device="cuda").sum().item() == 2.0
                return {"ok": {"cuda": ok, "error": None if ok else "a CUDA computation gave a wrong result"}}
            except Exception as err:  # noqa: BLE001 - the reason is the answer
                return {"ok": {"cuda": False, "error": f"{type(err).__name__}: {str(err)[:300]}"}}
        if op == "import":
            name = req["module"]
            if not os.path.isfile(os.path.join(self.impl, f"{name}.py")):
                return {"missing": f"{name}.py not found"}
            reset_state(0)
            self.module(name)
            return {"ok": None}
        if op == "call":
            exercise, probe = req["exercise"], req["probe"]
            fn = getattr(importlib.import_module(f"{PROBE_PACKAGE}.{exercise}"), probe, None)
            if fn is None or probe.startswith("_"):
                return {"error": f"no probe {exercise}.{probe}"}
            mod = self.module(exercise)
            reset_state(int(req["seed"]))
            return {"ok": fn(mod, *req["args"], **req["kwargs"])}
        return {"error": f"unknown op {op!r}"}

    def serve(self) -> None:
        while True:
            try:
                req = codec.recv(self.sock)
            except EOFError:
                return
            try:
                reply = self.handle(req)
            except BaseException as err:  # noqa: BLE001 - SystemExit & co. are the submission's too
                reply = {"raised": describe_exception(err, self.impl)}
            try:
                codec.send(self.sock, reply)
            except (ValueError, TypeError, OverflowError) as err:
                codec.send(self.sock, {"error": f"result is not plain data: {err}"})


# On SIGUSR1 (sent by the grader when a call runs out of time, just before it kills the worker) the
# worker writes the submission's line it is running to its output, behind this mark; the grader
# takes that line out of the output and names it in the "timed out" reason.
WHERE_MARK = "\x00kata-where "


def _say_where(impl: str):
    def handler(signum: int, frame: Any) -> None:
        f = _own_frame(traceback.extract_stack(frame), impl)
        if f:
            line = (f.line or "").strip()[:120]
            os.write(2, f"{WHERE_MARK}{os.path.basename(f.filename)}:{f.lineno}: {line}\n".encode("utf-8", "replace"))
    return handler


def _redirect_output(output: str) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    out = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")  # noqa: SIM115


def run(fd: int, impl: str, exercise: str | None, scratch: str, output: str, policy: str | None,
        parent: int | None = None) -> None:
    """Entry point of a worker process (after fork or exec); never returns.

    ``parent``: the zygote that forked it (a fork does not inherit the death signal; an exec-started
    worker has it from grader.launch)."""
    code = 0
    try:
        from grader.sandbox import die_with_parent

        die_with_parent(parent)
        _redirect_output(output)
        os.closerange(3, fd)
        os.closerange(fd + 1, 1024)
        if policy:
            from grader import sandbox
            sandbox.enter(sandbox.Policy.from_json(policy), scratch, keep_fds=[fd])
        else:
            os.setsid()
        sock = socket.socket(fileno=fd)
        os.chdir(scratch)
        sys.dont_write_bytecode = True
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        sys.path[:] = [os.path.realpath(impl)] + [
            p for p in sys.path if p and os.path.realpath(p) != here and p != "."]
        if gpu_attached():
            warm_cuda()
        signal.signal(signal.SIGUSR1, _say_where(os.path.realpath(impl)))
        count_spawns()  # before any submitted code is imported
        codec.send(sock, {"ready": True})  # start-up (imports, sandbox, CUDA) is not the submission's time
        Worker(sock, impl, exercise).serve()
    except BaseException as err:  # noqa: BLE001
        try:
            print(f"kata worker: {type(err).__name__}: {err}", file=sys.__stderr__ or sys.stderr)
        except Exception:  # noqa: BLE001
            pass
        code = 70
    finally:
        os._exit(code)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--impl", required=True)
    ap.add_argument("--exercise")
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--policy")
    a = ap.parse_args()
    preload()
    run(a.fd, a.impl, a.exercise, a.scratch, a.output, a.policy)
