"""The command line: usage errors, the summary and Gradescope's results.json."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def grader(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    r = grader("grade", str(tmp_path / "nope"))
    assert r.returncode == 2
    assert "no such directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_file_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "afile.txt").write_text("hi")
    r = grader("grade", str(tmp_path / "afile.txt"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'afile.txt'} is a file, not a directory"


def test_bad_report_path_fails_before_grading(tmp_path: Path) -> None:
    """Grading takes 10+ s: a report that cannot be written must not cost them, nor lose the results."""
    for option in ("--json", "--junit"):
        r = grader("grade", "solutions", option, str(tmp_path / "nope" / "r.json"))
        assert r.returncode == 2 and "Traceback" not in r.stderr and "Grading" not in r.stdout
        report = tmp_path / "nope" / "r.json"
        assert r.stderr.strip() == f"error: {option} {report}: no such directory {report.parent}"
        r = grader("grade", "solutions", option, str(tmp_path))
        assert r.returncode == 2 and r.stderr.strip() == f"error: {option} {tmp_path} is a directory, not a file"


def test_unknown_exercise_is_a_usage_error() -> None:
    r = grader("grade", "solutions", "--exercise", "cross_entropyy")
    assert r.returncode == 2
    assert "unknown exercise 'cross_entropyy' (did you mean cross_entropy?)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_grade_writes_gradescope_json(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "cross_entropy.py").write_text((ROOT / "solutions" / "cross_entropy.py").read_text())
    out = tmp_path / "results.json"
    r = grader("grade", str(sub), "--exercise", "cross_entropy", "--exercise", "sequential", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "Total: 15.00 / 27" in r.stdout
    assert "sequential.py not found" in r.stdout
    data = json.loads(out.read_text())
    assert data["score"] == 15.0
    assert isinstance(data["execution_time"], float) and isinstance(data["output"], str)
    names = [t["name"] for t in data["tests"]]
    assert len(names) == len(set(names))
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "tags", "visibility"}
        assert t["status"] in ("passed", "failed")
        assert t["tags"][0] in ("cross_entropy", "sequential")
        assert len(t["output"]) <= 2000
    seq = [t for t in data["tests"] if t["tags"][0] == "sequential"]
    assert seq and all(t["status"] == "failed" and t["output"] == "sequential.py not found" for t in seq)
    ce = [t for t in data["tests"] if t["tags"][0] == "cross_entropy"]
    assert all(t["status"] == "passed" for t in ce)
    assert abs(sum(t["max_score"] for t in ce) - 15) < 0.05


def test_a_reader_that_stops_early_costs_no_report(tmp_path: Path) -> None:
    """`grade ... --json r.json | head -1`: the reader leaves before the summary is printed."""
    out, junit = tmp_path / "r.json", tmp_path / "j.xml"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", "solutions", "-e", "sequential",
                             "--json", str(out), "--junit", str(junit)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # "Grading ...", then the reader goes away
    proc.stdout.close()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
    assert json.loads(out.read_text())["score"] == 12 and junit.read_text().startswith("<?xml")


def test_argparse_errors_are_one_line_too() -> None:
    # The README promises one line per usage error; argparse's own used to print the usage block.
    r = grader("grade")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "python -m grader grade: error: the following arguments are required: dir (see --help)\n"
    r = grader("grade", "solutions", "--seed", "x")
    assert r.returncode == 2
    assert r.stderr == "python -m grader grade: error: argument --seed: invalid int value: 'x' (see --help)\n"


def test_an_unwritable_report_is_refused_before_grading() -> None:
    """/proc takes no new file, even from root (for whom os.access says yes): this once failed after grading."""
    if not Path("/proc/self").is_dir():
        return
    r = grader("grade", "solutions", "-e", "sequential", "--json", "/proc/x.json")
    assert r.returncode == 2 and "Grading" not in r.stdout, r.stdout + r.stderr
    assert r.stderr.startswith("error: --json /proc/x.json: cannot write in /proc: ") and r.stderr.count("\n") == 1
