"""``grade-all``: a whole class in parallel, with a gradebook at the end.

Each job is a long-lived grader process with its own zygote and reference
worker, so torch is imported twice per job, not per submission. A job that
dies takes only its current submission with it: that one is reported, the
job is replaced and the batch goes on.

Results merge: grading some exercises (``-e``) into a results folder replaces
those exercises' results and keeps the others'. Each student's meta.json holds
the full result and, per exercise, the submission and grader fingerprints it
was graded with; a submission is skipped when every requested exercise is up
to date.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing as mp
import os
import queue
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from grader import catalog, cpu_wait
from grader.files import write_atomic
from grader.pool import GraderBroken
from grader.results import CheckResult, ExerciseResult, SubmissionResult
from grader.submissions import (BadSubmission, extract_zip, fingerprint, grader_fingerprint, missing_files_note,
                                only_zip, submission_root)

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
        """The settings that decide a grade. Not the exercise set: which exercises are up to
        date is recorded per exercise (meta.json's "graded")."""
        return json.dumps([self.seed, self.call_timeout, self.budget, self.memory_gib])


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the jobs are stopped and the gradebook holds what was graded."""

    def __init__(self, signum: int, done: int, total: int) -> None:
        super().__init__(f"interrupted; {done} of {total} graded")
        self.signum, self.done, self.total = signum, done, total


def _job(tasks: Any, results: Any, options: Options) -> None:
    """A grading process: starts its zygote first so both torch imports overlap."""
    from grader.sandbox import die_with_parent

    # Ctrl-C reaches the whole process group: the main process alone stops the run (and this
    # job with it), without a traceback from every job. The zygote and its workers inherit this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A main process killed any other way must not leave this job, its zygote and workers behind.
    parent = mp.parent_process()
    die_with_parent(parent.pid if parent is not None else None)
    from grader.pool import start_zygote

    zygote = start_zygote(options.start)
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
                results.put(("done", os.getpid(), sid, r))
            except GraderBroken as err:  # no submission can be graded here: the batch stops
                results.put(("broken", os.getpid(), sid, str(err)))
                return
            except Exception as err:  # noqa: BLE001 - the batch goes on
                results.put(("error", os.getpid(), sid, f"{type(err).__name__}: {err}"))


def candidates(submissions: Path, skip: Path | None = None) -> list[Path]:
    """The entries of SUBMISSIONS_DIR that are submissions: folders and .zip files.

    Hidden entries are not students, nor is ``skip`` (the results folder, when
    --out is inside SUBMISSIONS_DIR) or a folder holding it, nor the results of
    another run (a folder with our grades.csv and summary.md): grading our own
    results would add a student who scores 0, and change on every run. Nor is
    ``__MACOSX``, the resource forks macOS's Archive Utility adds to a zip.
    """
    own = [skip.resolve(), *skip.resolve().parents] if skip is not None else []
    entries = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith(".") or entry.name == "__MACOSX" or entry.resolve() in own:
            continue
        if entry.is_dir() and (entry / "grades.csv").is_file() and (entry / "summary.md").is_file():
            continue
        if entry.is_dir() or entry.suffix.lower() == ".zip":
            entries.append(entry)
    return entries


def _shown(entry: Path) -> str:
    return f"{entry.name}/" if entry.is_dir() else entry.name


def discover(submissions: Path, work: Path,
             skip: Path | None = None) -> tuple[dict[str, Path], dict[str, str], dict[str, str]]:
    """Student id -> submission directory; student id -> why it could not be read; and student
    id -> the entry as given (a zip's name, not the folder it was unpacked into)."""
    by_sid: dict[str, list[Path]] = {}
    for entry in candidates(submissions, skip):
        by_sid.setdefault(entry.name if entry.is_dir() else entry.stem, []).append(entry)
    found: dict[str, Path] = {}
    bad: dict[str, str] = {}
    given: dict[str, str] = {}
    for sid, entries in by_sid.items():
        given[sid] = str(entries[0])
        if len(entries) > 1:
            # Picking one would grade a version the student may not have meant: the instructor decides.
            bad[sid] = f"two submissions for {sid}: {' and '.join(_shown(e) for e in entries)}: keep one"
            continue
        entry = entries[0]
        try:
            inner = only_zip(entry) if entry.is_dir() else None
            if entry.is_dir() and inner is None:
                found[sid] = submission_root(entry)
            elif inner is not None:  # Moodle's Name_ID_assignsubmission_file_/hw.zip
                dest = work / sid
                shutil.rmtree(dest, ignore_errors=True)
                found[sid] = extract_zip(inner, dest)
            else:
                dest = work / sid
                shutil.rmtree(dest, ignore_errors=True)
                found[sid] = extract_zip(entry, dest)
        except BadSubmission as err:
            bad[sid] = str(err)
        except OSError as err:  # an unreadable folder: that student's problem, not the batch's
            bad[sid] = f"{entry.name}: cannot be read ({type(err).__name__}: {err})"
    return found, bad, given


def _read_meta(d: Path) -> dict[str, Any]:
    try:
        meta = json.loads((d / "meta.json").read_text())
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return {}


def _up_to_date(d: Path, submission: str, grader: str, exercises: list[str]) -> bool:
    meta = _read_meta(d)
    graded = meta.get("graded") or {}
    return (not meta.get("error") and (d / "results.json").is_file()
            and all(graded.get(e) == [submission, grader] for e in exercises))


def _result_from_json(data: dict[str, Any] | None) -> SubmissionResult | None:
    """meta.json's "result" back into a SubmissionResult; exercises no longer in the catalog are dropped."""
    if not data:
        return None
    try:
        exercises = [ExerciseResult(**{**e, "checks": [CheckResult(**c) for c in e["checks"]]})
                     for e in data["exercises"] if e["exercise"] in catalog.BY_ID]
        cuda = data.get("cuda_checks")
        return SubmissionResult(data["submission"], exercises, data.get("seconds", 0.0),
                                data.get("protections", []), data.get("warnings", []),
                                cuda_checks=cuda if isinstance(cuda, bool) else None)
    except (KeyError, TypeError):
        return None  # written by another version: nothing to keep


def _merge(old: SubmissionResult | None, new: SubmissionResult) -> SubmissionResult:
    """The new exercises' results replace the old ones; the others are kept, in the catalog's order."""
    by_id = {e.exercise: e for e in old.exercises} if old else {}
    kept = set(by_id) - {e.exercise for e in new.exercises}
    by_id.update({e.exercise: e for e in new.exercises})
    # Whether the CUDA checks counted: unknown when kept results were graded otherwise.
    cuda = new.cuda_checks if not kept or old is None or old.cuda_checks == new.cuda_checks else None
    return SubmissionResult(new.submission, [by_id[e.id] for e in catalog.EXERCISES if e.id in by_id],
                            new.seconds, new.protections, new.warnings, cuda_checks=cuda)


class OutInUse(Exception):
    """Another grade-all is writing to the same results folder."""


@contextlib.contextmanager
def _sole_writer(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` for the run: two runs into one folder would each rewrite the gradebook from
    results the other is still writing. The kernel drops the lock when its holder dies."""
    try:
        import fcntl
    except ImportError:  # not POSIX: nothing to lock with (the sandbox needs Linux anyway)
        yield
        return
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutInUse(f"--out {out}: another grade-all is writing there: wait for it to end, "
                           "or give another folder") from None
        yield
    finally:
        os.close(fd)


def grade_all(submissions: Path, out: Path, jobs: int, options: Options, force: bool = False,
              progress: bool = True, per_submission_limit: float | None = None) -> dict[str, Any]:
    """Grade, write the gradebook and return its statistics; raises Interrupted on Ctrl-C or SIGTERM,
    OutInUse when another run is writing to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with _sole_writer(out):
        return _grade_all(submissions, out, jobs, options, force, progress, per_submission_limit)


def _grade_all(submissions: Path, out: Path, jobs: int, options: Options, force: bool,
               progress: bool, per_submission_limit: float | None) -> dict[str, Any]:
    from grader import gradebook

    stopped_by: list[int] = []

    def on_sigterm(signum: int, _frame: Any) -> None:
        stopped_by.append(signum)
        raise KeyboardInterrupt  # the same orderly stop as Ctrl-C

    in_main = threading.current_thread() is threading.main_thread()  # signal handlers need it
    old_sigint = signal.getsignal(signal.SIGINT)
    old_sigterm = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".extracted"
    ctx = mp.get_context("spawn")
    procs: dict[int, Any] = {}
    found: dict[str, Path] = {}
    students: list[str] | None = None  # known once the submissions are found
    tasks = results = bar = None
    graded = skipped = 0
    try:
        found, bad, given = discover(submissions, work, skip=out)
        students = sorted(set(found) | set(bad))
        notes = {sid: note for sid, path in found.items() if (note := missing_files_note(path, sid))}
        options.hide = [str(submissions.resolve()), str(out.resolve()), *options.hide]
        gkey = grader_fingerprint(ROOT, options.key())
        prints = {sid: fingerprint(path) for sid, path in found.items()}
        todo = [(sid, path) for sid, path in found.items()
                if force or not _up_to_date(out / sid, prints[sid], gkey, options.exercises)]
        skipped = len(found) - len(todo)
        for sid, why in bad.items():
            _write_unreadable(out, sid, why)

        # A busy machine may stretch each exercise's budget on the clock (grader.cpu_wait).
        limit = per_submission_limit or (sum(options.budget * catalog.get(e).time_scale * cpu_wait.STRETCH + 15
                                              for e in options.exercises) + 120)
        # The progress bar's counters are this run's; the gradebook counts over all students.
        counts = {"timeouts": 0, "crashes": 0, "errors": len(bad), "skipped": skipped}
        tasks, results = ctx.Queue(), ctx.Queue()
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(found) + len(bad), initial=skipped + len(bad), unit="sub",
                       desc="grading", dynamic_ncols=True)
            bar.set_postfix(counts)
        for sid, path in todo:
            tasks.put((sid, str(path)))
        njobs = max(1, min(jobs, len(todo)))
        current: dict[int, tuple[str, float]] = {}

        def spawn() -> None:
            p = ctx.Process(target=_job, args=(tasks, results, options), daemon=True)
            p.start()
            procs[p.pid] = p

        def failed(sid: str, why: str) -> None:
            counts["errors"] += 1
            _write_student(out, sid, None, options.exercises, given[sid],
                           error=f"the grader failed on this submission: {why}")

        for _ in range(njobs if todo else 0):
            spawn()
        remaining = len(todo)
        while remaining > 0:
            try:
                kind, pid, sid, payload = results.get(timeout=1.0)
            except queue.Empty:
                kind = None
            if kind == "broken":
                raise GraderBroken(payload)
            if kind == "start":
                current[pid] = (sid, time.monotonic())
            elif kind in ("done", "error"):
                current.pop(pid, None)
                remaining -= 1
                graded += 1
                if kind == "done":
                    meta = _write_student(out, sid, payload, options.exercises, given[sid],
                                          submission=prints[sid], grader=gkey, note=notes.get(sid))
                    for k in gradebook.classify(meta["failed"]):
                        counts[k] += 1
                else:
                    failed(sid, payload)
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
                        graded += 1
                        failed(started[0], "took too long" if overdue else f"grader process died (exit {p.exitcode})")
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
    except (KeyboardInterrupt, GraderBroken) as stop:
        # Stopped (Ctrl-C, SIGTERM), or nothing more can be graded here: what was graded stays in
        # the gradebook, the rest is graded on a rerun. A second Ctrl-C must not cut the cleanup
        # short (and print a traceback).
        if in_main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for p in procs.values():
            p.kill()  # its zygote and workers follow (die_with_parent)
        for p in procs.values():
            p.join()
        # Tasks nobody will read must not keep the queue's feeder thread, and so the exit, waiting.
        for q in (tasks, results):
            if q is not None:
                q.cancel_join_thread()
        if bar:
            bar.close()
        shutil.rmtree(work, ignore_errors=True)
        if students is not None:
            gradebook.write(out, students, options.exercises, {"graded": graded, "skipped": skipped})
        if isinstance(stop, GraderBroken):
            raise
        total = len(found) if students is not None else len(candidates(submissions, out))
        raise Interrupted(stopped_by[0] if stopped_by else signal.SIGINT, skipped + graded, total) from None
    finally:
        if in_main:
            signal.signal(signal.SIGINT, old_sigint)
            signal.signal(signal.SIGTERM, old_sigterm)
    if bar:
        bar.close()
    shutil.rmtree(work, ignore_errors=True)
    return gradebook.write(out, students, options.exercises, {"graded": graded, "skipped": skipped})


def _write_unreadable(out: Path, sid: str, error: str) -> None:
    """A submission that cannot be read (or is there twice): its earlier results are void."""
    d = out / sid
    d.mkdir(parents=True, exist_ok=True)
    meta = {"student": sid, "score": 0.0, "bonus": 0.0, "exercises": {}, "failed": [], "error": error,
            "graded": {}, "result": None}
    # No results.json: a script that uploads them would read a score of 0 as a grade (grades.csv
    # leaves the row blank for the same reason).
    _write_files(d, f"Not graded: {error}\n", None, meta)


def _write_student(out: Path, sid: str, new: SubmissionResult | None, exercises: list[str], shown: str,
                   error: str | None = None, submission: str = "", grader: str = "",
                   note: str | None = None) -> dict[str, Any]:
    """Merge ``new`` (None: the grader failed on ``exercises``) into the student's results and write them.

    ``note``: a hint for the instructor (no exercise files: wrong folder?), kept in meta.json for grades.csv.
    """
    from grader import report

    d = out / sid
    d.mkdir(parents=True, exist_ok=True)
    old_meta = _read_meta(d)
    old = _result_from_json(old_meta.get("result"))
    graded = dict(old_meta.get("graded") or {}) if old else {}
    if new is None:
        new = SubmissionResult(shown, [ExerciseResult(e, float(catalog.get(e).points), notes=[error or "not graded"])
                                       for e in exercises])
        for e in exercises:
            graded.pop(e, None)  # to be regraded by the next run
    else:
        graded.update({e: [submission, grader] for e in exercises})
    merged = _merge(old, new)
    merged.submission = shown  # a zip's name, not the folder it was unpacked into (gone after the run)
    kept = [e.exercise for e in merged.exercises if e.exercise not in exercises]
    stale = [e for e in kept if graded.get(e) != [submission, grader]]
    if stale and new is not None and error is None:
        stale_note = (f"{', '.join(stale)}: kept from an earlier run (the submission or the grader settings "
                      f"have changed since): rerun without -e to regrade")
        note = f"{note}; {stale_note}" if note else stale_note
    results = report.gradescope(merged)
    summary = report.summary(merged)
    for line in (note, error):
        if line:
            results = {**results, "output": f"{line}\n\n{results['output']}"}
            summary += f"\nnote: {line}" if line is note else f"\nnot graded: {line}"
    meta = {"student": sid, "score": merged.score, "bonus": merged.bonus_score,
            "exercises": {e.exercise: e.score for e in merged.exercises},
            "failed": [[e.exercise, c.title, c.reason.splitlines()[0] if c.reason else ""]
                       for e in merged.exercises for c in e.checks if not c.passed],
            "error": error, "note": note, "seconds": merged.seconds, "graded": graded,
            "result": dataclasses.asdict(merged)}
    _write_files(d, summary + "\n", results, meta)
    return meta


def _write_files(d: Path, summary: str, results: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    """A student's three files, each whole whenever the run stops (Ctrl-C, SIGTERM, a full disk);
    ``results`` None: no results.json (an earlier one is removed).

    meta.json, which decides whether the next run skips this student, is written last: a stop
    before it leaves the old one, and so either a regrade or files that the same settings would
    write again.
    """
    write_atomic(d / "summary.txt", summary)
    if results is None:
        (d / "results.json").unlink(missing_ok=True)
    else:
        write_atomic(d / "results.json", json.dumps(results, indent=2) + "\n")
    write_atomic(d / "meta.json", json.dumps(meta, indent=2) + "\n")
