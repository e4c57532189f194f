"""scripts/gpu_check.py, the one command a GPU session runs, tested here as its CPU dry run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="a dry run without a GPU; on a GPU, run the script")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def test_refuses_to_pass_without_a_gpu(tmp_path: Path) -> None:
    r = _run("--out", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "torch sees no CUDA GPU here" in r.stderr
    assert not (tmp_path / "gpu-check.md").exists()


def test_dry_run_reports_every_step(tmp_path: Path) -> None:
    r = _run("--allow-cpu", "--out", str(tmp_path), "--exercise", "sequential")
    assert r.returncode == 0, r.stdout + r.stderr
    report = (tmp_path / "gpu-check.md").read_text()
    assert "GPUs seen by torch: none" in report
    for step in ("tests marked cuda", "grade solutions", "grade exercises"):
        assert f"| {step} | ok |" in report, report
    # Without a GPU the CUDA tests are all skipped and no CUDA check is counted.
    assert "0 CUDA checks (none)" in report, report
    assert "'skipped': " in report and "'passed'" not in report.split("| tests marked cuda |")[1].split("\n")[0]
    assert "needs CUDA" in (tmp_path / "cuda-tests.log").read_text()
    assert (tmp_path / "solutions.json").is_file() and (tmp_path / "grade-exercises.log").is_file()
