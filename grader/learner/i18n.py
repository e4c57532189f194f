"""Languages for the learner commands: UI strings and summaries live in ``exercises/i18n/<lang>.toml``.

A language is a file: adding ``exercises/i18n/fr.toml`` (and, for hints,
``exercises/hints/<id>.fr.toml``) makes ``--lang fr`` work with no code
change. Anything a language file lacks falls back to English.

Choice of language: ``--lang`` > ``$KATA_LANG`` > the locale (``LC_ALL``,
``LC_MESSAGES``, ``LANG``; ``zh_CN.UTF-8`` means ``zh``) > English.
"""
from __future__ import annotations

import os
import string
import sys
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader import catalog
from grader.learner.common import UsageError, exercises_dir

DEFAULT = "en"


def i18n_dir() -> Path:
    return exercises_dir() / "i18n"


def available() -> list[str]:
    """Language codes with a UI file, English first."""
    codes = sorted(p.stem for p in i18n_dir().glob("*.toml"))
    return sorted(codes, key=lambda c: c != DEFAULT)


def _locale_code() -> str | None:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "").strip()
        if value:
            code = value.split(".")[0].split("@")[0].split("_")[0].split("-")[0].lower()
            return None if code in ("c", "posix") else code
    return None


def resolve(flag: str | None) -> str:
    """The language to use; an unknown ``--lang`` is a usage error, anything else falls back quietly."""
    langs = available()
    if flag:
        code = flag.strip().lower()
        if code not in langs:
            raise UsageError(f"--lang {flag}: no such language (available: {', '.join(langs)})")
        return code
    env = os.environ.get("KATA_LANG", "").strip().lower()
    if env:
        if env in langs:
            return env
        print(f"warning: KATA_LANG={env}: no such language (available: {', '.join(langs)}); using English",
              file=sys.stderr)
        return DEFAULT
    code = _locale_code()
    return code if code in langs else DEFAULT


@lru_cache(maxsize=None)
def _load(code: str) -> dict[str, Any]:
    path = i18n_dir() / f"{code}.toml"
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=None)
def _exercise_file(exercise_id: str, code: str) -> dict[str, Any]:
    """An exercise's title and summary live with its hints (``exercises/hints/<id>.<code>.toml``),
    so that adding an exercise touches no shared file."""
    path = i18n_dir().parent / "hints" / f"{exercise_id}.{code}.toml"
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


class Messages:
    """``msgs("progress.state_done")``, ``msgs("hint.number", n=2, total=5)``: a UI string in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._own = _load(lang)
        self._base = _load(DEFAULT)

    def function(self, where: str) -> str:
        """"f in file.py (line 9)" (grader.learner.unwritten's words) in this language."""
        from grader.learner.unwritten import parts

        found = parts(where)
        return self("progress.function_at", function=found[0], file=found[1], line=found[2]) if found else where

    def raw(self, key: str) -> str | None:
        table, _, name = key.partition(".")
        for data in (self._own, self._base):
            value = data.get(table, {}).get(name) if name else data.get(table)
            if isinstance(value, str):
                return value
        return None

    def __call__(self, key: str, **fields: Any) -> str:
        text = self.raw(key)
        if text is None:
            return key
        try:
            return text.format(**fields)
        except (KeyError, IndexError, ValueError):
            return text

    def _about(self, exercise_id: str, key: str) -> str | None:
        for code in dict.fromkeys([self.lang, DEFAULT]):
            value = _exercise_file(exercise_id, code).get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def title(self, exercise_id: str) -> str:
        return self._about(exercise_id, "title") or catalog.get(exercise_id).title

    def summary(self, exercise_id: str) -> str:
        return self._about(exercise_id, "summary") or ""


def messages(flag: str | None = None) -> Messages:
    return Messages(resolve(flag))


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a format string uses (for the tests that compare languages)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
