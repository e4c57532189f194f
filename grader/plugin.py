"""The pytest plugin that turns hidden checks into verdicts.

Checks run in this (trusted) process; ``sub`` and ``ref`` send probe calls to
workers and hand back decoded plain data. Anything a worker fails to answer
properly fails the check: no valid answer, no points.
"""
from __future__ import annotations

import time
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from grader import catalog
from grader.checking import CheckFailed, Raised
from grader.pool import OUTPUT_CAP, Pool, TimedOut, WorkerFailure, WorkerHandle
from grader.results import CheckResult, ExerciseResult, empty_result


class SubmissionBroken(Exception):
    """The submission's module is missing or failed to import: every check fails with this."""


class GraderError(Exception):
    """The grader or the reference misbehaved: not the submission's fault."""


def derive_seed(*parts: Any) -> int:
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF


class Reference:
    """The reference solutions, in one long-lived trusted worker, with answers cached."""

    def __init__(self, pool: Pool, solutions: Path, timeout: float = 120.0) -> None:
        self.pool, self.solutions, self.timeout = pool, solutions, timeout
        self.worker: WorkerHandle | None = None
        self.cache: dict[bytes, Any] = {}
        self._info: dict[str, Any] | None = None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.worker is None or not self.worker.alive:
            self.worker = self.pool.start(self.solutions, None, trusted=True)
        try:
            return self.worker.request(message, self.timeout)
        except WorkerFailure as err:
            out, _ = self.worker.read_output()
            raise GraderError(f"the reference worker failed: {err}\n{out[-2000:]}") from None

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self.request({"op": "info"})["ok"]
        return self._info

    def call(self, exercise: str, probe: str, args: tuple, kwargs: dict, seed: int) -> Any:
        from grader import codec
        msg = {"op": "call", "exercise": exercise, "probe": probe, "args": list(args),
               "kwargs": kwargs, "seed": seed}
        key = codec.encode(msg)
        if key not in self.cache:
            reply = self.request(msg)
            if "ok" not in reply:
                raise GraderError(f"the reference failed on {exercise}.{probe}: {reply}")
            self.cache[key] = reply["ok"]
        return self.cache[key]

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


class ExerciseRun:
    """One exercise of one submission: its worker, import state and time budget."""

    def __init__(self, plugin: "KataPlugin", exercise: str) -> None:
        self.plugin, self.exercise = plugin, exercise
        self.file = plugin.submission / f"{exercise}.py"
        self.worker: WorkerHandle | None = None
        self.broken: str | None = None
        if self.file.is_symlink() or (self.file.exists() and not self.file.is_file()):
            self.broken = f"{exercise}.py is not a regular file"
        elif not self.file.is_file():
            self.broken = f"{exercise}.py not found"
        self.used = 0.0
        self.outputs: list[tuple[str, int]] = []
        scale = catalog.BY_ID[exercise].time_scale if exercise in catalog.BY_ID else 1
        self.call_timeout, self.budget = plugin.call_timeout * scale, plugin.budget * scale

    def _remaining(self) -> float:
        return self.budget - self.used

    def _timed(self, message: dict[str, Any]) -> dict[str, Any]:
        remaining = self._remaining()
        if remaining <= 0:
            raise SubmissionBroken(f"timed out: the exercise's budget of {self.budget:g} s is used up")
        limit = min(self.call_timeout, remaining)
        worker = self.worker
        assert worker is not None
        start = time.monotonic()
        try:
            return worker.request(message, limit)
        except TimedOut:
            if limit < self.call_timeout:
                raise SubmissionBroken(
                    f"timed out: the exercise's budget of {self.budget:g} s is used up") from None
            raise
        finally:
            # The budget, like each call's limit, is not charged for waits for a CPU (grader.cpu_wait).
            watch = getattr(worker, "last_call", None)
            self.used += watch.charged() if watch is not None else time.monotonic() - start
            if self.worker is not None and not self.worker.alive:
                self._retire()

    def _retire(self) -> None:
        if self.worker is not None:
            self.outputs.append(self.worker.read_output())
            self.worker.close()
            self.worker = None

    def _ensure(self) -> None:
        if self.broken:
            raise SubmissionBroken(self.broken)
        if self.worker is not None:
            return
        try:
            self.worker = self.plugin.pool.start(self.plugin.submission, self.exercise)
        except OSError as err:
            self.broken = f"could not read the submission: {err}"
            raise SubmissionBroken(self.broken) from None
        except WorkerFailure as err:
            raise GraderError(str(err)) from None
        try:
            reply = self._timed({"op": "import", "module": self.exercise})
        except WorkerFailure as err:
            self.broken = f"importing {self.exercise}.py failed: {err}"
            raise SubmissionBroken(self.broken) from None
        if "ok" not in reply:
            if "raised" in reply and isinstance(reply["raised"], dict):
                r = reply["raised"]
                where = f" at {r.get('where')}" if r.get("where") else ""
                self.broken = f"importing {self.exercise}.py failed{where}: {r.get('type')}: {str(r.get('message'))[:300]}"
                if isinstance(r.get("code"), str) and r["code"].strip():
                    self.broken += "\n" + "\n".join("    " + ln for ln in r["code"].splitlines()[:2])
            else:
                self.broken = str(reply.get("missing") or f"importing {self.exercise}.py failed")
            raise SubmissionBroken(self.broken)

    def call(self, probe: str, args: tuple, kwargs: dict, seed: int) -> Any:
        self._ensure()
        reply = self._timed({"op": "call", "exercise": self.exercise, "probe": probe,
                             "args": list(args), "kwargs": kwargs, "seed": seed})
        if "ok" in reply and len(reply) == 1:
            return reply["ok"]
        raised = reply.get("raised")
        if isinstance(raised, dict) and isinstance(raised.get("type"), str):
            mro = raised.get("mro") if isinstance(raised.get("mro"), list) else [raised["type"]]
            raise Raised(raised["type"], [str(m) for m in mro], str(raised.get("message", "")),
                         raised.get("where") if isinstance(raised.get("where"), str) else None,
                         stub=raised.get("stub") is True,
                         function=raised.get("function") if isinstance(raised.get("function"), str) else None)
        raise CheckFailed(f"no valid answer from the submission's worker: {str(reply)[:200]}")

    def finish(self) -> tuple[str, int]:
        self._retire()
        text = "".join(o[0] for o in self.outputs)
        return text, sum(o[1] for o in self.outputs)


class Proxy:
    """``sub.value(...)`` -> run probe ``value`` for the current check."""

    def __init__(self, call: Callable[[str, tuple, dict], Any]) -> None:
        self._call = call

    def __getattr__(self, probe: str) -> Callable[..., Any]:
        if probe.startswith("_"):
            raise AttributeError(probe)
        return lambda *args, **kwargs: self._call(probe, args, kwargs)


def _check_id(nodeid: str) -> str:
    """``test_dropout.py::test_x``: a check's id, independent of where pytest's rootdir is."""
    return nodeid.removeprefix("grader/checks/")


def exercise_of(item: pytest.Item) -> str:
    return Path(str(item.fspath)).stem.removeprefix("test_")


class KataPlugin:
    def __init__(self, pool: Pool, reference: Reference, submission: Path, exercises: list[str],
                 seed: int = 0, call_timeout: float = 10.0, budget: float = 60.0) -> None:
        self.pool, self.reference, self.submission = pool, reference, submission
        self.exercises, self.grading_seed = exercises, seed
        self.call_timeout, self.budget = call_timeout, budget
        self.runs: dict[str, ExerciseRun] = {}
        self.results: dict[str, ExerciseResult] = {e: empty_result(e) for e in exercises}
        self.current: pytest.Item | None = None
        self.calls = 0
        # CUDA checks count only where both the reference and a sandboxed worker can use the GPU.
        self.has_cuda = bool(reference.info().get("cuda")) and pool.cuda_in_sandbox() is None
        self._pending: dict[str, CheckResult] = {}
        self.broken_check_files: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            ex = Path(report.nodeid.split("::")[0]).stem.removeprefix("test_")
            if ex in self.results:
                self.broken_check_files.append(ex)

    # -- fixtures --------------------------------------------------------------
    def _run(self, exercise: str) -> ExerciseRun:
        if exercise not in self.runs:
            self.runs[exercise] = ExerciseRun(self, exercise)
        return self.runs[exercise]

    def _next_seed(self) -> int:
        self.calls += 1
        node = _check_id(self.current.nodeid) if self.current else ""
        return derive_seed(self.grading_seed, node, self.calls)

    @pytest.fixture
    def sub(self, request: pytest.FixtureRequest) -> Proxy:
        run = self._run(exercise_of(request.node))
        return Proxy(lambda probe, a, k: run.call(probe, a, k, self._next_seed()))

    @pytest.fixture
    def ref(self, request: pytest.FixtureRequest) -> Proxy:
        ex = exercise_of(request.node)
        return Proxy(lambda probe, a, k: self.reference.call(ex, probe, a, k, self._next_seed()))

    @pytest.fixture
    def seed(self, request: pytest.FixtureRequest) -> int:
        return derive_seed(self.grading_seed, _check_id(request.node.nodeid))

    @pytest.fixture
    def rng(self, seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    @pytest.fixture
    def source(self, request: pytest.FixtureRequest) -> str | None:
        file = self.submission / f"{exercise_of(request.node)}.py"
        try:
            return file.read_bytes()[:1_000_000].decode("utf-8", "replace")
        except OSError:
            return None

    @pytest.fixture
    def cuda(self) -> bool:
        return self.has_cuda

    # -- hooks -----------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "weight(n): relative weight of a check within its exercise")
        config.addinivalue_line("markers", "cuda: a check that needs a CUDA GPU (counted only with one)")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep = [i for i in items if exercise_of(i) in self.results and (self.has_cuda or "cuda" not in i.keywords)]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.current = item
        self.calls = 0
        marker = item.get_closest_marker("weight")
        doc = (getattr(item, "function", None).__doc__ or "").strip().splitlines() if hasattr(item, "function") else []
        self._pending[item.nodeid] = CheckResult(
            exercise=exercise_of(item), name=item.name,
            title=(doc[0].strip() if doc else item.name) + (item.name[item.name.index("["):] if "[" in item.name else ""),
            weight=float(marker.args[0]) if marker else 1.0, passed=True, cuda="cuda" in item.keywords)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        # No terminal shows pytest's report: spare it formatting the traceback of a failed check,
        # which parses the source of every frame (80 ms a check: 17 s of grading the stubs).
        reason = self._reason(call) if call.excinfo is not None else None
        if reason is not None:
            item.repr_failure = lambda excinfo, style=None: reason  # type: ignore[method-assign]
        try:
            outcome = yield
        finally:
            item.__dict__.pop("repr_failure", None)
        report = outcome.get_result()
        result = self._pending.get(item.nodeid)
        if result is None or call.when == "teardown" and report.passed:
            return
        if report.failed and result.passed:
            result.passed = False
            result.reason = reason if reason is not None else self._reason(call)
        elif report.skipped and result.passed:
            result.passed = False
            result.reason = "skipped by the grader"

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        result = self._pending.pop(item.nodeid, None)
        if result is not None:
            self.results[result.exercise].checks.append(result)

    @staticmethod
    def _reason(call: pytest.CallInfo) -> str:
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, Raised):
            return exc.reason()
        if isinstance(exc, (CheckFailed, SubmissionBroken, WorkerFailure)):
            return str(exc)
        if isinstance(exc, GraderError):
            return f"grader error (not your fault, tell your instructor): {exc}"
        if isinstance(exc, AssertionError):
            return f"check failed: {str(exc).splitlines()[0] if str(exc) else 'assertion'}"
        return f"unexpected answer ({type(exc).__name__}: {str(exc)[:200]})"

    def finish(self) -> list[ExerciseResult]:
        for ex, result in self.results.items():
            run = self.runs.get(ex)
            if run is not None:
                result.output, size = run.finish()
                if size > len(result.output.encode()):
                    # Each worker's output is capped on its own: a run restarted after a timeout has several.
                    workers = len(run.outputs)
                    each = f"the first {OUTPUT_CAP // 1024} KB" + (f" of each of the {workers} workers that ran it"
                                                                  if workers > 1 else "")
                    result.notes.append(f"output truncated: printed {size:,} bytes, showing {each}")
                if run.broken:
                    result.notes.insert(0, run.broken)
            elif not (self.submission / f"{ex}.py").is_file():
                result.notes.insert(0, f"{ex}.py not found")
        return list(self.results.values())
