"""Plain ``pytest`` as a learner runs it: what a failure says, the order, -m typos, --lf.

Each test runs pytest in a subprocess, in a copy of the repository (or of the
student release), against small implementations written here.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from busy_cpu import SPIN_SECONDS, needs_schedstat, pinned
from learner_support import ROOT, TIMEOUT, Kata, clean_env

from grader.catalog import EXERCISES


def _pytest(kata: Kata, *args: str, impl: Path | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = kata.env(**({"KATA_IMPL": str(impl)} if impl else {}))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=cwd or kata.root, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def _reports(stdout: str) -> dict[str, str]:
    """The failure report of each test, by test name (pytest's ``____ name ____`` sections)."""
    out, name = {}, None
    for line in stdout.splitlines():
        head = re.fullmatch(r"_{3,} (?:ERROR at setup of )?(\S+) _{3,}", line)
        if head:
            name = head.group(1)
            out[name] = []
        elif line.startswith("=") and name:
            name = None
        elif name:
            out[name].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _impl(tmp_path: Path, **files: str) -> Path:
    """The reference solutions, with the given modules replaced."""
    impl = tmp_path / "impl"
    shutil.copytree(ROOT / "solutions", impl)
    for name, text in files.items():
        (impl / f"{name}.py").write_text(textwrap.dedent(text))
    return impl


DROPOUT = '''\
import numpy as np
import torch
from torch import nn


def dropout(x, p, training=True):
    keep = (torch.rand(x.shape) >= p).to_sparse().view(-1)  # sparse tensors have no view(): torch raises
    return x * keep.to(x.device) / (1 - p)


class EpochDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p, self.mask = p, None

    def reset_mask(self):
        raise NotImplementedError

    def forward(self, x):
        if self.mask is None:  # the notes' mask: the shape of the first batch
            self.mask = (torch.rand(x.shape) >= self.p).to(x.dtype)
        return x * self.mask / (1 - self.p)
'''


def test_stub_torch_error_and_crash_in_run(checkout: Kata, tmp_path: Path) -> None:
    impl = _impl(tmp_path, dropout=DROPOUT)
    r = _pytest(checkout, "tests/test_dropout.py", "-k", "made_on_x_device or reused_whatever or reset_mask",
                impl=impl)
    assert r.returncode == 1, r.stdout + r.stderr
    reports = _reports(r.stdout)
    # The stub's own raise: counted apart, and summed up as the one line pointing at it.
    line = DROPOUT.splitlines().index("        raise NotImplementedError") + 1
    assert "test_epoch_reset_mask_sets_none_and_draws_anew" not in reports, r.stdout
    assert re.search(rf"^  EpochDropout\.reset_mask in dropout\.py \(line {line}\) +1 test$", r.stdout, re.M), r.stdout
    assert re.search(r"\b1 not implemented yet in ", r.stdout), r.stdout
    # torch's NotImplementedError is a crash in their code, not an unwritten stub.
    meta = reports["test_dropout_mask_is_made_on_x_device"]
    assert "not implemented yet" not in meta, meta
    assert "your code raised NotImplementedError: Could not run 'aten::view'" in meta, meta
    assert "dropout.py:7, in dropout: keep = (torch.rand(x.shape) >= p).to_sparse()" in meta, meta
    # A crash inside run(): the call, the contract point and their line.
    reuse = reports["test_epoch_mask_is_reused_whatever_the_batch_size"]
    assert reuse.startswith("EpochDropout(0.5): a batch of 32, then one of 7\n"
                            "  contract: every later training forward reuses the mask"), reuse
    assert "  your code raised RuntimeError: The size of tensor a (7)" in reuse, reuse
    assert "    dropout.py:22, in forward: return x * self.mask / (1 - self.p)" in reuse, reuse


RAW_TESTS = '''\
from torch import nn


def test_raw_library_crash(load):
    net = load("sequential").MySequential(nn.Linear(3, 4))
    net.load_state_dict(nn.Sequential(nn.Linear(3, 4)).state_dict())


def test_raw_crash_in_their_code(load):
    net = load("sequential").MySequential(nn.Linear(3, 4))
    net[5]
'''

LIST_SEQUENTIAL = '''\
from torch import nn


class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        self.layers = list(modules)  # a plain list: nn.Module does not see the children

    def forward(self, x):
        for m in self.layers:
            x = m(x)
        return x

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]
'''


def test_crashes_inside_torch_take_a_few_lines(checkout: Kata, tmp_path: Path) -> None:
    impl = _impl(tmp_path, sequential=LIST_SEQUENTIAL)
    (checkout.root / "tests" / "test_raw_crash.py").write_text(RAW_TESTS)  # calls without run()
    r = _pytest(checkout, "tests/test_sequential.py::test_load_state_dict_from_sequential",
                "tests/test_raw_crash.py", impl=impl)
    assert r.returncode == 1, r.stdout + r.stderr
    reports = _reports(r.stdout)
    for name, text in reports.items():
        assert "Traceback" not in text and "def " not in text and len(text.splitlines()) <= 8, f"{name}:\n{text}"
    # With run(): the call and the point, what torch said, and where in torch (one line).
    load = reports["test_load_state_dict_from_sequential"].splitlines()
    assert load[0] == "net.load_state_dict(seq.state_dict())", load
    assert load[2].startswith("  it raised RuntimeError: Error(s) in loading state_dict for MySequential"), load
    assert re.fullmatch(r"    torch/nn/modules/module\.py:\d+, in load_state_dict: .*", load[-1]), load
    # Without run(): the test's line that made the call, then the library's.
    raw = reports["test_raw_library_crash"].splitlines()
    assert raw[0].startswith("testing your code raised RuntimeError: Error(s) in loading state_dict"), raw
    assert "  test_raw_crash.py:6, in test_raw_library_crash: net.load_state_dict(nn.Sequential(nn.Linear(3, 4))" \
        ".state_dict())" in raw, raw
    assert re.fullmatch(r"  torch/nn/modules/module\.py:\d+, in load_state_dict: .*", raw[-1]), raw
    theirs = reports["test_raw_crash_in_their_code"].splitlines()
    assert theirs == ["your code raised IndexError: list index out of range",
                      "  test_raw_crash.py:11, in test_raw_crash_in_their_code: net[5]",
                      "  sequential.py:18, in __getitem__: return self.layers[i]"], theirs


def test_exercises_run_in_catalog_order_capstone_last(checkout: Kata) -> None:
    r = _pytest(checkout, "--collect-only")
    assert r.returncode == 0, r.stdout + r.stderr
    files = [m.group(1) for m in re.finditer(r"^tests/test_(\w+)\.py::", r.stdout, re.M)]
    assert list(dict.fromkeys(files)) == [e.id for e in EXERCISES], dict.fromkeys(files)
    # Each file keeps its own order.
    source = (ROOT / "tests" / "test_dropout.py").read_text()
    want = [m.group(1) for m in re.finditer(r"^def (test_\w+)", source, re.M)]
    got = [m.group(1) for m in re.finditer(r"^tests/test_dropout\.py::(test_\w+)", r.stdout, re.M)]
    assert list(dict.fromkeys(got)) == want


def test_a_bare_pytest_here_runs_the_learner_tests_not_the_katas_own(tmp_path: Path) -> None:
    """In this repository a learner's bare `pytest` also ran the grader's and the learner tools' own
    tests: 45 minutes on 2 cores, none of them about the learner's code. They run against the
    references (the maintainers' and CI's command) or when a path names them."""
    def collected(*args: str, cwd: Path = ROOT) -> tuple[set[str], str]:
        r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", *args],
                           cwd=cwd, env=clean_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        # <Dir grader>, <Module test_dropout.py>: what was collected right below tests/.
        return set(re.findall(r"^ {4}<(?:Dir|Package|Module) (\S+?)>", r.stdout, re.M)), r.stdout

    own = {"grader", "learner"}
    learner = {f"test_{e.id}.py" for e in EXERCISES}
    found, out = collected()
    assert learner <= found and not found & own, found
    assert "learner tests only: the kata's own tests run with --impl solutions" in out
    found, _ = collected(cwd=ROOT / "exercises")  # where learners edit
    assert learner <= found and not found & own, found
    found, out = collected("--impl", "solutions")
    assert learner | own <= found, found
    assert "learner tests only" not in out
    found, _ = collected("tests/learner/test_i18n.py")
    assert found == {"learner"}, found


LAZY_TORCH = ("torch._dynamo", "torch.distributed.tensor")


def test_learner_tests_import_no_more_of_torch_than_they_need(checkout: Kata, tmp_path: Path) -> None:
    """torch._dynamo costs 2-3 s to import, and a dispatch mode's first call imported it (torch wraps
    __torch_dispatch__ in dynamo's disable): over half of a learner's `pytest -m cross_entropy`.
    assert_close's first call imports torch.distributed.tensor (0.5-1.3 s) to unwrap DTensors."""
    plugin = tmp_path / "plugins" / "kata_modules_probe.py"
    plugin.parent.mkdir()
    plugin.write_text("import sys\n\ndef pytest_unconfigure(config):\n"
                      f"    open({str(tmp_path / 'seen.txt')!r}, 'w').write("
                      f"' '.join(m for m in {LAZY_TORCH!r} if m in sys.modules))\n")
    env = checkout.env(KATA_IMPL=str(ROOT / "solutions"), PYTHONPATH=str(plugin.parent))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "kata_modules_probe", "-m", "cross_entropy"],
                       cwd=checkout.root, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "passed" in r.stdout and "failed" not in r.stdout, r.stdout[-3000:]
    baseline = subprocess.run([sys.executable, "-c", f"import sys, torch; print(' '.join(m for m in {LAZY_TORCH!r} "
                               "if m in sys.modules))"], capture_output=True, text=True, timeout=TIMEOUT).stdout.split()
    seen = (tmp_path / "seen.txt").read_text().split()
    assert [m for m in seen if m not in baseline] == [], f"the cross_entropy learner tests imported {seen}"


def test_expect_close_still_fails_on_different_values_without_the_dtensor_import() -> None:
    code = ("import sys, torch\nfrom kata import KataFailure, expect_close\n"
            "expect_close(torch.ones(3), torch.ones(3), call='c', point='p')\n"
            "try:\n    expect_close(torch.ones(3), torch.zeros(3), call='c', point='p')\n"
            "except KataFailure as err:\n    print('caught', 'Mismatched elements: 3 / 3' in str(err))\n"
            "print('dtensor' if 'torch.distributed.tensor' in sys.modules else 'no dtensor')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "tests", capture_output=True, text=True,
                       timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.stdout.split("\n")[:2] == ["caught True", "no dtensor"], r.stdout + r.stderr[-3000:]


def test_kata_reports_skip_pytests_traceback_formatting(checkout: Kata, tmp_path: Path) -> None:
    """pytest formats a failure's whole traceback (the source of every frame, parsed) before the kata's
    report replaces it: 80 ms a failure, 18 s of a first run over all the stubs. Not for reports the
    kata writes itself; --fulltrace still gets pytest's."""
    plugin = tmp_path / "plugins" / "kata_format_probe.py"
    plugin.parent.mkdir()
    plugin.write_text(textwrap.dedent(f"""
        import pytest
        calls = [0]
        def pytest_configure(config):
            original = pytest.ExceptionInfo.getrepr
            def counted(self, *args, **kwargs):
                calls[0] += 1
                return original(self, *args, **kwargs)
            pytest.ExceptionInfo.getrepr = counted
        def pytest_unconfigure(config):
            open({str(tmp_path / "calls.txt")!r}, "w").write(str(calls[0]))
        """))
    crash = _impl(tmp_path, sequential="class MySequential:\n    def __init__(self, *m):\n        raise ValueError('no')\n")
    for impl, args, formatted in ((None, (), False), (crash, (), False), (None, ("--fulltrace",), True)):
        env = checkout.env(PYTHONPATH=str(plugin.parent), **({"KATA_IMPL": str(impl)} if impl else {}))
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "kata_format_probe", "-m", "sequential", *args],
                           cwd=checkout.root, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1 and re.search(r"\d+ (failed|not implemented yet)\b", r.stdout), \
            r.stdout[-3000:] + r.stderr[-3000:]
        calls = int((tmp_path / "calls.txt").read_text())
        assert (calls > 0) == formatted, (impl, args, calls, r.stdout[-2000:])
        if impl is crash:
            assert "ValueError: no" in r.stdout and "sequential.py:3" in r.stdout, r.stdout[-3000:]
        elif not formatted:
            assert "not implemented yet" in r.stdout, r.stdout[-3000:]


def test_capstone_names_the_broken_module(checkout: Kata, tmp_path: Path) -> None:
    impl = _impl(tmp_path, dropout="def dropout(x, p:\n")
    r = _pytest(checkout, "tests/test_capstone.py::test_to_features_values", impl=impl)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "importing capstone.py failed: your dropout.py, which it imports, is broken at " in r.stdout, r.stdout
    assert "dropout.py:1: SyntaxError" in r.stdout, r.stdout


@pytest.mark.parametrize("typo", ["crossentropy", "cross-entropy"])
def test_unknown_exercise_in_dash_m(checkout: Kata, typo: str) -> None:
    r = _pytest(checkout, "--collect-only", "-m", typo)
    assert r.returncode == 4, r.stdout + r.stderr
    known = ", ".join(e.id for e in EXERCISES)
    assert f"unknown exercise '{typo}' (did you mean cross_entropy?); the exercises are: {known}" in r.stderr, r.stderr
    r = _pytest(checkout, "--collect-only", "-m", "cuda and dropout")  # an expression, a known marker: silent
    assert r.returncode == 0 and "unknown exercise" not in r.stdout + r.stderr


def test_pytest_from_inside_exercises(kata: Kata) -> None:
    r = _pytest(kata, "--collect-only", "-m", "dropout", cwd=kata.root / "exercises")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "test_dropout.py::test_dropout_p_one_gives_zeros" in r.stdout, r.stdout
    r = _pytest(kata, "exercises/dropout.py")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "hint: exercises/ holds your code, not tests: run `python -m pytest -m dropout`" in r.stdout, r.stdout


def test_unwritten_functions_are_summed_up_not_listed_test_by_test(kata: Kata, tmp_path: Path) -> None:
    """A fresh checkout's `pytest` printed 256 failures of two lines each, then 256 summary lines, to
    say that 25 functions were not written yet. Those tests still fail (exit status, junit, --lf);
    they are summed up by function, in the order of work, with the exercise to start with."""
    import xml.etree.ElementTree as ET

    xml = tmp_path / "junit.xml"
    r = _pytest(kata, f"--junitxml={xml}", "-p", "no:cacheprovider")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    failures = sum(int(s.get("failures")) for s in ET.parse(xml).getroot().iter("testsuite"))
    head = re.search(r"not implemented yet: (\d+) tests wait for (\d+) functions", r.stdout)
    assert head and int(head.group(1)) == failures > 200, r.stdout[-3000:]
    assert re.search(rf"\b{failures} not implemented yet in ", r.stdout) and " failed" not in r.stdout, r.stdout
    assert "FAILED " not in r.stdout and "_ test_" not in r.stdout, r.stdout[-3000:]  # no test-by-test listing
    listed = re.findall(r"^  (\S+) in (\w+)\.py \(line (\d+)\) +(\d+) tests?$", r.stdout, re.M)
    assert len(listed) == int(head.group(2)) and sum(int(n) for *_, n in listed) == failures, r.stdout
    source = (kata.root / "exercises" / "cross_entropy.py").read_text().splitlines()
    fn, file, line, _ = listed[0]
    assert (fn, file) == ("gather_target", "cross_entropy") and "raise NotImplementedError" in source[int(line) - 1]
    # The order of work: the catalog's exercises in turn, each file's functions from the top.
    ids = [e.id for e in EXERCISES]
    assert [(ids.index(f), int(n)) for _, f, n, _ in listed] == sorted((ids.index(f), int(n)) for _, f, n, _ in listed)
    assert ids.index(listed[-1][1]) > 0
    assert "next: `python -m pytest -m cross_entropy` (stuck? `python -m grader hint cross_entropy`)" in r.stdout
    assert len(r.stdout.splitlines()) < failures / 4, r.stdout


def test_last_failed_and_stepwise_work(kata: Kata) -> None:
    first = [e.id for e in EXERCISES]
    first = first[:first.index("cross_entropy") + 1]  # cross_entropy and whatever comes before it
    for e in first:
        kata.solve(e)
    # sequential is a stub: its tests fail, counted as "not implemented yet".
    r = _pytest(kata, "-m", "cross_entropy or sequential")
    failed = int(re.search(r"(\d+) not implemented yet in ", r.stdout).group(1))
    assert r.returncode == 1 and " passed" in r.stdout and " failed" not in r.stdout, r.stdout
    r = _pytest(kata, "--lf")
    assert r.returncode == 1 and re.search(rf"\b{failed} not implemented yet in ", r.stdout), r.stdout
    assert " passed" not in r.stdout, r.stdout
    r = _pytest(kata, "--sw")  # catalog order: up to cross_entropy all pass, then the first failure stops the run
    assert re.search(r"\d+ passed, .*\b1 not implemented yet in ", r.stdout), r.stdout
    assert "test_cross_entropy.py" not in r.stdout, r.stdout
    # The cache stays out of the learner's commits (a checkout has the repository's .gitignore).
    ignore = kata.root / ".gitignore" if (kata.root / ".gitignore").exists() else ROOT / ".gitignore"
    assert ".pytest_cache/" in ignore.read_text().splitlines()


def test_dash_m_reads_only_the_named_exercises_tests(checkout: Kata) -> None:
    # Another exercise's test module is not even imported (were it, this one would break the run).
    (checkout.root / "tests" / "test_capstone.py").write_text("raise RuntimeError('imported by -m dropout')\n")
    r = _pytest(checkout, "--collect-only", "-m", "dropout or sequential")
    assert r.returncode == 0, r.stdout + r.stderr
    files = {m.group(1) for m in re.finditer(r"^tests/(test_\w+\.py)::", r.stdout, re.M)}
    assert files == {"test_dropout.py", "test_sequential.py"}, r.stdout
    whole = _pytest(checkout, "--collect-only", "tests/test_dropout.py", "tests/test_sequential.py")
    assert re.search(r"^(\d+) tests? collected", r.stdout, re.M).group(1) == \
        re.search(r"^(\d+) tests? collected", whole.stdout, re.M).group(1), whole.stdout
    # Any other expression still sees every file: the broken module is reported.
    r = _pytest(checkout, "--collect-only", "-m", "dropout and not cuda")
    assert r.returncode == 2 and "imported by -m dropout" in r.stdout, r.stdout


def test_impl_equals_form_reaches_a_directory_outside_the_repository(kata: Kata, tmp_path: Path) -> None:
    """`--impl=DIR` is the documented form: a lone DIR outside the repository would be taken for a
    test path, and pytest would look for its configuration there instead of in the repository."""
    mine = tmp_path / "elsewhere" / "my work"  # outside kata.root, with a space in its name
    mine.mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "cross_entropy.py", mine)
    r = _pytest(kata, "-m", "cross_entropy", f"--impl={mine}", "-p", "no:cacheprovider")
    assert r.returncode == 1 and "not implemented yet" in r.stdout, r.stdout + r.stderr
    shutil.copy(ROOT / "solutions" / "cross_entropy.py", mine)  # the same run, now on a solution
    r = _pytest(kata, "-m", "cross_entropy", f"--impl={mine}", "-p", "no:cacheprovider")
    assert r.returncode == 0 and " passed" in r.stdout and "failed" not in r.stdout, r.stdout + r.stderr


def test_a_module_that_does_not_import_is_reported_once_in_full(checkout: Kata, tmp_path: Path) -> None:
    src = (ROOT / "solutions" / "devices.py").read_text().replace("def try_gpu(", "def try_gpu((", 1)
    impl = _impl(tmp_path, devices=src)
    r = _pytest(checkout, "-m", "devices", impl=impl)
    assert r.returncode == 1, r.stdout + r.stderr
    reports = list(_reports(r.stdout).values())
    # The first says where, with the line and a caret; the others are counted, not listed (each once
    # had an ERROR section and a short-summary line of its own: 106 lines around one cause).
    assert len(reports) == 1, r.stdout
    assert "importing devices.py failed at " in reports[0] and "SyntaxError" in reports[0], reports[0]
    assert "def try_gpu((" in reports[0] and "^" in reports[0], reports[0]
    could_not = int(re.search(r"1 error, (\d+) could not run in ", r.stdout).group(1))
    assert could_not >= 20 and len(r.stdout.splitlines()) < 40, r.stdout
    # By the end of the run the first report has scrolled away: it is repeated after the short summary.
    tail = r.stdout[r.stdout.rindex("short test summary info"):]
    assert f"devices.py does not import: {could_not + 1} tests could not run" in tail, tail
    assert "def try_gpu((" in tail and "^" in tail, tail
    # -v names each of them, with the reason in one line.
    r = _pytest(checkout, "-m", "devices", "-vv", impl=impl)  # -vv: one more than _pytest's -q
    assert len(re.findall(r"^tests/test_devices\.py::\S+ COULD NOT RUN", r.stdout, re.M)) == could_not, r.stdout


def test_code_that_never_returns_costs_seconds_not_minutes(checkout: Kata, tmp_path: Path) -> None:
    """Without a limit of our own, each test waits for pytest-timeout's 120 s (the suite's net)."""
    src = (ROOT / "solutions" / "training.py").read_text() + textwrap.dedent('''

        _train_epoch = train_epoch


        def train_epoch(*args, **kwargs):
            n = 1
            while n > 0:  # the endless loop
                pass
            return _train_epoch(*args, **kwargs)
        ''')
    impl = _impl(tmp_path, training=src)
    # 8 s for the first: its limit also covers the test's setup and first torch calls, which a busy
    # machine (the suite's other worker grading beside it) once stretched past 3 s before the loop began.
    env = checkout.env(KATA_IMPL=str(impl), KATA_TEST_TIMEOUT="8")
    import time

    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "training"], cwd=checkout.root, env=env,
                       capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    reports = _reports(r.stdout)
    timed_out = [t for t in reports.values() if t.startswith("your code did not return within")]
    assert len(timed_out) >= 10, r.stdout[-3000:]
    # The first waited 8 s; after it, each of the others gets 2 s.
    assert timed_out[0].startswith("your code did not return within 8 s") and "get 2 s each" in timed_out[0]
    assert all(t.startswith("your code did not return within 2 s") for t in timed_out[1:])
    assert "while n > 0:" in timed_out[0] and "training.py:" in timed_out[0], timed_out[0]
    assert elapsed < 8 + 2 * len(timed_out) + 60, elapsed
    # The tests that never call train_epoch still pass.
    assert re.search(r"\d+ passed", r.stdout), r.stdout[-500:]


def test_time_spent_importing_a_library_is_not_the_learners(checkout: Kata, tmp_path: Path) -> None:
    """torch imports torch._dynamo on the first operation on the meta device: on a busy machine that
    took a correct solution past the limit, reported as "an endless loop". An import is not counted;
    the same wait in the learner's own code still is (a 7 s wait against a 5 s limit: on a busy
    machine the other tests must not run out of time of their own)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "kata_slow_library.py").write_text("import time\n\ntime.sleep(7)\n")
    src = (ROOT / "solutions" / "sequential.py").read_text()
    assert src.count("    def forward(self, x") == 1
    waits = {"library": "        import kata_slow_library  # noqa: F401\n",
             "own": "        global _WAITED\n        if not _WAITED:\n            _WAITED = True\n"
                    "            import time\n            time.sleep(7)\n"}
    for who, wait in waits.items():
        body = re.sub(r"(    def forward\(self, x[^\n]*\n(?:        \"\"\"[\s\S]*?\"\"\"\n)?)", lambda m: m[1] + wait, src)
        assert body != src
        impl = _impl(tmp_path / who, sequential=body + "\n_WAITED = False\n")
        env = checkout.env(KATA_IMPL=str(impl), KATA_TEST_TIMEOUT="5",
                           PYTHONPATH=os.pathsep.join(filter(None, [str(lib), os.environ.get("PYTHONPATH")])))
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "sequential"],
                           cwd=checkout.root, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
        timed_out = [t for t in _reports(r.stdout).values() if t.startswith("your code did not return within")]
        if who == "library":
            assert r.returncode == 0 and not timed_out, r.stdout[-3000:]
        else:
            assert timed_out and "time.sleep(7)" in timed_out[0], r.stdout[-3000:]


@needs_schedstat
def test_a_busy_machine_does_not_shorten_a_learner_test(checkout: Kata, tmp_path: Path, busy_cpu: int) -> None:
    """1 s of the learner's own CPU time, on a CPU shared with three spinners, takes 4 s or more on the
    clock: under a 3 s limit it passes, as it would on an idle machine (and does up to 9 s: a ninth of
    the CPU). An endless loop there is still
    stopped, by cpu_wait.STRETCH times the limit, and the report says the machine was busy."""
    from grader import cpu_wait

    src = (ROOT / "solutions" / "sequential.py").read_text()
    once = "        global _WAITED\n        if not _WAITED:\n            _WAITED = True\n"
    for who, body in {"spin": SPIN_SECONDS.format(1.0), "endless": "while True:\n    pass\n"}.items():
        wait = once + pinned(busy_cpu, body, 12)
        impl = _impl(tmp_path / who, sequential=re.sub(
            r"(    def forward\(self, x[^\n]*\n(?:        \"\"\"[\s\S]*?\"\"\"\n)?)", lambda m: m[1] + wait, src)
            + "\n_WAITED = False\n")
        env = checkout.env(KATA_IMPL=str(impl), KATA_TEST_TIMEOUT="3")
        # A session of its own, as each spinner has: the suite's own busy processes share one slice.
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "sequential"],
                           cwd=checkout.root, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL, start_new_session=True)
        timed_out = [t for t in _reports(r.stdout).values() if t.startswith("your code did not return within")]
        if who == "spin":
            assert r.returncode == 0 and not timed_out, r.stdout[-3000:]
            continue
        assert len(timed_out) == 1 and "while True:" in timed_out[0], r.stdout[-3000:]
        clock = re.search(r"\n  (\d+) s on the clock: the machine was busy", timed_out[0])
        assert clock and 3 <= int(clock[1]) <= 3 * cpu_wait.STRETCH + 1, timed_out[0]


def test_a_module_whose_init_skips_super_gets_a_hint(checkout: Kata, tmp_path: Path) -> None:
    src = (ROOT / "solutions" / "sequential.py").read_text().replace("super().__init__()", "pass", 1)
    assert "super().__init__()" not in src.split("class MySequential", 1)[1].split("def ", 2)[1]
    impl = _impl(tmp_path, sequential=src)
    r = _pytest(checkout, "-m", "sequential", impl=impl)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "hint: nn.Module.__init__ never ran: call super().__init__() first thing in your __init__" in r.stdout, \
        r.stdout[-3000:]


def test_a_misspelt_attribute_gets_a_suggestion(checkout: Kata, tmp_path: Path) -> None:
    src = (ROOT / "solutions" / "sequential.py").read_text()
    assert src.count("self._modules.values()") == 1
    impl = _impl(tmp_path, sequential=src.replace("self._modules.values()", "self._module.values()"))
    r = _pytest(checkout, "-m", "sequential", "-p", "no:cacheprovider", impl=impl)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'MySequential' object has no attribute '_module'. Did you mean: '_modules'?" in r.stdout, r.stdout[-3000:]


def test_a_tensor_returned_for_a_float_fails_without_warnings_from_the_tests(checkout: Kata, tmp_path: Path) -> None:
    src = (ROOT / "solutions" / "training.py").read_text()
    assert src.count("total += loss.item() * n") == 1
    impl = _impl(tmp_path, training=src.replace("total += loss.item() * n", "total += loss * n"))
    r = _pytest(checkout, "-m", "training", "-p", "no:cacheprovider", impl=impl)
    assert r.returncode == 1 and "returns the epoch's mean loss per sample as a Python float" in r.stdout, \
        r.stdout[-3000:]
    assert "warnings summary" not in r.stdout, r.stdout[-3000:]


@pytest.mark.parametrize("value", ["abc", "nan", "10s"])
def test_a_bad_kata_test_timeout_is_a_usage_error(checkout: Kata, value: str) -> None:
    env = checkout.env(KATA_TEST_TIMEOUT=value)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cross_entropy"], cwd=checkout.root, env=env,
                       capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr and "ValueError" not in r.stdout + r.stderr
    assert r.stderr.strip() == (f"ERROR: KATA_TEST_TIMEOUT must be a number of seconds (0 turns the limit off), "
                                f"got {value!r}"), r.stderr


def test_a_missing_return_is_named(checkout: Kata, tmp_path: Path) -> None:
    src = (ROOT / "solutions" / "devices.py").read_text().replace("    return torch.device(\"cpu\")\n", "", 1)
    assert src != (ROOT / "solutions" / "devices.py").read_text()
    r = _pytest(checkout, "-m", "devices", "-p", "no:cacheprovider", impl=_impl(tmp_path, devices=src))
    assert r.returncode == 1, r.stdout + r.stderr
    failing = [text for text in _reports(r.stdout).values() if "got:      None" in text]
    assert failing and all("a missing `return`?" in text for text in failing), r.stdout[-3000:]
    # A test that got something else says nothing of the kind.
    assert all("missing `return`" not in text for text in _reports(r.stdout).values() if "got:      None" not in text)


def test_dropout_in_place_is_reported_as_such_first(checkout: Kata, tmp_path: Path) -> None:
    src = (ROOT / "solutions" / "dropout.py").read_text()
    head = "def dropout("
    assert head in src
    impl = _impl(tmp_path, dropout=src + textwrap.dedent('''

        _dropout = dropout


        def dropout(x, p, training=True):
            out = _dropout(x, p, training)
            if training and 0 < p < 1:
                x.copy_(out)  # the in-place slip
                return x
            return out
    '''))
    r = _pytest(checkout, "-m", "dropout", "-p", "no:cacheprovider", impl=impl)
    reports = _reports(r.stdout)
    assert r.returncode == 1 and reports, r.stdout + r.stderr
    first = next(iter(reports.values()))
    assert "x itself is never modified" in first and "x changed in place" in first, first


def test_what_a_test_printed_is_shown_head_and_tail(checkout: Kata, tmp_path: Path) -> None:
    """A loop that prints once filled a terminal with 12.5 MB; its first and last lines are enough."""
    src = (ROOT / "solutions" / "sequential.py").read_text() + textwrap.dedent('''

        _MySequential = MySequential


        class MySequential(_MySequential):
            def forward(self, x):
                for i in range(5000):
                    print("step", i, "x" * (2000 if i == 7 else 1))
                return super().forward(x) + 1  # wrong, so that the output is shown
    ''')
    r = _pytest(checkout, "-m", "sequential", "-p", "no:cacheprovider", impl=_impl(tmp_path, sequential=src))
    assert r.returncode == 1, r.stdout[-3000:]
    shown = [text for text in r.stdout.split("- Captured stdout call -")[1:]]
    assert shown, r.stdout[-3000:]
    for text in shown:
        body = text.split("\n_____")[0].split("\n=====")[0]
        assert "step 0 " in body and "step 4999 " in body and "step 2500 " not in body, body[-2000:]
        assert "lines left out (" in body and "the first 20 and last 20 lines are shown" in body
        assert "x" * 501 not in body and "(1,507 more characters)" in body
    assert len(r.stdout) < 8000 * len(shown) + 20000


IN_PLACE = {
    # EpochDropout writes its result into x: before, four tests blamed the scaling or the dtype.
    "EpochDropout": ("dropout", '''

        _forward = EpochDropout.forward


        def _in_place(self, x):
            out = _forward(self, x)
            if self.training:
                with torch.no_grad():
                    x.copy_(out)
            return out


        EpochDropout.forward = _in_place
    '''),
    # cross_entropy shifts logits in place (values back as they were, but an in-place operation ran).
    "cross_entropy": ("cross_entropy", '''

        _cross_entropy = cross_entropy


        def cross_entropy(logits, target, reduction="mean"):
            with torch.no_grad():
                logits.sub_(1.0)
                out = _cross_entropy(logits, target, reduction)
                logits.add_(1.0)
            return _cross_entropy(logits, target, reduction) if logits.requires_grad else out
    '''),
}


@pytest.mark.parametrize("what", list(IN_PLACE))
def test_an_input_changed_in_place_is_what_every_failure_says(checkout: Kata, tmp_path: Path, what: str) -> None:
    """The tests read the inputs to judge the result: an in-place change must be reported as itself,
    not as the wrong values it makes the other points look like."""
    name, tail = IN_PLACE[what]
    impl = _impl(tmp_path, **{name: (ROOT / "solutions" / f"{name}.py").read_text() + textwrap.dedent(tail)})
    r = _pytest(checkout, "-m", name, "-p", "no:cacheprovider", impl=impl)
    reports = _reports(r.stdout)
    assert r.returncode == 1 and len(reports) >= 3, r.stdout[-3000:] + r.stderr[-3000:]
    wrong = {test: text for test, text in reports.items() if "itself is never modified" not in text}
    assert not wrong, wrong


def test_a_piece_left_unwritten_is_named_in_the_tests_that_reach_it(checkout: Kata, tmp_path: Path) -> None:
    """fit calls evaluate: with evaluate still a stub, fit's device test says so, not "batches never moved"."""
    src = (ROOT / "solutions" / "training.py").read_text() + textwrap.dedent('''

        def evaluate(model, loader, loss_fn, device=None):
            raise NotImplementedError
    ''')
    r = _pytest(checkout, "-m", "training", "-p", "no:cacheprovider", "-vv", impl=_impl(tmp_path, training=src))
    assert r.returncode == 1, r.stdout[-3000:]
    assert re.search(r"test_fit_passes_device_on\[keyword\] NOT IMPLEMENTED YET", r.stdout), r.stdout[-3000:]
    assert re.search(r"^  evaluate in training\.py \(line \d+\)  \d+ tests$", r.stdout, re.M), r.stdout[-3000:]
