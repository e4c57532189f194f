"""``python -m grader capstone``: the learner's pieces trained on the digits, with bars, accuracy and a plot."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from learner_support import Kata

from grader import catalog

PIECES = [e.id for e in catalog.EXERCISES]


def _solve_all(kata: Kata) -> None:
    for exercise in PIECES:
        kata.solve(exercise)


@pytest.mark.parametrize("where", ["checkout --impl", "release"])
def test_trains_reports_and_plots(request: pytest.FixtureRequest, where: str) -> None:
    if where == "release":
        kata: Kata = request.getfixturevalue("student")
        _solve_all(kata)
        args = ["capstone", "--epochs", "2", "--out", "curves/plot.png"]
        plot = kata.root / "curves" / "plot.png"
    else:
        kata = request.getfixturevalue("checkout")
        args = ["capstone", "--impl", "solutions", "--epochs", "2"]
        plot = kata.state / "capstone.png"
    out = kata.run(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "epoch 1/2" in out.stderr and "epoch 2/2" in out.stderr  # one progress bar per epoch
    assert "1797 digits" in out.stdout and "1438 for training, 359 for validation" in out.stdout
    acc = re.search(r"validation accuracy: ([\d.]+)% after 2 epochs", out.stdout)
    assert acc and float(acc[1]) > 50, out.stdout
    table = [ln for ln in out.stdout.splitlines() if re.match(r"\s+[12]\s+\d", ln)]
    assert len(table) == 2
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(plot.resolve()) in out.stdout
    assert (kata.state / "capstone" / "digits" / "train.csv").read_text().startswith("file_name,label\n")


def test_unfinished_glue_says_what_to_do(kata: Kata) -> None:
    out = kata.run("capstone")
    assert out.returncode == 1 and out.stdout == ""
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert re.search(r"not implemented yet: to_features in capstone.py \(line \d+\)\. "
                     r"Fill in the glue in capstone.py first", out.stderr), out.stderr


def test_unfinished_glue_in_chinese(checkout: Kata) -> None:
    out = checkout.run("capstone", "--lang", "zh")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert re.search(r"尚未实现：capstone.py 第 \d+ 行的 to_features。先补全 capstone.py", out.stderr), out.stderr


def test_unfinished_piece_is_named(checkout: Kata) -> None:
    checkout.solve("capstone")
    checkout.solve("datasets")
    out = checkout.run("capstone")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "in dropout.py" in out.stderr or "in sequential.py" in out.stderr, out.stderr
    assert "The capstone uses your" in out.stderr and "finish it first" in out.stderr


def test_a_bug_in_the_learners_code_points_at_it(checkout: Kata) -> None:
    _solve_all(checkout)
    glue = checkout.root / "exercises" / "capstone.py"
    source = glue.read_text()
    assert "nn.Linear(IN_FEATURES, hidden)" in source
    glue.write_text(source.replace("nn.Linear(IN_FEATURES, hidden)", "nn.Linear(IN_FEATURES)"))
    out = checkout.run("capstone")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("the capstone failed: TypeError: "), out.stderr
    assert re.search(r"\n  capstone\.py:\d+ in build_model: .*nn\.Linear\(IN_FEATURES\)", out.stderr), out.stderr


def test_without_the_optional_packages_it_says_what_to_install(tmp_path: Path, checkout: Kata) -> None:
    fake = tmp_path / "fake"
    for package in ("sklearn", "matplotlib"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text(f'raise ImportError("no {package} here (test)")\n')
    out = checkout.run("capstone", "--impl", "solutions", PYTHONPATH=str(fake))
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("the capstone needs scikit-learn and matplotlib: ")
    assert "pip install 'scikit-learn>=1.3' 'matplotlib>=3.7'" in out.stderr


def test_no_capstone_file(tmp_path: Path, checkout: Kata) -> None:
    (checkout.root / "empty").mkdir()
    out = checkout.run("capstone", "--impl", "empty")
    assert out.returncode == 1 and "capstone.py not found" in out.stderr and "Traceback" not in out.stderr


def _hang_dropout(kata: Kata, loop: str) -> None:
    """The learner's EpochDropout.forward never returns."""
    _solve_all(kata)
    path = kata.root / "exercises" / "dropout.py"
    source = path.read_text()
    head = "        if not self.training:\n            return x  # eval: identity, and the mask is left alone\n"
    assert head in source
    path.write_text(source.replace(head, head + textwrap.indent(loop, " " * 8), 1))


def test_an_endless_loop_is_stopped_and_located(checkout: Kata) -> None:
    _hang_dropout(checkout, "while self.training:\n    pass\n")
    out = checkout.run("capstone", "--epochs", "1", "--stall-timeout", "3", timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert re.search(r"stopped: your code made no progress for 3 s \(it was at dropout\.py:\d+ in "
                     r"EpochDropout\.forward: while self\.training:\)\. An endless loop\?", out.stderr), out.stderr


def test_a_loop_that_swallows_the_interrupt_is_ended_too(checkout: Kata) -> None:
    _hang_dropout(checkout, "while True:\n    try:\n        while True:\n            pass\n"
                            "    except KeyboardInterrupt:\n        pass\n")
    out = checkout.run("capstone", "--epochs", "1", "--stall-timeout", "2", timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert re.search(r"no progress for 2 s \(it was at dropout\.py:\d+ in EpochDropout\.forward", out.stderr), out.stderr


def test_a_negative_stall_timeout_is_a_usage_error(checkout: Kata) -> None:
    out = checkout.run("capstone", "--stall-timeout", "-1")
    assert out.returncode == 2 and out.stderr.startswith("error: --stall-timeout -1: ")
