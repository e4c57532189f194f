"""Paths, the implementation directory and small terminal helpers shared by the learner commands."""
from __future__ import annotations

import os
import sys
import unicodedata
from pathlib import Path

from grader import catalog

# The checkout (or student release) root: the directory that holds grader/.
ROOT = Path(__file__).resolve().parents[2]


class UsageError(Exception):
    """A mistake on the command line: reported as one line on stderr, exit code 2."""


def exercises_dir() -> Path:
    return ROOT / "exercises"


def resolve_impl(arg: str | None) -> Path:
    """The directory holding the learner's ``<id>.py`` files.

    ``--impl DIR`` wins, then ``$KATA_IMPL``, then ``exercises``. A relative
    path is taken from the current directory first, then from the root
    (the same rule as ``tests/conftest.py``).
    """
    value = arg or os.environ.get("KATA_IMPL") or "exercises"
    path = Path(value).expanduser()
    if not path.is_absolute():
        here = (Path.cwd() / path).resolve()
        path = here if here.is_dir() else (ROOT / path).resolve()
    if not path.is_dir():
        raise UsageError(f"--impl {value}: no such directory")
    return path


def show_path(path: Path) -> str:
    """``path`` relative to the current directory when it is below it, for short messages."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
        return str(rel) if str(rel) != "." else "."
    except ValueError:
        return str(path)


def state_dir() -> Path:
    """Where learner state (hints seen, capstone plot) lives: ``$KATA_STATE_DIR`` or ``.kata/``."""
    value = os.environ.get("KATA_STATE_DIR")
    return Path(value).expanduser() if value else ROOT / ".kata"


def exercise_ids(include_bonus: bool = True) -> list[str]:
    return [e.id for e in catalog.EXERCISES if include_bonus or not e.bonus]


def check_exercise(exercise_id: str) -> str:
    if exercise_id not in catalog.BY_ID:
        raise UsageError(catalog.unknown_message(exercise_id))
    return exercise_id


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1
               for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def can_print(text: str, stream=None) -> bool:
    """Whether ``stream`` can encode ``text`` (fancy glyphs vs a plain ASCII fallback)."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def wrap(text: str, columns: int = 78, indent: str = "") -> list[str]:
    """Wrap ``text`` to ``columns`` terminal columns: at spaces, or between wide (CJK) characters."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch == " ":
            tokens.append(word + " ")
            word = ""
        elif unicodedata.east_asian_width(ch) in "WF":
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        else:
            word += ch
    if word:
        tokens.append(word)
    lines, line = [], indent
    for tok in tokens:
        if width(line + tok.rstrip()) > columns and line.strip():
            lines.append(line.rstrip())
            line = indent + tok.lstrip()
        else:
            line += tok
    if line.strip():
        lines.append(line.rstrip())
    return lines
