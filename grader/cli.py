"""``python -m grader``: the command line."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

from grader import catalog, cpu_wait


class UsageError(Exception):
    pass


# grade-all: the gradebook was written, but some submissions have no grade (their rows say why).
EXIT_NOT_GRADED = 3


def _os_reason(err: OSError) -> str:
    """An OSError in one line: the path and the OS's reason, without the errno."""
    if err.strerror and err.filename is not None:
        return f"{err.filename}: {err.strerror}"
    return err.strerror or str(err)


def _probe_dir(folder: Path, named: str) -> None:
    """Checks that a file can be made in folder by making one (os.access says yes to root everywhere,
    /proc included)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kata-probe-"):
            pass
    except OSError as err:
        raise UsageError(f"{named}: cannot write in {folder}: {err.strerror or err}") from None


def _probe_folder(path: str, named: str) -> None:
    """A folder that exists or can be made, and takes files; the folders made to find out are removed
    again (the command makes them when it writes)."""
    out = Path(path)
    made = []
    try:
        for folder in reversed([out, *out.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
    except OSError as err:
        _remove(made)
        raise UsageError(f"{named}: cannot make {err.filename or out}: {err.strerror or err}") from None
    try:
        _probe_dir(out, named)
    finally:
        _remove(made)


def _remove(made: list[Path]) -> None:
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            pass


def _exercises(names: list[str] | None) -> list[str]:
    if not names:
        return [e.id for e in catalog.EXERCISES]
    unknown = [n for n in names if n not in catalog.BY_ID]
    if unknown:
        raise UsageError(catalog.unknown_message(unknown[0]))
    return list(dict.fromkeys(names))


def _dir(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        return p
    if p.is_file():
        raise UsageError(f"{path} is a file, not a directory")
    if p.exists():
        raise UsageError(f"{path} is not a directory")
    raise UsageError(f"{path}: no such directory")


def _is_zip(path: str) -> bool:
    return Path(path).is_file() and path.lower().endswith(".zip")


def _submission(path: str, scratch: Path) -> Path:
    """The folder to grade: a directory, or a .zip (an LMS download) unpacked into scratch.

    The zip goes through grade-all's extraction (no zip slip, no bombs) and the
    same search for a single nested folder.
    """
    from grader.submissions import BadSubmission, extract_zip, only_zip, submission_root

    file = Path(path)
    if file.is_file() and file.suffix == ".py" and file.stem in catalog.BY_ID:
        # One exercise's file: its folder is the submission, and -e chooses the exercise.
        raise UsageError(f"{path} is a file, not a directory: grade its folder, "
                         f"`grade {file.parent} -e {file.stem}`")
    # A folder holding only the student's zip (an LMS export) is graded from the zip, as grade-all does.
    archive = Path(path) if _is_zip(path) else only_zip(_dir(path))
    if archive is None:
        return submission_root(_dir(path))
    try:
        return extract_zip(archive, scratch / archive.stem)
    except BadSubmission as err:
        raise UsageError(str(err)) from None


# What an existing output file must look like to be overwritten: one of ours from an earlier run.
# A typo (`--json solutions/dropout.py`, `gradescope README.md`) must not destroy a file.
_OURS = {"json": "JSON report", "junit": "JUnit XML report", "zip": "zip file"}


def _looks_like(p: Path, kind: str) -> bool:
    try:
        if kind == "zip":
            import zipfile
            return zipfile.is_zipfile(p)
        with open(p, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return True  # not readable: the write check below says why
    if not head.strip():
        return True
    if kind == "junit":
        return head.lstrip().startswith((b"<?xml", b"<testsuite"))
    try:
        return isinstance(json.loads(head), dict)
    except ValueError:
        return False


def _output_file(path: str | None, option: str | None, kind: str) -> None:
    """Reports are written after grading: a path that cannot take one must fail now, not after it.

    ``option``: the option that named the path, None for a positional argument; ``kind``: a key of
    ``_OURS``, what an existing file there must be to be replaced.
    """
    if path is None:
        return
    p = Path(path)
    named = f"{option} {path}" if option else path
    if p.is_dir() or path.endswith(("/", os.sep)):
        raise UsageError(f"{named} is a directory, not a file")
    parent = p.parent
    if not parent.exists():
        raise UsageError(f"{named}: no such directory {parent}")
    if not parent.is_dir():
        raise UsageError(f"{named}: {parent} is not a directory")
    _probe_dir(parent, named)
    if p.exists():
        if not _looks_like(p, kind):
            raise UsageError(f"{named} exists and is not a {_OURS[kind]}: it would be overwritten "
                             "(remove it first, or give another name)")
        try:
            open(p, "ab").close()  # appends nothing: the file is left as it is
        except OSError as err:
            raise UsageError(f"{named}: cannot write it: {err.strerror or err}") from None


def _outputs(json_path: str | None, junit_path: str | None) -> None:
    _output_file(json_path, "--json", "json")
    _output_file(junit_path, "--junit", "junit")
    if json_path and junit_path and Path(json_path).resolve() == Path(junit_path).resolve():
        raise UsageError(f"--json and --junit both name {json_path}: one report would overwrite the other")


def _submissions_dir(path: str) -> Path:
    if _is_zip(path):
        raise UsageError(f"{path} is a zip file, not a folder of submissions: unzip it into a folder "
                         f"(one folder or .zip per student), or grade one submission with `grade {path}`")
    return _dir(path)


def _results_dir(path: str, submissions: Path) -> Path:
    """--out: a folder that exists or can be made, and not the submissions folder itself."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {path} is a file, not a directory")
    if out.resolve() == submissions.resolve():
        raise UsageError(f"--out {path} is the submissions folder itself: results need a folder of their own")
    existing = next(a for a in [out, *out.parents] if a.exists())  # grade_all makes the missing ones
    if not existing.is_dir():
        raise UsageError(f"--out {path}: {existing} is a file, not a directory")
    _probe_folder(path, f"--out {path}")
    return out


def _need_grader() -> None:
    import importlib.util

    if importlib.util.find_spec("grader.session") is None:
        raise UsageError("grading needs the instructor's torch-kata repository (this is a student release); "
                         "run `pytest` or `python -m grader progress` instead")
    # What every worker imports first (grader.worker.preload): without one, every check would
    # fail, and the submissions would be blamed.
    missing = [m for m in ("numpy", "torch", "torchvision") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"grading needs {', '.join(missing)}, which this Python ({sys.executable}) cannot "
                         f"import: run scripts/setup.sh and grade with the environment it makes "
                         f"(or pip install -r requirements.txt)")


def cmd_grade(args: argparse.Namespace) -> int:
    exercises = _exercises(args.exercise)
    _need_grader()
    _outputs(args.json, args.junit)
    from grader import tempdirs

    with tempfile.TemporaryDirectory(prefix="kata-grade-", dir=tempdirs.root()) as scratch:
        submission = _submission(args.dir, Path(scratch))
        from grader.submissions import missing_files_note

        note = missing_files_note(submission, args.dir)
        result = _grade_one(args, submission, exercises)
    args.graded = True  # an OSError from here on costs a grading: main says what was kept
    if _is_zip(args.dir):
        result.submission = args.dir  # the temporary folder it was unpacked into is gone
    from grader import report

    # The files first: a reader that stops early (`grade ... | head`) must not cost them.
    if args.json:
        report.write_json(result, args.json, note, args.visibility)
    if args.junit:
        report.write_junit(result, args.junit)
    if note:  # first: the report below is all "not found" when the wrong folder was given
        print(f"note: {note}")
    print(report.summary(result))
    if args.json:
        print(f"results written to {args.json}")
    if args.junit:
        print(f"JUnit report written to {args.junit}")
    return 0


def _grade_one(args: argparse.Namespace, submission: Path, exercises: list[str]):
    from grader.pool import GraderBroken, start_zygote

    zygote = start_zygote(args.start)
    from grader.session import GradingSession

    try:
        with GradingSession(method=args.start, call_timeout=args.timeout, budget=args.budget,
                            memory_gib=args.memory, zygote=zygote) as session:
            return session.grade(submission, exercises, seed=args.seed)
    except GraderBroken as err:
        raise UsageError(str(err)) from None


def cmd_grade_all(args: argparse.Namespace) -> int:
    import time

    exercises = _exercises(args.exercise)
    _need_grader()
    submissions = _submissions_dir(args.submissions)
    out = _results_dir(args.out, submissions)
    from grader.batch import Interrupted, Options, OutInUse, candidates, grade_all
    from grader.pool import GraderBroken

    if not candidates(submissions, skip=out):
        raise UsageError(f"no submissions found in {args.submissions} (expected one folder or .zip per student)")
    start = time.monotonic()
    args.graded = True  # grade_all writes each result as it goes: an OSError keeps those
    try:
        stats = grade_all(submissions, out, args.jobs or os.cpu_count() or 1,
                          Options(exercises, seed=args.seed, call_timeout=args.timeout, budget=args.budget,
                                  memory_gib=args.memory, start=args.start),
                          force=args.force, progress=not args.no_progress)
    except (GraderBroken, OutInUse) as err:
        raise UsageError(str(err)) from None
    except Interrupted as stop:
        # --force regrades everyone again: resuming means leaving it out.
        rerun = "rerun without --force to resume" if args.force else "rerun the same command to resume"
        print(f"grade-all: interrupted; {stop.done} of {stop.total} graded; {rerun} "
              f"(grades.csv and summary.md hold what was graded so far)", file=sys.stderr)
        return 128 + stop.signum
    took = time.monotonic() - start
    # The counts are over every student in the gradebook; "graded now" and "skipped" are this run's.
    print(f"{stats['students']} submissions in {took:.1f} s, mean {stats['mean']:.1f}/{stats['out_of']:g}; "
          f"timeouts {stats['timeouts']}, crashes {stats['crashes']}, not graded {stats['errors']}; "
          f"graded now {stats['graded']}, skipped (up to date) {stats['skipped']}")
    print(f"gradebook: {Path(args.out) / 'grades.csv'}, summary: {Path(args.out) / 'summary.md'}")
    missing = stats["not_graded"]
    if missing:
        # The gradebook is complete, but not every row is a grade: a script or CI job must notice.
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        print(f"grade-all: {len(missing)} not graded: {shown} (grades.csv and summary.md say why); exit 3",
              file=sys.stderr)
        return EXIT_NOT_GRADED
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    _need_grader()
    from grader.release import ReleaseRefused, release

    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file, not a directory")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out}: exists and is not an empty directory")
    existing = next(a for a in [out, *out.parents] if a.exists())
    if not existing.is_dir():
        raise UsageError(f"{out}: {existing} is a file, not a directory")
    _probe_folder(str(out), str(out))
    try:
        files = release(out, git=args.git)
    except ReleaseRefused as err:
        raise UsageError(str(err)) from None
    print(f"student release written to {out} ({len(files)} files{', git repository initialised' if args.git else ''})")
    return 0


def _never_returns_minutes(exercises: list[str]) -> int:
    """Minutes a submission that never returns takes to grade with the default limits (the README's
    bound: each exercise's budget, the capstone's 6 times, plus start-up), rounded up."""
    from grader.batch import Options

    budget = Options([]).budget
    return math.ceil((sum(budget * catalog.get(e).time_scale for e in exercises) + 15) / 60)


def cmd_gradescope(args: argparse.Namespace) -> int:
    _need_grader()
    from grader.batch import Options
    from grader.release import gradescope_bundle, torch_pins

    exercises = _exercises(args.exercise)
    points = sum(catalog.get(e).points for e in exercises if not catalog.get(e).bonus)
    if not points:
        raise UsageError("the capstone is a bonus, outside Gradescope's score (its points go to "
                         "extra_data.bonus_score): add at least one core exercise with -e")
    _output_file(args.out_zip, None, "zip")
    if not args.out_zip.lower().endswith(".zip"):
        raise UsageError(f"{args.out_zip}: the bundle is a zip file: give a name ending in .zip")
    names = gradescope_bundle(Path(args.out_zip), args.visibility, exercises if args.exercise else None)
    graded = "every exercise" if not args.exercise else ", ".join(exercises)
    print(f"Gradescope autograder bundle written to {args.out_zip} ({len(names)} files; grades {graded}; "
          f"installs {torch_pins()}): upload it on the assignment's 'Configure Autograder' page, set the "
          f"assignment to {points} points, its autograder timeout above {_never_returns_minutes(exercises)} "
          f"minutes and its memory to {Options([]).memory_gib:g} GB or more (a worker's limit)")
    return 0


# Gradescope's visibility values (grader.report.VISIBILITIES; repeated: cli.py ships in the release).
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


# Validators for argparse's type=: a bad number is a usage error before anything starts.
# A limit of 0 or less, or NaN, would fail every check and give a 0 that looks like the student's.
MIN_MEMORY_GIB = 1.0  # torch alone takes about 0.5 GiB in a worker


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _seconds(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def _gib(text: str) -> float:
    value = _number(text)
    if value < MIN_MEMORY_GIB:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_MEMORY_GIB:g} GiB (torch alone needs about "
                                         f"0.5 GiB per worker), not {text}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exercise", "-e", action="append", metavar="ID", help="grade only this exercise (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random inputs (default 0)")
    # An exercise's time_scale in the catalog multiplies both (the capstone trains a model in one call).
    scaled = "".join(f"; {e.id}: {e.time_scale} times this" for e in catalog.EXERCISES if e.time_scale != 1)
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="S",
                   help=f"seconds per call (default 10{scaled}); time spent waiting for a CPU on a busy "
                        f"machine is not counted, up to {cpu_wait.STRETCH:g} times this on the clock")
    p.add_argument("--budget", type=_seconds, default=60.0, metavar="S",
                   help=f"seconds per exercise (default 60{scaled})")
    p.add_argument("--memory", type=_gib, default=4.0, metavar="GiB",
                   help=f"memory cap per worker in GiB (default 4, at least {MIN_MEMORY_GIB:g})")
    p.add_argument("--start", choices=["fork", "exec", "inprocess"], default=None,
                   help="how workers start (default: fork from a zygote, exec when a GPU is present; "
                        "inprocess: no isolation at all, only to measure its cost)")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, as for every other usage error; --help has the usage.

    The subcommands' parsers are of this class too (add_subparsers makes them with type(self)).
    """

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    import importlib.util

    ap = _Parser(prog="python -m grader", description="torch-kata's autograder")
    subs = ap.add_subparsers(dest="command", required=True)
    # A student release has the learner commands only: say so next to the instructor's.
    only = "" if importlib.util.find_spec("grader.session") else " (instructor's repository only)"
    g = subs.add_parser("grade", help="grade one submission (a directory or a .zip)" + only,
                        description="Grade one submission with the hidden checks: print points per exercise, "
                                    "each failed check's reason and the total. Exits 0 whenever grading "
                                    "completed, 2 on a usage error.")
    g.add_argument("dir", help="directory holding <exercise>.py files (or a single folder that does), or a .zip of it")
    g.add_argument("--json", metavar="OUT", help="write Gradescope results.json here")
    g.add_argument("--junit", metavar="OUT", help="write a JUnit XML report here")
    g.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                   help="Gradescope visibility of each check in --json (its reason shows inputs and expected "
                        "values); the total stays visible (default: visible)")
    _limits(g)
    g.set_defaults(func=cmd_grade)
    ga = subs.add_parser("grade-all", help="grade every submission in a folder (subfolders or zip files)" + only,
                         description="Grade a whole class in parallel: one subfolder or .zip per student. Writes "
                                     "each student's results.json, then grades.csv and summary.md; a rerun "
                                     "skips unchanged submissions. Exits 0 when every submission was graded, "
                                     "3 when some could not be (an unreadable zip, a job that died).")
    ga.add_argument("submissions", help="folder with one subfolder or .zip per student")
    ga.add_argument("--out", required=True, help="results folder (per-student results.json, grades.csv, summary.md)")
    ga.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N", help="parallel jobs (default: one per core)")
    ga.add_argument("--force", action="store_true", help="regrade even unchanged submissions")
    ga.add_argument("--no-progress", action="store_true", help="no progress bar")
    _limits(ga)
    ga.set_defaults(func=cmd_grade_all)
    r = subs.add_parser("release", help="write the student repository (no references, no hidden checks)" + only,
                        description="Write the student repository into an empty folder: stubs, learner tests, "
                                    "hints, the learner tools and a CI workflow; no references, no hidden checks.")
    r.add_argument("out_dir")
    r.add_argument("--git", action="store_true", help="also git init and commit it (a ready template repository)")
    r.set_defaults(func=cmd_release)
    gs = subs.add_parser("gradescope", help="build a Gradescope autograder bundle (zip)" + only,
                         description="Build the zip to upload on a Gradescope assignment's 'Configure Autograder' "
                                     "page: setup.sh, run_autograder and the grader.")
    gs.add_argument("out_zip")
    gs.add_argument("--exercise", "-e", action="append", metavar="ID",
                    help="grade only this exercise (repeatable): one assignment per part of the kata; "
                         "the score is then out of their points")
    gs.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                    help="when students see each check's result and reason (default: visible; "
                         "after_due_date keeps the hidden checks' inputs to yourself until the deadline)")
    gs.set_defaults(func=cmd_gradescope)
    for module in ("grader.learner.cli",):
        try:
            __import__(module, fromlist=["register"]).register(subs)
        except ImportError as err:
            if not (err.name and module.startswith(err.name)):
                raise
    return ap


def _subparser(ap: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    action = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    # parse_args would report extra arguments with the top-level usage, which does not say
    # what the subcommand takes: the subcommand's own parser reports them instead.
    args, extra = ap.parse_known_args(argv)
    if extra:
        _subparser(ap, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly; Python's flush at exit would
        # complain about the closed pipe too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        # The paths were checked first, but a disk can fill up or a folder go away meanwhile:
        # one line, as for a usage error; 1 once grading ran (what it wrote is kept).
        if getattr(args, "graded", False):
            print(f"error: {_os_reason(err)} (what was written before is kept)", file=sys.stderr)
            return 1
        print(f"error: {_os_reason(err)}", file=sys.stderr)
        return 2
