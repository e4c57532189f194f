"""The worker's seccomp program (grader/syscall_filter.py keyring_filter), run by a small classic-BPF
interpreter: so that the aarch64 program, which this machine cannot load, is checked too.
test_hostile.py checks the loaded filter in a real worker."""
from __future__ import annotations

import pytest

from grader.syscall_filter import SECCOMP_ABI, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, X32_SYSCALL_BIT, keyring_filter

EPERM = SECCOMP_RET_ERRNO | 1


def _run(program: list[tuple[int, int, int, int]], arch: int, nr: int) -> int:
    """What the kernel would return for a syscall ``nr`` of ``arch`` (only the opcodes the program uses)."""
    data = {0: nr, 4: arch}  # struct seccomp_data: nr at offset 0, arch at offset 4
    acc, pc = 0, 0
    for _ in range(len(program)):  # classic BPF only jumps forward: one pass ends it
        code, jt, jf, k = program[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            acc, pc = data[k], pc + 1
        elif code == 0x15:  # BPF_JMP | BPF_JEQ | BPF_K
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("fell off the end of the program")


@pytest.mark.parametrize("machine", sorted(SECCOMP_ABI))
def test_keyring_calls_are_refused_and_the_rest_allowed(machine: str) -> None:
    arch, _, keyring = SECCOMP_ABI[machine]
    program = keyring_filter(machine)
    assert program is not None and len(program) < 64
    for nr in keyring:
        assert _run(program, arch, nr) == EPERM, nr
    # Every other syscall number of the machine's ABI goes through (read, write, mmap, ioctl, clone, ...).
    allowed = [nr for nr in range(512) if nr not in keyring]
    assert all(_run(program, arch, nr) == SECCOMP_RET_ALLOW for nr in allowed)
    # Another ABI (32-bit int 0x80 on x86_64, with other numbers) is refused whole.
    assert _run(program, 0x40000003, 39) == EPERM  # AUDIT_ARCH_I386, getpid


def test_x32_numbers_do_not_slip_past() -> None:
    arch, _, keyring = SECCOMP_ABI["x86_64"]
    program = keyring_filter("x86_64")
    assert program is not None
    for nr in keyring:
        assert _run(program, arch, nr | X32_SYSCALL_BIT) == EPERM


def test_unknown_machines_get_no_filter() -> None:
    assert keyring_filter("riscv64") is None
