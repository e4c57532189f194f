"""Confining a worker that runs submitted code (Linux).

Layers, each applied when the machine allows it and reported when it does not:

- namespaces: a new PID namespace (the worker is its init, so when it ends every
  process it started ends too, and ``kill(-1)`` reaches nothing outside), a new
  mount namespace (only the system folders and the Python installation stay
  visible: every other top-level folder, such as ``/home``, ``/root``, ``/srv``, is
  covered; the reference solutions, hidden checks, tests, git history and other
  submissions are covered wherever they are; the temp folder, every world-writable
  folder such as ``/dev/shm`` and the socket folder ``/run`` get a private tmpfs;
  ``/proc`` shows only the worker's own processes),
  a new network namespace (no network) and a new IPC namespace (no SysV shared
  memory or message queue outlives the worker). As root these need nothing more;
  otherwise a user namespace provides them where the kernel allows unprivileged ones.
- a separate unprivileged user (a uid of its own per worker) when the grader runs as root, with
  ``no_new_privs``, so the worker cannot undo any of this or touch root's files.
- a seccomp filter that refuses the kernel keyring calls, which no namespace covers
  (``grader/syscall_filter.py``).
- a memory cgroup per worker, as root where the machine's cgroup tree takes one: it counts the
  shared mappings RLIMIT_DATA does not see (``grader/memory_cgroup.py``).
- resource limits: memory (RLIMIT_DATA, which unlike RLIMIT_AS ignores the
  address space torch and CUDA reserve without using), file size (an output
  flood cannot fill the disk), processes (no fork bomb), core dumps off.

``enter`` runs in the trusted worker process after fork/exec and before any
submitted code is imported. With namespaces it forks once more: the parent
stays outside, waits, and relays the child's fate as its own.
"""
from __future__ import annotations

import ctypes
import glob
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
from dataclasses import asdict, dataclass, field

from grader import syscall_filter
from grader.memory_cgroup import CGROUP_MARGIN, MemoryCgroup

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
# Each worker runs as a uid of its own, so that workers graded side by side (grade-all's jobs) share
# no per-user limit (RLIMIT_NPROC counts a user's threads: one submission holding hundreds could
# make another's thread start fail) and no files. The uids come from a range no account uses and
# rootless containers' subordinate ids (from 100000, in blocks of 65536) do not reach; the offset is
# the pid of the worker's waiter, which lives as long as the worker, so no two live workers share one.
UID_BASE = 2**31 - 2**23
SCRATCH_BYTES = 256 * 2**20

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Policy:
    namespaces: bool = True
    drop_user: bool = True
    syscall_filter: bool = True
    memory_cgroup: bool = True
    memory_bytes: int = 4 * 2**30
    file_bytes: int = 64 * 2**20
    max_processes: int = 512
    hide: list[str] = field(default_factory=list)  # paths the worker must not see

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> "Policy":
        return Policy(**json.loads(text))


class SandboxError(Exception):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def die_with_parent(parent: int | None = None) -> None:
    """Have the kernel kill this process when its parent ends, so that a grader killed with
    SIGKILL leaves no worker (nor a waiter or an init holding a namespace) behind.

    ``parent``: the pid that started this process. If it has already ended (before the death
    signal was set, which then never comes), this process ends here."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _new_namespaces() -> None:
    # IPC: SysV shared memory and POSIX message queues of its own, gone with the worker.
    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC
    if os.geteuid() == 0:
        _unshare(flags)
        return
    uid, gid = os.geteuid(), os.getegid()
    _unshare(flags | CLONE_NEWUSER)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _hide(path: str) -> None:
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
    else:
        _mount("/dev/null", path, None, MS_BIND)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _needed_paths() -> list[str]:
    """What the worker must still read once the machine's other folders are covered: the Python
    installation (modules load lazily), site-packages outside it (a user site) and the folders shared
    libraries load from (CUDA's are loaded at the first GPU call). Not other ``sys.path`` entries: the
    working directory the grader was started from may hold anything."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable))}
    paths = set(prefixes)
    for p in sys.path:
        real = os.path.realpath(p) if p else ""
        if real and os.path.isdir(real) and (
                os.path.basename(real) in ("site-packages", "dist-packages") or any(_under(real, x) for x in prefixes)):
            paths.add(real)
    libs = os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    for conf in ["/etc/ld.so.conf", *sorted(glob.glob("/etc/ld.so.conf.d/*.conf"))]:
        try:
            with open(conf) as f:
                libs += [ln.split("#")[0].strip() for ln in f if ln.strip().startswith("/")]
        except OSError:
            pass
    paths |= {os.path.realpath(p) for p in libs if p.startswith("/") and os.path.isdir(p)}
    return sorted(p for p in paths if p != "/")


# Top-level folders of the system, not of anybody's data: the worker keeps them (readable as their
# modes say). Every other one (/home, /root, /srv, /opt, /mnt, /var, a /work or /autograder ...) is
# covered, so another copy of the references elsewhere on the machine is out of reach.
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc", "/dev", "/proc", "/sys",
               "/run", "/nix")


def _folders_to_cover(needed: list[str], tmp: str, drop_user: bool) -> list[str]:
    system = {os.path.realpath(d) for d in SYSTEM_DIRS}
    cover = {os.path.realpath(os.path.join("/", name)) for name in os.listdir("/")}
    cover = {d for d in cover if os.path.isdir(d) and d != "/" and d not in system
             and not any(_under(d, s) for s in system)}
    if drop_user and os.geteuid() == 0:
        # A folder others cannot enter (a venv under /usr/local/x, mode 700) on the way to a
        # needed path: covered too, and the needed path brought back, rather than chmod-ing the machine.
        for path in needed:
            parts = path.split(os.sep)
            for i in range(2, len(parts)):
                anc = os.sep.join(parts[:i])
                if not os.stat(anc).st_mode & 0o001:
                    cover.add(anc)
                    break
    cover.add(tmp)
    return sorted(cover, key=lambda d: (d.count(os.sep), d))  # parents first


def _cover_and_bring_back(cover: list[str], needed: list[str], tmp: str) -> None:
    """Cover each folder with an empty tmpfs, then bind the needed paths inside them back at their own
    paths (from descriptors opened before anything was covered). The temp folder's tmpfs is the
    worker's own, writable and capped (torch.compile, for one, writes its cache there)."""
    back = [p for p in needed if any(_under(p, d) for d in cover)]
    back = [p for p in back if not any(q != p and _under(p, q) for q in back)]  # the outermost only
    fds = {p: os.open(p, os.O_PATH) for p in back}
    for d in cover:
        os.makedirs(d, mode=0o755, exist_ok=True)  # a covered parent may have hidden it
        if d == tmp:
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,nr_inodes=4096,mode=1777")
        else:
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,nr_inodes=1024,mode=755")
    for p, fd in sorted(fds.items()):
        os.makedirs(p, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
        os.close(fd)


# Where every user may write (files there would outlive the worker, fill shared memory and pass
# notes to the next submission), besides the temp directory and any world-writable mount point.
SHARED_WRITABLE = ("/dev/shm", "/run/shm", "/var/tmp", "/run/lock", "/var/lock", "/dev/mqueue", "/var/crash")
# Local sockets of the machine's services (D-Bus, databases, docker.sock) live here: a network
# namespace does not cover sockets that are files.
SOCKET_DIRS = ("/run",)


def _mount_points() -> list[str]:
    try:
        with open("/proc/self/mountinfo") as f:
            return [ln.split()[4].encode().decode("unicode_escape") for ln in f if len(ln.split()) > 4]
    except OSError:
        return []


def _privatise_shared_dirs(keep: list[str]) -> list[str]:
    """Give the worker its own small, empty tmpfs over each directory others can write to and over
    the socket directories. Paths holding something the worker needs (``keep``) are left alone."""
    def needed(d: str) -> bool:
        return any(k == d or k.startswith(d.rstrip("/") + "/") for k in keep)

    covered = []
    for d in SOCKET_DIRS:
        real = os.path.realpath(d)
        if os.path.isdir(real) and real != "/" and not needed(real):
            _mount("tmpfs", real, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,nr_inodes=256,mode=755")
            covered.append(real)
    candidates = list(SHARED_WRITABLE) + [m for m in _mount_points() if not m.startswith(("/proc", "/sys"))]
    for d in dict.fromkeys(os.path.realpath(c) for c in candidates):
        try:
            world_writable = os.path.isdir(d) and bool(os.stat(d).st_mode & 0o002)
        except OSError:
            continue
        if world_writable and d != "/" and d not in covered and not needed(d):
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=1024,mode=1777")
            covered.append(d)
    return covered


def _private_ptys() -> None:
    """Pseudo-terminals of the worker's own: with the machine's /dev/pts, two workers graded
    side by side could talk through a pty (and one could write to the instructor's terminal)."""
    if not os.path.isdir("/dev/pts"):
        return
    try:
        _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
        if os.path.exists("/dev/ptmx") and not os.path.islink("/dev/ptmx"):
            _mount("/dev/pts/ptmx", "/dev/ptmx", None, MS_BIND)
    except SandboxError:  # no new devpts instance here: no ptys at all, then
        _mount("tmpfs", "/dev/pts", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=755")
        if os.path.exists("/dev/ptmx") and not os.path.islink("/dev/ptmx"):
            _mount("/dev/null", "/dev/ptmx", None, MS_BIND)


def _setup_mounts(policy: Policy, scratch: str) -> None:
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    tmp = os.path.realpath(tempfile.gettempdir())
    hidden = [os.path.realpath(h) for h in policy.hide]
    needed = [p for p in _needed_paths() if not any(_under(p, h) for h in hidden)]
    keep = os.open(scratch, os.O_PATH)
    _cover_and_bring_back(_folders_to_cover(needed, tmp, policy.drop_user), needed, tmp)
    os.makedirs(scratch, exist_ok=True)
    # The scratch folder is a tmpfs of its own, capped: RLIMIT_FSIZE caps each file, not how
    # many a submission writes, and a folder on the real disk could be filled at 500 MB/s.
    # It starts with a copy of what the grader put there (the submission's files).
    _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_BYTES},nr_inodes=4096,mode=700")
    shutil.copytree(f"/proc/self/fd/{keep}", scratch, symlinks=True, dirs_exist_ok=True)
    os.close(keep)
    _privatise_shared_dirs(keep=[tmp, scratch] + needed)
    # Hidden paths inside a folder brought back (a checkout under /usr/local, say) are covered here;
    # those in a covered folder are gone already.
    for real in hidden:
        _hide(real)
    _private_ptys()
    # A /proc of this PID namespace only: no peeking at the grader's memory, cwd or fds.
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _limits(policy: Policy) -> list[str]:
    done = []
    for name, value in (("RLIMIT_DATA", policy.memory_bytes), ("RLIMIT_FSIZE", policy.file_bytes),
                        ("RLIMIT_NPROC", policy.max_processes), ("RLIMIT_CORE", 0)):
        res = getattr(resource, name)
        soft, hard = resource.getrlimit(res)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(res, (cap, cap))
            done.append(name)
        except (ValueError, OSError):
            pass
    # Past the file size cap, writes fail with EFBIG instead of killing the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return done


def worker_uid(pid: int) -> int:
    return UID_BASE + pid % 2**22  # pids stay below 2**22 (the kernel's pid_max limit)


def _drop_user(scratch: str, uid: int) -> None:
    for root, dirs, files in os.walk(scratch):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)
    os.chown(scratch, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    # No account has this uid: tell what asks for one (getpass.getuser, torch.compile's cache) who it
    # is, and where its home is (the scratch folder, the one place it may write).
    os.environ.update(USER="kata-worker", LOGNAME="kata-worker", HOME=scratch)


SIGNAL_EXIT_BASE = 200  # an init cannot kill itself: it reports "died of signal s" as exit 200+s


def _relay(child: int, as_init: bool = False, cgroup: MemoryCgroup | None = None) -> None:
    """Wait for ``child`` (reaping any orphan meanwhile) and die the way it died; then remove
    ``cgroup``, the worker's."""
    def stop(signum: int, frame: object) -> None:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def pass_on(signum: int, frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, pass_on)  # "where are you?" (grader.worker), for the worker itself
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
            if pid != child:
                continue
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(70)
    if cgroup is not None:
        cgroup.remove()
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70
    if sig is None and code > SIGNAL_EXIT_BASE:
        sig = code - SIGNAL_EXIT_BASE
    if sig is not None:
        if as_init:
            os._exit(SIGNAL_EXIT_BASE + sig)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


def enter(policy: Policy, scratch: str, keep_fds: list[int]) -> list[str]:
    """Confine the current process; returns the protections now in force.

    Raises SandboxError when a protection the policy asks for cannot be set up:
    better no grading than grading without the promised walls.
    """
    active = []
    uid = worker_uid(os.getpid())  # before any fork: this process becomes the waiter
    os.setsid()
    if policy.namespaces:
        cgroup = MemoryCgroup.make(policy.memory_bytes + SCRATCH_BYTES + CGROUP_MARGIN) \
            if policy.memory_cgroup else None
        _new_namespaces()
        # Outside: a waiter that relays the worker's fate. Inside: a small init that
        # reaps orphans and, by ending, ends every process left in the namespace.
        for _level in ("outside", "init"):
            child = os.fork()
            if child:
                for fd in keep_fds:
                    os.close(fd)
                _relay(child, as_init=_level == "init", cgroup=cgroup if _level == "outside" else None)
            die_with_parent()  # the init with the waiter, the worker with the init
            if _level == "outside":
                if cgroup is not None and cgroup.join():  # before anything else runs: all that follows counts
                    active.append("memory cgroup (shared memory counted too)")
                _setup_mounts(policy, scratch)
        active += ["pid namespace", "mount namespace (only system folders and Python visible; reference, checks "
                   "and other submissions hidden; shared writable folders and /run private)", "network namespace (no network)", "ipc namespace"]
    active += _limits(policy)
    if policy.drop_user and os.geteuid() == 0:
        _drop_user(scratch, uid)
        active.append("unprivileged user (a uid of its own)")
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # also what lets an unprivileged process filter syscalls
    if policy.syscall_filter and syscall_filter.install():
        active.append("syscall filter (no kernel keyrings)")
    return active


def detect(policy: Policy) -> tuple[Policy, list[str], list[str]]:
    """Try the policy in a throw-away child; return what works, what is active, what is missing."""
    scratch = tempfile.mkdtemp(prefix="kata-probe-")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            result = {"ok": enter(policy, scratch, [w])}
        except BaseException as err:  # noqa: BLE001
            result = {"error": str(err)}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    os.rmdir(scratch) if os.path.isdir(scratch) and not os.listdir(scratch) else None
    try:
        result = json.loads(data or b"{}")
    except ValueError:
        result = {}
    missing = []
    if "ok" not in result and policy.namespaces:
        missing.append(f"namespaces unavailable ({result.get('error', 'unknown error')}): the reference and other "
                       "submissions are NOT hidden, background processes may outlive their exercise, network is open")
        policy, active, more = detect(Policy(**{**asdict(policy), "namespaces": False}))
        return policy, active, missing + more
    active = result.get("ok", [])
    if "RLIMIT_DATA" not in active:
        missing.append("no memory limit")
    if os.geteuid() == 0 and not any("unprivileged user" in a for a in active):
        missing.append("worker runs as root")
    if policy.namespaces and policy.memory_cgroup and not any("memory cgroup" in a for a in active):
        missing.append("no memory cgroup: pages of shared mappings (mmap MAP_SHARED, memfd) go past --memory")
    if policy.syscall_filter and not any("syscall filter" in a for a in active):
        missing.append("no syscall filter: kernel keyrings, which no namespace covers, can pass notes between "
                       "submissions")
    return policy, active, missing


if __name__ == "__main__":
    # python -m grader.sandbox POLICY_JSON: print what works here, as JSON (no torch needed).
    chosen, active, missing = detect(Policy.from_json(sys.argv[1]))
    print(json.dumps({"policy": asdict(chosen), "active": active, "missing": missing}))
