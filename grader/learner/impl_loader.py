"""Importing the learner's exercise modules for the learner tests, and saying why one does not import.

A module that does not import is reported in full (the file, the line, a caret under a syntax
error) in the first test that needs it; its other tests say so in one line, and the full report
comes once more at the end of the run, when the first has scrolled far up.
"""
from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from types import ModuleType

from grader.learner.time_limits import KataTimeout


# How every report of a module that does not import, or of a missing file, reads: `progress` and
# `watch` (grader.learner.testrun) tell those states from the reports' words.
IMPORT_FAILED = "importing "
FILE_MISSING = " not found: create it"
SAME_FAILURE = ", as in its first test above: "  # the one-line report of every test after the first


class ImplImportError(Exception):
    """The learner's module failed to import; the message points at their file and line."""


def _syntax_lines(err: SyntaxError) -> list[str]:
    """The offending line with a caret under the spot, as Python prints it."""
    if not err.text:
        return []
    text = err.text.rstrip("\n")
    stripped = text.lstrip()
    lines = [f"    {stripped}"]
    if err.offset:
        col = max(err.offset - 1 - (len(text) - len(stripped)), 0)
        lines.append("    " + " " * col + "^")
    return lines


class ImplLoader:
    """Imports ``<name>.py`` from ``impl`` (once per pytest process)."""

    def __init__(self, impl: Path) -> None:
        self.impl = impl
        self._modules: dict[str, ModuleType] = {}
        self._broken: dict[str, str] = {}  # name -> why it does not import, in a few words
        self._reports: dict[str, str] = {}  # name -> the full report
        self._tests: dict[str, int] = {}  # name -> how many tests could not run because of it

    def _in_impl(self, filename: str | None) -> bool:
        return bool(filename) and Path(filename).resolve().parent == self.impl

    def load(self, name: str) -> ModuleType:
        if name in self._modules:
            return self._modules[name]
        if name in self._broken:
            # One full report is enough: the other tests of this module say so in one line.
            self._tests[name] = self._tests.get(name, 1) + 1
            raise ImplImportError(f"{IMPORT_FAILED}{name}.py failed{SAME_FAILURE}{self._broken[name]}")
        file = self.impl / f"{name}.py"
        if not file.is_file():
            raise ImplImportError(f"{file}{FILE_MISSING} (copy exercises/{name}.py to start)")
        if str(self.impl) not in sys.path:
            sys.path.insert(0, str(self.impl))
        try:
            mod = importlib.import_module(name)
        except KataTimeout as err:
            sys.modules.pop(name, None)
            frames = [f for f in traceback.extract_tb(err.__traceback__) if self._in_impl(f.filename)]
            at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
            self._broken[name] = f"the import did not finish within {err.limit:g} s{at}"
            self._reports[name] = (f"{IMPORT_FAILED}{name}.py failed: it did not finish within {err.limit:g} s{at} "
                                   "(an endless loop or a wait at the top level of the file?)")
            raise ImplImportError(self._reports[name]) from None
        except Exception as err:  # noqa: BLE001 - report any import failure as the learner's
            self._broken[name], self._reports[name] = self._describe(name, file, err)
            raise ImplImportError(self._reports[name]) from None
        if Path(getattr(mod, "__file__", "") or "").resolve().parent != self.impl:
            raise ImplImportError(f"'import {name}' found {getattr(mod, '__file__', '?')}, not {file}")
        self._modules[name] = mod
        return mod

    def _describe(self, name: str, file: Path, err: Exception) -> tuple[str, str]:
        """(a few words, the full report) about an import that raised ``err``."""
        frames = [f for f in traceback.extract_tb(err.__traceback__) if self._in_impl(f.filename)]
        where = frames[-1].filename if frames else str(file)
        line = frames[-1].lineno if frames else None
        if isinstance(err, SyntaxError) and err.filename:
            where, line = err.filename, err.lineno
        at = f"{where}:{line}" if line else where
        # capstone.py imports the other exercises: say which of them is broken.
        culprit = Path(where).name
        short_at = f"{culprit}:{line}" if line else culprit
        if culprit != file.name and culprit.endswith(".py"):
            at = f": your {culprit}, which it imports, is broken at {at}"
        else:
            at = f" at {at}"
        detail = _syntax_lines(err) if isinstance(err, SyntaxError) else []
        report = "\n".join([f"{IMPORT_FAILED}{name}.py failed{at}: {type(err).__name__}: {err}", *detail,
                            "  (none of its tests can run until it imports)"])
        return f"{type(err).__name__} at {short_at}", report

    def still_broken(self) -> list[tuple[str, int, str]]:
        """(name, tests that could not run, full report) for each module whose failure kept more
        than one test from running: worth saying again at the end."""
        return [(name, self._tests[name], report) for name, report in self._reports.items()
                if self._tests.get(name, 1) > 1]
