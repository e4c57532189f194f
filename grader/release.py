"""Building what leaves the instructor's repository.

- ``release``: the student repository (stubs, learner tests, the learner tools), with
  no reference code and no hidden checks.
- ``gradescope``: an autograder bundle (setup.sh, run_autograder and the grader).
"""
from __future__ import annotations

import ast
import json
import shutil
import sys
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
    "grader/suggest.py", "grader/tracebacks.py", "grader/cpu_wait.py",
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


class ReleaseRefused(Exception):
    """The release would ship reference code: nothing was written."""


# The evidence of the suite's leak test (tests/grader/test_instructor.py): a reference's lines of
# MIN_LINE characters or more that no public file holds. Here, only the lines of its functions'
# bodies count (a sheet repeats a reference's signatures and docstrings, never its code), and the
# sheets themselves are what is checked, so they are left out of the public files.
MIN_LINE = 24
LEAK_LINES = 3  # a sheet holding this many of a reference's distinctive lines holds the reference


def _code_lines(source: str) -> set[str]:
    """The stripped lines of the function bodies in source (docstrings left out), MIN_LINE+ long."""
    lines = source.splitlines()
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                body = body[1:]
            for stmt in body:
                found.update(ln.strip() for ln in lines[stmt.lineno - 1:stmt.end_lineno])
    return {ln for ln in found if len(ln) >= MIN_LINE and not ln.startswith(("#", '"""'))}


def _shipped(pattern: str, root: Path) -> list[Path]:
    return [src for src in sorted(root.glob(pattern))
            if src.is_file() and not _is_forbidden(src.relative_to(root))]


def stray_exercise_files(root: Path = ROOT) -> list[Path]:
    """.py files in exercises/ that are no catalog exercise's sheet: a release leaves them out."""
    from grader import catalog

    return [p for p in _shipped("exercises/*.py", root) if p.stem not in catalog.BY_ID]


def references_in_sheets(root: Path = ROOT) -> list[tuple[str, str, list[str]]]:
    """(sheet, reference, evidence lines) for every exercise sheet that holds reference code."""
    from grader import catalog

    sheets = [root / "exercises" / f"{e.id}.py" for e in catalog.EXERCISES]
    sheets = [p for p in sheets if p.is_file()]
    public = [p for pat in RELEASE_FILES for p in _shipped(pat, root)
              if p.parent != root / "exercises" or p.suffix != ".py"] + sorted(TEMPLATES.glob("*"))
    shown = "\n".join(p.read_text(errors="replace") for p in public)
    found = []
    for ref in sorted((root / "solutions").glob("*.py")):
        try:
            code = _code_lines(ref.read_text(errors="replace"))
        except SyntaxError:
            continue
        distinctive = {ln for ln in code if ln not in shown}
        if not distinctive:
            continue
        for sheet in sheets:
            held = {ln.strip() for ln in sheet.read_text(errors="replace").splitlines()} & distinctive
            if len(held) >= min(LEAK_LINES, len(distinctive)):
                found.append((sheet.relative_to(root).as_posix(), ref.relative_to(root).as_posix(), sorted(held)))
    return found


def check_release(root: Path = ROOT) -> None:
    """Raises ReleaseRefused when a sheet to ship holds reference code."""
    leaks = references_in_sheets(root)
    if leaks:
        sheet, ref, held = leaks[0]
        more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
        raise ReleaseRefused(f"{sheet} holds reference code ({len(held)} lines of {ref}){more}: restore the "
                             f"exercise sheet (git checkout -- {sheet}); nothing was written")


def learner_pyproject() -> str:
    """The release's pyproject.toml, with the dependency ranges of ours (one place to change them)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # A JSON list of strings is a valid TOML array.
    return ((TEMPLATES / "pyproject.learner.toml").read_text()
            .replace("@DEPENDENCIES@", json.dumps(project["dependencies"]))
            .replace("@CAPSTONE@", json.dumps(project["optional-dependencies"]["capstone"])))


def release(out: Path, git: bool = False) -> list[Path]:
    """Writes the student release into out (missing or empty); refuses, writing nothing, when an
    exercise sheet holds reference code. A .py file in exercises/ that is no exercise's sheet is
    left out, with a warning on stderr."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    check_release()
    stray = stray_exercise_files()
    for p in stray:
        print(f"warning: {p.relative_to(ROOT).as_posix()} is no exercise's sheet: not in the release",
              file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for pattern in RELEASE_FILES:
        for src in sorted(ROOT.glob(pattern)):
            rel = src.relative_to(ROOT)
            # The patterns overlap (grader/learner/*.py and grader/learner/**/*): copy and count each file once.
            if not src.is_file() or _is_forbidden(rel) or rel in written or src in stray:
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


def torch_pins() -> str:
    """``torch==X torchvision==Y``: the versions installed here, without a local build tag (``+cu126``:
    the bundle installs the CPU build of the same version); a package not installed goes unpinned."""
    from importlib import metadata

    pins = []
    for name in ("torch", "torchvision"):
        try:
            pins.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return " ".join(pins)


def gradescope_bundle(out_zip: Path, visibility: str = "visible", exercises: list[str] | None = None) -> list[str]:
    """A zip for Gradescope's 'Configure Autograder' page; ``visibility`` is each check's, ``exercises``
    those it grades (None: all)."""
    names = []
    chosen = " ".join(f"-e {e}" for e in exercises or [])  # catalog ids: identifiers, safe in a shell
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            text = (TEMPLATES / name).read_text().replace("@VISIBILITY@", visibility).replace("@TORCH_PINS@", torch_pins())
            zf.writestr(info, text.replace("@EXERCISES@", chosen))
            names.append(name)
        for pattern in ("grader/*.py", "grader/checks/*", "grader/probes/*.py", "grader/learner/**/*",
                        "grader/templates/*", "solutions/*.py", "requirements.txt", "pyproject.toml"):
            for src in sorted(ROOT.glob(pattern)):
                if src.is_file() and "__pycache__" not in src.parts:
                    rel = src.relative_to(ROOT).as_posix()
                    zf.write(src, rel)
                    names.append(rel)
    return names
