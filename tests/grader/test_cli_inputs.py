"""The command line's inputs: every bad one is a usage error (exit 2, one clear line) before grading starts."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import catalog, cli
from grader.batch import candidates
from grader.submissions import missing_files_note

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solutions" / "cross_entropy.py"


def grader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def no_grading(monkeypatch):
    """Any grading fails the test: validation must come first (grading takes 10+ s)."""
    def refuse(*_a, **_k):
        raise AssertionError("grading started before the arguments were validated")

    import grader.batch
    import grader.pool

    monkeypatch.setattr(grader.pool, "start_zygote", refuse)
    monkeypatch.setattr(grader.batch, "grade_all", refuse)


def usage_error(argv: list[str], capsys) -> str:
    """Runs the CLI in-process; returns its one error line (argparse's included: no usage block)."""
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(("error:", "python -m grader")), err
    if lines[0].startswith("python -m grader"):
        assert lines[0].endswith(" (see --help)"), err
    return lines[0]


# --- 1. what to grade ---------------------------------------------------------------------

def test_grade_a_file_says_it_is_a_file(tmp_path: Path, capsys, no_grading) -> None:
    (tmp_path / "afile.txt").write_text("hi")
    line = usage_error(["grade", str(tmp_path / "afile.txt")], capsys)
    assert "afile.txt is a file, not a directory" in line
    # An exercise's own file: the command for its folder, with -e.
    (tmp_path / "dropout.py").write_text("")
    line = usage_error(["grade", str(tmp_path / "dropout.py")], capsys)
    assert line == f"error: {tmp_path / 'dropout.py'} is a file, not a directory: grade its folder, " \
                   f"`grade {tmp_path} -e dropout`"


def test_grade_a_broken_zip_is_a_usage_error(tmp_path: Path, capsys, no_grading) -> None:
    (tmp_path / "sol.zip").write_text("not a zip")
    assert "sol.zip: not a zip file" in usage_error(["grade", str(tmp_path / "sol.zip")], capsys)


def test_grade_all_of_a_zip_or_a_file(tmp_path: Path, capsys, no_grading) -> None:
    with zipfile.ZipFile(tmp_path / "sol.zip", "w") as zf:
        zf.write(SOLUTION, "cross_entropy.py")
    line = usage_error(["grade-all", str(tmp_path / "sol.zip"), "--out", str(tmp_path / "out")], capsys)
    assert "sol.zip is a zip file, not a folder of submissions" in line and "grade " in line
    (tmp_path / "afile.txt").write_text("hi")
    line = usage_error(["grade-all", str(tmp_path / "afile.txt"), "--out", str(tmp_path / "out")], capsys)
    assert "afile.txt is a file, not a directory" in line
    assert not (tmp_path / "out").exists()


def test_grade_a_zip_extracts_it_safely(tmp_path: Path) -> None:
    archive = tmp_path / "up" / "alice.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:  # an LMS download: a folder inside, and a zip slip
        zf.write(SOLUTION, "alice-hw/cross_entropy.py")
        zf.writestr("../../evil.py", "print('zip slip')")
    r = grader("grade", str(archive), "-e", "cross_entropy")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"Grading {archive}" in r.stdout and "Total: 15.00 / 15" in r.stdout
    assert "note:" not in r.stdout
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "up" / "evil.py").exists()


# --- 2. output paths ----------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--json", "--junit"])
def test_report_paths_are_checked_before_grading(tmp_path: Path, capsys, no_grading, option: str) -> None:
    line = usage_error(["grade", "solutions", option, str(tmp_path / "nope" / "r.out")], capsys)
    assert "no such directory" in line and str(tmp_path / "nope") in line
    line = usage_error(["grade", "solutions", option, str(tmp_path)], capsys)
    assert "is a directory, not a file" in line
    (tmp_path / "afile.txt").write_text("hi")
    line = usage_error(["grade", "solutions", option, str(tmp_path / "afile.txt" / "r.out")], capsys)
    assert "afile.txt is not a directory" in line


def test_json_and_junit_must_differ(tmp_path: Path, capsys, no_grading) -> None:
    out = str(tmp_path / "r")
    assert "both name" in usage_error(["grade", "solutions", "--json", out, "--junit", out], capsys)


def test_grade_all_out_is_checked_before_grading(tmp_path: Path, capsys, no_grading) -> None:
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    (tmp_path / "afile.txt").write_text("hi")
    line = usage_error(["grade-all", str(subs), "--out", str(tmp_path / "afile.txt")], capsys)
    assert "--out" in line and "afile.txt is a file, not a directory" in line
    line = usage_error(["grade-all", str(subs), "--out", str(tmp_path / "afile.txt" / "x")], capsys)
    assert "afile.txt is a file, not a directory" in line
    line = usage_error(["grade-all", str(subs), "--out", str(subs)], capsys)
    assert "submissions folder itself" in line


# --- 3. numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--timeout", "-1"], "argument --timeout: must be more than 0 seconds"),
    (["--timeout", "0"], "argument --timeout: must be more than 0 seconds"),
    (["--timeout", "inf"], "argument --timeout: 'inf' is not a finite number"),
    (["--budget", "-5"], "argument --budget: must be more than 0 seconds"),
    (["--budget", "nan"], "argument --budget: 'nan' is not a finite number"),
    (["--memory", "0"], "argument --memory: must be at least 1 GiB"),
    (["--memory", "-1"], "argument --memory: must be at least 1 GiB"),
    (["--memory", "0.5"], "argument --memory: must be at least 1 GiB"),
    (["--timeout", "ten"], "argument --timeout: 'ten' is not a number"),
])
@pytest.mark.parametrize("command", ["grade", "grade-all"])
def test_limits_are_validated(tmp_path: Path, capsys, no_grading, command: str, argv: list[str],
                              message: str) -> None:
    target = ["solutions"] if command == "grade" else [str(tmp_path), "--out", str(tmp_path / "out")]
    line = usage_error([command, *target, *argv], capsys)
    assert line.startswith(f"python -m grader {command}: error:") and message in line


@pytest.mark.parametrize("jobs, message", [("0", "must be at least 1"), ("-3", "must be at least 1"),
                                           ("1.5", "'1.5' is not a whole number")])
def test_jobs_is_validated(tmp_path: Path, capsys, no_grading, jobs: str, message: str) -> None:
    line = usage_error(["grade-all", str(tmp_path), "--out", str(tmp_path / "out"), "--jobs", jobs], capsys)
    assert "argument --jobs/-j" in line and message in line


def test_good_limits_are_accepted() -> None:
    args = cli.build_parser().parse_args(["grade-all", "s", "--out", "o", "--timeout", "0.5", "--budget", "30",
                                          "--memory", "1", "-j", "3"])
    assert (args.timeout, args.budget, args.memory, args.jobs) == (0.5, 30.0, 1.0, 3)


# --- 4. the results folder inside the submissions folder ------------------------------------

def test_candidates_skip_the_results_folder(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    for name in ("alice", "bob", "results", "nested", ".git"):
        (subs / name).mkdir(parents=True)
    (subs / "carol.zip").write_bytes(b"")
    (subs / "notes.txt").write_text("not a submission")
    names = lambda skip: [p.name for p in candidates(subs, skip)]  # noqa: E731
    assert names(None) == ["alice", "bob", "carol.zip", "nested", "results"]
    assert names(subs / "results") == ["alice", "bob", "carol.zip", "nested"]
    assert names(subs / "nested" / "out") == ["alice", "bob", "carol.zip", "results"]
    assert names(tmp_path / "elsewhere") == names(None)
    # macOS's resource forks and another run's results folder are no students either.
    (subs / "__MACOSX").mkdir()
    (subs / "old").mkdir()
    for name in ("grades.csv", "summary.md"):
        (subs / "old" / name).write_text("")
    assert names(None) == ["alice", "bob", "carol.zip", "nested", "results"]


# --- 5. empty and misplaced submissions ------------------------------------------------------

def test_missing_files_note(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    note = missing_files_note(tmp_path, "DIR")
    expected = ", ".join(f"{e.id}.py" for e in catalog.EXERCISES)
    assert note == f"no exercise files found in DIR (expected {expected}): wrong folder?"
    (tmp_path / "dropout.py").symlink_to("/nonexistent")  # present, if broken: the grader says so itself
    assert missing_files_note(tmp_path, "DIR") is None


def test_grade_all_on_an_empty_folder(tmp_path: Path, capsys, no_grading) -> None:
    subs = tmp_path / "subs"
    (subs / ".git").mkdir(parents=True)
    (subs / "notes.txt").write_text("not a submission")
    line = usage_error(["grade-all", str(subs), "--out", str(subs / "results")], capsys)
    assert line == f"error: no submissions found in {subs} (expected one folder or .zip per student)"
    assert not (subs / "results").exists()


def test_grade_empty_folder_notes_the_wrong_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "results.json"
    r = grader("grade", str(empty), "-e", "cross_entropy", "--json", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Total: 0.00 / 15" in r.stdout
    assert f"note: no exercise files found in {empty} (expected cross_entropy.py, datasets.py," in r.stdout
    assert "wrong folder?" in r.stdout
    data = json.loads(out.read_text())
    assert data["score"] == 0 and data["output"].startswith("no exercise files found")


# --- 6. help and extra arguments -------------------------------------------------------------

@pytest.mark.parametrize("command", ["grade", "grade-all", "release", "gradescope"])
def test_every_command_has_a_description(command: str) -> None:
    help_text = cli._subparser(cli.build_parser(), command).format_help()
    usage, description = help_text.split("\n\n")[:2]
    assert usage.startswith(f"usage: python -m grader {command}")
    assert not description.lstrip().startswith(("positional arguments", "options")), help_text


def test_extra_arguments_are_the_subcommands_error(capsys, no_grading) -> None:
    # One line, as the other usage errors: the subcommand's name says where to look (--help).
    assert usage_error(["grade", "solutions", "extra"], capsys) == \
        "python -m grader grade: error: unrecognized arguments: extra (see --help)"


@pytest.mark.parametrize("argv, line", [
    ([], "python -m grader: error: the following arguments are required: command (see --help)"),
    (["grade"], "python -m grader grade: error: the following arguments are required: dir (see --help)"),
    (["grade-all", "subs"], "python -m grader grade-all: error: the following arguments are required: --out "
                            "(see --help)"),
    (["gradescope", "x.zip", "--visibility", "never"], "python -m grader gradescope: error: argument --visibility: "
     "invalid choice: 'never' (choose from 'visible', 'hidden', 'after_due_date', 'after_published') (see --help)"),
])
def test_argparse_errors_are_one_line(capsys, no_grading, argv: list[str], line: str) -> None:
    assert usage_error(argv, capsys) == line


# --- release and gradescope: where they write --------------------------------------------------

def test_gradescope_bundle_path_is_checked(tmp_path: Path, capsys) -> None:
    """These once ended in a FileNotFoundError / IsADirectoryError traceback, exit 1."""
    assert usage_error(["gradescope", str(tmp_path / "missing" / "x.zip")], capsys) == \
        f"error: {tmp_path / 'missing' / 'x.zip'}: no such directory {tmp_path / 'missing'}"
    assert usage_error(["gradescope", str(tmp_path)], capsys) == f"error: {tmp_path} is a directory, not a file"
    assert not any(tmp_path.iterdir())


def test_outputs_overwrite_only_their_own_kind_of_file(tmp_path: Path, capsys, no_grading) -> None:
    """A typo once turned README.md into a zip, and a reference into JSON, without a word."""
    keep = tmp_path / "dropout.py"
    keep.write_text("def dropout(x, p): ...\n")
    for argv, named, kind in ((["gradescope", str(keep)], f"{keep}", "zip file"),
                              (["grade", "solutions", "--json", str(keep)], f"--json {keep}", "JSON report"),
                              (["grade", "solutions", "--junit", str(keep)], f"--junit {keep}", "JUnit XML report")):
        assert usage_error(argv, capsys) == (f"error: {named} exists and is not a {kind}: it would be overwritten "
                                             "(remove it first, or give another name)")
    assert keep.read_text() == "def dropout(x, p): ...\n"
    assert usage_error(["gradescope", str(tmp_path / "bundle")], capsys) == \
        f"error: {tmp_path / 'bundle'}: the bundle is a zip file: give a name ending in .zip"
    # An earlier report of ours, or an empty file, is replaced as before.
    (tmp_path / "r.json").write_text('{"score": 3}')
    (tmp_path / "r.xml").write_text('<?xml version="1.0"?><testsuites/>')
    (tmp_path / "empty.json").write_text("")
    for path, kind in (("r.json", "json"), ("r.xml", "junit"), ("empty.json", "json")):
        cli._output_file(str(tmp_path / path), "--x", kind)


def test_release_into_a_file_says_it_is_a_file(tmp_path: Path, capsys) -> None:
    f = tmp_path / "file.txt"
    f.write_text("keep me")
    assert usage_error(["release", str(f)], capsys) == f"error: {f} is a file, not a directory"
    assert usage_error(["release", str(f / "kata")], capsys) == f"error: {f / 'kata'}: {f} is a file, not a directory"
    assert f.read_text() == "keep me"


# --- paths nothing can be written to: /proc refuses new files even to root -----------------------
# (os.access says root may write anywhere: these once ended in a traceback, one of them after grading.)

needs_proc = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")


@needs_proc
@pytest.mark.parametrize("option", ["--json", "--junit"])
def test_an_unwritable_report_folder_is_a_usage_error(capsys, no_grading, option: str) -> None:
    line = usage_error(["grade", "solutions", "-e", "sequential", option, "/proc/x.json"], capsys)
    assert line.startswith(f"error: {option} /proc/x.json: cannot write in /proc: "), line


@needs_proc
def test_an_unwritable_results_folder_is_a_usage_error(tmp_path: Path, capsys, no_grading) -> None:
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    for out in ("/proc/res", "/proc/res/deeper"):
        line = usage_error(["grade-all", str(tmp_path / "subs"), "--out", out], capsys)
        assert line.startswith(f"error: --out {out}: cannot make /proc/res: "), line


def test_checking_the_results_folder_leaves_no_folders_behind(tmp_path: Path, capsys, no_grading) -> None:
    (tmp_path / "subs").mkdir()
    line = usage_error(["grade-all", str(tmp_path / "subs"), "--out", str(tmp_path / "new" / "results")], capsys)
    assert line.startswith("error: no submissions found")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subs"]


@needs_proc
def test_release_and_gradescope_into_unwritable_folders(capsys) -> None:
    assert usage_error(["release", "/proc/rel"], capsys).startswith("error: /proc/rel: cannot make /proc/rel: ")
    assert usage_error(["gradescope", "/proc/x.zip"], capsys).startswith(
        "error: /proc/x.zip: cannot write in /proc: ")


def test_an_os_error_is_one_line_and_after_grading_keeps_the_results(monkeypatch, capsys) -> None:
    """The paths are checked first, but a disk can fill up meanwhile: no traceback either."""
    def failing(graded: bool):
        def command(args):
            args.graded = graded
            raise OSError(28, "No space left on device", "/results/r.json")
        return command

    monkeypatch.setattr(cli, "cmd_release", failing(False))
    assert usage_error(["release", "out"], capsys) == "error: /results/r.json: No space left on device"
    monkeypatch.setattr(cli, "cmd_grade", failing(True))
    assert cli.main(["grade", "solutions"]) == 1
    err = capsys.readouterr().err
    assert err == "error: /results/r.json: No space left on device (what was written before is kept)\n"


@pytest.mark.parametrize("force", [False, True])
def test_an_interrupted_grade_all_says_how_to_resume(tmp_path: Path, capsys, monkeypatch, force: bool) -> None:
    import signal

    import grader.batch

    def interrupted(*_a, **_k):
        raise grader.batch.Interrupted(signal.SIGINT, 1, 3)

    monkeypatch.setattr(grader.batch, "grade_all", interrupted)
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    argv = ["grade-all", str(tmp_path / "subs"), "--out", str(tmp_path / "out")] + (["--force"] if force else [])
    assert cli.main(argv) == 128 + signal.SIGINT
    err = capsys.readouterr().err
    # --force regrades everyone: the same command would start over.
    rerun = "rerun without --force to resume" if force else "rerun the same command to resume"
    assert err.startswith(f"grade-all: interrupted; 1 of 3 graded; {rerun} "), err


# --- the grader's own environment ------------------------------------------------------------

@pytest.mark.parametrize("command", ["grade", "grade-all"])
def test_a_missing_package_is_named_before_grading(tmp_path: Path, capsys, no_grading, monkeypatch,
                                                    command: str) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    argv = ["grade", str(ROOT / "solutions")] if command == "grade" else \
        ["grade-all", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]
    line = usage_error(argv, capsys)
    assert "grading needs torchvision" in line and sys.executable in line and "setup.sh" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_a_broken_environment_is_the_graders_error_not_the_submissions(tmp_path: Path, start: str) -> None:
    # A torchvision that is there but fails to import (built for another torch, say): the zygote
    # (fork) or each worker (exec) dies while it loads, before any submitted code runs; the grader
    # says so and gives no score, rather than failing every check.
    broken = tmp_path / "site" / "torchvision"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("torchvision broken on purpose")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(ROOT / "solutions"), "-e", "sequential",
                          "--start", start], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(("error: the grader's zygote", "error: a worker did not start, before any submitted"))
    assert "check_env.py" in last and "Traceback" not in run.stderr.split("ImportError: torchvision broken")[-1]
    assert "torchvision broken on purpose" in run.stderr  # its own error, printed above
    assert "Total" not in run.stdout


def test_grade_all_stops_on_a_broken_environment_and_a_rerun_grades_everyone(tmp_path: Path) -> None:
    broken = tmp_path / "site" / "torchvision"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text('raise ImportError("torchvision broken on purpose")\n')
    subs, out = tmp_path / "subs", tmp_path / "out"
    for sid in ("alice", "bob"):
        (subs / sid).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / "sequential.py", subs / sid)
    argv = [sys.executable, "-m", "grader", "grade-all", str(subs), "--out", str(out), "-e", "sequential",
            "--jobs", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: the grader's zygote"), run.stderr
    assert not list(out.glob("*/results.json")), "a submission was scored by a grader that cannot run"
    again = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    full = catalog.BY_ID["sequential"].points  # the mean is out of the points of the exercises graded
    assert "graded now 2" in again.stdout and f"mean {full:.1f}/{full}" in again.stdout, again.stdout


def test_two_grade_alls_into_one_results_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    """Each would rewrite the gradebook from results the other is still writing: the second stops."""
    import fcntl

    import grader.batch

    def refuse(*_a, **_k):
        raise AssertionError("grading started beside another run")

    monkeypatch.setattr(grader.batch, "_grade_all", refuse)

    (tmp_path / "subs" / "alice").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "w") as held:  # what a running grade-all holds
        fcntl.flock(held, fcntl.LOCK_EX)
        line = usage_error(["grade-all", str(tmp_path / "subs"), "--out", str(out)], capsys)
    assert line == f"error: --out {out}: another grade-all is writing there: wait for it to end, or give another folder"
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
