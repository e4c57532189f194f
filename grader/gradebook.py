"""The class-level outputs of ``grade-all``: grades.csv, summary.md and a histogram."""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from grader import catalog
from grader.files import write_atomic
from grader.learner import unwritten


def _histogram_svg(scores: list[float], path: Path, out_of: float = 100) -> None:
    """Totals in ten bins, each a tenth of ``out_of`` (ten points out of 100), as a plain SVG bar
    chart (no plotting library needed)."""
    bins = [0] * 10
    for s in scores:
        bins[max(min(int(s * 10 // out_of), 9), 0)] += 1
    unit = "" if out_of == 100 else "%"  # bins of a part of the course: in percent of its points
    top = max(bins) or 1
    w, h, pad = 640, 320, 40
    bw = (w - 2 * pad) / 10
    bars = []
    for i, n in enumerate(bins):
        bh = (h - 2 * pad) * n / top
        x, y = pad + i * bw, h - pad - bh
        bars.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{bw - 4:.1f}" height="{bh:.1f}" fill="#4c72b0"/>'
                    f'<text x="{x + bw / 2:.1f}" y="{y - 4:.1f}" font-size="12" text-anchor="middle">{n}</text>'
                    f'<text x="{x + bw / 2:.1f}" y="{h - pad + 16:.1f}" font-size="11" text-anchor="middle">'
                    f'{i * 10}-{i * 10 + 9 if i < 9 else 100}{unit}</text>')
    write_atomic(path,
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{w / 2}" y="20" font-size="15" text-anchor="middle">Scores ({len(scores)} submissions)</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>'
        + "".join(bars) + "</svg>\n")


def classify(failed: list[list[str]]) -> set[str]:
    kinds = set()
    for _ex, _title, reason in failed:
        if "timed out" in reason:
            kinds.add("timeouts")
        if "worker died" in reason or "worker exited" in reason:
            kinds.add("crashes")
    return kinds


def _not_attempted(reason: str) -> bool:
    first = (reason or "").splitlines()[0] if reason else ""
    return ("not implemented yet" in first or first.startswith("importing ")
            or first.endswith((".py not found", ".py is not a regular file")))


def _unwritten_section(graded: list[dict[str, Any]]) -> list[str]:
    """How many submissions left each function a stub: where the class stopped, which the table of
    failing checks leaves out."""
    stubs: Counter[str] = Counter()
    line: dict[str, int] = {}  # where it lies in the sheet (students' edits move it: the smallest seen)
    for m in graded:
        functions = set()
        for _ex, _title, reason in m.get("failed", []):
            where = unwritten.parts(unwritten.waits_for(reason) or "")
            if where:
                fn = f"{where[0]} in {where[1]}"
                functions.add(fn)
                line[fn] = min(line.get(fn, where[2]), where[2])
        stubs.update(functions)
    if not stubs:
        return []

    def rank(fn: str) -> tuple:  # the most often unwritten first, then in the order of work
        return -stubs[fn], unwritten.order_of_work(f"{fn} (line {line.get(fn, 0)})")

    lines = ["", "## Functions not written yet", "",
             f"How many of the {len(graded)} graded submissions left each function a stub "
             "(its checks fail with \"not implemented yet\").", "",
             "| function | submissions |", "|---|---|"]
    return lines + [f"| {fn.replace('|', '/')} | {stubs[fn]} |" for fn in sorted(stubs, key=rank)]


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run: one starting with = + - @ (or a tab or CR) is a formula
    to Excel and LibreOffice, and folder names come from students (OWASP's CSV injection advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write(out: Path, students: list[str], exercises: list[str], run: dict[str, int]) -> dict[str, Any]:
    """grades.csv, summary.md and histogram.svg over all ``students``' results in ``out``.

    ``exercises``: the ones graded this run; the columns also hold those kept from earlier runs.
    ``run``: this run's "graded" and "skipped" counts. The other counts are over all students:
    a rerun that skips everyone reports the same timeouts as the run that graded them.
    """
    metas = []
    for sid in students:
        try:
            metas.append(json.loads((out / sid / "meta.json").read_text()))
        except (OSError, ValueError):
            metas.append({"student": sid, "score": 0.0, "exercises": {}, "failed": [], "error": "no result"})
    present = set(exercises) | {e for m in metas for e in m["exercises"]}
    exercises = [e.id for e in catalog.EXERCISES if e.id in present]
    counts = {"timeouts": 0, "crashes": 0, "errors": sum(1 for m in metas if m.get("error"))}
    for m in metas:
        for kind in classify(m.get("failed", [])):
            counts[kind] += 1
    counts.update(graded=run.get("graded", 0), skipped=run.get("skipped", 0))
    core = [e for e in exercises if not catalog.get(e).bonus]
    bonus = [e for e in exercises if catalog.get(e).bonus]
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    # "error": why a submission was not graded, or a note on one that was (no exercise files found).
    writer.writerow(["student", "total", *core, *bonus, "error"])
    # Blank, not 0, where nothing was graded (a submission not graded, an exercise left out by
    # -e): a 0 would read as a grade in an LMS and pull the class statistics down.
    graded = [m for m in metas if not m.get("error")]
    for m in metas:
        if m.get("error"):
            writer.writerow([_cell(m["student"]), "", *[""] * (len(core) + len(bonus)), _cell(m["error"])])
            continue
        missing = [e for e in core if e not in m["exercises"]]
        why = [m.get("note") or ""] + ([f"not graded: {', '.join(missing)} (rerun without -e to grade them)"]
                                      if missing else [])
        writer.writerow([_cell(m["student"]), f'{m["score"]:g}',
                         *[f'{m["exercises"][e]:g}' if e in m["exercises"] else "" for e in core + bonus],
                         _cell("; ".join(w for w in why if w))])
    write_atomic(out / "grades.csv", table.getvalue())
    scores = [m["score"] for m in graded]
    mean = sum(scores) / max(len(scores), 1)
    # The points of the exercises in the gradebook: 100 for the course, fewer for a run of some (-e).
    out_of = sum(catalog.get(e).points for e in core) or catalog.TOTAL
    _histogram_svg(scores, out / "histogram.svg", out_of)
    lines = [f"# Class summary: {len(metas)} submissions", "",
             f"Mean total: {mean:.1f} / {out_of:g} (over the {len(graded)} graded). "
             f"Submissions with a timeout: {counts['timeouts']}, with a crash: {counts['crashes']}, "
             f"not graded: {counts['errors']}.", "",
             f"This run: {counts['graded']} graded, {counts['skipped']} unchanged and skipped.", "",
             "![score histogram](histogram.svg)", "",
             "| exercise | points | mean | pass rate (full marks) |", "|---|---|---|---|"]
    for e in exercises:
        pts = catalog.get(e).points
        got = [m["exercises"][e] for m in graded if e in m["exercises"]]
        full = sum(1 for g in got if g >= pts)
        lines.append(f"| {e}{' (bonus)' if catalog.get(e).bonus else ''} | {pts} | "
                     f"{sum(got) / max(len(got), 1):.2f} | {100 * full / max(len(got), 1):.0f}% |")
    # Where the class struggles: checks failed by work that was there. A missing file, a stub or an
    # import error fails every check of its exercise and says nothing about any one of them; the
    # bonus capstone is left out too (fewer students try it).
    # Nor timeouts and crashes: one endless loop fails every check after it, and filled the table
    # with its own rows (the line above counts such submissions).
    failing = Counter((ex, title) for m in metas for ex, title, reason in m.get("failed", [])
                      if not catalog.BY_ID.get(ex, catalog.EXERCISES[0]).bonus and not _not_attempted(reason)
                      and not classify([[ex, title, reason]]))
    lines += ["", "## Most common failing checks", "",
              "Core exercises only, not counting missing files, stubs, files that do not import, "
              "timeouts and crashes.", "",
              "| exercise | check | submissions failing |", "|---|---|---|"]
    for (ex, title), n in failing.most_common(15):
        lines.append(f"| {ex} | {title.replace('|', '/')} | {n} |")
    lines += _unwritten_section(graded)
    errors = [m for m in metas if m.get("error")]
    if errors:
        lines += ["", "## Not graded", ""] + [f"- {m['student']}: {m['error']}" for m in errors]
    noted = [m for m in metas if m.get("note") and not m.get("error")]
    if noted:
        lines += ["", "## Notes", ""] + [f"- {m['student']}: {m['note']}" for m in noted]
    write_atomic(out / "summary.md", "\n".join(lines) + "\n")
    return {"students": len(metas), "mean": mean, "out_of": out_of, **counts,
            "not_graded": [m["student"] for m in metas if m.get("error")]}
