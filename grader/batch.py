"""``grade-all``: a whole class in parallel, with a gradebook at the end.

Each job is a long-lived grader process with its own zygote and reference
worker, so torch is imported twice per job, not per submission. A job that
dies takes only its current submission with it: that one is reported, the
job is replaced and the batch goes on.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import catalog
from grader.submissions import (BadSubmission, extract_zip, fingerprint, grader_fingerprint, missing_files_note,
                                submission_root)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Options:
    exercises: list[str]
    seed: int = 0
    call_timeout: float = 10.0
    budget: float = 60.0
    memory_gib: float = 4.0
    start: str | None = None
    hide: list[str] = field(default_factory=list)

    def key(self) -> str:
        return json.dumps([self.exercises, self.seed, self.call_timeout, self.budget, self.memory_gib])


def _job(tasks: Any, results: Any, options: Options) -> None:
    """A grading process: starts its zygote first so both torch imports overlap."""
    from grader.pool import start_zygote

    zygote = start_zygote(options.start)
    from grader import report
    from grader.session import GradingSession

    with GradingSession(method=options.start, call_timeout=options.call_timeout, budget=options.budget,
                        memory_gib=options.memory_gib, hide=[Path(p) for p in options.hide],
                        zygote=zygote) as session:
        results.put(("ready", os.getpid(), None, None))
        while True:
            task = tasks.get()
            if task is None:
                return
            sid, path = task
            results.put(("start", os.getpid(), sid, None))
            try:
                r = session.grade(Path(path), options.exercises, seed=options.seed)
                payload = {"gradescope": report.gradescope(r), "summary": report.summary(r),
                           "exercises": {e.exercise: e.score for e in r.exercises},
                           "score": r.score, "bonus": r.bonus_score, "seconds": r.seconds,
                           "failed": [[e.exercise, c.title, c.reason.splitlines()[0] if c.reason else ""]
                                      for e in r.exercises for c in e.checks if not c.passed]}
                results.put(("done", os.getpid(), sid, payload))
            except Exception as err:  # noqa: BLE001 - the batch goes on
                results.put(("error", os.getpid(), sid, f"{type(err).__name__}: {err}"))


def candidates(submissions: Path, skip: Path | None = None) -> list[Path]:
    """The entries of SUBMISSIONS_DIR that are submissions: folders and .zip files.

    Hidden entries are not students, nor is ``skip`` (the results folder, when
    --out is inside SUBMISSIONS_DIR) or a folder holding it: grading our own
    results would add a student who scores 0, and change on every run.
    """
    own = [skip.resolve(), *skip.resolve().parents] if skip is not None else []
    entries = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith(".") or entry.resolve() in own:
            continue
        if entry.is_dir() or entry.suffix.lower() == ".zip":
            entries.append(entry)
    return entries


def discover(submissions: Path, work: Path, skip: Path | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """Student id -> submission directory; and student id -> why it could not be read."""
    found: dict[str, Path] = {}
    bad: dict[str, str] = {}
    for entry in candidates(submissions, skip):
        sid = entry.name if entry.is_dir() else entry.stem
        try:
            if entry.is_dir():
                found[sid] = submission_root(entry)
            else:
                dest = work / sid
                shutil.rmtree(dest, ignore_errors=True)
                found[sid] = extract_zip(entry, dest)
        except BadSubmission as err:
            bad[sid] = str(err)
        except OSError as err:  # an unreadable folder: that student's problem, not the batch's
            bad[sid] = f"{entry.name}: cannot be read ({type(err).__name__}: {err})"
    return found, bad


def _classify(failed: list[list[str]]) -> set[str]:
    kinds = set()
    for _ex, _title, reason in failed:
        if "timed out" in reason:
            kinds.add("timeouts")
        if "worker died" in reason or "worker exited" in reason:
            kinds.add("crashes")
    return kinds


def grade_all(submissions: Path, out: Path, jobs: int, options: Options, force: bool = False,
              progress: bool = True, per_submission_limit: float | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".extracted"
    found, bad = discover(submissions, work, skip=out)
    notes = {sid: note for sid, path in found.items() if (note := missing_files_note(path, sid))}
    options.hide = [str(submissions.resolve()), str(out.resolve()), *options.hide]
    gkey = grader_fingerprint(ROOT, options.key())
    todo: list[tuple[str, Path]] = []
    skipped = 0
    for sid, path in found.items():
        meta = out / sid / "meta.json"
        if not force and meta.is_file() and (out / sid / "results.json").is_file():
            try:
                old = json.loads(meta.read_text())
                if old.get("submission") == fingerprint(path) and old.get("grader") == gkey:
                    skipped += 1
                    continue
            except ValueError:
                pass
        todo.append((sid, path))
    for sid, why in bad.items():
        _write_student(out, sid, None, error=why)

    limit = per_submission_limit or (len(options.exercises) * (options.budget + 15) + 120)
    counts = {"timeouts": 0, "crashes": 0, "errors": len(bad), "skipped": skipped}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(found) + len(bad), initial=skipped + len(bad), unit="sub",
                   desc="grading", dynamic_ncols=True)
        bar.set_postfix(counts)
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for item in todo:
        tasks.put((item[0], str(item[1])))
    njobs = max(1, min(jobs, len(todo)))
    procs: dict[int, Any] = {}
    current: dict[int, tuple[str, float]] = {}

    def spawn() -> None:
        p = ctx.Process(target=_job, args=(tasks, results, options), daemon=True)
        p.start()
        procs[p.pid] = p

    for _ in range(njobs if todo else 0):
        spawn()
    remaining = len(todo)
    while remaining > 0:
        try:
            kind, pid, sid, payload = results.get(timeout=1.0)
        except queue.Empty:
            kind = None
        if kind == "start":
            current[pid] = (sid, time.monotonic())
        elif kind in ("done", "error"):
            current.pop(pid, None)
            remaining -= 1
            if kind == "done":
                _write_student(out, sid, payload, submission=fingerprint(found[sid]), grader=gkey,
                               note=notes.get(sid))
                for k in _classify(payload["failed"]):
                    counts[k] += 1
            else:
                counts["errors"] += 1
                _write_student(out, sid, None, error=f"the grader failed on this submission: {payload}")
            if bar:
                bar.update(1)
                bar.set_postfix(counts)
        # A job that died, or hangs past any sane bound, loses only its current submission.
        for pid, p in list(procs.items()):
            started = current.get(pid)
            overdue = started is not None and time.monotonic() - started[1] > limit
            if overdue:
                p.kill()
            if not p.is_alive():
                p.join()
                del procs[pid]
                if started is not None:
                    current.pop(pid, None)
                    remaining -= 1
                    counts["errors"] += 1
                    why = "took too long" if overdue else f"grader process died (exit {p.exitcode})"
                    _write_student(out, started[0], None, error=f"the grader failed on this submission: {why}")
                    if bar:
                        bar.update(1)
                        bar.set_postfix(counts)
                if remaining > len(procs) - len(current) and remaining > 0:
                    spawn()
    for _ in procs:
        tasks.put(None)
    for p in procs.values():
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    if bar:
        bar.close()
    shutil.rmtree(work, ignore_errors=True)
    from grader import gradebook
    return gradebook.write(out, sorted(set(found) | set(bad)), options.exercises, counts)


def _write_student(out: Path, sid: str, payload: dict | None, error: str | None = None,
                   submission: str = "", grader: str = "", note: str | None = None) -> None:
    """``note``: a hint for the instructor (no exercise files: wrong folder?), kept in meta.json for grades.csv."""
    d = out / sid
    d.mkdir(parents=True, exist_ok=True)
    if payload is None:
        results = {"score": 0.0, "execution_time": 0.0, "output": error or "not graded", "tests": []}
        meta = {"student": sid, "score": 0.0, "bonus": 0.0, "exercises": {}, "failed": [], "error": error}
    else:
        results = payload["gradescope"]
        summary = payload["summary"]
        if note:
            results = {**results, "output": f"{note}\n\n{results['output']}"}
            summary += f"\nnote: {note}"
        meta = {"student": sid, "score": payload["score"], "bonus": payload["bonus"],
                "exercises": payload["exercises"], "failed": payload["failed"], "error": None, "note": note,
                "seconds": payload["seconds"], "submission": submission, "grader": grader}
        (d / "summary.txt").write_text(summary + "\n")
    (d / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
