"""The student release's CI workflow must not hold anything a student could take."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_student_workflow_uses_no_secrets_and_checks_out_nothing_else() -> None:
    # A student can push a changed workflow, so whatever it can reach is theirs.
    text = (ROOT / "grader" / "templates" / "kata.yml").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "secrets." not in code
    assert not re.search(r"repository:\s*\S", code), "checks out another repository"
    assert "python -m pytest" in code


# --- a release never ships reference code ---------------------------------------------------

def _copy_repo(dest: Path) -> Path:
    """What `python -m grader release` reads, copied: the test changes the copy, never the repository."""
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir(parents=True)
    for name in ("conftest.py", "pyproject.toml", "requirements.txt"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("exercises", "grader", "solutions", "scripts"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    (dest / "tests").mkdir()
    for f in [ROOT / "tests" / "conftest.py", ROOT / "tests" / "kata.py", *(ROOT / "tests").glob("test_*.py")]:
        shutil.copy2(f, dest / "tests" / f.name)
    return dest


def _release(repo: Path, out: Path):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "grader", "release", str(out)], cwd=repo, capture_output=True,
                          text=True, timeout=300)


def test_the_sheets_hold_no_reference_code() -> None:
    # The evidence below must not take a sheet for a reference: each sheet repeats its
    # reference's signatures and docstrings.
    from grader.release import references_in_sheets, stray_exercise_files

    assert references_in_sheets() == []
    assert stray_exercise_files() == []


def test_release_refuses_a_sheet_holding_a_reference(tmp_path: Path) -> None:
    import shutil

    repo = _copy_repo(tmp_path / "repo")
    out = tmp_path / "out"
    sheet = (repo / "exercises" / "training.py").read_text()
    shutil.copy(repo / "solutions" / "training.py", repo / "exercises" / "training.py")  # the instructor's slip
    r = _release(repo, out)
    assert r.returncode == 2, r.stdout + r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, r.stderr
    assert line.startswith("error: exercises/training.py holds reference code") and "solutions/training.py" in line
    assert not out.exists()
    # Another exercise's reference, in part, under a sheet's name: refused too.
    code = (repo / "solutions" / "dropout.py").read_text()
    (repo / "exercises" / "training.py").write_text(sheet + "\n\n" + code.split("\n\n\n", 1)[1])
    r = _release(repo, out)
    assert r.returncode == 2 and "solutions/dropout.py" in r.stderr and not out.exists(), r.stderr
    # The sheet back: the release is written.
    (repo / "exercises" / "training.py").write_text(sheet)
    r = _release(repo, out)
    assert r.returncode == 0, r.stderr
    assert (out / "exercises" / "training.py").read_text() == sheet


def test_release_leaves_out_stray_files_in_exercises(tmp_path: Path) -> None:
    import shutil

    repo = _copy_repo(tmp_path / "repo")
    shutil.copy(repo / "solutions" / "dropout.py", repo / "exercises" / "dropout_ref.py")
    (repo / "exercises" / "notes.py").write_text("# my notes\n")
    out = tmp_path / "out"
    r = _release(repo, out)
    assert r.returncode == 0, r.stderr
    for name in ("dropout_ref.py", "notes.py"):
        assert f"warning: exercises/{name} is no exercise's sheet: not in the release" in r.stderr
        assert not (out / "exercises" / name).exists()
    assert (out / "exercises" / "dropout.py").is_file()
