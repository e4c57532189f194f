"""Helpers for the tests of the learner commands: copies of the repository and of the student release.

Every command runs as a subprocess (``python -m grader ...``) in a temporary
copy, with its own state directory and a neutral locale, bounded by a timeout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".pyc")}


def copy_checkout(dest: Path) -> Path:
    """What a fresh clone holds that the learner commands use (the instructor's side included)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("conftest.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("exercises", "grader", "solutions"):
        shutil.copytree(ROOT / name, dest / name, ignore=_ignore)
    (dest / "tests").mkdir()
    for f in [ROOT / "tests" / "conftest.py", ROOT / "tests" / "kata.py", *(ROOT / "tests").glob("test_*.py")]:
        shutil.copy2(f, dest / "tests" / f.name)
    return dest


def marked(mark: str) -> list[int]:
    """Processes whose environment holds ``mark`` (a unique value of some variable): what a
    command started, at any depth, whatever it did with its sessions and process groups."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue  # ended meanwhile, or not ours
    return pids


def gone(mark: str, within: float = 15) -> list[int]:
    """Wait until no process holds ``mark``; those still there after ``within`` seconds."""
    deadline = time.monotonic() + within
    while (left := marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def clean_env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KATA_LANG", "KATA_IMPL", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "PYTEST_ADDOPTS")}
    env.update(LANG="C.UTF-8", PYTHONIOENCODING="utf-8", KATA_STATE_DIR=str(state), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


@dataclass
class Kata:
    """A copy of the kata (checkout or release) and a way to run ``python -m grader`` in it."""

    root: Path
    state: Path

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(self.state, **extra)

    def run(self, *args: str, timeout: float = TIMEOUT, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader", *args], cwd=self.root, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def popen(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-u", "-m", "grader", *args], cwd=self.root, env=self.env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL)

    def solve(self, exercise: str, source: Path | None = None) -> None:
        """Put a finished (or the given) file in place of the learner's stub."""
        shutil.copy2(source or ROOT / "solutions" / f"{exercise}.py", self.root / "exercises" / f"{exercise}.py")
