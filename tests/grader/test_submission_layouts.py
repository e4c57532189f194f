"""Where a submission's files are found: the layouts students and LMSs actually produce."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.submissions import submission_root

ROOT = Path(__file__).resolve().parents[2]


def _student_repo(at: Path) -> Path:
    """A student's repository made from the release: conftest.py and README at the top, their
    work in exercises/ (one exercise solved, the rest stubs)."""
    (at / "exercises").mkdir(parents=True)
    (at / "conftest.py").write_text("# the release's root conftest\n")
    (at / "README.md").write_text("# torch-kata\n")
    for stub in (ROOT / "exercises").glob("*.py"):
        shutil.copy(stub, at / "exercises" / stub.name)
    shutil.copy(ROOT / "solutions" / "sequential.py", at / "exercises" / "sequential.py")
    return at


@pytest.mark.parametrize("layout", ["flat", "zipped folder", "student repository", "repository download"])
def test_submission_root_finds_the_exercise_files(tmp_path: Path, layout: str) -> None:
    if layout == "flat":
        (tmp_path / "sequential.py").write_text("")
        assert submission_root(tmp_path) == tmp_path
    elif layout == "zipped folder":
        (tmp_path / "hw" / "hw").mkdir(parents=True)
        (tmp_path / "hw" / "hw" / "dropout.py").write_text("")
        assert submission_root(tmp_path) == tmp_path / "hw" / "hw"
    elif layout == "student repository":
        assert submission_root(_student_repo(tmp_path / "kata-alice")) == tmp_path / "kata-alice" / "exercises"
    else:  # GitHub's "Download ZIP": one top folder named <repo>-main
        _student_repo(tmp_path / "kata-alice-main")
        assert submission_root(tmp_path) == tmp_path / "kata-alice-main" / "exercises"


def test_a_student_repository_is_graded_from_its_exercises_folder(tmp_path: Path) -> None:
    """A clone of a student's repository (GitHub Classroom), or its download as a zip, is graded
    on what is in exercises/, not scored 0 as 'wrong folder'."""
    repo = _student_repo(tmp_path / "kata-alice")
    archive = tmp_path / "kata-alice-main.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in repo.rglob("*"):
            if f.is_file():
                zf.write(f, Path("kata-alice-main") / f.relative_to(repo))
    for submission in (repo, archive):
        r = subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "-e", "sequential"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Total: 12.00 / 12" in r.stdout and "wrong folder" not in r.stdout, r.stdout


def test_grade_takes_the_zip_a_students_folder_holds(tmp_path: Path) -> None:
    """An LMS export keeps the upload as it was: a folder holding only the student's zip. `grade`
    once called it 'wrong folder?' and scored 0, while grade-all graded the zip."""
    folder = tmp_path / "Ana Doe_123_assignsubmission_file_"
    folder.mkdir()
    with zipfile.ZipFile(folder / "homework.zip", "w") as zf:
        zf.write(ROOT / "solutions" / "sequential.py", "hw/sequential.py")
    r = subprocess.run([sys.executable, "-m", "grader", "grade", str(folder), "-e", "sequential"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Total: 12.00 / 12" in r.stdout and "wrong folder" not in r.stdout, r.stdout


def test_a_stray_script_beside_the_homework_folder_does_not_hide_it(tmp_path: Path) -> None:
    (tmp_path / "hw").mkdir()
    (tmp_path / "main.py").write_text("")
    (tmp_path / "hw" / "dropout.py").write_text("")
    assert submission_root(tmp_path) == tmp_path / "hw"


def test_the_wrong_folder_note_says_where_the_files_are(tmp_path: Path) -> None:
    from grader.submissions import missing_files_note

    for version in ("v1", "v2"):  # two versions: the instructor decides which one counts
        (tmp_path / "two" / version).mkdir(parents=True)
        (tmp_path / "two" / version / "cross_entropy.py").write_text("")
    root = submission_root(tmp_path / "two")
    assert root == tmp_path / "two"
    note = missing_files_note(root, "two")
    assert note is not None and "wrong folder?" in note and "Exercise files are in v1/, v2/" in note, note
    (tmp_path / "names").mkdir()
    for name in ("Cross_Entropy.py", "dropout_solution.py", "notes.txt"):
        (tmp_path / "names" / name).write_text("")
    note = missing_files_note(submission_root(tmp_path / "names"), "names")
    assert note is not None and "Cross_Entropy.py (must be cross_entropy.py)" in note, note
    assert "dropout_solution.py (must be dropout.py)" in note and "notes.txt" not in note, note


# --- what a zip may hold ------------------------------------------------------------------------

def test_a_zip_unpacks_its_python_files_only_so_data_beside_them_costs_nothing(tmp_path: Path) -> None:
    """A 25 MiB checkpoint zipped along with the code once made the whole submission ungradable."""
    from grader.submissions import extract_zip

    archive = tmp_path / "hw.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(ROOT / "solutions" / "cross_entropy.py", "hw/cross_entropy.py")
        zf.writestr("hw/model.pt", bytes(25 * 2**20))  # compresses to almost nothing; unpacks to 25 MiB
        zf.writestr("hw/data/train.csv", "x,y\n")
        zf.writestr("../evil.py", "print('outside')\n")  # zip slip: never written
    root = extract_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "hw"
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()) == \
        ["hw/cross_entropy.py"]
    assert not (tmp_path / "evil.py").exists()


@pytest.mark.parametrize("bomb", ["bytes", "files"])
def test_a_zip_bomb_of_python_files_is_refused(tmp_path: Path, bomb: str) -> None:
    from grader.submissions import MAX_ZIP_BYTES, MAX_ZIP_MEMBERS, BadSubmission, extract_zip

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        if bomb == "bytes":
            zf.writestr("a.py", b"#" * (MAX_ZIP_BYTES // 2 + 1))
            zf.writestr("b.py", b"#" * (MAX_ZIP_BYTES // 2 + 1))
        else:
            for i in range(MAX_ZIP_MEMBERS + 1):
                zf.writestr(f"m{i}.py", "")
    with pytest.raises(BadSubmission) as err:
        extract_zip(archive, tmp_path / "out")
    assert str(err.value) == ("bomb.zip: its Python files unpack to more than 20 MiB" if bomb == "bytes"
                              else f"bomb.zip: more than {MAX_ZIP_MEMBERS} Python files")
