"""``python -m grader hint ID``: progressive hints, one more each time they are asked for.

Hints are data: ``exercises/hints/<id>.<lang>.toml``, the exercise's ``title`` and
``summary`` in that language, then a list of ``[[hint]]`` tables with ``text``
(the hint) and ``see`` (where to read: a d2l section, a PyTorch tutorial or docs
page, or the exercise sheet). How many hints each exercise has shown is kept
in ``hints.json`` in the state directory (``.kata/`` or ``$KATA_STATE_DIR``).
"""
from __future__ import annotations

import argparse
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.files import write_atomic
from grader.learner import i18n
from grader.learner.common import UsageError, check_exercise, exercises_dir, state_dir, wrap


@dataclass
class Hint:
    text: str
    see: str = ""


def hints_dir() -> Path:
    return exercises_dir() / "hints"


def hint_file(exercise: str, lang: str) -> Path:
    return hints_dir() / f"{exercise}.{lang}.toml"


def load(exercise: str, lang: str) -> tuple[list[Hint], str]:
    """The hints of ``exercise`` in ``lang`` (English when that language has none) and the language used."""
    for code in dict.fromkeys([lang, i18n.DEFAULT]):
        path = hint_file(exercise, code)
        if path.is_file():
            with open(path, "rb") as f:
                data = tomllib.load(f)
            hints = [Hint(str(h["text"]).strip(), str(h.get("see", "")).strip()) for h in data.get("hint", [])]
            if hints:
                return hints, code
    raise UsageError(f"no hints for {exercise} (looked for {hint_file(exercise, lang).name})")


class State:
    """``{"dropout": 2, ...}``: how many hints of each exercise were shown."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "hints.json"

    def read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int) and v >= 0}

    def get(self, exercise: str) -> int:
        return self.read().get(exercise, 0)

    def set(self, exercise: str, count: int) -> None:
        data = self.read()
        if count:
            data[exercise] = count
        else:
            data.pop(exercise, None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + ln if ln.strip() else "" for ln in text.splitlines())


def format_hint(msgs: i18n.Messages, hint: Hint, number: int, total: int) -> str:
    lines = [msgs("hint.number", n=number, total=total), _indent(hint.text)]
    if hint.see:
        lines.append("  " + msgs("hint.see", see=hint.see))
    return "\n".join(lines)


def cmd_hint(args: argparse.Namespace) -> int:
    msgs = i18n.messages(args.lang)
    exercise = check_exercise(args.id)
    state = State()
    if args.reset:
        state.set(exercise, 0)
        print(msgs("hint.reset_done", id=exercise))
        return 0
    hints, used = load(exercise, msgs.lang)
    total = len(hints)
    shown = min(state.get(exercise), total)
    out = [f"{exercise} · {msgs.title(exercise)}"]
    if used != msgs.lang:
        out.append(msgs("hint.fallback", lang=msgs.lang))
    if args.all:
        count = max(shown, 1)
        out += wrap(msgs.summary(exercise), 78, "  ")
        out.append("")
        out.append("\n\n".join(format_hint(msgs, hints[i], i + 1, total) for i in range(count)))
    else:
        count = max(shown, 1) if args.again else min(shown + 1, total)
        if count == 1:
            out += wrap(msgs.summary(exercise), 78, "  ")
        out.append("")
        out.append(format_hint(msgs, hints[count - 1], count, total))
    state.set(exercise, count)
    out.append("")
    if count < total:
        out.append(msgs("hint.more", id=exercise, next=count + 1, total=total))
    else:
        out.append(msgs("hint.last", id=exercise))
    print("\n".join(out))
    return 0
