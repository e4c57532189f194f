"""Finding submissions on disk: directories, LMS zip exports, nested upload folders."""
from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path

from grader import catalog

MAX_ZIP_MEMBERS = 500
MAX_ZIP_BYTES = 20 * 2**20


class BadSubmission(Exception):
    pass


def _holds_exercises(path: Path) -> bool:
    return any(os.path.lexists(path / f"{e.id}.py") for e in catalog.EXERCISES)


def _skipped(p: Path) -> bool:
    return p.name.startswith(("__MACOSX", ".", "__pycache__"))


def _found_below(path: Path, depth: int = 3) -> list[Path]:
    """The folders under ``path`` (not ``path`` itself), ``depth`` levels at most, that hold
    exercise files; a folder that holds them is not looked into further."""
    found: list[Path] = []
    try:
        subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and not _skipped(p))
    except OSError:
        return found
    for sub in subdirs:
        if _holds_exercises(sub):
            found.append(sub)
        elif depth > 1:
            found += _found_below(sub, depth - 1)
    return found


def submission_root(path: Path) -> Path:
    """Where the exercise files are: the folder itself; its ``exercises/`` folder (a clone or a
    "Download ZIP" of a student's repository made from the release); or, for a zipped folder, its
    only subfolder, looked into the same way."""
    for _ in range(4):
        if _holds_exercises(path):
            return path
        if (path / "exercises").is_dir() and _holds_exercises(path / "exercises"):
            return path / "exercises"
        if any(path.glob("*.py")):
            # .py files under other names (a main.py beside hw/): the one folder below that holds
            # exercise files, else this one (the report says which exercises are missing)
            below = _found_below(path)
            return below[0] if len(below) == 1 else path
        subdirs = [p for p in path.iterdir() if p.is_dir() and not _skipped(p)]
        if len(subdirs) != 1:
            return path
        path = subdirs[0]
    return path


def only_zip(folder: Path) -> Path | None:
    """The zip a student's folder holds when it holds nothing else to grade (an LMS keeps the
    uploaded file as it was: a folder per student with the student's zip inside)."""
    root = submission_root(folder)
    if any(root.glob("*.py")):
        return None
    zips = [p for p in root.iterdir() if p.suffix.lower() == ".zip" and p.is_file()]
    return zips[0] if len(zips) == 1 else None


def missing_files_note(path: Path, shown: str) -> str | None:
    """A note for a submission that holds none of the exercise files, else None.

    Such a submission still gets its (zero) result, but 0/100 with only "not found"
    reasons does not tell the instructor that the wrong folder was probably given.
    A broken entry (a symlink, a folder named <id>.py) counts as present: the
    grader reports it on its own.
    """
    if _holds_exercises(path):
        return None
    expected = [f"{e.id}.py" for e in catalog.EXERCISES]
    note = f"no exercise files found in {shown} (expected {', '.join(expected)}): wrong folder?"
    below = _found_below(path)
    if below:
        where = ", ".join(f"{p.relative_to(path).as_posix()}/" for p in below[:5])
        note += f" Exercise files are in {where}: grade one of those folders."
    near = _near_misses(path)
    if near:
        note += " Named almost right: " + ", ".join(f"{name} (must be {want})" for name, want in near[:5]) + "."
    return note


def _near_misses(path: Path) -> list[tuple[str, str]]:
    """Files here that look meant as exercise files: another case, a suffix, dashes or spaces."""
    out: list[tuple[str, str]] = []
    try:
        files = sorted(p.name for p in path.iterdir() if p.is_file())
    except OSError:
        return out
    for name in files:
        stem, dot, ext = name.rpartition(".")
        key = (stem if dot else name).lower().replace("-", "_").replace(" ", "_")
        for e in catalog.EXERCISES:
            if key == e.id or (key.startswith(e.id) and ext.lower() in ("py", "ipynb", "txt")) or \
                    (key == e.id.replace("_", "")):
                out.append((name, f"{e.id}.py"))
                break
    return out


def extract_zip(archive: Path, dest: Path) -> Path:
    """Extract the Python files, only plain ones with safe relative names; refuse bombs.

    Nothing else in a submission is graded (a worker gets its top-level .py files), so a data file
    or a checkpoint zipped along with the code is left in the archive: it neither counts towards
    the limits nor costs the student their grade.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if m.filename.endswith(".py") and not m.is_dir()]
            if len(members) > MAX_ZIP_MEMBERS:
                raise BadSubmission(f"{archive.name}: more than {MAX_ZIP_MEMBERS} Python files")
            total = 0
            for m in members:
                name = Path(m.filename)
                if name.is_absolute() or ".." in name.parts or m.filename.startswith("/"):
                    continue
                total += m.file_size
                if total > MAX_ZIP_BYTES:
                    raise BadSubmission(f"{archive.name}: its Python files unpack to more than "
                                        f"{MAX_ZIP_BYTES // 2**20} MiB")
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as err:
        raise BadSubmission(f"{archive.name}: not a zip file ({err})") from None
    except (OSError, ValueError, RuntimeError, EOFError, NotImplementedError) as err:
        # A member named both as a file and as a folder, an encrypted or unsupported entry, a
        # truncated stream: this archive cannot be unpacked, and the batch goes on without it.
        raise BadSubmission(f"{archive.name}: cannot be unpacked ({type(err).__name__}: {err})") from None
    return submission_root(dest)


def fingerprint(path: Path) -> str:
    """A hash of the submission's .py files (names and contents)."""
    h = hashlib.sha256()
    for f in sorted(path.glob("*.py")):
        try:
            data = f.read_bytes() if f.is_file() and not f.is_symlink() else b"<not a file>"
        except OSError as err:
            data = f"<unreadable: {err}>".encode()
        h.update(f.name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def grader_fingerprint(root: Path, extra: str = "") -> str:
    """A hash of everything that decides a grade: grader code, checks, probes, references."""
    h = hashlib.sha256(extra.encode())
    for pattern in ("grader/*.py", "grader/checks/*.py", "grader/probes/*.py", "solutions/*.py"):
        for f in sorted(root.glob(pattern)):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()
