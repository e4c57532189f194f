"""``python -m grader progress``: one run of the learner tests, a table, a bar and the next step."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from learner_support import ROOT, Kata

from grader import catalog
from grader.learner import i18n, progress, testrun
from grader.learner.testrun import Case, ExerciseTests


def _tests(exercise: str, passed: int, failed: int, skipped: int = 0, message: str = "") -> ExerciseTests:
    cases = [Case(f"test_p{i}", "passed") for i in range(passed)]
    cases += [Case(f"test_f{i}", "failed", message or "not implemented yet: f in x.py (line 1)") for i in range(failed)]
    cases += [Case(f"test_s{i}", "skipped", "needs CUDA") for i in range(skipped)]
    return ExerciseTests(exercise, cases)


# Exercises the catalog may hold besides the course's seven and the capstone: done, in the scenario.
EXTRA = [e for e in catalog.CORE if e.id not in
         ("cross_entropy", "datasets", "sequential", "dropout", "weight_init", "training", "devices")]


def _scenario() -> dict[str, ExerciseTests]:
    """Seven exercises in set states; any other in the catalog done (10 tests passing)."""
    datasets = _tests("datasets", 20, 3, message="ds[0] returned a list\n  contract: a tuple\n  got: list")
    datasets.cases[:0] = _tests("datasets", 0, 2).cases  # two that wait for a stub come first
    return {e.id: _tests(e.id, 10, 0) for e in catalog.EXERCISES} | {
        "cross_entropy": _tests("cross_entropy", 14, 0, 1),
        "datasets": datasets,
        "sequential": _tests("sequential", 0, 18),
        "dropout": _tests("dropout", 0, 31, 2),
        "weight_init": _tests("weight_init", 5, 15),
        "training": _tests("training", 0, 25),
        "devices": _tests("devices", 0, 20, 2),
        "capstone": _tests("capstone", 0, 11),
    }


def test_states() -> None:
    s = _scenario()
    assert s["cross_entropy"].state == "done"  # a CUDA skip does not stop "done"
    assert s["datasets"].state == "failing"
    assert s["dropout"].state == "not_started"
    assert ExerciseTests("x").state == "error"
    mixed = _tests("x", 0, 2)
    mixed.cases[0].message = "assert 1 == 2"
    assert mixed.state == "failing"
    # Passing tests, and the rest only waiting for stubs: in progress, not failing.
    assert s["weight_init"].state == "in_progress" and not s["weight_init"].wrong
    # A test that reports a mistake comes before one that waits for a stub.
    assert s["datasets"].first_failure.message.startswith("ds[0] returned a list")
    assert [len(s["datasets"].wrong), len(s["datasets"].unwritten)] == [3, 2]


def test_the_function_to_write_next_comes_first_in_the_order_of_work() -> None:
    waits = ["fit in training.py (line 120)", "train_epoch in training.py (line 40)",
             "train_epoch in training.py (line 40)", "dropout in dropout.py (line 90)"]
    t = ExerciseTests("training", [Case(f"test_{i}", "failed", f"not implemented yet: {w}") for i, w in enumerate(waits)])
    assert t.next_to_write == "dropout in dropout.py (line 90)"  # an earlier exercise's stub first
    t.cases.pop()
    assert t.next_to_write == "train_epoch in training.py (line 40)"  # then the first in its file
    assert ExerciseTests("x", [Case("a", "passed")]).next_to_write == ""


def test_render_english() -> None:
    out = progress.render(_scenario(), i18n.Messages("en"), "exercises/", None, fancy=True)
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 2}
    assert "✓ done" in rows["cross_entropy"] and "(1 need CUDA)" in rows["cross_entropy"]
    assert "✗ failing 3 of 25, 2 not implemented yet" in rows["datasets"]
    assert "· not started" in rows["sequential"]
    assert "… 5 of 20 pass, 15 not implemented yet" in rows["weight_init"]
    assert "★" in out and "capstone (bonus)" in out
    done, points = 1 + len(EXTRA), 15 + sum(e.points for e in EXTRA)
    passed, tests = 39 + 10 * len(EXTRA), 153 + 10 * len(EXTRA)
    assert f"{done} of {len(catalog.CORE)} exercises done ({points} of 100 points' worth), " \
           f"{passed} of {tests} learner tests pass" in out
    assert "[█" in out and "░]" in out  # the fancy bar, part full
    assert "next: datasets. `pytest -m datasets`, `python -m grader hint datasets`" in out
    assert "first failing test: test_f0" in out and "ds[0] returned a list" in out


def test_render_names_the_function_to_write_when_nothing_fails() -> None:
    scenario = _scenario() | {"datasets": _tests("datasets", 20, 0)}
    out = progress.render(scenario, i18n.Messages("en"), "exercises/", None, fancy=False)
    assert "next: sequential." in out and "  write next: f in x.py (line 1)" in out
    assert "first failing test" not in out
    # In Chinese the place reads in Chinese too, not "f in x.py (line 1)" inside a Chinese sentence.
    zh = progress.render(scenario, i18n.Messages("zh"), "exercises/", None, fancy=False)
    assert "  接下来要写：x.py 第 1 行的 f" in zh, zh
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 2}
    assert "~ 5 of 20 pass, 15 not implemented yet" in rows["weight_init"]


def test_render_chinese_and_plain_terminal() -> None:
    out = progress.render(_scenario(), i18n.Messages("zh"), "exercises/", "mine", fancy=False)
    assert "完成" in out and "25 个测试中 3 个失败，2 个尚未实现" in out and "未开始" in out
    assert "20 个测试中 5 个通过，15 个尚未实现" in out
    assert "下一步：datasets。`pytest -m datasets --impl=mine`" in out
    assert "自定义 Dataset 与 DataLoader" in out
    assert "█" not in out and "✓" not in out and "[####" in out
    # The title column lines up although Chinese characters take two terminal columns.
    msgs = i18n.Messages("zh")
    starts = {progress.width(ln[:ln.index(msgs.title(e))]) for ln in out.splitlines()
              for e in _scenario() if f"  {e} " in ln and msgs.title(e) in ln}
    assert len(starts) == 1, starts


def test_render_next_is_the_capstone_then_all_done() -> None:
    s = {e: _tests(e, 10, 0) for e in _scenario()}
    s["capstone"] = _tests("capstone", 3, 8, message="boom")
    out = progress.render(s, i18n.Messages("en"), "exercises/", None, fancy=True)
    assert "next: the bonus capstone." in out and "python -m grader capstone" in out
    s["capstone"] = _tests("capstone", 11, 0)
    assert "all done" in progress.render(s, i18n.Messages("en"), "exercises/", None, fancy=True)


def test_parse_junit(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text(textwrap.dedent("""\
        <?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
        <testcase classname="tests.test_dropout" name="test_a" time="0.1"/>
        <testcase classname="tests.test_dropout" name="test_b" time="0.1">
          <failure message="short">not implemented yet: dropout in dropout.py (line 9)</failure></testcase>
        <testcase classname="tests.test_dropout" name="test_c" time="0.0">
          <skipped type="pytest.skip" message="needs CUDA">skip</skipped></testcase>
        <testcase classname="" name="tests.test_devices" time="0.0">
          <error message="collection failure">SyntaxError: invalid syntax</error></testcase>
        </testsuite></testsuites>"""))
    got = testrun.parse(xml, ["dropout", "devices"])
    assert [(c.name, c.outcome) for c in got["dropout"].cases] == [
        ("test_a", "passed"), ("test_b", "failed"), ("test_c", "skipped")]
    assert got["dropout"].cases[1].message.startswith("not implemented yet")
    assert got["dropout"].state == "in_progress"  # one passes, the other waits for a stub
    assert got["devices"].state == "error" and "SyntaxError" in got["devices"].error


# A learner who finished dropout (and whatever the catalog puts before cross_entropy) and has
# cross_entropy nearly right.
BEFORE = [e.id for e in catalog.CORE[:[e.id for e in catalog.CORE].index("cross_entropy")]]
DONE = [*BEFORE, "dropout"]


def _learner_has_worked(kata: Kata, where: Path) -> None:
    for e in DONE:
        shutil.copy2(ROOT / "solutions" / f"{e}.py", where / f"{e}.py")
    shutil.copy2(ROOT / "tests" / "mutants" / "cross_entropy" / "default_sum.py", where / "cross_entropy.py")


@pytest.mark.parametrize("where", ["checkout --impl", "release"])
def test_progress_runs_the_learner_tests(request: pytest.FixtureRequest, where: str) -> None:
    use_impl = where.endswith("--impl")
    kata: Kata = request.getfixturevalue("checkout" if use_impl else "student")
    if use_impl:
        where = kata.root / "mywork"
        shutil.copytree(kata.root / "exercises", where)
        args = ["progress", "--impl", "mywork"]
    else:
        where, args = kata.root / "exercises", ["progress"]
    _learner_has_worked(kata, where)
    out = kata.run(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    rows = {line.split()[1]: line for line in text.splitlines() if line[:3].strip().isdigit()}
    assert list(rows) == [e.id for e in catalog.CORE]
    assert all("✓ done" in rows[e] for e in DONE)
    assert "✗ failing" in rows["cross_entropy"]
    assert all("· not started" in rows[e.id] for e in catalog.CORE if e.id not in [*DONE, "cross_entropy"])
    points = sum(catalog.BY_ID[e].points for e in DONE)
    assert "capstone (bonus)" in text and f"{len(DONE)} of {len(catalog.CORE)} exercises done ({points} of 100" in text
    impl = " --impl=mywork" if use_impl else ""
    assert f"next: cross_entropy. `pytest -m cross_entropy{impl}`, `python -m grader hint cross_entropy`" in text
    assert "first failing test: test_cross_entropy_default_is_mean" in text
    assert "Traceback" not in text + out.stderr


def test_a_missing_file_says_no_file() -> None:
    # tests/conftest.py's message when --impl has no devices.py: every test fails with it.
    t = _tests("devices", 0, 3, message="/x/mywork/devices.py not found: create it (copy exercises/devices.py to start)")
    assert t.state == "missing"
    msgs = i18n.messages("en")
    assert progress._state_text(msgs, t, fancy=True) == "? no file"
    scenario = _scenario() | {e: _tests(e, 10, 0) for e in ("datasets", "sequential", "dropout", "weight_init",
                                                            "training")} | {"devices": t}
    out = progress.render(scenario, msgs, "mywork/", "mywork", fancy=False)
    assert "next: devices." in out
    assert "devices.py is not in the folder being tested: copy exercises/devices.py there to start" in out
    assert "failing" not in out
    # One test that fails for another reason makes it "failing" again.
    t.cases[0].message = "assert 1 == 2"
    assert t.state == "failing"
    # A mistake comes before an earlier exercise's missing file: a folder of some files is worked on.
    missing = _tests("cross_entropy", 0, 3, message=f"/x/mywork/cross_entropy.py{testrun.FILE_MISSING} (copy ...)")
    out = progress.render(scenario | {"cross_entropy": missing}, msgs, "mywork/", "mywork", fancy=False)
    assert "next: devices." in out and "first failing test: test_f0" in out, out


def test_progress_unknown_impl_is_a_usage_error(checkout: Kata) -> None:
    out = checkout.run("progress", "--impl", "nowhere")
    assert out.returncode == 2 and out.stderr.strip() == "error: --impl nowhere: no such directory"


def test_a_module_that_does_not_import_says_so() -> None:
    t = _tests("devices", 0, 3)
    for i, c in enumerate(t.cases):
        c.outcome = "failed"
        c.message = ("importing devices.py failed at /x/devices.py:21: SyntaxError: '(' was never closed" if i == 0
                     else "importing devices.py failed, as in its first test above: SyntaxError at devices.py:21")
    assert t.state == "broken" and t.import_failure == "SyntaxError at devices.py:21"
    msgs = i18n.messages("en")
    assert progress._state_text(msgs, t, fancy=True) == "✗ does not import (SyntaxError at devices.py:21)"


def test_missing_and_broken_files_are_read_from_the_learner_tests_own_reports(tmp_path: Path) -> None:
    """The two tests above hand-write impl_loader's words; this one reads what pytest really says."""
    impl = tmp_path / "mywork"
    impl.mkdir()
    (impl / "sequential.py").write_text("def broken(:\n")
    got = testrun.run(["devices", "sequential"], impl)
    assert got["devices"].state == "missing", got["devices"].cases[0].message
    assert got["sequential"].state == "broken", got["sequential"].cases[0].message
    assert got["sequential"].import_failure == "SyntaxError at sequential.py:1"


def test_the_next_step_shows_expected_and_got_not_the_inputs() -> None:
    message = ("dropout(<float32 (4, 3)>, 0.5)\n  contract: survivors are scaled\n"
               "  input:    x = tensor float32 (4, 3) on cpu = [[1, 2, 3], ...]\n"
               "            p = 0.5\n  expected: 0 or x / 0.5\n  got:      x unchanged")
    assert progress.gist(message) == ["dropout(<float32 (4, 3)>, 0.5)", "  contract: survivors are scaled",
                                      "  expected: 0 or x / 0.5", "  got:      x unchanged"]
    # A crash report keeps its lines (no inputs to leave out).
    crash = "not implemented yet: dropout in dropout.py (line 9)"
    assert progress.gist(crash) == [crash]
