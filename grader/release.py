"""Building what leaves the instructor's repository.

- ``release``: the student repository (stubs, learner tests, the learner tools), with
  no reference code and no hidden checks.
- ``gradescope``: an autograder bundle (setup.sh, run_autograder and the grader).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"

# What a learner gets, as glob patterns relative to the repository root.
RELEASE_FILES = [
    "exercises/*.py", "exercises/hints/*", "exercises/i18n/*",
    "conftest.py", "tests/conftest.py", "tests/kata.py", "tests/test_*.py",
    "grader/__init__.py", "grader/__main__.py", "grader/cli.py", "grader/catalog.py", "grader/files.py",
    "grader/learner/*.py", "grader/learner/**/*",
    "requirements.txt", "scripts/setup.sh", "scripts/check_env.py",
]
# Never in a release, whatever the patterns above match.
FORBIDDEN = ["solutions", "grader/checks", "grader/probes", "tests/grader", "tests/mutants",
             "tests/alternatives", "tests/learner", ".git", ".ci"]

GITIGNORE = "__pycache__/\n*.pyc\n.venv/\n.kata/\n.pytest_cache/\n*.egg-info/\n"


def _is_forbidden(rel: Path) -> bool:
    text = rel.as_posix()
    return any(text == f or text.startswith(f + "/") for f in FORBIDDEN) or "__pycache__" in rel.parts


def learner_pyproject() -> str:
    """The release's pyproject.toml, with the dependency ranges of ours (one place to change them)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # A JSON list of strings is a valid TOML array.
    return ((TEMPLATES / "pyproject.learner.toml").read_text()
            .replace("@DEPENDENCIES@", json.dumps(project["dependencies"]))
            .replace("@CAPSTONE@", json.dumps(project["optional-dependencies"]["capstone"])))


def release(out: Path, git: bool = False) -> list[Path]:
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for pattern in RELEASE_FILES:
        for src in sorted(ROOT.glob(pattern)):
            rel = src.relative_to(ROOT)
            # The patterns overlap (grader/learner/*.py and grader/learner/**/*): copy and count each file once.
            if not src.is_file() or _is_forbidden(rel) or rel in written:
                continue
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            written.append(rel)
    extras = {
        "README.md": (TEMPLATES / "README.learner.md").read_text(),
        "pyproject.toml": learner_pyproject(),
        ".github/workflows/kata.yml": (TEMPLATES / "kata.yml").read_text(),
        ".gitignore": GITIGNORE,
    }
    for rel_name, text in extras.items():
        dest = out / rel_name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        written.append(Path(rel_name))
    if git:
        run = lambda *a: subprocess.run(["git", *a], cwd=out, check=True, capture_output=True)  # noqa: E731
        run("init", "-q", "-b", "main")
        run("add", "-A")
        run("-c", "user.name=torch-kata", "-c", "user.email=kata@example.invalid",
            "commit", "-q", "-m", "torch-kata exercises")
    return written


def gradescope_bundle(out_zip: Path, visibility: str = "visible") -> list[str]:
    """A zip for Gradescope's 'Configure Autograder' page; ``visibility`` is each check's."""
    names = []
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, (TEMPLATES / name).read_text().replace("@VISIBILITY@", visibility))
            names.append(name)
        for pattern in ("grader/*.py", "grader/checks/*", "grader/probes/*.py", "grader/learner/**/*",
                        "grader/templates/*", "solutions/*.py", "requirements.txt", "pyproject.toml"):
            for src in sorted(ROOT.glob(pattern)):
                if src.is_file() and "__pycache__" not in src.parts:
                    rel = src.relative_to(ROOT).as_posix()
                    zf.write(src, rel)
                    names.append(rel)
    return names
