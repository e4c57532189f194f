"""Tests that fail only because they reached a stub's ``raise NotImplementedError``: "not implemented yet".

The crash report (:mod:`grader.learner.failure_report`) writes the words, ``tests/conftest.py``
counts such a test apart and :func:`summarise` sums them up by function at the end of a run,
and ``progress`` and ``watch`` read the same words back from junit (:mod:`grader.learner.testrun`).
A fresh checkout's ``pytest`` printed 256 failures of two lines each, then 256 summary lines, to
say that 25 functions were not written yet.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from grader import catalog

UNWRITTEN = "not implemented yet"


def message(function: str, file: str, line: int) -> str:
    """``not implemented yet: EpochDropout.reset_mask in dropout.py (line 88)``"""
    return f"{UNWRITTEN}: {function} in {file} (line {line})"


def waits_for(text: Any) -> str | None:
    """The function a failure report waits for ("dropout in dropout.py (line 40)"), or None."""
    return text[len(UNWRITTEN) + 2:] if isinstance(text, str) and text.startswith(UNWRITTEN + ": ") else None


_WAITS = re.compile(r"(.+) in ([\w.-]+\.py) \(line (\d+)\)")


def parts(function: str) -> tuple[str, str, int] | None:
    """"EpochDropout.forward in dropout.py (line 120)" -> ("EpochDropout.forward", "dropout.py", 120)."""
    found = _WAITS.fullmatch(function)
    return (found[1], found[2], int(found[3])) if found else None


def order_of_work(function: str) -> tuple[int, int, str]:
    """"sequential in sequential.py (line 63)": its file's place in the catalog, then its line."""
    ids = [e.id for e in catalog.EXERCISES]
    where = parts(function)
    if where is None:
        return len(ids), 0, function
    stem = where[1].removesuffix(".py")
    return (ids.index(stem) if stem in ids else len(ids)), where[2], function


def summarise(terminalreporter: Any, exercise_of: Callable[[str], str | None]) -> None:
    """One line per unwritten function, in the order of work, with how many tests wait for it; then
    the exercise to start with when more than one waits. ``exercise_of`` maps a test's file to
    its exercise."""
    reports = terminalreporter.stats.get(UNWRITTEN, [])
    if not reports:
        return
    waits: dict[str, int] = {}  # function -> how many tests wait for it
    exercises: set[str] = set()
    for r in reports:
        fn = waits_for(r.longrepr) or "?"
        waits[fn] = waits.get(fn, 0) + 1
        ex = exercise_of(r.location[0])
        if ex:
            exercises.add(ex)
    waits = dict(sorted(waits.items(), key=lambda kv: order_of_work(kv[0])))  # -n runs in any order
    tests = f"{len(reports)} tests wait" if len(reports) > 1 else "1 test waits"
    terminalreporter.write_sep("=", f"{UNWRITTEN}: {tests} for {len(waits)} function{'s' if len(waits) > 1 else ''}",
                               yellow=True)
    width = max(len(fn) for fn in waits)
    for fn, n in waits.items():
        terminalreporter.write_line(f"  {fn:<{width}}  {n} test{'s' if n > 1 else ''}")
    if len(exercises) > 1:
        ids = [e.id for e in catalog.EXERCISES]
        first = min(exercises, key=lambda e: ids.index(e) if e in ids else len(ids))
        terminalreporter.write_line(f"next: `python -m pytest -m {first}` (stuck? `python -m grader hint {first}`)")
