"""Adding an exercise is its own files and one catalog entry (CONTRIBUTING.md), nothing in the core.

Proved on a copy of the repository: an eighth exercise, ``rectifier`` (write ``relu``), is added as
a contributor would add it (its files below, an entry in ``grader/catalog.py`` taking its points from
devices), and
then the grader, the learner tools, the release and the suite's own rules must all take it up.
Nothing else in the copy is touched, so any code that lists the exercises by hand shows here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

# Each test runs the grader or pytest in the copy, 20 to 40 s alone on 2 cores, and more under the
# suite's -n auto: the default 120 s is a hang guard here, not a speed test.
pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
NEW, POINTS = "rectifier", 4  # a name no other test has, for -k

STUB = '''\
"""ReLU by hand: the rectified linear unit, max(x, 0), element by element.

Follows d2l 5.1 "Multilayer Perceptrons", section "Activation Functions".
"""
from __future__ import annotations

import torch


def relu(x: torch.Tensor) -> torch.Tensor:
    """Return ``max(x, 0)`` for every element of ``x``.

    Contract:
        - The result has ``x``'s shape and dtype.
        - ``x`` itself is not modified.
    """
    raise NotImplementedError
'''

FILES = {
    f"exercises/{NEW}.py": STUB,
    f"solutions/{NEW}.py": '''\
"""Reference for rectifier."""
import torch


def relu(x: torch.Tensor) -> torch.Tensor:
    zeros_in_the_same_dtype = torch.zeros_like(x)
    positive_entries_are_kept = x > zeros_in_the_same_dtype
    return torch.where(positive_entries_are_kept, x, zeros_in_the_same_dtype)
''',
    f"tests/test_{NEW}.py": '''\
"""Learner tests for rectifier.py."""
import torch
from kata import expect, expect_close, run


def test_negative_entries_become_zero(ex):
    x = torch.tensor([[-2.0, -0.5, 0.0], [0.5, 3.0, -1.0]])
    got = run(ex.relu, x, call="relu(x)", point="relu returns max(x, 0)", inputs={"x": x})
    expect_close(got, torch.tensor([[0.0, 0.0, 0.0], [0.5, 3.0, 0.0]]), call="relu(x)",
                 point="relu returns max(x, 0), with x's shape and dtype", inputs={"x": x})


def test_x_is_left_alone(ex):
    x = torch.tensor([-1.0, 2.0])
    run(ex.relu, x, call="relu(x)", point="relu returns max(x, 0)", inputs={"x": x})
    expect(x.tolist() == [-1.0, 2.0], call="relu(x)", point="x itself is not modified",
           expected="x still [-1.0, 2.0]", got=f"x became {x.tolist()}")
''',
    f"grader/probes/{NEW}.py": '''\
"""Probes for rectifier (run inside the worker, next to the submission)."""
import torch


def value(mod, x):
    return mod.relu(x)


def leaves_input(mod, x):
    before, version = x.clone(), x._version
    mod.relu(x)
    return {"same": bool(torch.equal(x, before)), "version": x._version == version}
''',
    f"grader/checks/test_{NEW}.py": '''\
"""Hidden checks for rectifier."""
import pytest
import torch

from grader.checking import expect, expect_close


@pytest.mark.weight(3)
def test_values(sub, ref, rng):
    """relu returns max(x, 0), with x's shape and dtype"""
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(4, 5, generator=rng, dtype=torch.float64).to(dtype)
        expect_close(sub.value(x), ref.value(x), call=f"relu(x {dtype})", point="relu returns max(x, 0)")


def test_leaves_input(sub, ref, rng):
    """relu never modifies x"""
    x = torch.randn(6, generator=rng)
    expect_close(sub.value(x), ref.value(x), call="relu(x)", point="this point counts only when the values are right")
    got = sub.leaves_input(x)
    expect(got == {"same": True, "version": True}, call="relu(x)", point="x itself is not modified",
           expected="x unchanged", got=str(got))
''',
    f"tests/mutants/{NEW}/in_place.py": '''\
# kills: test_leaves_input
import torch


def relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp_(min=0)
''',
    f"tests/alternatives/{NEW}/clamp_min.py": '''\
"""clamp instead of where: another op, the same values."""
import torch


def relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=0)
''',
}

HINT = '''\
[[hint]]
text = """
{text}
"""
see = "d2l 5.1 Multilayer Perceptrons, section Activation Functions"
'''
HINTS = {
    "en": ('title = "ReLU by hand"\n'
           'summary = "ReLU by hand: the rectified linear unit, max(x, 0), element by element."\n',
           ["Which elements change and which stay? Think of a mask that says which entries are positive.",
            "A comparison gives a boolean tensor; torch.where picks from two tensors by such a mask.",
            "Build a new tensor rather than writing into x: the caller still needs the original values."]),
    # Over 80 characters each, as the hint rules ask of every language.
    "zh": ('title = "手写 ReLU"\n'
           'summary = "手写 ReLU：对张量的每个元素计算 max(x, 0)，也就是修正线性单元，结果保持原来的形状和数据类型。"\n',
           ["哪些元素会变、哪些元素保持不变？先想一想怎样用一个掩码标出所有的正数元素，"
            "再根据这个掩码来决定每个位置上的结果应该取原来的值还是取零。负数、零和正数分别应该得到什么？",
            "比较运算会得到一个布尔张量；torch.where 可以按照这样的掩码从两个张量中逐个元素地挑选结果，"
            "而且结果的形状和数据类型都和输入保持一致。想一想另一个张量应该用什么来构造。",
            "不要把结果直接写进 x，而是构造一个新的张量返回：调用者之后很可能还需要用到 x 原来的值，"
            "原地修改会在不知不觉中破坏它们，这类错误很难排查。你的函数应该让输入保持原样。"]),
}


def _copy_repository(dest: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("conftest.py", "pyproject.toml", "tox.ini", "requirements.txt", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("exercises", "solutions", "grader", "tests", "scripts"):
        shutil.copytree(ROOT / name, dest / name, ignore=skip)


def _add_the_exercise(root: Path) -> None:
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for lang, (head, texts) in HINTS.items():
        hints = head + "".join("\n" + HINT.format(text=textwrap.fill(t, 78)) for t in texts)
        (root / "exercises" / "hints" / f"{NEW}.{lang}.toml").write_text(hints)
    # The one entry, after devices, which gives up its points so that the core still adds up to 100.
    catalog = root / "grader" / "catalog.py"
    text, n = re.subn(r'( *)Exercise\("devices", (\d+), (.*?)\),\n',
                      lambda m: f'{m[1]}Exercise("devices", {int(m[2]) - POINTS}, {m[3]}),\n'
                                f'{m[1]}Exercise("{NEW}", {POINTS}, "ReLU by hand", "d2l 5.1 activation functions"),\n',
                      catalog.read_text(), flags=re.S)
    assert n == 1, "the catalog's devices entry is not where this test expects it"
    catalog.write_text(text)


@pytest.fixture(scope="module")
def kata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eighth")
    _copy_repository(root)
    _add_the_exercise(root)
    return root


def _run(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KATA_IMPL", "PYTEST_ADDOPTS", "KATA_LANG")}
    env.update(PYTHONDONTWRITEBYTECODE="1", KATA_STATE_DIR=str(root / ".state"), LANG="C.UTF-8")
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_grader_grades_it(kata: Path) -> None:
    r = _run(kata, "-m", "grader", "grade", "solutions", "--json", "ref.json")
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads((kata / "ref.json").read_text())
    assert results["score"] == 100  # the core, its points taken from devices
    mine = [t for t in results["tests"] if NEW in t.get("tags", []) or t["name"].startswith(NEW)]
    assert mine and sum(t["max_score"] for t in mine) == pytest.approx(POINTS)
    assert all(t["score"] == t["max_score"] for t in mine)
    r = _run(kata, "-m", "grader", "grade", "exercises", "-e", NEW)
    assert r.returncode == 0 and re.search(rf"^{NEW}\s+0(\.00)? / {POINTS}\b", r.stdout, re.M), r.stdout + r.stderr
    assert "not implemented yet" in r.stdout
    # A Gradescope assignment of its own: its reference, probes and checks in the bundle, its points.
    r = _run(kata, "-m", "grader", "gradescope", "gs.zip", "-e", NEW)
    assert r.returncode == 0 and f"set the assignment to {POINTS} points" in r.stdout, r.stdout + r.stderr
    with zipfile.ZipFile(kata / "gs.zip") as bundle:
        assert {f"solutions/{NEW}.py", f"grader/probes/{NEW}.py", f"grader/checks/test_{NEW}.py"} <= set(bundle.namelist())


def test_the_suites_rules_hold_for_it(kata: Path) -> None:
    """The catalog's completeness, its mutant and alternative, its hints and summaries, its learner
    tests on the reference, and the release's leak check: the suite's own tests, run in the copy."""
    r = _run(kata, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--impl", "solutions",
             "tests/grader/test_reference_and_stubs.py", "tests/grader/test_mutants.py",
             "tests/grader/test_instructor.py", "tests/learner/test_hints.py", "tests/learner/test_i18n.py",
             f"tests/test_{NEW}.py",
             "-k", f"{NEW} or catalog_is_complete or every_exercise_has or release_hides or learner_tests_fail"
                   " or titles_and_summaries")
    tail = r.stdout[-3000:] + r.stderr[-2000:]
    assert r.returncode == 0, tail
    passed = int(re.search(r"(\d+) passed", r.stdout)[1])
    # Its 2 learner tests, 4 for its mutant and alternative, 3 on its hints, 1 on its summary, and
    # 6 rules over every exercise: a -k that matched next to nothing would prove nothing.
    assert passed >= 16 and "failed" not in r.stdout.splitlines()[-1], tail


def test_the_learner_tools_show_it(kata: Path) -> None:
    r = _run(kata, "-m", "pytest", "-p", "no:cacheprovider", "-m", NEW)
    assert r.returncode == 1 and "2 not implemented yet" in r.stdout, r.stdout[-2000:]
    assert f"relu in {NEW}.py (line 17)" in r.stdout  # the stub's raise
    r = _run(kata, "-m", "grader", "progress")
    assert r.returncode == 0, r.stdout + r.stderr
    row = next(line for line in r.stdout.splitlines() if f" {NEW} " in line)
    assert "ReLU by hand" in row and f" {POINTS} " in row and "not started" in row
    r = _run(kata, "-m", "grader", "hint", NEW)
    assert r.returncode == 0 and "Hint 1 of 3" in r.stdout, r.stdout + r.stderr
    r = _run(kata, "-m", "grader", "release", "out")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (kata / "out" / "exercises" / f"{NEW}.py").read_text() == STUB
    assert (kata / "out" / "tests" / f"test_{NEW}.py").is_file()
    assert not (kata / "out" / "solutions").exists()
