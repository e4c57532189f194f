""""Did you mean ...?" for a misspelt attribute or name.

Python 3.12's tracebacks add ``Did you mean: 'weight'?`` to such errors, but 3.11's do not, and
the kata's reports show an error's message without Python's traceback anyway: this puts the
suggestion back, in the same words. Imports nothing heavy: the learner tests, the capstone and
the grader's worker all use it.
"""
from __future__ import annotations

import builtins
import difflib

from grader.tracebacks import innermost_frame

_MAX_CANDIDATES = 10_000  # a hostile __dir__ must not make the report slow


def _name_and_candidates(err: BaseException) -> tuple[str | None, list[str]]:
    if isinstance(err, AttributeError):
        # Python sets name and obj when an attribute lookup fails, __getattr__ (nn.Module's) included.
        return err.name, (list(dir(err.obj)) if err.obj is not None else [])
    if isinstance(err, NameError):
        frame = innermost_frame(err)
        scopes = [frame.f_locals, frame.f_globals] if frame is not None else []
        return err.name, [n for scope in scopes for n in scope] + dir(builtins)
    return None, []


def did_you_mean(err: BaseException) -> str | None:
    """The attribute or name ``err`` probably meant, for an AttributeError or NameError; else None."""
    try:
        name, candidates = _name_and_candidates(err)
        if not isinstance(name, str) or not name:
            return None
        pool = [c for c in candidates[:_MAX_CANDIDATES] if isinstance(c, str) and c != name]
        if not name.startswith("_"):  # like Python: suggest a private name only for a private one
            pool = [c for c in pool if not c.startswith("_")]
        matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
    except Exception:  # noqa: BLE001 - a hostile object's __dir__ or __str__: no suggestion then
        return None
    return matches[0] if matches else None


def message(err: BaseException) -> str:
    """``str(err)``, with Python 3.12's ``. Did you mean: 'x'?`` where it applies."""
    text = str(err)
    suggestion = did_you_mean(err)
    if suggestion is not None and "Did you mean" not in text:
        text += f". Did you mean: '{suggestion}'?"
    return text
