"""Grading benchmark: prints wall times and the ratios the project promises.

    ~/.venvs/torch-kata/bin/python bench/run.py [--class-size 40] [--jobs 2]

Measures, in one run on this machine:
  1. ``python -c "import torch"``: the floor for any process, and a learner's
     ``pytest -m <exercise>`` next to it, and ``watch``'s re-runs, cold and warm
     (``--learner`` stops there);
  2. grading the reference with the grader (isolated, sandboxed workers);
  3. the same checks in one plain process, nothing isolated (the floor for isolation);
  4. peak memory of a worker grading the reference;
  5. ``grade-all`` on a generated class (correct, wrong and hostile submissions).
Machines are noisy: compare the ratios, which are measured in the same run.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import catalog  # noqa: E402

CORE = [e.id for e in catalog.CORE]
HOSTILE = {
    "loops at import": "while True:\n    pass\n",
    "segfaults": "import ctypes\nctypes.string_at(0)\n",
    "floods output": "import sys\nfor _ in range(30):\n    sys.stdout.write('x' * 2**20)\n",
    "allocates 10 GiB": "import torch\nx = torch.ones(10 * 2**30 // 4)\n",
    "spawns daemons": "import subprocess\nfor _ in range(5):\n    subprocess.Popen(['setsid', 'sleep', '600'])\n",
    "reads the reference": "print(open('../../solutions/dropout.py').read())\n",
}


def _once(cmd: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.monotonic() - start


def timed(cmd: list[str], repeat: int = 1) -> float:
    return statistics.median(_once(cmd) for _ in range(repeat))


def timed_pair(a: list[str], b: list[str], repeat: int = 1) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` run in turn (a, b, a, b, ...): a slow spell of the machine then
    falls on both, not on whichever ran during it (their ratio is the figure that matters)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        times[0].append(_once(a))
        times[1].append(_once(b))
    return statistics.median(times[0]), statistics.median(times[1])


def make_class(root: Path, size: int, seed: int = 0) -> dict[str, int]:
    """A class of submissions: correct, with one mutant, stubs, and hostile ones."""
    rng = random.Random(seed)
    mutants = sorted((ROOT / "tests" / "mutants").glob("*/*.py"))
    # A first line "# kills:" naming no check: a mutant only a GPU catches, correct on this machine.
    mutants = [m for m in mutants if m.parent.name in CORE and m.read_text().splitlines()[0] != "# kills:"]
    kinds = {"correct": 0, "one mutant": 0, "stubs": 0, "hostile": 0}
    for i in range(size):
        d = root / f"student{i:03d}"
        d.mkdir(parents=True)
        for ex in CORE:
            shutil.copy(ROOT / "solutions" / f"{ex}.py", d / f"{ex}.py")
        kind = ["correct", "one mutant", "one mutant", "stubs", "hostile"][i % 5]
        kinds[kind] += 1
        if kind == "one mutant":
            m = rng.choice(mutants)
            shutil.copy(m, d / f"{m.parent.name}.py")
        elif kind == "stubs":
            for ex in rng.sample(CORE, 3):
                shutil.copy(ROOT / "exercises" / f"{ex}.py", d / f"{ex}.py")
        elif kind == "hostile":
            name = list(HOSTILE)[(i // 5) % len(HOSTILE)]
            (d / f"{rng.choice(CORE)}.py").write_text(HOSTILE[name])
    return kinds


def worker_memory() -> int:
    """Peak RSS of the reference's workers (unsandboxed, so their pid is the one we know)."""
    from grader.session import GradingSession

    with GradingSession(sandbox=False) as session:
        session.grade(ROOT / "solutions", CORE)
        session.reference.close()
        return max(session.pool.peak_rss, default=0)


def watch_rerun(repeat: int) -> None:
    """``watch``'s re-run of an exercise's tests: a new interpreter each time, or a fork of its warm runner."""
    from grader.learner import testrun, warmrun

    if not warmrun.SUPPORTED:
        return
    warm = warmrun.WarmRunner(testrun.environment())
    times: tuple[list[float], list[float]] = ([], [])
    try:
        testrun.run(["dropout"], ROOT / "solutions", warm=warm)  # waits for the runner's start
        for _ in range(repeat):  # in turns, as timed_pair does
            for i, runner in enumerate((None, warm)):
                start = time.monotonic()
                assert testrun.run(["dropout"], ROOT / "solutions", warm=runner)["dropout"].state == "done"
                times[i].append(time.monotonic() - start)
        assert not warm.broken, warm.why
    finally:
        warm.close()
    cold, hot = statistics.median(times[0]), statistics.median(times[1])
    print(f"watch: re-run dropout's tests, cold      {cold:7.2f} s   (median of {repeat}, taking turns with:)")
    print(f"watch: the same, warm (a fork per run)   {hot:7.2f} s   ({cold / hot:.1f}x faster)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--class-size", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--learner", action="store_true", help="only the learner's figures (seconds, not minutes)")
    a = ap.parse_args()
    py = sys.executable
    ex_args = [arg for ex in CORE for arg in ("-e", ex)]

    t_import = timed([py, "-c", "import torch"], a.repeat)
    print(f"python -c 'import torch'                 {t_import:7.2f} s   (median of {a.repeat})")
    learner = {}
    for ex in ("cross_entropy", "dropout", "datasets"):
        learner[ex] = timed([py, "-m", "pytest", "-m", ex, "--impl", "solutions", "-q", "-p", "no:cacheprovider"],
                            a.repeat)
        print(f"pytest -m {ex:<14} (learner tests)  {learner[ex]:7.2f} s   = import torch + "
              f"{learner[ex] - t_import:.2f} s ({learner[ex] / t_import:.2f}x)")
    watch_rerun(a.repeat)
    if a.learner:
        return
    grade = [py, "-m", "grader", "grade", "solutions", *ex_args]
    t_iso, t_plain = timed_pair(grade, [*grade, "--start", "inprocess"], a.repeat)
    print(f"grade solutions, isolated (sandboxed)    {t_iso:7.2f} s   (median of {a.repeat}, taking turns with:)")
    print(f"same checks, one plain process           {t_plain:7.2f} s")
    mem = worker_memory()
    print(f"peak memory of a reference worker        {mem / 2**20:7.0f} MiB")

    with tempfile.TemporaryDirectory() as tmp:
        kinds = make_class(Path(tmp) / "class", a.class_size)
        start = time.monotonic()
        subprocess.run([py, "-m", "grader", "grade-all", str(Path(tmp) / "class"), "--out", str(Path(tmp) / "out"),
                        "--jobs", str(a.jobs), "--no-progress", *ex_args], cwd=ROOT, check=True,
                       capture_output=True)
        t_batch = time.monotonic() - start
    per_min = a.class_size / t_batch * 60
    print(f"grade-all, {a.class_size} submissions, --jobs {a.jobs}   {t_batch:7.2f} s   "
          f"= {per_min:.1f} submissions/min ({per_min / a.jobs:.1f} per core)   mix: {kinds}")
    print()
    print(f"isolated / unisolated (one submission)     {t_iso / t_plain:5.2f}x   (target <= 1.5x)")
    print(f"batch time per submission / single grade   {t_batch / a.class_size / t_iso:5.2f}x")
    print(f"submissions per minute per core            {per_min / a.jobs:5.1f}    (target >= 2)")
    print(f"worker peak memory                         {mem / 2**30:5.2f} GiB (target < 1 GiB)")


if __name__ == "__main__":
    main()
