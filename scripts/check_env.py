"""Is this Python environment one torch-kata can run in? Exit 0 if so, else 1 and why.

``scripts/setup.sh`` runs it to decide whether an existing environment can be reused.
Importing is not enough: torch < 2.3 was built against NumPy 1, and beside NumPy 2 it
imports, warns, and fails only on the first tensor/array conversion (the datasets
exercise and the capstone make them), far from the cause.
"""
from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
MODULES = ["torch", "torchvision", "numpy", "pytest", "pytest_timeout"]


def _release(text: str) -> tuple[int, ...]:
    """'2.14.1+cu130' -> (2, 14, 1); '2.3.0rc1' -> (2, 3, 0)."""
    match = re.match(r"\d+(\.\d+)*", text)
    return tuple(int(p) for p in match.group().split(".")) if match else ()


def minimum(requirements: Path = REQUIREMENTS) -> dict[str, tuple[int, ...]]:
    """The lower bounds of torch and torchvision in requirements.txt (kept equal to pyproject's)."""
    floors = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"\s*(torch|torchvision)\s*>=\s*([\d.]+)", line)
        if match:
            floors[match[1]] = _release(match[2])
    return floors


def problems() -> list[str]:
    found = []
    for module in MODULES:
        try:
            __import__(module)
        except Exception as exc:  # a broken install raises more than ImportError
            found.append(f"cannot import {module}: {type(exc).__name__}: {exc}")
    if found:
        return found
    for dist, floor in minimum().items():
        try:
            have = version(dist)
        except PackageNotFoundError:
            have = "0"
        if _release(have) < floor:
            found.append(f"{dist} {have} is older than {'.'.join(map(str, floor))}, "
                         "the oldest torch-kata supports")
    import numpy
    import torch

    if torch.ones(2).add(1).sum().item() != 4.0:
        found.append("torch gets torch.ones(2).add(1).sum() wrong on this machine")
    try:
        converted = torch.from_numpy(numpy.ones(2)).sum().item() == 2.0
    except Exception as exc:
        converted = False
        detail = f"{type(exc).__name__}: {exc}"
    else:
        detail = "wrong values"
    if not converted:
        found.append(f"torch {torch.__version__} cannot convert NumPy {numpy.__version__} "
                     f"arrays ({detail}); torch < 2.3 needs numpy<2")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(f"check_env: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
