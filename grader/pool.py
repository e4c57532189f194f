"""Starting, calling and stopping workers, from the grader's side.

Workers are forked from a zygote that has imported torch once (``fork``
mode), or started as fresh interpreters (``exec`` mode, used when a GPU is
present, since CUDA and fork do not mix). Each worker runs in its own session
and process group with a scratch directory that is deleted when it stops.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grader import cpu_wait, tempdirs
from grader.sandbox import Policy


class _LazyCodec:
    """``grader.codec`` imports torch; importing it late lets the zygote start first."""

    def __getattr__(self, name: str) -> Any:
        from grader import codec as real
        return getattr(real, name)


codec = _LazyCodec()

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_CAP = 64 * 1024


class WorkerFailure(Exception):
    """The worker did not give a valid answer (timeout, death, garbage)."""


class TimedOut(WorkerFailure):
    pass


class Died(WorkerFailure):
    pass


class GraderBroken(Died):
    """A worker, or the zygote, died before any submitted code ran: the grader's environment cannot
    run the checks. Never a submission's fault, so it gets no score at all (the CLI says why)."""


_CHECK_ENV = (f"This Python environment cannot run the checks; `{sys.executable} scripts/check_env.py` "
              f"says what is wrong, and scripts/setup.sh makes one that can")


def describe_status(status: int | None) -> str:
    if status is None:
        return "worker died"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "?"
        return f"worker died: signal {sig} ({name})"
    if os.WIFEXITED(status):
        return f"worker exited with status {os.WEXITSTATUS(status)}"
    return "worker died"


def default_start_method() -> str:
    # A GPU means CUDA may be initialised in workers: start them fresh then.
    from grader.worker import gpu_attached

    return "exec" if gpu_attached() else "fork"


# What a worker may see of the grader's environment: what Python, torch and CUDA read, nothing else
# (an instructor's shell or a CI runner holds tokens and keys, and a worker's output reaches the
# student's report). The zygote starts with only this, so a worker's /proc/self/environ holds no more.
_ENV_NAMES = {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TEMP", "TMP", "USER", "LOGNAME",
              "LD_LIBRARY_PATH", "VIRTUAL_ENV", "CI"}
_ENV_PREFIXES = ("LC_", "PYTHON", "KATA_", "CUDA_", "NVIDIA_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "KMP_",
                 "OPENBLAS_", "TRITON_", "CUBLAS_", "CUDNN_")


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


def start_zygote(method: str | None) -> "Zygote | None":
    """Start the zygote before the caller imports torch, so the two imports overlap."""
    return Zygote() if (method or default_start_method()) == "fork" else None


def _launched(module: str, *args: str) -> list[str]:
    """The command that runs ``module`` in a new Python that dies with this process (grader.launch)."""
    return [sys.executable, "-m", "grader.launch", str(os.getpid()), module, *args]


class Zygote:
    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            _launched("grader.zygote", "--fd", str(child.fileno())),
            cwd=ROOT, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
            env=worker_env())
        child.close()
        self.ctl = parent

    def _request(self, message: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        data = codec.encode(message)
        try:
            socket.send_fds(self.ctl, [struct.pack(">Q", len(data))], fds)
            self.ctl.sendall(data)
            return codec.recv(self.ctl)
        except (OSError, EOFError) as err:
            try:
                status = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                raise err from None
            raise GraderBroken(f"the grader's zygote (the process that imports torch and starts the workers) "
                               f"exited with status {status}: its error is printed above. {_CHECK_ENV}") from None

    def spawn(self, fd: int, **spec: Any) -> int:
        return int(self._request({"op": "spawn", **spec}, [fd])["pid"])

    def reap(self, pid: int, grace: float = 0.0) -> tuple[bool, int | None]:
        """(ended, wait status); with ``grace`` > 0, give up after that many seconds."""
        reply = self._request({"op": "reap", "pid": pid, "grace": grace}, [])
        return not reply.get("alive"), reply.get("status")

    def close(self) -> None:
        self.ctl.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


MAX_SUBMISSION_FILES = 200
MAX_SUBMISSION_BYTES = 4 * 2**20


def copy_submission(src: Path, dest: Path) -> None:
    """Copy the submission's top-level .py files: the worker never sees the original path.

    A symlink (it could point at the references) or anything else that is not a regular file is left
    out: its own exercise says so (grader.plugin), and the others are graded without it, where it
    once made every exercise of the submission score 0.
    """
    dest.mkdir()
    total = 0
    for i, f in enumerate(sorted(src.glob("*.py"))):
        if i >= MAX_SUBMISSION_FILES:
            break
        if f.is_symlink() or not f.is_file():
            continue
        total += f.stat().st_size
        if total > MAX_SUBMISSION_BYTES:
            break
        shutil.copyfile(f, dest / f.name)


class WorkerHandle:
    """One worker process for one implementation directory."""

    def __init__(self, impl: Path, exercise: str | None, zygote: Zygote | None,
                 policy: Policy | None = None, pool: "Pool | None" = None) -> None:
        self.exercise, self.zygote, self.policy, self.pool = exercise, zygote, policy, pool
        self.scratch = tempfile.mkdtemp(prefix="kata-worker-", dir=tempdirs.root())
        # What the worker prints goes to a file outside its scratch folder (which it owns, so it
        # could swap a file there for a symlink or a FIFO), opened by the worker before it is
        # confined. The grader reads it through this descriptor, never by its path.
        self.output_fd, self.output = tempfile.mkstemp(prefix="kata-output-", dir=tempdirs.root())
        if policy is not None:
            copy_submission(impl, Path(self.scratch) / "submission")
            impl = Path(self.scratch) / "submission"
        self.impl = impl
        # The submission's own file names, before any of its code runs: a "where" line naming
        # anything else is forged (see _plausible_where).
        self.own_files = {p.name for p in impl.glob("*.py")}
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = {"impl": str(impl), "exercise": exercise, "scratch": self.scratch, "output": self.output,
                "policy": policy.to_json() if policy is not None else None}
        self.proc: subprocess.Popen[bytes] | None = None
        if zygote is not None:
            self.pid = zygote.spawn(theirs.fileno(), **spec)
        else:
            self.proc = subprocess.Popen(
                _launched("grader.worker", "--fd", str(theirs.fileno()),
                          *[f"--{k}={v}" for k, v in spec.items() if v is not None]),
                cwd=ROOT, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                env=worker_env())
            self.pid = self.proc.pid
        theirs.close()
        self.sock = ours
        self.status: int | None = None
        self.alive = True
        self.main_tid: int | None = None
        self.last_call: cpu_wait.Stopwatch | None = None

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait for the worker's hello, so start-up time is never charged to the submission."""
        self.sock.settimeout(timeout)
        try:
            hello = codec.recv(self.sock)
        except (socket.timeout, TimeoutError, EOFError, OSError, codec.ProtocolError) as err:
            out, _ = self.read_output()
            self.stop()
            why = out.strip()[-500:] or f"{type(err).__name__}; its error is printed above"
            raise GraderBroken(f"a worker did not start, before any submitted code ran ({why}). {_CHECK_ENV}") from None
        if hello != {"ready": True}:
            self.stop()
            raise WorkerFailure("the worker did not start properly")
        # Its main thread, whose waits for a CPU a busy machine adds to a call (grader.cpu_wait):
        # with namespaces, the process started here waits outside them for an init and the worker.
        self.main_tid = _only_descendant(self.pid, 2 if self.policy is not None and self.policy.namespaces else 0)

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.last_call = None
        if not self.alive:
            raise Died(describe_status(self.status))
        timeout = max(timeout, 0.001)
        watch = self.last_call = cpu_wait.Stopwatch(self.main_tid)
        self.sock.settimeout(timeout)
        try:
            codec.send(self.sock, message)
            return codec.recv(self.sock, lambda: watch.deadline(timeout))
        except (socket.timeout, TimeoutError):
            where = self._where()
            self.stop()
            busy = watch.busy_note(timeout)
            raise TimedOut(f"timed out after {timeout:g} s" + (f", running {where}" if where else "")
                           + (f" ({busy})" if busy else "")) from None
        except (EOFError, OSError):
            self.stop(died=True)
            raise Died(describe_status(self.status)) from None
        except codec.ProtocolError as err:
            self.stop()
            raise WorkerFailure(f"malformed answer from the worker: {err}") from None

    def _where(self, wait: float = 0.5) -> str | None:
        """Ask the worker which line of the submission it is running (see grader.worker.WHERE_MARK)."""
        from grader.worker import WHERE_MARK  # not at the top: it imports torch, after the zygote started

        try:
            start = os.fstat(self.output_fd).st_size
            os.kill(self.pid, signal.SIGUSR1)
        except OSError:
            return None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                tail = os.pread(self.output_fd, 4096, start).decode("utf-8", "replace")
            except OSError:
                return None
            if WHERE_MARK in tail and "\n" in tail.split(WHERE_MARK, 1)[1]:
                return self._plausible_where(tail.split(WHERE_MARK, 1)[1].split("\n", 1)[0][:160])
        return None

    def _plausible_where(self, text: str) -> str | None:
        """The submission's process writes this line, and may forge it: keep it only in the form the
        worker writes, naming one of the submission's own files (never read here: the worker could have
        swapped it for a link to anything). The quoted source then reads as what it is, their line."""
        found = re.fullmatch(r"([\w.-]{1,64}\.py):([1-9]\d{0,6}): ([^\x00-\x1f\x7f]*)", text)
        if not found or found[1] not in self.own_files:
            return None
        return f"{found[1]}:{found[2]}: {found[3].strip()[:120]}"

    def read_output(self, cap: int = OUTPUT_CAP) -> tuple[str, int]:
        """The first ``cap`` bytes the worker printed (without its answers to "where are you?"), and the total size."""
        from grader.worker import WHERE_MARK

        try:
            size = os.fstat(self.output_fd).st_size
            text = os.pread(self.output_fd, cap, 0).decode("utf-8", "replace")
        except OSError:
            return "", 0
        if WHERE_MARK in text:
            marks = [ln for ln in text.splitlines(keepends=True) if ln.startswith(WHERE_MARK)]
            text = "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith(WHERE_MARK))
            size -= sum(len(ln.encode("utf-8", "replace")) for ln in marks)
        return text, size

    def stop(self, died: bool = False) -> None:
        """End the worker; ``died``: it closed its end itself, so let it finish dying first."""
        if not self.alive:
            return
        self.alive = False
        if self.pool is not None and self.policy is None:
            # Unsandboxed (trusted) workers are the process we know: record their peak memory.
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    hwm = next(ln for ln in f if ln.startswith("VmHWM"))
                self.pool.peak_rss.append(int(hwm.split()[1]) * 1024)
            except (OSError, StopIteration, ValueError):
                pass
        self.sock.close()
        if died and self._wait(grace=2.0):
            return  # it ended by itself: its own status, not the one our kill would cause
        try:
            if self.policy is not None and self.policy.namespaces:
                # The process we know waits outside the namespace; it kills the worker,
                # whose end takes down everything else in its PID namespace.
                os.kill(self.pid, signal.SIGTERM)
            else:
                os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._wait(grace=0.0)

    def _wait(self, grace: float) -> bool:
        """Reap the worker (waiting at most ``grace`` seconds if > 0); True once it has ended."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout=grace or None)
            except subprocess.TimeoutExpired:
                return False
            self.status = _as_wait_status(self.proc.returncode)
            return True
        if self.zygote is not None:
            ended, status = self.zygote.reap(self.pid, grace)
            if ended:
                self.status = status
            return ended
        return True

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(self.output)
        with contextlib.suppress(OSError):
            os.close(self.output_fd)


def _only_descendant(pid: int, depth: int) -> int | None:
    """The process ``depth`` generations below ``pid`` when each generation has one child; else None."""
    for _ in range(depth):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = f.read().split()
        except OSError:
            return None
        if len(children) != 1:
            return None
        pid = int(children[0])
    return pid


def _as_wait_status(returncode: int) -> int:
    # Popen gives -signal or the exit code; turn it back into a wait status.
    return (-returncode) & 0x7F if returncode < 0 else (returncode & 0xFF) << 8


def detect_policy(wanted: Policy) -> tuple[Policy, list[str], list[str]]:
    """Which protections this machine supports (tried in a throw-away process)."""
    import json

    out = subprocess.run([sys.executable, "-m", "grader.sandbox", wanted.to_json()], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    try:
        data = json.loads(out.stdout.strip().splitlines()[-1])
        return Policy(**data["policy"]), data["active"], data["missing"]
    except (ValueError, IndexError, KeyError, TypeError):
        return (Policy(**{**wanted.__dict__, "namespaces": False, "drop_user": False}), [],
                [f"sandbox detection failed: {out.stderr.strip()[-300:]}"])


class LocalHandle:
    """No isolation at all: probes run in this process (benchmarks' floor, never for grading)."""

    outer_cwd: str | None = None

    def __init__(self, impl: Path, exercise: str | None) -> None:
        from grader.worker import Worker

        self.impl, self.exercise, self.alive, self.status, self.pid = impl, exercise, True, 0, os.getpid()
        # Probes write their files to the current directory: keep them out of the caller's.
        # Back to where the grader was when the first of them started: the working directory now may
        # be another in-process worker's scratch folder, gone by the time this one stops.
        self.cwd = LocalHandle.outer_cwd = LocalHandle.outer_cwd or os.getcwd()
        self.scratch = tempfile.mkdtemp(prefix="kata-inprocess-", dir=tempdirs.root())
        os.chdir(self.scratch)
        if str(impl) not in sys.path:
            sys.path.insert(0, str(impl))
        self.worker = Worker(None, str(impl), exercise)  # type: ignore[arg-type]

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        from grader.worker import describe_exception

        message = codec.decode(codec.encode(message))
        try:
            reply = self.worker.handle(message)
        except BaseException as err:  # noqa: BLE001
            reply = {"raised": describe_exception(err, self.worker.impl)}
        return codec.decode(codec.encode(reply))

    def read_output(self, cap: int = OUTPUT_CAP) -> tuple[str, int]:
        return "", 0

    def stop(self) -> None:
        if self.alive:
            os.chdir(self.cwd)
            shutil.rmtree(self.scratch, ignore_errors=True)
        self.alive = False

    def close(self) -> None:
        self.stop()


class Pool:
    """Hands out workers, all forked from one zygote (or exec'd)."""

    def __init__(self, method: str | None = None, policy: Policy | None = None,
                 sandbox: bool = True, zygote: Zygote | None = None) -> None:
        self.method = method or ("fork" if zygote else default_start_method())
        if self.method == "inprocess":
            sandbox = False
        self.policy, self.protections, self.warnings = (
            detect_policy(policy or Policy()) if sandbox else (None, [], ["no sandbox: submissions run unconfined"]))
        self.zygote = zygote if zygote or self.method != "fork" else Zygote()
        self.started = 0
        self.peak_rss: list[int] = []
        self._cuda_problem: str | None | bool = False  # False: not asked yet

    def cuda_in_sandbox(self) -> str | None:
        """Why sandboxed workers cannot use the GPU; None when they can (or nothing is sandboxed).

        Asked once, of a worker that runs no submitted code, and only on a machine
        where the trusted reference sees a GPU: a sandbox that breaks CUDA then
        leaves the CUDA checks out (with a warning) instead of failing correct work.
        """
        if self.policy is None or self.method == "inprocess":
            return None
        if self._cuda_problem is False:
            empty = tempfile.mkdtemp(prefix="kata-canary-", dir=tempdirs.root())
            handle: WorkerHandle | None = None
            try:
                handle = WorkerHandle(Path(empty), None, self.zygote, self.policy, self)
                handle.wait_ready()
                answer = handle.request({"op": "cuda_canary"}, 300.0).get("ok")
                ok = isinstance(answer, dict) and answer.get("cuda") is True
                self._cuda_problem = None if ok else str(
                    answer.get("error") if isinstance(answer, dict) else answer)
            except WorkerFailure as err:
                self._cuda_problem = f"the sandboxed worker failed: {err}"
            finally:
                if handle is not None:
                    handle.close()
                shutil.rmtree(empty, ignore_errors=True)
            if self._cuda_problem:
                self.warnings.append(f"the GPU works for the grader but not inside the sandbox "
                                     f"({self._cuda_problem[:200]}): CUDA checks are left out")
        return self._cuda_problem  # type: ignore[return-value]

    def start(self, impl: Path, exercise: str | None, trusted: bool = False) -> WorkerHandle:
        self.started += 1
        if self.method == "inprocess":
            return LocalHandle(impl, exercise)  # type: ignore[return-value]
        handle = WorkerHandle(impl, exercise, self.zygote, None if trusted else self.policy, self)
        handle.wait_ready()
        return handle

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
