"""The GPU half of torch-kata's checks, as one command for a machine with a CUDA GPU.

CI has no GPU: there the CUDA tests are skipped ("needs CUDA") and the grader leaves
its CUDA checks out. On a GPU machine this runs what only a GPU can prove:

1. the machine: torch, the GPUs it sees;
2. every test marked ``cuda`` (learner tests on the reference, the grader's own CUDA
   tests: device mutants caught by CUDA checks, the reference passing them): all pass,
   none skipped;
3. ``grade solutions``: 100 and the full bonus, with CUDA checks counted and passed;
4. ``grade exercises``: 0, every check (the CUDA ones too) "not implemented";
5. with ``--full``, the whole suite, under what is left of ``--budget``.

It writes ``OUT/gpu-check.md`` (the verdict of each step), ``OUT/*.log`` and the
two results.json (``OUT/solutions.json``, ``OUT/exercises.json``), and exits 0 only
when every step passed. ``--allow-cpu`` runs the same steps without a GPU, expecting
the CUDA tests skipped and the CUDA checks left out: that is how this script is
tested on CI.

    python3 scripts/gpu_check.py --out "$OUT" --full --budget 480
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.catalog import with_cuda_checks  # noqa: E402 - the repository's own package

# Exercises whose hidden checks include CUDA checks (capstone has none of its own).
CUDA_EXERCISES = with_cuda_checks()


class Check:
    def __init__(self, out: Path, deadline: float) -> None:
        self.out, self.deadline, self.rows = out, deadline, []

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def step(self, name: str, ok: bool, detail: str) -> bool:
        self.rows.append((name, ok, detail))
        print(f"[{'ok' if ok else 'FAILED'}] {name}: {detail}", flush=True)
        return ok

    def run(self, log: str, *args: str, timeout: float | None = None) -> tuple[int | None, str]:
        """``python args...`` in the repository; its output goes to OUT/log. None: timed out."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        limit = max(1.0, min(timeout or self.left(), self.left()))
        with open(self.out / log, "w", encoding="utf-8") as f:
            try:
                code = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=limit).returncode
            except subprocess.TimeoutExpired:
                code = None
        return code, (self.out / log).read_text(encoding="utf-8", errors="replace")

    def write(self, header: list[str]) -> bool:
        passed = all(ok for _, ok, _ in self.rows)
        lines = ["# torch-kata GPU check", "", *header, "", "| step | verdict | detail |", "| --- | --- | --- |"]
        lines += [f"| {n} | {'ok' if ok else '**FAILED**'} | {d.replace('|', '/')} |" for n, ok, d in self.rows]
        lines += ["", f"**{'all steps passed' if passed else 'some steps FAILED'}**", ""]
        (self.out / "gpu-check.md").write_text("\n".join(lines), encoding="utf-8")
        return passed


def pytest_counts(text: str) -> dict[str, int]:
    """pytest's closing line, e.g. '12 passed, 3 skipped, 200 deselected in 9.1s'."""
    lines = [ln for ln in text.splitlines() if re.search(r"\b(passed|failed|skipped|deselected|error)", ln)
             and re.search(r" in [\d.]+s", ln)]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", lines[-1])} \
        if lines else {}


def is_cuda(test: dict) -> bool:
    return "cuda" in test.get("tags", [])


def cuda_exercises(tests: list[dict]) -> list[str]:
    return sorted({t["tags"][0] for t in tests if is_cuda(t)})


def grade(check: Check, folder: str, ex_args: list[str]) -> tuple[int | None, dict, str]:
    """``grade folder --json OUT/<folder>.json``: exit code, results.json ({} if none), output."""
    report = check.out / f"{folder}.json"
    report.unlink(missing_ok=True)
    code, text = check.run(f"grade-{folder}.log", "-m", "grader", "grade", folder, "--json", str(report), *ex_args)
    try:
        return code, json.loads(report.read_text(encoding="utf-8")), text
    except (OSError, ValueError):
        return code, {}, text


def machine() -> tuple[bool, list[str]]:
    import torch

    cuda = torch.cuda.is_available()
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    return cuda, [f"- python {sys.version.split()[0]}, torch {torch.__version__} (CUDA build: {torch.version.cuda})",
                  f"- GPUs seen by torch: {', '.join(names) or 'none'}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu-check", help="folder for the report and logs")
    ap.add_argument("--budget", type=float, default=540.0, help="seconds for the whole run (default 540)")
    ap.add_argument("--full", action="store_true", help="then run the whole suite with the time left")
    ap.add_argument("--allow-cpu", action="store_true", help="run without a GPU (CUDA tests must then be skipped)")
    ap.add_argument("--exercise", action="append", help="grade only these exercises (default: all)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out, time.monotonic() + args.budget)

    cuda, header = machine()
    if not cuda and not args.allow_cpu:
        print("gpu_check: torch sees no CUDA GPU here (use --allow-cpu for a dry run)", file=sys.stderr)
        return 2
    exercises = args.exercise or None
    graded = args.exercise or CUDA_EXERCISES

    # 2. Every CUDA test: on a GPU all must run and pass; without one all must be skipped as "needs CUDA".
    code, text = check.run("cuda-tests.log", "-m", "pytest", "--impl", "solutions", "-m", "cuda", "-q", "-rs",
                           "-p", "no:cacheprovider", timeout=check.left() * 0.6)
    n = pytest_counts(text)
    if cuda:
        ok = code == 0 and n.get("passed", 0) > 0 and not n.get("skipped") and not n.get("failed")
    else:
        needs = len(re.findall(r"needs CUDA", text))
        ok = code == 0 and n.get("skipped", 0) > 0 and not n.get("passed") and needs > 0
    check.step("tests marked cuda", ok, f"exit {code}, {n or 'no summary (timed out?)'}")

    # 3. The reference: 100, CUDA checks counted (on a GPU) and passed.
    ex_args = [a for e in exercises or [] for a in ("-e", e)]
    code, res, text = grade(check, "solutions", ex_args)
    tests = res.get("tests", [])
    failed = [t["name"] for t in tests if t["status"] != "passed"]
    by_ex = cuda_exercises(tests)
    # With --exercise the score is out of those exercises' points: every check passing is what counts.
    bonus = res.get("extra_data", {})
    full = bool(tests) and not failed and (exercises is not None or (
        res.get("score") == 100.0 and bonus.get("bonus_score") == bonus.get("bonus_max")))
    want = sorted(e for e in graded if e in CUDA_EXERCISES) if cuda else []
    warnings = re.findall(r"^WARNING: (.*)$", text, re.M)
    check.step("grade solutions", code == 0 and full and by_ex == want,
               f"exit {code}, score {res.get('score')}, bonus {bonus.get('bonus_score')}/{bonus.get('bonus_max')}, "
               f"{len(tests)} checks, {sum(is_cuda(t) for t in tests)} CUDA checks ({', '.join(by_ex) or 'none'}), "
               f"failed: {failed[:5] or 'none'}" + (f"; warnings: {'; '.join(warnings)}" if warnings else ""))

    # 4. The stubs: 0, every check (the CUDA ones too) failing as "not implemented".
    code, res, _ = grade(check, "exercises", ex_args)
    tests = res.get("tests", [])
    other = [t["name"] for t in tests if t["status"] == "passed" or "not implemented" not in t.get("output", "")]
    check.step("grade exercises", code == 0 and bool(tests) and res.get("score") == 0.0 and not other
               and cuda_exercises(tests) == want,
               f"exit {code}, score {res.get('score')}, {len(tests)} checks, {sum(is_cuda(t) for t in tests)} CUDA "
               f"checks, not 'not implemented': {other[:5] or 'none'}")

    # 5. Whatever time is left: the whole suite.
    if args.full:
        code, text = check.run("full-suite.log", "-m", "pytest", "--impl", "solutions", "-q", "-rs",
                               "-p", "no:cacheprovider")
        n = pytest_counts(text)
        check.step("whole suite", code == 0 and not n.get("failed"),
                   f"exit {code}, {n or 'no summary'}" + (" (timed out: see full-suite.log)" if code is None else ""))

    passed = check.write(header)
    print(f"report: {out / 'gpu-check.md'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
