"""Instructor workflow: student release, grade-all, Gradescope bundle, CI workflow."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import catalog

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def run(*args: str, cwd: Path = ROOT, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


# --- student release -------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "kata"
    r = run(PY, "-m", "grader", "release", str(out), "--git")
    assert r.returncode == 0, r.stderr
    return out


def _solution_lines(ex: str) -> set[str]:
    """The reference's distinctive lines: in no file that is meant to be public.

    If the release builder ever copied a reference (or any file holding one), these
    lines would show up in the release.
    """
    from grader.release import RELEASE_FILES, TEMPLATES, _is_forbidden

    public = [p for pat in RELEASE_FILES for p in ROOT.glob(pat)
              if p.is_file() and not _is_forbidden(p.relative_to(ROOT))] + list(TEMPLATES.glob("*"))
    shown = "\n".join(p.read_text(errors="replace") for p in public)
    lines = {ln.strip() for ln in (ROOT / "solutions" / f"{ex}.py").read_text().splitlines()
             if len(ln.strip()) >= 24 and not ln.strip().startswith(("#", '"""'))}
    distinctive = {ln for ln in lines if ln not in shown}
    assert len(distinctive) >= 3, f"{ex}: too few distinctive reference lines to check"
    return distinctive


def test_release_hides_references_and_checks(released: Path) -> None:
    files = [p for p in released.rglob("*") if p.is_file() and ".git" not in p.parts]
    rels = {p.relative_to(released).as_posix() for p in files}
    for bad in ("solutions", "grader/checks", "grader/probes", "tests/grader", "tests/mutants", "tests/alternatives"):
        assert not any(r == bad or r.startswith(bad + "/") for r in rels), bad
    for module in ("session.py", "plugin.py", "pool.py", "worker.py", "sandbox.py", "zygote.py"):
        assert f"grader/{module}" not in rels
    text = "\n".join(p.read_text(errors="replace") for p in files)
    for ex in catalog.EXERCISES:
        leaked = [ln for ln in _solution_lines(ex.id) if ln in text]
        assert not leaked, f"{ex.id}: reference lines in the release: {leaked[:3]}"
    for ex in catalog.EXERCISES:
        assert f"exercises/{ex.id}.py" in rels and f"tests/test_{ex.id}.py" in rels
    assert {"README.md", "pyproject.toml", ".github/workflows/kata.yml", ".gitignore", "tests/conftest.py"} <= rels
    log = run("git", "log", "--oneline", cwd=released)
    assert log.returncode == 0 and len(log.stdout.strip().splitlines()) == 1
    assert run("git", "status", "--porcelain", cwd=released).stdout == ""


def test_release_declares_our_ranges_and_ships_what_setup_runs(released: Path) -> None:
    import tomllib

    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    theirs = tomllib.loads((released / "pyproject.toml").read_text())["project"]
    assert theirs["dependencies"] == ours["dependencies"]
    assert theirs["optional-dependencies"] == ours["optional-dependencies"]
    setup = (released / "scripts" / "setup.sh").read_text()
    for script in re.findall(r"scripts/\w+\.py", setup):
        assert (released / script).is_file(), f"setup.sh runs {script}, which the release lacks"
    assert "scripts/check_env.py" in setup


def _view_of_this_venv(where: Path) -> Path:
    """A venv made of links to the one running the tests: setup.sh may 'rm -rf' it safely."""
    real = Path(sys.prefix)
    if not (real / "pyvenv.cfg").is_file():
        pytest.skip("the tests do not run in a virtual environment")
    (where / "bin").mkdir(parents=True)
    (where / "bin" / "python").symlink_to(Path(sys.executable))
    shutil.copy(real / "pyvenv.cfg", where / "pyvenv.cfg")
    (where / "lib").symlink_to(real / "lib")
    return where


def test_release_setup_reuses_a_healthy_environment(released: Path, tmp_path: Path) -> None:
    venv = _view_of_this_venv(tmp_path / "venv")
    r = run("bash", "scripts/setup.sh", cwd=released, timeout=300, env={"KATA_VENV": str(venv)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"setup: reusing {venv}" in r.stdout and "installing" not in r.stdout
    assert "-m pytest -m cross_entropy" in r.stdout  # a release: the learner's command


def test_setup_says_why_it_will_not_reuse_an_environment(tmp_path: Path) -> None:
    venv = _view_of_this_venv(tmp_path / "venv")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pytest_timeout.py").write_text("raise ImportError('broken on purpose')\n")
    # PYTHON=false: the rebuild that follows the refusal stops at once instead of installing torch.
    r = run("bash", "scripts/setup.sh", timeout=300,
            env={"KATA_VENV": str(venv), "PYTHONPATH": str(shadow), "PYTHON": "false"})
    assert r.returncode != 0
    assert "check_env: cannot import pytest_timeout: ImportError: broken on purpose" in r.stderr
    assert "the existing one cannot be used" in r.stdout
    assert Path(sys.prefix, "lib").is_dir()  # only the links were removed


def test_release_tests_fail_on_stubs_and_pass_with_references(released: Path, tmp_path: Path) -> None:
    r = run(PY, "-m", "pytest", "-q", "-x", "tests/test_cross_entropy.py", cwd=released)
    assert r.returncode == 1 and "not implemented yet" in r.stdout
    work = tmp_path / "done"
    shutil.copytree(released, work, ignore=shutil.ignore_patterns(".git"))
    for f in (ROOT / "solutions").glob("*.py"):
        shutil.copy(f, work / "exercises" / f.name)
    r = run(PY, "-m", "pytest", "-q", cwd=work)
    assert r.returncode == 0, r.stdout[-3000:]
    assert " passed" in r.stdout and "failed" not in r.stdout


def test_release_cannot_grade(released: Path) -> None:
    r = run(PY, "-m", "grader", "grade", "exercises", cwd=released)
    assert r.returncode == 2 and "instructor's torch-kata repository" in r.stderr
    usage = run(PY, "-m", "grader", "--help", cwd=released).stdout
    assert " ".join(usage.split()).count("(instructor's repository only)") == 4, usage
    assert "instructor's repository only" not in run(PY, "-m", "grader", "--help", cwd=ROOT).stdout


def test_release_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    r = run(PY, "-m", "grader", "release", str(tmp_path))
    assert r.returncode == 2 and "not an empty directory" in r.stderr
    assert (tmp_path / "x").read_text() == "keep me"


def test_release_counts_each_file_once(tmp_path: Path) -> None:
    """Overlapping patterns (grader/learner/*.py and grader/learner/**/*) once counted files twice."""
    out = tmp_path / "kata"
    r = run(PY, "-m", "grader", "release", str(out))
    assert r.returncode == 0, r.stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert f"({len(written)} files)" in r.stdout, r.stdout


def test_ci_workflow_runs_learner_tests_and_reports() -> None:
    text = (ROOT / "grader" / "templates" / "kata.yml").read_text()
    assert "python -m pytest" in text and "GITHUB_STEP_SUMMARY" in text and "python -m grader progress" in text
    assert "-m grader grade" in text  # the optional instructor job


# --- grade-all ---------------------------------------------------------------------------

# grade-all with --jobs 2, three or four times: on a 2-core machine running the suite with
# pytest -n 2, this takes two to four minutes. The default 120 s is a hang guard, not a speed test.
@pytest.mark.timeout(600)
def test_grade_all_directories_zips_and_failures(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    for name, files in {
        "alice": {ex: ROOT / "solutions" / f"{ex}.py" for ex in ("cross_entropy", "sequential")},
        "bob": {ex: ROOT / "exercises" / f"{ex}.py" for ex in ("cross_entropy", "sequential")},
        "carol": {"cross_entropy": "while True:\n    pass\n"},
        "ivy": {"cross_entropy": ROOT / "tests" / "mutants" / "cross_entropy" / "naive_softmax.py"},
    }.items():
        (subs / name).mkdir(parents=True)
        for ex, src in files.items():
            (subs / name / f"{ex}.py").write_text(src.read_text() if isinstance(src, Path) else src)
    with zipfile.ZipFile(subs / "dave.zip", "w") as zf:  # an LMS export: a folder inside the zip
        zf.write(ROOT / "solutions" / "cross_entropy.py", "dave-hw/cross_entropy.py")
        zf.writestr("../../evil.py", "print('zip slip')")
    (subs / "erin.zip").write_text("not a zip")
    with zipfile.ZipFile(subs / "gina.zip", "w") as zf:  # "x.py" both a file and a folder: unpacking fails
        zf.writestr("x.py", "a file")
        zf.writestr("x.py/cross_entropy.py", "print('never unpacked')")
    (subs / "frank").mkdir()
    os.symlink("/", subs / "frank" / "cross_entropy.py")  # that exercise scores 0, the others are graded
    shutil.copy(ROOT / "solutions" / "sequential.py", subs / "frank")
    (subs / "hank").mkdir()  # a folder and a zip for one student: neither is graded, both are named
    shutil.copy(ROOT / "solutions" / "cross_entropy.py", subs / "hank")
    with zipfile.ZipFile(subs / "hank.zip", "w") as zf:
        zf.write(ROOT / "solutions" / "cross_entropy.py", "cross_entropy.py")
    out = tmp_path / "out"
    args = [PY, "-m", "grader", "grade-all", str(subs), "--out", str(out), "--jobs", "2",
            "-e", "cross_entropy", "-e", "sequential", "--timeout", "5", "--budget", "30"]
    # 5 s per call leaves a correct submission's checks room on a busy 2-core machine, and the budget
    # room besides carol's import, which costs one 5 s call.
    r = run(*args)
    # Complete gradebook, but three rows without a grade: exit 3, and they are named.
    assert r.returncode == 3, r.stderr[-3000:]
    assert r.stderr.strip().splitlines()[-1] == (
        "grade-all: 3 not graded: erin, gina, hank (grades.csv and summary.md say why); exit 3"), r.stderr[-3000:]
    assert "9 submissions" in r.stdout and "timeouts 1" in r.stdout
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy"}
    assert rows["hank"]["error"] == "two submissions for hank: hank/ and hank.zip: keep one"
    assert rows["hank"]["total"] == "" and rows["hank"]["cross_entropy"] == ""  # blank, not a grade of 0
    assert not (out / "hank" / "results.json").exists() and (out / "hank" / "summary.txt").is_file()
    # The zip's name, not the folder it was unpacked into (deleted at the end of the run).
    assert (out / "dave" / "summary.txt").read_text().splitlines()[0] == f"Grading {subs / 'dave.zip'}"
    assert "gina.zip: cannot be unpacked" in rows["gina"]["error"]
    assert rows["alice"]["total"] == "27" and rows["bob"]["total"] == "0"
    assert rows["dave"]["cross_entropy"] == "15" and rows["dave"]["sequential"] == "0"
    assert "not a zip" in rows["erin"]["error"] and rows["frank"]["total"] == "12"
    assert rows["frank"]["cross_entropy"] == "0" and rows["frank"]["sequential"] == "12"
    assert "cross_entropy.py is not a regular file" in (out / "frank" / "results.json").read_text()
    assert not (tmp_path / "evil.py").exists() and not (out / "evil.py").exists()
    data = json.loads((out / "alice" / "results.json").read_text())
    assert data["score"] == 27 and all(t["status"] == "passed" for t in data["tests"])
    summary = (out / "summary.md").read_text()
    assert "| cross_entropy | 15 |" in summary and "Most common failing checks" in summary
    # Statistics over the graded: not erin, gina or hank, whose blank rows are no zeros.
    graded = [float(row["total"]) for row in rows.values() if row["total"]]
    assert len(graded) == 6 and f"Mean total: {sum(graded) / 6:.1f} / 27 (over the 6 graded)" in summary, summary
    # Only attempted work counts there: ivy's unstable softmax, not bob's stubs, carol's import that
    # never ends or the files nobody sent.
    table = summary.split("## Most common failing checks")[1].split("\n## ")[0]
    assert "| cross_entropy | finite and accurate for logits as large as ±1e4 in float32 | 1 |" in table, table
    assert "| sequential |" not in table and "| 2 |" not in table, table
    # Where the class stopped: bob's stubs, by function in the order of work (dave sent no sequential.py).
    stubs = summary.split("## Functions not written yet")[1].split("\n## ")[0]
    assert re.findall(r"^\| (.+) \| (\d+) \|$", stubs, re.M) == [
        ("gather_target in cross_entropy.py", "1"), ("cross_entropy in cross_entropy.py", "1"),
        ("MySequential.__init__ in sequential.py", "1")], stubs
    assert (out / "histogram.svg").read_text().startswith("<svg")
    assert "timeouts" in r.stderr  # the live progress bar's counters

    # Resumable: nothing changed, nothing regraded; a changed submission is regraded.
    (subs / "bob" / "cross_entropy.py").write_text((ROOT / "solutions" / "cross_entropy.py").read_text())
    r = run(*args)
    assert r.returncode == 3 and "skipped (up to date) 5" in r.stdout, r.stdout  # all but bob, erin, gina and hank
    # The counts are over the whole gradebook, not only what this run graded: carol still timed out.
    assert "timeouts 1" in r.stdout and "graded now 1" in r.stdout, r.stdout
    summary = (out / "summary.md").read_text()
    assert "Submissions with a timeout: 1," in summary and "This run: 1 graded, 5 unchanged and skipped" in summary
    assert "| MySequential.__init__ in sequential.py | 1 |" in summary and "gather_target in" not in summary
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["bob"]["total"] == "15" and rows["alice"]["total"] == "27"
    r = run(*args, "--force")
    assert "skipped (up to date) 0" in r.stdout


def test_grade_all_skips_its_results_and_notes_empty_submissions(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "cross_entropy.py", subs / "alice")
    (subs / "nobody").mkdir()  # uploaded the wrong folder
    (subs / "nobody" / "notes.txt").write_text("see attached")
    out = subs / "results"  # --out inside SUBMISSIONS_DIR: not a student
    args = [PY, "-m", "grader", "grade-all", str(subs), "--out", str(out), "--jobs", "1", "--no-progress",
            "-e", "cross_entropy"]
    for _ in range(2):  # the second run finds the results folder there already
        r = run(*args)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "2 submissions" in r.stdout, r.stdout
        rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
        assert set(rows) == {"alice", "nobody"}
        assert rows["alice"]["total"] == "15" and rows["alice"]["error"] == ""
        assert rows["nobody"]["total"] == "0"
        assert rows["nobody"]["error"].startswith("no exercise files found in nobody (expected cross_entropy.py")
        assert rows["nobody"]["error"].endswith("wrong folder?")
    assert "no exercise files found in nobody" in (out / "nobody" / "summary.txt").read_text()
    assert "## Notes" in (out / "summary.md").read_text() and "## Not graded" not in (out / "summary.md").read_text()


def test_grade_all_replaces_a_job_that_dies(tmp_path: Path) -> None:
    from grader.batch import Options, grade_all

    subs = tmp_path / "subs"
    for name in ("a", "b"):
        (subs / name).mkdir(parents=True)
        (subs / name / "cross_entropy.py").write_text((ROOT / "solutions" / "cross_entropy.py").read_text())
    (subs / "slow").mkdir()
    (subs / "slow" / "cross_entropy.py").write_text("import time\ntime.sleep(300)\n")
    # The limit leaves a correct submission room on a busy machine (its grading takes 4-9 s here,
    # and once over 25 s on a machine running two test suites at once).
    stats = grade_all(subs, tmp_path / "out", 1, Options(["cross_entropy"], call_timeout=60, budget=60),
                      progress=False, per_submission_limit=60)
    rows = {row["student"]: row for row in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["a"]["total"] == "15" and rows["b"]["total"] == "15"
    assert "took too long" in rows["slow"]["error"] and stats["errors"] == 1


def _rows(out: Path) -> dict[str, dict[str, str]]:
    return {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}


# grade-all with --jobs 2, five times: on a 2-core machine running the suite with
# pytest -n 2, this takes two to four minutes. The default 120 s is a hang guard, not a speed test.
@pytest.mark.timeout(600)
def test_grade_all_of_some_exercises_merges_into_earlier_results(tmp_path: Path) -> None:
    """`-e sequential` over full results once replaced every student's results with sequential's alone."""
    subs = tmp_path / "subs"
    for name, sequential in (("alice", ROOT / "solutions"), ("bob", ROOT / "exercises")):
        (subs / name).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / "cross_entropy.py", subs / name)
        shutil.copy(sequential / "sequential.py", subs / name)
    out = tmp_path / "out"
    grade_all = [PY, "-m", "grader", "grade-all", str(subs), "--out", str(out), "--jobs", "2", "--no-progress"]
    r = run(*grade_all, "-e", "cross_entropy", "-e", "sequential")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _rows(out)["alice"]["total"] == "27" and _rows(out)["bob"]["total"] == "15"

    shutil.copy(ROOT / "solutions" / "sequential.py", subs / "bob")  # bob fixes sequential
    r = run(*grade_all, "-e", "sequential")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skipped (up to date) 1" in r.stdout, r.stdout  # alice: her sequential is up to date
    rows = _rows(out)
    assert rows["alice"]["total"] == "27" and rows["bob"]["total"] == "27", rows
    assert rows["bob"]["cross_entropy"] == "15" and rows["bob"]["sequential"] == "12"
    # bob's cross_entropy result was kept from his earlier submission: the instructor is told.
    assert "cross_entropy: kept from an earlier run" in rows["bob"]["error"]
    assert rows["alice"]["error"] == ""
    data = json.loads((out / "bob" / "results.json").read_text())
    assert data["score"] == 27 and {t["tags"][0] for t in data["tests"]} == {"cross_entropy", "sequential"}
    # Kept and new results were graded alike: whether the CUDA checks counted is carried, not lost.
    assert data["extra_data"]["cuda_checks"] in ("counted", "left out"), data["extra_data"]
    assert "CUDA checks: " in (out / "bob" / "summary.txt").read_text()
    assert all(t["status"] == "passed" for t in data["tests"])
    # Out of the points of the exercises graded (cross_entropy's 15 and sequential's 12), not of 100.
    assert "Mean total: 27.0 / 27" in (out / "summary.md").read_text()
    assert "mean 27.0/27;" in r.stdout, r.stdout

    # Regrading sequential keeps cross_entropy; the full set then regrades only what is out of date.
    r = run(*grade_all, "-e", "sequential", "--force")
    assert r.returncode == 0 and _rows(out)["alice"]["total"] == "27", r.stderr[-3000:]
    r = run(*grade_all, "-e", "cross_entropy", "-e", "sequential")
    assert "graded now 1, skipped (up to date) 1" in r.stdout, r.stdout  # bob's cross_entropy was stale
    rows = _rows(out)
    assert rows["bob"]["total"] == "27" and rows["bob"]["error"] == ""

    # A student graded only by an -e run: blank cells, not zeros, for what was not graded.
    (subs / "carl").mkdir()
    shutil.copy(ROOT / "solutions" / "cross_entropy.py", subs / "carl")
    r = run(*grade_all, "-e", "cross_entropy")
    assert r.returncode == 0, r.stderr[-3000:]
    carl = _rows(out)["carl"]
    assert carl["total"] == "15" and carl["cross_entropy"] == "15" and carl["sequential"] == "", carl
    assert "not graded: sequential (rerun without -e" in carl["error"], carl
    assert "| sequential | 12 | 12.00 | 100% |" in (out / "summary.md").read_text()


def test_grades_csv_holds_no_formula_a_student_could_plant(tmp_path: Path) -> None:
    """Folder names come from students: a spreadsheet must show them, never run them."""
    from grader import gradebook

    planted = ['=HYPERLINK("x","click")', "+1+1", "-2", "@SUM(A1)", "alice"]
    for sid in planted:
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "meta.json").write_text(json.dumps(
            {"student": sid, "score": 15.0, "exercises": {"cross_entropy": 15.0}, "failed": [],
             **({"error": "=cmd|' /C calc'!A0"} if sid == "-2" else {})}))
    gradebook.write(tmp_path, planted, ["cross_entropy"], {"graded": 5})
    rows = list(csv.reader((tmp_path / "grades.csv").open()))[1:]
    assert [r[0] for r in rows] == ["'" + sid for sid in planted[:4]] + ["alice"]
    assert rows[2][-1] == "'=cmd|' /C calc'!A0"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_the_failing_checks_table_leaves_out_timeouts_and_crashes(tmp_path: Path) -> None:
    """One submission looping forever once filled the table with 15 rows of its own timeouts."""
    from grader import gradebook

    failed = {"loops": [["cross_entropy", f"point {i}", "timed out after 10 s"] for i in range(15)],
              "dies": [["cross_entropy", "point 20", "the worker died (SIGSEGV)"]],
              "wrong": [["cross_entropy", "point 30", "cross_entropy(x): mean\n  got: 2"]]}
    for sid, fails in failed.items():
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "meta.json").write_text(json.dumps(
            {"student": sid, "score": 1.0, "exercises": {"cross_entropy": 1.0}, "failed": fails}))
    gradebook.write(tmp_path, list(failed), ["cross_entropy"], {"graded": 3})
    summary = (tmp_path / "summary.md").read_text()
    table = summary.split("## Most common failing checks")[1].split("\n## ")[0]
    assert "| cross_entropy | point 30 | 1 |" in table and "point 0" not in table and "point 20" not in table, table
    assert "Submissions with a timeout: 1, with a crash: 1" in summary, summary


def test_the_histogram_bins_a_run_of_some_exercises_by_their_points(tmp_path: Path) -> None:
    """-e cross_entropy -e sequential: 27 points. Full marks fall in the top bin, not in 20-29."""
    from grader import gradebook

    gradebook._histogram_svg([27.0, 26.9, 13.5, 0.0], tmp_path / "h.svg", 27)
    bars = [int(n) for n in re.findall(r'text-anchor="middle">(\d+)</text><text', (tmp_path / "h.svg").read_text())]
    assert bars == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert ">90-100%</text>" in (tmp_path / "h.svg").read_text()
    gradebook._histogram_svg([100.0, 55.0], tmp_path / "h.svg")
    bars = [int(n) for n in re.findall(r'text-anchor="middle">(\d+)</text><text', (tmp_path / "h.svg").read_text())]
    assert bars == [0, 0, 0, 0, 0, 1, 0, 0, 0, 1] and ">90-100</text>" in (tmp_path / "h.svg").read_text()


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_grade_all_stops_whole_on_sigterm_and_ctrl_c(tmp_path: Path, how: str, processes_with) -> None:
    """SIGTERM once left the jobs, their zygotes and the resource tracker running; Ctrl-C printed
    a traceback per process. Both must end every process of the run and say how far it got."""
    import signal
    import time

    subs = tmp_path / "subs"
    for name in ("a", "b"):
        (subs / name).mkdir(parents=True)
        (subs / name / "cross_entropy.py").write_text("import time\ntime.sleep(3600)\n")
    mark = f"stop-{how}-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen([PY, "-m", "grader", "grade-all", str(subs), "--out", str(tmp_path / "out"),
                             "--jobs", "2", "--no-progress", "-e", "cross_entropy", "--timeout", "900",
                             "--budget", "1800"],
                            cwd=ROOT, env={**os.environ, "KATA_TEST_MARK": mark}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The grader, the resource tracker, two jobs, two zygotes and their workers. The limits are
        # far beyond the wait: with 60 s per call, a CI machine slow enough to take 180 s to start
        # both workers had already timed one out and ended its job, so 8 were never seen at once.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(processes_with(mark)) < 8:
            time.sleep(0.2)
        assert len(processes_with(mark)) >= 8, "the workers never started"
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C: SIGINT to the whole foreground process group
            os.killpg(proc.pid, signal.SIGINT)
        # 0.05 s on an idle machine (up to 2 s, while a zygote still imported torch, before
        # grader.launch); over 30 s once on one running two test suites at once.
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == (143 if how == "sigterm" else 130), err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("grade-all: interrupted; 0 of 2 graded; rerun the same command"), err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_with(mark):
        time.sleep(0.2)
    assert not processes_with(mark), "processes outlived the stopped grade-all"
    assert set(_rows(tmp_path / "out")) == {"a", "b"}  # the gradebook, from what there is
    assert not (tmp_path / "out" / ".extracted").exists()


# --- Gradescope ---------------------------------------------------------------------------

@pytest.mark.parametrize("visibility", [None, "after_due_date"])
def test_gradescope_bundle_grades_a_submission(tmp_path: Path, visibility: str | None) -> None:
    bundle = tmp_path / "autograder.zip"
    r = run(PY, "-m", "grader", "gradescope", str(bundle), *(["--visibility", visibility] if visibility else []))
    assert r.returncode == 0, r.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        assert "setup.sh" in names and "run_autograder" in names
        assert "solutions/cross_entropy.py" in names and "grader/checks/test_cross_entropy.py" in names
        zf.extractall(root / "source")
    (root / "submission" / "hw").mkdir(parents=True)  # students often upload a folder
    shutil.copy(ROOT / "solutions" / "cross_entropy.py", root / "submission" / "hw")
    run_autograder = root / "source" / "run_autograder"
    run_autograder.chmod(0o755)
    r = run("bash", str(run_autograder), cwd=tmp_path,
            env={"AUTOGRADER_ROOT": str(root), "KATA_PYTHON": PY})
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 15
    assert {t["tags"][0] for t in data["tests"]} == {e.id for e in catalog.EXERCISES}
    # Each check as chosen when the bundle was built (the hidden checks' inputs are in the
    # reasons); the total stays visible.
    assert {t["visibility"] for t in data["tests"]} == {visibility or "visible"}
    assert data["visibility"] == "visible"


def test_gradescope_bundle_for_some_exercises(tmp_path: Path) -> None:
    """A course hands the kata out in parts, one Gradescope assignment each: the bundle grades only
    its exercises, the score is out of their points, and the command says what to set."""
    bundle = tmp_path / "autograder.zip"
    r = run(PY, "-m", "grader", "gradescope", str(bundle), "-e", "cross_entropy", "-e", "dropout")
    assert r.returncode == 0, r.stderr
    points = catalog.get("cross_entropy").points + catalog.get("dropout").points
    assert "grades cross_entropy, dropout" in r.stdout and f"set the assignment to {points} points" in r.stdout
    # Two budgets of 60 s and start-up: 135 s; and the torch it installs is the one grading here.
    from importlib.metadata import version
    pins = f"torch=={version('torch').split('+')[0]} torchvision=={version('torchvision').split('+')[0]}"
    assert "its autograder timeout above 3 minutes" in r.stdout and f"installs {pins})" in r.stdout, r.stdout
    with zipfile.ZipFile(bundle) as zf:
        assert f"pip install --quiet {pins} --index-url" in zf.read("setup.sh").decode()
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    for name in ("cross_entropy", "datasets"):  # datasets.py: a file of another part, not graded here
        shutil.copy(ROOT / "solutions" / f"{name}.py", root / "submission")
    r = run("bash", str(root / "source" / "run_autograder"), cwd=tmp_path,
            env={"AUTOGRADER_ROOT": str(root), "KATA_PYTHON": PY})
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == catalog.get("cross_entropy").points
    assert {t["tags"][0] for t in data["tests"]} == {"cross_entropy", "dropout"}
    assert sum(t["max_score"] for t in data["tests"]) == points


def test_gradescope_bundle_of_the_bonus_alone_is_refused(tmp_path: Path) -> None:
    """Its points are outside Gradescope's score: such an assignment would score 0 whatever was handed in."""
    r = run(PY, "-m", "grader", "gradescope", str(tmp_path / "autograder.zip"), "-e", "capstone")
    assert r.returncode == 2 and "the capstone is a bonus" in r.stderr and "-e" in r.stderr, r.stderr
    assert not (tmp_path / "autograder.zip").exists()


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize("apt_has_311", [True, False])
def test_gradescope_setup_gets_a_python_that_can_run_the_grader(tmp_path: Path, apt_has_311: bool) -> None:
    """Ubuntu 22.04's python3 is 3.10, too old for the grader (tomllib): setup.sh must install
    python3.11 there, or stop with a clear message. apt-get and the Pythons are stubs."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "log"
    _stub(bin_ / "apt-get", f'echo "apt-get $*" >> {log}\n'
                            f'if [[ "$*" == *python3.11* ]]; then {"" if apt_has_311 else "exit 100; "}'
                            f'printf \'#!/bin/bash\\nexec {bin_}/py311 "$@"\\n\' > {bin_}/python3.11; '
                            f'/bin/chmod +x {bin_}/python3.11; fi')
    _stub(bin_ / "python3", '[[ "$1" == --version ]] && echo "Python 3.10.12"; exit 1')
    venv = tmp_path / "venv"
    # The new Python: new enough; its venv's python records what it is asked to install.
    _stub(bin_ / "py311", f'if [[ "$1 $2" == "-m venv" ]]; then /bin/mkdir -p "$3/bin"; '
                          f'printf \'#!/bin/bash\\necho "pip $*" >> {log}\\n\' > "$3/bin/python"; '
                          f'/bin/chmod +x "$3/bin/python"; fi; exit 0')
    (tmp_path / "source").mkdir()
    r = run("/bin/bash", str(ROOT / "grader" / "templates" / "setup.sh"), cwd=tmp_path,
            env={"PATH": str(bin_), "AUTOGRADER_ROOT": str(tmp_path), "KATA_VENV": str(venv)})
    calls = log.read_text()
    assert "apt-get install -y -qq python3.11 python3.11-venv" in calls
    if apt_has_311:
        assert r.returncode == 0, r.stderr
        assert "pip -m pip install --quiet -r requirements.txt" in calls, calls
        # The image grades the references once before it is used (see the next test).
        assert re.search(r"^pip -m grader grade solutions --json \S+/self-test.json$", calls, re.M), calls
    else:
        assert r.returncode == 1 and "pip " not in calls
        assert "needs Python >= 3.11" in r.stderr and "Ubuntu 22.04" in r.stderr, r.stderr


@pytest.mark.parametrize("broken", [False, True])
def test_gradescope_setup_fails_the_build_of_an_image_that_cannot_grade(tmp_path: Path, broken: bool) -> None:
    """Once an image without a working torch gave every student 0, and the instructor learnt it from
    them. apt-get and pip are stubs; the grading is real, with this machine's Python or one whose torch
    does not import."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    _stub(bin_ / "apt-get", "exit 0")
    venv = tmp_path / "venv"
    fake_torch = tmp_path / "fake"
    (fake_torch / "torch").mkdir(parents=True)
    (fake_torch / "torch" / "__init__.py").write_text("raise ImportError('libtorch_cpu.so: cannot open')\n")
    # The venv's python: this machine's, except for pip (a stub); with a torch that fails, if broken.
    path = f"PYTHONPATH={fake_torch} " if broken else ""
    _stub(bin_ / "python3", f'if [[ "$1 $2" == "-m venv" ]]; then /bin/mkdir -p "$3/bin"; '
                            f'printf \'#!/bin/bash\\n[[ "$2" == pip ]] && exit 0\\n{path}exec {PY} "$@"\\n\' '
                            f'> "$3/bin/python"; /bin/chmod +x "$3/bin/python"; exit 0; fi; exec {PY} "$@"')
    (tmp_path / "source").symlink_to(ROOT)
    r = run("/bin/bash", str(ROOT / "grader" / "templates" / "setup.sh"), cwd=tmp_path,
            env={"PATH": f"{bin_}:/usr/bin:/bin", "AUTOGRADER_ROOT": str(tmp_path), "KATA_VENV": str(venv)})
    if broken:
        assert r.returncode == 1, r.stdout + r.stderr
        assert "this image cannot grade" in r.stderr and "torch" in r.stderr, r.stderr
    else:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "the references get full marks: the image is ready" in r.stdout


def test_junit_report(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    out = tmp_path / "junit.xml"
    r = run(PY, "-m", "grader", "grade", "exercises", "-e", "cross_entropy", "--junit", str(out))
    assert r.returncode == 0
    root = ET.parse(out).getroot()
    suite = root.find("testsuite")
    assert suite.get("name") == "cross_entropy" and int(suite.get("failures")) == int(suite.get("tests")) > 10
    # Each check names the function it waits for, at its stub's raise, as the learner tests do.
    sheet = (ROOT / "exercises" / "cross_entropy.py").read_text().splitlines()
    waits = [re.fullmatch(r"not implemented yet: (\w+) in cross_entropy\.py \(line (\d+)\)",
                          c.find("failure").get("message")) for c in suite.iter("testcase")]
    assert all(waits) and {w[1] for w in waits} == {"gather_target", "cross_entropy"}, waits
    assert all(sheet[int(w[2]) - 1].strip() == "raise NotImplementedError" for w in waits)


def test_grade_all_unpacks_a_zip_inside_a_students_folder(tmp_path: Path) -> None:
    """Moodle's export: a folder per student holding the file they uploaded, a zip."""
    inner = tmp_path / "subs" / "judy" / "Judy Doe_123_assignsubmission_file_"
    inner.mkdir(parents=True)
    with zipfile.ZipFile(inner / "hw.zip", "w") as zf:
        zf.write(ROOT / "solutions" / "cross_entropy.py", "hw/cross_entropy.py")
    out = tmp_path / "out"
    r = run(PY, "-m", "grader", "grade-all", str(tmp_path / "subs"), "--out", str(out), "-e", "cross_entropy",
            "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["judy"]["cross_entropy"] == "15" and not rows["judy"]["error"], rows
