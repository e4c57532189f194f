"""scripts/check_env.py: setup.sh reuses an environment only when it says yes, and says why not."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_env.py"


@pytest.fixture
def check_env():
    spec = importlib.util.spec_from_file_location("check_env", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_this_environment_passes() -> None:
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "check_env:" not in r.stderr, r.stderr


@pytest.mark.parametrize("text, release", [("2.14.1+cu130", (2, 14, 1)), ("2.3.0rc1", (2, 3, 0)),
                                           ("0.18.0", (0, 18, 0)), ("2.10", (2, 10)), ("unknown", ())])
def test_release_numbers(check_env, text: str, release: tuple[int, ...]) -> None:
    assert check_env._release(text) == release


def test_floors_are_the_declared_ones(check_env) -> None:
    """requirements.txt (what setup.sh installs) and pyproject.toml declare the same ranges."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["capstone"])
    required = {ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()} - {""}
    assert required == declared
    floors = {m[1]: check_env._release(m[2]) for d in declared if (m := re.match(r"(torch|torchvision)>=([\d.]+)", d))}
    assert check_env.minimum() == floors and set(floors) == {"torch", "torchvision"}


def test_an_older_torch_is_refused_by_name(check_env, monkeypatch: pytest.MonkeyPatch) -> None:
    real = check_env.version
    monkeypatch.setattr(check_env, "version", lambda d: "2.2.0+cu121" if d == "torch" else real(d))
    assert check_env.problems() == ["torch 2.2.0+cu121 is older than 2.3, the oldest torch-kata supports"]


def test_a_torch_that_cannot_use_this_numpy_is_refused(check_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """What torch 2.2 (built against NumPy 1) does beside NumPy 2: it imports, then cannot convert."""
    def broken(array):
        raise RuntimeError("Numpy is not available")

    monkeypatch.setattr(torch, "from_numpy", broken)
    [problem] = check_env.problems()
    assert "cannot convert NumPy" in problem and "Numpy is not available" in problem and "numpy<2" in problem


def test_a_module_that_does_not_import_is_named(check_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_env, "MODULES", [*check_env.MODULES, "torch_kata_no_such_module"])
    [problem] = check_env.problems()
    assert problem.startswith("cannot import torch_kata_no_such_module: ModuleNotFoundError")
