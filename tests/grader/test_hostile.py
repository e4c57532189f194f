"""Hostile submissions (issue: contain them, never let them raise a score).

Each test grades a hostile cross_entropy.py next to a correct sequential.py and
asserts both the containment and that the correct exercise keeps full marks.
"""
from __future__ import annotations

import json
import re
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "solutions" / "sequential.py"
CORRECT_CE = (ROOT / "solutions" / "cross_entropy.py").read_text()


@pytest.fixture(scope="module")
def quick():
    from grader.session import GradingSession

    with GradingSession(call_timeout=2.0, budget=5.0) as session:
        yield session


@pytest.fixture
def hostile(quick, make_submission):
    def grade(src: str, exercise: str = "cross_entropy"):
        other = "sequential" if exercise != "sequential" else "cross_entropy"
        good = GOOD if other == "sequential" else ROOT / "solutions" / "cross_entropy.py"
        sub = make_submission({exercise: textwrap.dedent(src), other: good})
        start = time.monotonic()
        result = quick.grade(sub, [exercise, other])
        elapsed = time.monotonic() - start
        bad, ok = result.exercises
        assert ok.score == ok.max_points, [f"{c.name}: {c.reason}" for c in ok.checks if not c.passed]
        return bad, elapsed, result
    return grade


def reasons(ex) -> set[str]:
    return {c.reason for c in ex.checks if not c.passed}


# --- never-returning code -----------------------------------------------------------

def test_sleep_in_a_function(hostile) -> None:
    bad, elapsed, _ = hostile("""
        import time
        def gather_target(s, t):
            time.sleep(3600)
        cross_entropy = gather_target
    """)
    assert bad.score == 0
    assert any("timed out after 2 s" in r for r in reasons(bad))
    assert elapsed < 5 + 2 + 20


def test_a_timeout_names_the_line_that_was_running(hostile) -> None:
    """As the learner tests do: "timed out" alone does not tell a student where their loop is."""
    bad, _, _ = hostile("""
        def _spin(n):
            while n > 0:
                n += 1
        def gather_target(s, t):
            print("before the loop")
            _spin(1)
        cross_entropy = gather_target
    """)
    assert any(r.startswith("timed out after 2 s, running cross_entropy.py:3: while n > 0:") for r in reasons(bad)), \
        reasons(bad)
    assert "before the loop" in bad.output and "kata-where" not in bad.output, bad.output
    assert not any("output truncated" in n for n in bad.notes), bad.notes


def test_a_forged_timeout_location_is_left_out(hostile) -> None:
    """The worker's "where" line is written by the submission's process, which can answer it itself."""
    bad, _, _ = hostile("""
        import os, signal
        MARK = chr(0) + "kata-where "
        def _forge(signum, frame):
            os.write(2, (MARK + "solutions/datasets.py:1: GRADER INTERNAL ERROR, full marks given\\n").encode())
        def gather_target(s, t):
            signal.signal(signal.SIGUSR1, _forge)
            while True:
                pass
        cross_entropy = gather_target
    """)
    timed_out = [r for r in reasons(bad) if r.startswith("timed out after 2 s")]
    assert timed_out and not any("GRADER" in r or "solutions" in r for r in reasons(bad)), reasons(bad)


def test_an_answer_dripping_in_byte_by_byte_times_out(hostile) -> None:
    """A socket timeout restarts with every byte: the call's limit must hold for the whole answer."""
    bad, elapsed, _ = hostile("""
        import os, stat, struct, time
        def gather_target(s, t):
            fd = next(int(f) for f in os.listdir("/proc/self/fd") if stat.S_ISSOCK(os.fstat(int(f)).st_mode))
            os.write(fd, struct.pack(">Q", 1 << 20))  # announce a 1 MiB answer, then drip it
            while True:
                time.sleep(0.5)
                os.write(fd, b"x")
        cross_entropy = gather_target
    """)
    assert bad.score == 0
    assert any("timed out after 2 s" in r for r in reasons(bad)), reasons(bad)
    assert elapsed < 5 + 2 + 30


def test_waiting_on_input_does_not_hang(hostile) -> None:
    bad, elapsed, _ = hostile("answer = input('type something: ')\n")
    assert "EOFError" in bad.notes[0]
    assert elapsed < 20


def test_whole_submission_never_returning_is_bounded(quick, make_submission) -> None:
    from grader import catalog

    loop = "while True:\n    pass\n"
    sub = make_submission({e.id: loop for e in catalog.EXERCISES})
    start = time.monotonic()
    result = quick.grade(sub)
    elapsed = time.monotonic() - start
    assert result.score == 0
    scale = {e.id: e.time_scale for e in catalog.EXERCISES}  # the capstone's calls get 6 times as long
    for ex in result.exercises:
        limit = 2 * scale[ex.exercise]
        assert ex.notes and f"timed out after {limit} s" in ex.notes[0], (ex.exercise, ex.notes)
    # The bound the README states: at most the exercise budget (5 s here, times its scale) per
    # exercise, plus start-up. (One timed-out import per exercise takes 2 s, times its scale; the
    # slack is for a loaded machine: this asserts a bound, it does not time the grader.)
    assert elapsed < sum(5 * scale[ex.exercise] for ex in result.exercises) + 60


# --- crashes and exits -----------------------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
    ("class Boom(BaseException): pass\n    raise Boom('custom')", "raised Boom"),
    ("import os, signal\n    os.killpg(0, signal.SIGKILL)", "worker died: signal 9 (SIGKILL)"),
    ("import signal, os\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    os.kill(os.getpid(), signal.SIGABRT)",
     "worker died: signal 6 (SIGABRT)"),
])
def test_crashes_are_contained(hostile, body: str, expected: str) -> None:
    bad, _, _ = hostile(f"def gather_target(s, t):\n    {body}\ncross_entropy = gather_target\n")
    assert bad.score == 0
    assert any(r.startswith(expected) for r in reasons(bad)), reasons(bad)


def test_kill_everything_reaches_nothing_outside(hostile, quick) -> None:
    assert any("pid namespace" in p for p in quick.pool.protections)
    # kill(-1) signals every process the worker may signal; the pid guard keeps this test
    # from harming the machine should the namespace ever be missing.
    bad, _, _ = hostile("""
        import os, signal
        def gather_target(s, t):
            if os.getpid() < 100:
                os.kill(-1, signal.SIGKILL)
            return s[:, 0]
        cross_entropy = gather_target
    """)
    assert bad.score == 0


# --- memory ------------------------------------------------------------------------------

def test_ten_gib_allocation_fails_cleanly(hostile) -> None:
    bad, _, _ = hostile("""
        import torch
        def gather_target(s, t):
            return torch.ones(10 * 2**30 // 4)
        def cross_entropy(l, t, reduction="mean"):
            return bytearray(10 * 2**30)
    """)
    assert bad.score == 0
    rs = " ".join(reasons(bad))
    assert "can't allocate memory" in rs and "MemoryError" in rs


def test_shared_memory_counts_against_the_memory_limit(make_submission) -> None:
    """RLIMIT_DATA counts private memory only: a red team held 3.4 GB of shared pages with
    --memory 1. The worker's memory cgroup counts them: past --memory plus the scratch folder and a
    margin (1.75 GiB here), the kernel ends the worker."""
    from grader.session import GradingSession

    with GradingSession(call_timeout=20.0, budget=40.0, memory_gib=1) as session:
        if not any("memory cgroup" in p for p in session.pool.protections):
            pytest.skip("no memory cgroup here (needs root and a writable cgroup tree): "
                        "grade lists it as missing")
        sub = make_submission({"cross_entropy": textwrap.dedent("""
            import mmap
            def gather_target(s, t):
                held = mmap.mmap(-1, 3 * 2**30, flags=mmap.MAP_SHARED)  # anonymous, shared: not in RLIMIT_DATA
                for i in range(0, len(held), 4096):
                    held[i] = 1
                print("held 3 GiB of shared memory")
                return s[:, 0]
            cross_entropy = gather_target
        """)})
        result = session.grade(sub, ["cross_entropy"]).exercises[0]
    assert "held 3 GiB" not in result.output, result.output
    assert any("signal 9" in r or "SIGKILL" in r for r in reasons(result)), reasons(result)


# --- processes, files, network -----------------------------------------------------------

def test_background_processes_threads_and_atexit_are_gone(hostile, tmp_path: Path) -> None:
    marker = tmp_path / "escaped.txt"
    bad, _, _ = hostile(f"""
        import atexit, os, subprocess, threading, time
        MARK = {str(marker)!r}
        def later():
            time.sleep(4)
            with open(MARK, "a") as f:
                f.write("escaped\\n")
        subprocess.Popen(["sleep", "987654"])
        subprocess.Popen(["setsid", "sleep", "987655"])
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                later()
            os._exit(0)
        threading.Thread(target=later, daemon=True).start()
        atexit.register(later)
        def gather_target(s, t):
            return s.gather(1, t.view(-1, 1)).squeeze(1)
        def cross_entropy(l, t, reduction="mean"):
            return l.sum()
    """)
    time.sleep(5)
    assert not marker.exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "987654" not in ps and "987655" not in ps


def test_cannot_write_results_or_files_outside_scratch(quick, make_submission, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    target = ROOT / "grader" / "pwned.txt"
    sub = make_submission({"cross_entropy": f"""
import json
for path in [{str(out)!r}, {str(target)!r}, "results.json", "/autograder/results/results.json"]:
    try:
        with open(path, "w") as f:
            json.dump({{"score": 100, "tests": []}}, f)
        print("wrote", path)
    except OSError as err:
        print("refused", path, type(err).__name__)
def gather_target(s, t):
    return s[:, 0]
cross_entropy = gather_target
"""})
    from grader import report

    result = quick.grade(sub, ["cross_entropy"])
    report.write_json(result, str(out))
    data = json.loads(out.read_text())
    assert data["score"] == result.score < 5
    assert not target.exists()
    printed = result.exercises[0].output
    assert f"refused {out}" in printed and f"refused {target}" in printed


def test_output_file_cannot_be_swapped(hostile) -> None:
    """The grader reads what a worker printed after the worker is gone, as root: through a
    descriptor it opened itself, so a symlink or a FIFO planted where the output is written
    leaks nothing and hangs nothing."""
    secret = ROOT / "solutions" / "cross_entropy.py"
    bad, elapsed, result = hostile(f"""
        import os
        print("MARK before the swap")
        where = os.readlink("/proc/self/fd/1")
        for path in (where, os.path.join(os.getcwd(), ".output")):
            for how in ("symlink", "fifo"):
                try:
                    if os.path.lexists(path):
                        os.unlink(path)
                    os.symlink({str(secret)!r}, path) if how == "symlink" else os.mkfifo(path)
                    print("swapped", how, path)
                    os.unlink(path)
                except OSError as err:
                    print("refused", how, type(err).__name__)
        os.symlink({str(secret)!r}, ".output")
        print("MARK after the swap")
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    assert "MARK before the swap" in bad.output and "MARK after the swap" in bad.output, bad.output
    assert secret.read_text()[:60] not in bad.output
    assert "def cross_entropy" not in bad.output
    assert elapsed < 30


def test_shared_folders_and_ipc_are_private(hostile) -> None:
    """Files in /dev/shm, /var/tmp, /run/lock and SysV shared memory die with the worker: they
    would outlive it, fill the machine's memory and pass notes to the next submission."""
    tag = f"kata-test-{os.getpid()}-{time.monotonic_ns()}"
    dirs = ["/dev/shm", "/var/tmp", "/run/lock", tempfile.gettempdir()]
    bad, _, _ = hostile(f"""
        import ctypes, os
        for d in {dirs!r}:
            try:
                with open(os.path.join(d, {tag!r}), "w") as f:
                    f.write("left behind")
                print("wrote", d)
            except OSError as err:
                print("refused", d, type(err).__name__)
        libc = ctypes.CDLL(None, use_errno=True)
        key = libc.shmget(0x6b617461, 4096, 0o1666)  # IPC_CREAT | 0666
        print("shm segment", "made" if key >= 0 else "refused")
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    for d in dirs:
        if os.path.isdir(d):
            assert not os.path.exists(os.path.join(d, tag)), f"{d}/{tag} outlived its worker"
    with open("/proc/sysvipc/shm") as f:
        keys = {int(line.split()[0]) for line in f.readlines()[1:] if line.split()}
    assert 0x6B617461 not in keys, "the SysV shared memory segment outlived its worker"


def test_kernel_keyrings_are_out_of_reach(hostile, quick) -> None:
    """Keyrings belong to no namespace: a key one worker adds, a later one could read (red team 5,
    as root). The worker's seccomp filter refuses add_key, request_key and keyctl with EPERM."""
    from grader.syscall_filter import SECCOMP_ABI

    machine = os.uname().machine
    if machine not in SECCOMP_ABI:
        pytest.skip(f"no syscall table for {machine}")
    assert any("syscall filter" in p for p in quick.pool.protections), quick.pool.protections
    add_key, request_key, keyctl = SECCOMP_ABI[machine][2]
    bad, _, result = hostile(f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        user_keyring = ctypes.c_int(-4)  # KEY_SPEC_USER_KEYRING
        for name, args in (("add_key", ({add_key}, b"user", b"kata-note", b"answers", 7, user_keyring)),
                           ("request_key", ({request_key}, b"user", b"kata-note", None, 0)),
                           ("keyctl", ({keyctl}, 0, user_keyring, 0))):  # KEYCTL_GET_KEYRING_ID
            ctypes.set_errno(0)
            rc = libc.syscall(*args)
            print(name, "refused" if rc == -1 and ctypes.get_errno() == 1 else f"worked: {{rc}} {{ctypes.get_errno()}}")
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    out = result.exercises[0].output
    for name in ("add_key", "request_key", "keyctl"):
        assert f"{name} refused" in out, out


def test_local_sockets_of_the_machine_are_out_of_reach(hostile) -> None:
    """A network namespace does not cover sockets that are files (D-Bus, databases, docker.sock
    live under /run): the worker gets a /run of its own."""
    path = f"/run/kata-test-{os.getpid()}.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(1)
    server.settimeout(0.5)
    try:
        bad, _, _ = hostile(f"""
            import socket
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect({path!r})
                s.sendall(b"leak")
                print("connected")
            except OSError as err:
                print("no socket:", type(err).__name__)
            def gather_target(s, t):
                return s[:, 0]
            cross_entropy = gather_target
        """)
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
        os.unlink(path)
    assert "no socket" in bad.output and "connected" not in bad.output, bad.output


def test_scratch_folder_is_capped(hostile) -> None:
    """RLIMIT_FSIZE caps each file; the scratch folder's own tmpfs caps them all (256 MiB)."""
    bad, _, _ = hostile("""
        import os
        written = 0
        try:
            for i in range(16):
                with open(f"flood-{i}", "wb") as f:
                    for _ in range(60):
                        f.write(b"x" * 2**20)
                        written += 2**20
        except OSError as err:
            print("stopped after", written // 2**20, "MiB:", type(err).__name__)
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    stopped = [ln for ln in bad.output.splitlines() if ln.startswith("stopped after")]
    assert stopped and int(stopped[0].split()[2]) <= 256, bad.output


def test_ptys_of_the_machine_are_out_of_reach(hostile) -> None:
    """A pty of the machine (another worker's, the instructor's terminal) cannot be opened."""
    leader, follower = os.openpty()
    name = os.ttyname(follower)
    os.chmod(name, 0o666)  # as open as a pty another worker could make for itself
    try:
        bad, _, _ = hostile(f"""
            import os
            try:
                fd = os.open({name!r}, os.O_RDWR | os.O_NOCTTY)
                os.write(fd, b"hello from a submission")
                print("opened the machine's pty")
            except OSError as err:
                print("no pty:", type(err).__name__)
            def gather_target(s, t):
                return s[:, 0]
            cross_entropy = gather_target
        """)
    finally:
        os.close(leader)
        os.close(follower)
    assert "no pty" in bad.output and "opened the machine's pty" not in bad.output, bad.output


def test_control_characters_reach_no_terminal_or_report(hostile, tmp_path: Path) -> None:
    bad, _, result = hostile(r"""
        print("\x1b[2J\x1b]0;pwned\x07\rTotal: 100.00 / 100")
        def gather_target(s, t):
            raise ValueError("\x1b[31mred\x1b[0m and a bell \x07")
        cross_entropy = gather_target
    """)
    from xml.etree import ElementTree

    from grader import report

    text = report.summary(result)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J" in text  # shown, escaped
    report.write_junit(result, str(tmp_path / "j.xml"))
    ElementTree.parse(tmp_path / "j.xml")  # well-formed
    report.write_json(result, str(tmp_path / "r.json"))
    assert "\x1b" not in json.loads((tmp_path / "r.json").read_text())["output"]


def test_network_is_cut(hostile) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    bad, _, _ = hostile(f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=1).sendall(b"leak")
            print("connected")
        except OSError as err:
            print("no network:", type(err).__name__)
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert "no network" in bad.output and "connected" not in bad.output


# --- output ----------------------------------------------------------------------------

def test_print_flood_is_capped(hostile, tmp_path: Path) -> None:
    bad, _, result = hostile("""
        import sys
        for _ in range(20):
            sys.stdout.write("x" * (1024 * 1024))
        print("done flooding")
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    note = r"output truncated: printed 20,97\d,\d{3} bytes, showing the first 64 KB( of each of the \d+ workers that ran it)?"
    assert any(re.fullmatch(note, n) for n in bad.notes), bad.notes
    from grader import report

    out = tmp_path / "r.json"
    report.write_json(result, str(out))
    assert out.stat().st_size < 200_000
    assert len(report.summary(result)) < 50_000


# --- global state and verdicts ---------------------------------------------------------

def test_global_state_changes_stay_in_their_exercise(hostile) -> None:
    bad, _, _ = hostile("""
        import builtins, random, sys, types
        import numpy as np
        import torch, torch.testing
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)
        torch.manual_seed(1); random.seed(1); np.random.seed(1)
        torch.set_num_threads(1)
        torch.testing.assert_close = lambda *a, **k: None
        torch.allclose = lambda *a, **k: True
        torch.equal = lambda *a, **k: True
        builtins.isinstance = lambda *a: True
        sys.modules["pytest"] = types.ModuleType("pytest")
        def gather_target(s, t):
            return torch.zeros(s.shape[0])
        def cross_entropy(l, t, reduction="mean"):
            return torch.zeros(())
    """)
    # Only the dtype/shape-only checks can pass with zeros; every value check fails.
    value_checks = [c for c in bad.checks if c.name.startswith(("test_values", "test_gradient", "test_gather_values"))]
    assert value_checks and not any(c.passed for c in value_checks)


def test_objects_pretending_to_be_equal_score_nothing(hostile) -> None:
    bad, _, _ = hostile("""
        import torch
        class Liar(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                return True
            def __eq__(self, other):
                return True
        class Always:
            def __eq__(self, other):
                return True
            def __bool__(self):
                return True
        def gather_target(s, t):
            return torch.zeros(s.shape[0]).as_subclass(Liar)
        def cross_entropy(l, t, reduction="mean"):
            return Always()
    """)
    value_checks = [c for c in bad.checks if c.name.startswith(("test_values", "test_gather_values", "test_tiny", "test_large"))]
    assert value_checks and not any(c.passed for c in value_checks)


@pytest.mark.parametrize("make", ["torch.empty(shape, dtype=like.dtype, device='meta')",
                                  "torch.zeros(shape, dtype=torch.complex64)"])
def test_tensors_without_readable_values_score_no_value_points(hostile, make: str) -> None:
    # Meta tensors and dtypes the codec does not carry come back without values: they have the right
    # shape, and assert_close passes meta tensors whatever they hold.
    bad, _, _ = hostile(f"""
        import torch
        def gather_target(s, t):
            shape, like = (s.shape[0],), s
            return {make}
        def cross_entropy(l, t, reduction="mean"):
            shape, like = ((l.shape[0],) if reduction == "none" else ()), l
            return {make}
    """)
    value_checks = [c for c in bad.checks if c.name.startswith(("test_values", "test_gather_values", "test_tiny", "test_large"))]
    assert value_checks and not any(c.passed for c in value_checks), [c.name for c in value_checks if c.passed]
    assert bad.score < 1, [f"{c.name}" for c in bad.checks if c.passed]


def test_forging_the_protocol_scores_nothing(hostile) -> None:
    bad, _, _ = hostile("""
        import os, pickle, struct
        def gather_target(s, t):
            blob = pickle.dumps({"ok": True})
            for fd in range(3, 64):
                try:
                    os.write(fd, struct.pack(">Q", len(blob)) + blob)
                except OSError:
                    pass
            return None
        cross_entropy = gather_target
    """)
    assert bad.score == 0


# --- the reference stays out of reach ----------------------------------------------------

def test_reference_and_checks_are_unreachable(hostile) -> None:
    bad, _, _ = hostile(f"""
        import glob, os, sys
        found = []
        def attempt(label, fn):
            try:
                data = fn()
                if data and "def " in data:
                    found.append(label)
                    print("LEAK", label)
                else:
                    print("nothing at", label)
            except Exception as err:
                print("blocked", label, type(err).__name__)
        def read(p):
            with open(p) as f:
                return f.read()
        def up():
            d = os.getcwd()
            for _ in range(8):
                for name in ("solutions/cross_entropy.py", "grader/checks/test_cross_entropy.py"):
                    if os.path.exists(os.path.join(d, name)):
                        return read(os.path.join(d, name))
                d = os.path.dirname(d)
        attempt("import solutions", lambda: __import__("solutions.cross_entropy").cross_entropy.__doc__ or "def ")
        attempt("absolute path", lambda: read({str(ROOT / "solutions" / "cross_entropy.py")!r}))
        attempt("hidden checks", lambda: read({str(ROOT / "grader" / "checks" / "test_cross_entropy.py")!r}))
        attempt("walk up", up)
        attempt("grader.__file__", lambda: read(os.path.join(os.path.dirname(os.path.dirname(
            sys.modules["grader"].__file__)), "solutions", "cross_entropy.py")))
        attempt("/proc/1/cwd", lambda: read("/proc/1/cwd/solutions/cross_entropy.py"))
        attempt("/proc/ppid/cwd", lambda: read(f"/proc/{{os.getppid()}}/cwd/solutions/cross_entropy.py"))
        attempt("glob /proc", lambda: "".join(read(p) for p in glob.glob("/proc/*/cwd/solutions/cross_entropy.py")))
        attempt("/proc/*/root", lambda: "".join(read(p) for p in glob.glob("/proc/*/root{ROOT}/solutions/cross_entropy.py")))
        attempt("git history", lambda: read({str(ROOT / ".git" / "HEAD")!r}) and "def ")
        def gather_target(s, t):
            return s[:, 0]
        cross_entropy = gather_target
    """)
    assert "LEAK" not in bad.output, bad.output
    assert bad.output.count("blocked") + bad.output.count("nothing at") == 10, bad.output


def test_other_copies_of_the_references_elsewhere_are_out_of_reach(hostile) -> None:
    """Hiding this checkout's solutions/ is not enough: an instructor keeps last year's clone in
    their home, a backup in /srv. Only system folders and the Python installation stay visible."""
    from grader.sandbox import SYSTEM_DIRS

    tag = f"kata-test-{os.getpid()}-{time.monotonic_ns()}"
    places = [Path(d) for d in ("/srv", "/opt", "/mnt", "/home", "/var/lib") if os.path.isdir(d)]
    if not any(str(ROOT.parent.resolve()).startswith(s + "/") or str(ROOT.parent.resolve()) == s
               for s in SYSTEM_DIRS):
        places.append(ROOT.parent)  # a sibling clone of this checkout
    decoys = []
    try:
        for place in places:
            target = place / tag / "solutions" / "cross_entropy.py"
            target.parent.mkdir(parents=True)
            os.chmod(place / tag, 0o755)
            os.chmod(target.parent, 0o755)
            target.write_text("def cross_entropy(): 'SECRET-REFERENCE'\n")
            os.chmod(target, 0o644)
            decoys.append(str(target))
        bad, _, _ = hostile(f"""
            import os
            for path in {decoys!r}:
                try:
                    with open(path) as f:
                        print("LEAK" if "SECRET-REFERENCE" in f.read() else "nothing at", path)
                except OSError as err:
                    print("blocked", path, type(err).__name__)
            with open("/etc/passwd") as f:  # a system file others may read: still readable
                print("system files readable:", "root:" in f.read())
            def gather_target(s, t):
                return s[:, 0]
            cross_entropy = gather_target
        """)
    finally:
        for d in decoys:
            shutil.rmtree(Path(d).parents[1], ignore_errors=True)
    assert len(decoys) >= 3
    assert "LEAK" not in bad.output, bad.output
    assert bad.output.count("blocked") == len(decoys), bad.output
    assert "system files readable: True" in bad.output, bad.output


def test_each_worker_runs_as_a_uid_of_its_own(quick, make_submission) -> None:
    """Workers graded side by side share no per-user limit (RLIMIT_NPROC counts a user's threads)
    and no files: each has a uid no account on the machine has."""
    if os.geteuid() != 0:
        pytest.skip("needs root: without it the worker runs as the grader's own user")
    import pwd

    from grader.sandbox import UID_BASE

    probe = """
        import os
        print("ids", os.getuid(), os.getgid(), os.getgroups(), os.environ.get("HOME") == os.getcwd())
    """
    probe = textwrap.dedent(probe)
    sub = make_submission({"cross_entropy": probe + "def gather_target(s, t):\n    return s[:, 0]\n",
                           "sequential": probe + "MySequential = None\n"})
    result = quick.grade(sub, ["cross_entropy", "sequential"])
    assert all("ids " in ex.output for ex in result.exercises), [ex.output for ex in result.exercises]
    ids = [ex.output.split("ids ", 1)[1].split()[:3] for ex in result.exercises]
    uids = [int(u) for u, _, _ in ids]
    assert len(set(uids)) == 2, ids
    for uid, (u, g, groups) in zip(uids, ids):
        assert uid >= UID_BASE and int(g) == uid and groups == "[]", ids
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)
    assert all("True" in ex.output for ex in result.exercises)  # HOME is its scratch folder


def test_the_graders_environment_stays_out_of_reach(make_submission, monkeypatch) -> None:
    """An instructor's shell or a CI runner holds keys and tokens, and what a worker prints reaches
    the student's report: a worker sees only what Python, torch and CUDA read."""
    from grader.session import GradingSession

    secret = f"kata-secret-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    sub = make_submission({"cross_entropy": textwrap.dedent("""
        import os
        print("environ:", sorted(os.environ))
        print("values:", list(os.environ.values()))
        for p in ("/proc/self/environ", "/proc/1/environ"):
            try:
                with open(p, "rb") as f:
                    print(p, f.read())
            except OSError as err:
                print(p, "blocked", err)
        def gather_target(s, t):
            return s[:, 0]
    """)})
    with GradingSession(call_timeout=2.0, budget=5.0) as session:
        bad = session.grade(sub, ["cross_entropy"]).exercises[0]
    assert "environ:" in bad.output and "'PATH'" in bad.output, bad.output  # it ran, with an environment
    assert secret not in bad.output and "GITHUB_TOKEN" not in bad.output, bad.output


# --- broken submissions ------------------------------------------------------------------

@pytest.mark.parametrize("src, expected", [
    ("import torch\nimport not_a_real_module\n", "ModuleNotFoundError: No module named 'not_a_real_module'"),
    ("def gather_target(s, t)\n    return s\n", "SyntaxError"),
])
def test_broken_imports_name_file_and_line(hostile, src: str, expected: str) -> None:
    bad, _, _ = hostile(src)
    assert "cross_entropy.py:" in bad.notes[0] and expected in bad.notes[0], bad.notes


def test_not_utf8(quick, make_submission, tmp_path: Path) -> None:
    f = tmp_path / "latin1.py"
    f.write_bytes("NAME = \"caf\xe9\"\ndef gather_target(s, t):\n    return s\n".encode("latin-1"))
    result = quick.grade(make_submission({"cross_entropy": f}), ["cross_entropy"])
    note = result.exercises[0].notes[0]
    assert "cross_entropy.py:1" in note and "utf-8" in note.lower(), note


def test_only_the_exercises_own_raise_is_not_implemented_yet(hostile) -> None:
    """torch raises NotImplementedError too (no data in a meta tensor, an op without a kernel): that
    is a crash of written code, and calling it "not implemented yet" would send the learner to
    the wrong place."""
    bad, _, _ = hostile("""
        import torch

        def gather_target(s, t):
            return torch.empty(2, device="meta").tolist()

        def cross_entropy(logits, target, reduction="mean"):
            raise NotImplementedError
    """)
    failed = [c.reason for c in bad.checks if not c.passed]
    assert len(failed) == len(bad.checks)
    crashes = [r for r in failed if not r.startswith("not implemented yet")]
    assert all(re.fullmatch(r"not implemented yet: cross_entropy in cross_entropy\.py \(line \d+\)", r)
               for r in failed if r not in crashes), failed
    # The gather_target checks (the others call the stub cross_entropy).
    assert len(crashes) >= 2, failed
    for reason in crashes:
        assert reason.startswith("raised NotImplementedError at cross_entropy.py:5: Cannot copy out of meta"), reason


def test_missing_function_and_wrong_types(hostile) -> None:
    bad, _, _ = hostile("""
        def gather_target(s, t):
            return [1, 2, 3]
    """)
    rs = reasons(bad)
    assert any("cross_entropy.py does not define cross_entropy" in r for r in rs), rs
    assert any("(not a tensor)" in r for r in rs), rs


def test_misspelt_names_get_a_suggestion(hostile) -> None:
    """Python 3.12's "Did you mean" (3.11 leaves it out of the message): for a function defined under
    another name, and for a misspelt tensor method inside one."""
    bad, _, _ = hostile("""
        def gather_target(scores, target):
            return scores.gahter(1, target.view(-1, 1)).squeeze(1)

        def cross_entropi(logits, target, reduction="mean"):
            return logits.sum()
    """)
    rs = reasons(bad)
    assert any(r.startswith("cross_entropy.py does not define cross_entropy (the exercise asks for it by that "
                            "name; is your cross_entropi meant to be it?)") for r in rs), rs
    assert any("'Tensor' object has no attribute 'gahter'. Did you mean: 'gather'?" in r for r in rs), rs


def test_a_killed_grader_leaves_no_worker_behind(make_submission, processes_with) -> None:
    """SIGKILL gives the grader no chance to clean up: the kernel must end its zygote and every
    worker (the waiter, the namespace's init and the worker itself) with it, and the next grader
    removes the temp folder it left."""
    from grader import tempdirs

    mark = f"KATA_TEST_MARK=killed-grader-{os.getpid()}-{time.monotonic_ns()}"
    sub = make_submission({"cross_entropy": f"# {mark}\nimport time\ntime.sleep(3600)\n"})
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(sub), "-e", "cross_entropy",
                             "--timeout", "900", "--budget", "1800"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ours() -> list[Path]:  # the grader's temp folder: the one holding its copy of the submission
        return [d for d in Path(tempfile.gettempdir()).glob(tempdirs.PREFIX + "*")
                if any(mark in f.read_text(errors="replace") for f in d.glob("kata-worker-*/submission/*.py"))]

    # Wait for the submission's own worker. A process count alone is not enough: the sandbox probe
    # that runs first starts a waiter and an init for a moment too (a CI run killed it there).
    # Grader, zygote, then the worker's waiter, init and worker: 5. The limits are far beyond the
    # wait, so no timeout can end the worker while a slow machine is still starting it.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (ours() and len(processes_with(mark)) >= 5):
        time.sleep(0.2)
    assert ours() and len(processes_with(mark)) >= 5, "the submission's worker never started"
    folder = ours()[0]
    assert (folder / ".lock").exists()
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_with(mark):
        time.sleep(0.2)
    assert not processes_with(mark), "processes outlived the killed grader"
    # Its temp folder (the worker's scratch, a copy of the submission) is left behind, and the next
    # grader removes it: here this sweep, or a grader that a test beside this one (pytest -n) started
    # meanwhile, whose sweep once removed it before this test looked.
    tempdirs.sweep()
    assert not folder.exists(), "the folder the killed grader left is still there after the next grader's sweep"
