"""Writing results: the terminal summary and Gradescope's results.json."""
from __future__ import annotations

import json
import re
from typing import Any

from grader.files import write_atomic
from grader.learner import unwritten
from grader.results import GATE, CheckResult, ExerciseResult, SubmissionResult

MAX_OUTPUT = 2000


# Control characters other than newline and tab (C0, DEL, C1): from a submission's output or
# messages they would drive the instructor's terminal (clear the screen, rewrite a line, fake a
# "Total: 100") and make the JUnit XML ill-formed. They are shown, escaped.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _printable_all(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_printable_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable_all(v) for k, v in value.items()}
    return value


def _clip(text: str, n: int = MAX_OUTPUT) -> str:
    return text if len(text) <= n else text[: n - 40] + f"\n... [truncated, {len(text)} characters in all]"


def _group_key(check: CheckResult) -> str:
    """Checks are listed together when their reasons share this: the first line (the call); for a
    check that failed only because a point it needs did, that point; for the cases of one
    parametrised check that break the same point, the check and the point (the calls differ)."""
    lines = (check.reason or "failed").splitlines()
    gate = next((ln.rstrip().rsplit(": ", 1)[-1] for ln in lines[:3] if ln.rstrip().endswith(GATE)), None)
    if gate:
        return gate
    if "[" in check.name and ": " in lines[0] and not lines[0].startswith(unwritten.UNWRITTEN):
        return f"{check.name.split('[')[0]}: {lines[0].rsplit(': ', 1)[-1]}"
    return lines[0]


def _unwritten_lines(ex: ExerciseResult, groups: dict[str, list]) -> list[str]:
    """The checks that failed only on a stub's ``raise NotImplementedError``, taken out of ``groups``:
    one line per unwritten function (their titles say nothing: the function is not there), or one
    line for a file that is all stubs."""
    waiting = {first: groups.pop(first) for first in list(groups) if first.startswith(unwritten.UNWRITTEN)}
    if not waiting:
        return []
    lost = {first: sum(ex.check_points(c) for c in checks) for first, checks in waiting.items()}
    order = sorted(waiting, key=lambda first: unwritten.order_of_work(unwritten.waits_for(first) or ""))
    if sum(len(checks) for checks in waiting.values()) == len(ex.checks):
        names = [where[0] for first in order if (where := unwritten.parts(unwritten.waits_for(first) or ""))]
        named = f" ({', '.join(names)})" if names else ""
        return [_clip(f"  - all {len(ex.checks)} checks (-{sum(lost.values()):.2f}): {unwritten.UNWRITTEN}{named}", 300)]
    return [_clip(f"  - {len(waiting[first])} check{'s' if len(waiting[first]) > 1 else ''} (-{lost[first]:.2f}): {first}", 300)
            for first in order]


def summary(result: SubmissionResult) -> str:
    lines = [f"Grading {result.submission}"]
    for ex in result.exercises:
        failed = [c for c in ex.checks if not c.passed]
        status = "ok" if ex.checks and not failed else f"{len(failed)}/{len(ex.checks)} checks failed" if ex.checks else ""
        lines.append(f"\n{ex.exercise:<14} {ex.score:6.2f} / {ex.max_points:g}   {status}")
        for note in ex.notes:
            lines.append("  ! " + note.replace("\n", "\n    "))
        broken = ex.notes[0].splitlines()[0] if ex.notes else None
        # Checks failing for the same reason (a broken import, a forbidden call every check runs
        # into, a timeout) are listed once, with what each cost; the rest one by one.
        groups: dict[str, list] = {}
        for c in failed:
            groups.setdefault(_group_key(c), []).append(c)
        waiting = _unwritten_lines(ex, groups)  # said after the mistakes, as the learner tests do
        for first, checks in groups.items():
            lost = sum(ex.check_points(c) for c in checks)
            reason_lines = (checks[0].reason or "failed").splitlines()
            if len(checks) > 1:
                if len(checks) == len(ex.checks):
                    lines.append(f"  - all {len(checks)} checks (-{lost:.2f})" + ("" if first == broken else ":"))
                else:
                    lines.append(f"  - {len(checks)} checks (-{lost:.2f}), for one reason:")
                    lines.extend(f"      {_clip(c.title, 150)} (-{ex.check_points(c):.2f})" for c in checks[:6])
                    if len(checks) > 6:
                        lines.append(f"      and {len(checks) - 6} more")
                    lines.append("    why:" if first != broken else "    why: the note above")
                if first == broken:
                    continue  # the reason is the note above
                lines.append(f"      {_clip(reason_lines[0], 300)}")
            elif first == broken:
                lines.append(f"  - {checks[0].title} (-{lost:.2f})")
                continue
            else:
                lines.append(f"  - {checks[0].title} (-{lost:.2f}): {_clip(reason_lines[0], 300)}")
            lines.extend(f"      {_clip(r, 300)}" for r in reason_lines[1:7])
        lines.extend(waiting)
        if ex.output.strip():
            lines.append("  printed: " + _clip(ex.output.strip(), 500).replace("\n", "\n           "))
    lines.append(f"\nTotal: {result.score:.2f} / {result.max_score:g}   ({result.seconds:.1f} s)")
    if result.bonus:
        lines.append(f"Bonus: {result.bonus_score:.2f} / {sum(e.max_points for e in result.bonus):g} (capstone, not part of the total)")
    if result.cuda_checks is not None:
        lines.append("CUDA checks: " + ("counted (a usable GPU)" if result.cuda_checks else
                                        "left out (no usable GPU here; a correct submission scores the same)"))
    if result.protections:
        lines.append("Protections: " + ", ".join(result.protections))
    for w in result.warnings:
        lines.append(f"WARNING: {w}")
    return printable("\n".join(lines))


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def gradescope(result: SubmissionResult, visibility: str = "visible") -> dict[str, Any]:
    """The results.json that Gradescope's autograder harness reads. ``visibility`` is each check's
    (its reason shows the hidden checks' inputs and expected values); the total stays visible."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r}: one of {', '.join(VISIBILITIES)}")
    tests = []
    for ex in result.exercises:
        for c in ex.checks:
            tests.append({
                "name": f"{ex.exercise}: {c.title}",
                "score": ex.check_points(c) if c.passed else 0.0,
                "max_score": ex.check_points(c),
                "status": "passed" if c.passed else "failed",
                "output": _clip(c.reason) if not c.passed else "",
                "tags": [ex.exercise] + (["cuda"] if c.cuda else []),
                "visibility": visibility,
            })
        if not ex.checks:
            tests.append({"name": f"{ex.exercise}: all checks", "score": 0.0,
                          "max_score": ex.max_points, "status": "failed",
                          "output": _clip("; ".join(ex.notes) or "no checks ran"),
                          "tags": [ex.exercise], "visibility": visibility})
    out = []
    for ex in result.exercises:
        out.append(f"{ex.exercise}: {ex.score:g}/{ex.max_points:g}")
        out.extend(f"  {n}" for n in ex.notes)
        if ex.output.strip():
            # Indented with a bar, as a quote: a printed "Total: 100.00 / 100" must not pass for ours.
            shown = _clip(ex.output.strip("\n"), 1000)
            out.append("  printed:\n" + "\n".join(f"    | {line}" for line in shown.split("\n")))
    return _printable_all({
        "score": result.score,
        "execution_time": round(result.seconds, 3),
        "output": _clip("\n".join(out), 8000),
        "tests": tests,
        "extra_data": {"bonus_score": result.bonus_score,
                       "bonus_max": float(sum(e.max_points for e in result.bonus)),
                       "cuda_checks": {True: "counted", False: "left out", None: "unknown"}[result.cuda_checks]},
        "visibility": "visible",
        "stdout_visibility": "hidden",
    })


def write_json(result: SubmissionResult, path: str, note: str | None = None, visibility: str = "visible") -> None:
    """results.json; a note goes first in its output: on Gradescope the student reads it there."""
    data = gradescope(result, visibility)
    if note:
        data["output"] = printable(f"{note}\n\n{data['output']}")
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def write_junit(result: SubmissionResult, path: str) -> None:
    """JUnit XML for CI systems: one testsuite per exercise, one testcase per check."""
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name="torch-kata", tests=str(sum(len(e.checks) for e in result.exercises)),
                      failures=str(sum(1 for e in result.exercises for c in e.checks if not c.passed)),
                      time=f"{result.seconds:.3f}")
    for ex in result.exercises:
        suite = ET.SubElement(root, "testsuite", name=ex.exercise, tests=str(len(ex.checks)),
                              failures=str(sum(1 for c in ex.checks if not c.passed)))
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="score", value=f"{ex.score:g}/{ex.max_points:g}")
        for c in ex.checks:
            case = ET.SubElement(suite, "testcase", classname=ex.exercise, name=printable(c.title))
            if not c.passed:
                reason = printable(c.reason or "")
                fail = ET.SubElement(case, "failure", message=_clip(reason.splitlines()[0] if reason else "failed", 300))
                fail.text = _clip(reason)
        if not ex.checks:
            case = ET.SubElement(suite, "testcase", classname=ex.exercise, name="all checks")
            ET.SubElement(case, "failure", message=printable("; ".join(ex.notes)) or "no checks ran")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
