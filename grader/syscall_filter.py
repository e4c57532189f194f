"""The worker's seccomp filter: refuse the kernel keyring calls (``add_key``, ``request_key``,
``keyctl``) with EPERM. Keyrings belong to no namespace, so a key left by one worker could be read
by a later one (a note passed between submissions). Syscalls of another ABI (32-bit ``int 0x80``,
whose numbers differ) are refused whole: 64-bit Python never makes them.

Installed by ``grader.sandbox.enter`` after ``no_new_privs``, which lets an unprivileged process
filter its own syscalls.
"""
from __future__ import annotations

import ctypes
import os

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
# Per machine: the audit arch, the seccomp syscall, and add_key, request_key, keyctl.
SECCOMP_ABI = {"x86_64": (0xC000003E, 317, (248, 249, 250)), "aarch64": (0xC00000B7, 277, (217, 218, 219))}
X32_SYSCALL_BIT = 0x40000000  # x86_64's x32 ABI: same arch, numbers with this bit set

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def keyring_filter(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The classic-BPF program: refuse the keyring calls and every call of another ABI with EPERM."""
    if machine not in SECCOMP_ABI:
        return None
    arch, _, keyring = SECCOMP_ABI[machine]
    denied = list(keyring) + ([nr | X32_SYSCALL_BIT for nr in keyring] if machine == "x86_64" else [])
    ld_abs, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    n = len(denied)
    deny = (ret, 0, 0, SECCOMP_RET_ERRNO | 1)  # EPERM
    return [(ld_abs, 0, 0, 4),                 # seccomp_data.arch
            (jeq, 1, 0, arch), deny,           # another ABI: refused
            (ld_abs, 0, 0, 0),                 # seccomp_data.nr
            *[(jeq, n - i, 0, nr) for i, nr in enumerate(denied)],
            (ret, 0, 0, SECCOMP_RET_ALLOW), deny]


def install() -> bool:
    """Install keyring_filter for every thread of this process; False where the kernel cannot."""
    machine = os.uname().machine
    program = keyring_filter(machine)
    if program is None:
        return False
    filters = (_SockFilter * len(program))(*program)
    prog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    # seccomp(2) with TSYNC covers threads started before (an exec worker imported torch first);
    # prctl is the fallback for kernels without it (it covers this thread and what it starts).
    if _libc.syscall(SECCOMP_ABI[machine][1], SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                     ctypes.byref(prog)) == 0:
        return True
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0
