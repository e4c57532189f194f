"""``python -m grader progress``: where the learner stands, from one run of the learner tests."""
from __future__ import annotations

import argparse
import sys

from grader import catalog
from grader.learner import i18n, testrun
from grader.learner.common import ROOT, can_print, pad, resolve_impl, show_path, width, wrap

BAR_WIDTH = 28


# Each state's mark: (on a terminal that prints Unicode, on any other).
MARKS = {"done": ("✓", "+"), "failing": ("✗", "x"), "in_progress": ("…", "~"), "broken": ("✗", "x"),
         "not_started": ("·", "-"), "missing": ("?", "?"), "error": ("!", "!")}


def _state_text(msgs: i18n.Messages, t: testrun.ExerciseTests, fancy: bool) -> str:
    state = t.state
    mark = MARKS[state][0 if fancy else 1]
    if state == "done":
        text = msgs("progress.state_done")
        if t.skipped:
            text += " " + msgs("progress.skipped", n=len(t.skipped))
    elif state == "failing":
        text = msgs("progress.state_failing", failed=len(t.wrong), total=t.ran)
        if t.unwritten:
            text += msgs("progress.and_unwritten", n=len(t.unwritten))
    elif state == "in_progress":
        text = msgs("progress.state_in_progress", passed=len(t.passed), total=t.ran, n=len(t.unwritten))
    elif state == "broken":
        text = msgs("progress.state_broken", why=t.import_failure)
    elif state == "not_started":
        text = msgs("progress.state_not_started")
    elif state == "missing":
        text = msgs("progress.state_missing")
    else:
        text = msgs("progress.state_error")
    return f"{mark} {text}"


def bar(fraction: float, fancy: bool, columns: int = BAR_WIDTH) -> str:
    full = round(max(0.0, min(1.0, fraction)) * columns)
    on, off = ("█", "░") if fancy else ("#", "-")
    return "[" + on * full + off * (columns - full) + "]"


def _command(exercise: str, impl_arg: str | None) -> str:
    # "--impl=DIR", not "--impl DIR": pytest would take a lone DIR outside the repository for a
    # test path, find no configuration there, and never learn the option.
    return f"pytest -m {exercise}" + (f" --impl={impl_arg}" if impl_arg else "")


def first_lines(message: str, n: int) -> list[str]:
    lines = [ln.rstrip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[:n]


def gist(message: str, n: int = 5) -> list[str]:
    """A failure report in brief: the call, the contract point, expected and got (what to fix),
    leaving out the inputs (tests/kata.py's report puts them between the point and the verdict)."""
    lines = [ln.rstrip() for ln in message.strip().splitlines() if ln.strip()]
    kept, in_inputs = [], False
    for ln in lines:
        head = ln.strip()
        if head.startswith("input:"):
            in_inputs = True
            continue
        if in_inputs and ln.startswith(" " * 12) and "=" in head:
            continue  # another input, aligned under the first
        in_inputs = False
        kept.append(ln)
    return kept[:n]


def render(results: dict[str, testrun.ExerciseTests], msgs: i18n.Messages, impl_label: str,
           impl_arg: str | None, fancy: bool) -> str:
    core = [e for e in catalog.EXERCISES if not e.bonus and e.id in results]
    bonus = [e for e in catalog.EXERCISES if e.bonus and e.id in results]
    states = {e: _state_text(msgs, t, fancy) for e, t in results.items()}
    id_w = max(width(msgs("progress.col_exercise")),
               *(width(e.id) for e in core),
               *(width(f"{e.id} ({msgs('progress.bonus')})") for e in bonus))
    st_w = max(width(msgs("progress.col_state")), *(width(s) for s in states.values()))
    pts_w = max(width(msgs("progress.col_points")), 3)
    out = [msgs("progress.header", impl=impl_label), ""]
    out.append("  " + pad("#", 3) + pad(msgs("progress.col_exercise"), id_w + 2)
               + " " * (pts_w - width(msgs("progress.col_points"))) + msgs("progress.col_points") + "  "
               + pad(msgs("progress.col_state"), st_w + 2) + msgs("progress.col_title"))

    def row(num: str, label: str, ex: catalog.Exercise) -> str:
        return ("  " + pad(num, 3) + pad(label, id_w + 2) + str(ex.points).rjust(pts_w) + "  "
                + pad(states[ex.id], st_w + 2) + msgs.title(ex.id))

    for i, ex in enumerate(core, 1):
        out.append(row(str(i), ex.id, ex))
    for ex in bonus:
        out.append(row("★" if fancy else "*", f"{ex.id} ({msgs('progress.bonus')})", ex))

    done = [e for e in core if results[e.id].state == "done"]
    passed = sum(len(results[e.id].passed) for e in core)
    total = sum(results[e.id].ran for e in core)
    points = sum(e.points for e in done)
    out += ["", "  " + bar(len(done) / len(core) if core else 0.0, fancy) + "  "
            + msgs("progress.summary", done=len(done), total=len(core), points=points,
                   passed=passed, tests=total)]

    out.append("")
    todo = [e for e in core if results[e.id].state != "done"]
    bonus_todo = [e for e in bonus if results[e.id].state != "done"]
    if todo or bonus_todo:
        # A mistake (a failing test, a file that does not import) comes before an earlier exercise
        # not started or not there: with --impl a folder of some files, the first mistake, not a
        # "no file" of an exercise the learner has not come to.
        wrong = [e for e in todo if results[e.id].state in ("failing", "broken", "error")]
        nxt = (wrong or todo or bonus_todo)[0]
        key = "progress.next" if todo else "progress.next_bonus"
        out.append(msgs(key, id=nxt.id, test=_command(nxt.id, impl_arg), hint=f"python -m grader hint {nxt.id}"))
        summary = msgs.summary(nxt.id)
        if summary:
            out += wrap(summary, 78, "  ")
        t = results[nxt.id]
        if t.state == "error":
            out.append("  " + msgs("progress.error_detail", detail=t.error or msgs("progress.no_tests")))
        elif t.state == "missing":
            out.append("  " + msgs("progress.missing_detail", id=nxt.id))
        elif t.state in ("failing", "broken") and t.first_failure:
            lines = gist(t.first_failure.message)
            out.append("  " + msgs("progress.first_failure", test=t.first_failure.name))
            out += ["    " + ln for ln in lines]
        elif t.state in ("in_progress", "not_started") and t.next_to_write:
            out.append("  " + msgs("progress.next_to_write", function=msgs.function(t.next_to_write)))
        if not todo:
            out.append("  " + msgs("progress.run_capstone"))
    else:
        out.append(msgs("progress.all_done"))
    out += ["", msgs("progress.note")]
    return "\n".join(out)


def cmd_progress(args: argparse.Namespace) -> int:
    msgs = i18n.messages(args.lang)
    impl = resolve_impl(args.impl)
    exercises = [e.id for e in catalog.EXERCISES]
    print(msgs("progress.running", impl=show_path(impl)), file=sys.stderr, flush=True)
    try:
        results = testrun.run(exercises, impl if args.impl else None)
    except testrun.RunError as err:
        print(msgs("progress.run_failed", detail=str(err)), file=sys.stderr)
        return 1
    fancy = can_print("█░✓✗·★…")
    label = show_path(impl) if impl != (ROOT / "exercises").resolve() else "exercises/"
    print(render(results, msgs, label, args.impl, fancy))
    return 0
