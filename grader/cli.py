"""``python -m grader``: the command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader import catalog


class UsageError(Exception):
    pass


def _exercises(names: list[str] | None) -> list[str]:
    if not names:
        return [e.id for e in catalog.EXERCISES]
    unknown = [n for n in names if n not in catalog.BY_ID]
    if unknown:
        raise UsageError(f"unknown exercise {unknown[0]!r} (known: {', '.join(catalog.BY_ID)})")
    return list(dict.fromkeys(names))


def _dir(path: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"{path}: no such directory")
    return p


def _need_grader() -> None:
    import importlib.util

    if importlib.util.find_spec("grader.session") is None:
        raise UsageError("grading needs the instructor's torch-kata repository (this is a student release); "
                         "run `pytest` or `python -m grader progress` instead")


def cmd_grade(args: argparse.Namespace) -> int:
    exercises = _exercises(args.exercise)
    _need_grader()
    from grader.submissions import submission_root

    submission = submission_root(_dir(args.dir))
    from grader.pool import start_zygote

    zygote = start_zygote(args.start)
    from grader import report
    from grader.session import GradingSession

    with GradingSession(method=args.start, call_timeout=args.timeout, budget=args.budget,
                        memory_gib=args.memory, zygote=zygote) as session:
        result = session.grade(submission, exercises, seed=args.seed)
    print(report.summary(result))
    if args.json:
        report.write_json(result, args.json)
        print(f"results written to {args.json}")
    if args.junit:
        report.write_junit(result, args.junit)
        print(f"JUnit report written to {args.junit}")
    return 0


def cmd_grade_all(args: argparse.Namespace) -> int:
    import os
    import time

    exercises = _exercises(args.exercise)
    _need_grader()
    submissions = _dir(args.submissions)
    from grader.batch import Options, grade_all

    start = time.monotonic()
    stats = grade_all(submissions, Path(args.out), args.jobs or os.cpu_count() or 1,
                      Options(exercises, seed=args.seed, call_timeout=args.timeout, budget=args.budget,
                              memory_gib=args.memory, start=args.start),
                      force=args.force, progress=not args.no_progress)
    took = time.monotonic() - start
    print(f"{stats['students']} submissions in {took:.1f} s, mean {stats['mean']:.1f}/100; "
          f"timeouts {stats['timeouts']}, crashes {stats['crashes']}, grader errors {stats['errors']}, "
          f"skipped (up to date) {stats['skipped']}")
    print(f"gradebook: {Path(args.out) / 'grades.csv'}, summary: {Path(args.out) / 'summary.md'}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    _need_grader()
    from grader.release import release

    out = Path(args.out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out}: exists and is not an empty directory")
    files = release(out, git=args.git)
    print(f"student release written to {out} ({len(files)} files{', git repository initialised' if args.git else ''})")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    _need_grader()
    from grader.release import gradescope_bundle

    names = gradescope_bundle(Path(args.out_zip))
    print(f"Gradescope autograder bundle written to {args.out_zip} ({len(names)} files): "
          "upload it on the assignment's 'Configure Autograder' page")
    return 0


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exercise", "-e", action="append", metavar="ID", help="grade only this exercise (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random inputs (default 0)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds per exercise (default 60)")
    p.add_argument("--memory", type=float, default=4.0, help="memory cap per worker in GiB (default 4)")
    p.add_argument("--start", choices=["fork", "exec", "inprocess"], default=None,
                   help="how workers start (default: fork from a zygote, exec when a GPU is present; "
                        "inprocess: no isolation at all, only to measure its cost)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m grader", description="torch-kata's autograder")
    subs = ap.add_subparsers(dest="command", required=True)
    g = subs.add_parser("grade", help="grade one submission directory")
    g.add_argument("dir", help="directory holding <exercise>.py files")
    g.add_argument("--json", metavar="OUT", help="write Gradescope results.json here")
    g.add_argument("--junit", metavar="OUT", help="write a JUnit XML report here")
    _limits(g)
    g.set_defaults(func=cmd_grade)
    ga = subs.add_parser("grade-all", help="grade every submission in a folder (subfolders or zip files)")
    ga.add_argument("submissions", help="folder with one subfolder or .zip per student")
    ga.add_argument("--out", required=True, help="results folder (per-student results.json, grades.csv, summary.md)")
    ga.add_argument("--jobs", "-j", type=int, default=None, help="parallel jobs (default: one per core)")
    ga.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    ga.add_argument("--no-progress", action="store_true", help="no progress bar")
    _limits(ga)
    ga.set_defaults(func=cmd_grade_all)
    r = subs.add_parser("release", help="write the student repository (no references, no hidden checks)")
    r.add_argument("out_dir")
    r.add_argument("--git", action="store_true", help="also git init and commit it (a ready template repository)")
    r.set_defaults(func=cmd_release)
    gs = subs.add_parser("gradescope", help="build a Gradescope autograder bundle (zip)")
    gs.add_argument("out_zip")
    gs.set_defaults(func=cmd_gradescope)
    for module in ("grader.learner.cli",):
        try:
            __import__(module, fromlist=["register"]).register(subs)
        except ImportError as err:
            if not (err.name and module.startswith(err.name)):
                raise
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
