"""``python -m grader watch``: re-run an exercise's learner tests every time its file is saved.

``watch dropout capstone`` also runs those exercises' tests at once, and reruns
them when a file they import is saved (the capstone imports all the others).

Changes are noticed with ``watchfiles`` (native file-system events, a
well-kept library) or, with ``--poll`` or when watchfiles is not installed,
by polling the files' modification time, size and content (works on any file
system, network and container mounts included). Ctrl-C stops cleanly.
"""
from __future__ import annotations

import argparse
import ast
import signal
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

from grader import catalog
from grader.learner import i18n, testrun, warmrun
from grader.learner.common import can_print, check_exercise, resolve_impl, show_path
from grader.learner.progress import first_lines

MESSAGE_LINES = 8


def _in_order(ids: set[str]) -> list[str]:
    return [e.id for e in catalog.EXERCISES if e.id in ids]


def watchfiles_available() -> bool:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return False
    return True


def native_changes(impl: Path, ready: Callable[[], None], expired: Callable[[], bool],
                   tick_ms: int = 400) -> Iterator[list[str]]:
    """Exercise ids whose ``<id>.py`` in ``impl`` was written, from file-system events."""
    from watchfiles import Change, watch

    ids = {e.id for e in catalog.EXERCISES}
    impl = impl.resolve()

    def wanted(change: Change, path: str) -> bool:
        p = Path(path)
        return change != Change.deleted and p.suffix == ".py" and p.stem in ids and p.parent.resolve() == impl

    first = True
    # yield_on_timeout: an empty batch every tick, so the ready line comes once
    # the watcher runs, and a --timeout can end the loop while nothing changes.
    for batch in watch(impl, watch_filter=wanted, rust_timeout=tick_ms, yield_on_timeout=True,
                       debounce=800, step=100, recursive=False, raise_interrupt=True):
        if first:
            ready()
            first = False
        if batch:
            yield _in_order({Path(p).stem for _, p in batch})
        if expired():
            return


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
        return st.st_mtime_ns, st.st_size, zlib.crc32(path.read_bytes())
    except OSError:
        return None


def polled_changes(impl: Path, ready: Callable[[], None], expired: Callable[[], bool],
                   interval: float = 0.5) -> Iterator[list[str]]:
    """The same, by polling: mtime and size, plus a checksum for file systems with coarse mtimes."""
    ids = [e.id for e in catalog.EXERCISES]

    def snapshot() -> dict[str, tuple[int, int, int] | None]:
        return {i: _fingerprint(impl / f"{i}.py") for i in ids}

    before = snapshot()
    ready()
    while not expired():
        time.sleep(interval)
        now = snapshot()
        changed = [i for i in ids if now[i] is not None and now[i] != before[i]]
        before = now
        if changed:
            yield changed


def imported_exercises(path: Path) -> set[str]:
    """The exercise ids ``path`` imports at any depth (none when it does not parse)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & {e.id for e in catalog.EXERCISES}


def to_run(impl: Path, changed: list[str], named: list[str]) -> list[str]:
    """The saved exercises, then the named ones whose file imports one of them, in catalog order."""
    extra = {n for n in named if n not in changed and imported_exercises(impl / f"{n}.py") & set(changed)}
    return _in_order(set(changed) | extra)


def describe(msgs: i18n.Messages, t: testrun.ExerciseTests, fancy: bool) -> str:
    ok, bad, todo, warn = ("✓", "✗", "…", "!") if fancy else ("PASS", "FAIL", "TODO", "ERROR")
    if t.state == "error":
        return f"{warn} " + msgs("watch.error", id=t.exercise, detail=t.error or msgs("progress.no_tests"))
    if t.state == "done":
        line = f"{ok} " + msgs("watch.passed", id=t.exercise, passed=len(t.passed), total=t.ran)
        if t.skipped:
            line += " " + msgs("progress.skipped", n=len(t.skipped))
        return line
    if not t.wrong:  # every test that fails waits for a stub: say which function to write
        return f"{todo} " + msgs("watch.unwritten", id=t.exercise, passed=len(t.passed), total=t.ran,
                                 n=len(t.unwritten), function=msgs.function(t.next_to_write))
    first = t.first_failure
    assert first is not None
    lines = first_lines(first.message, MESSAGE_LINES) or ["(no message)"]
    head = f"{bad} " + msgs("watch.failing_unwritten" if t.unwritten else "watch.failing", id=t.exercise,
                            failed=len(t.wrong), total=t.ran, n=len(t.unwritten), test=first.name, message=lines[0])
    return "\n".join([head, *("    " + ln for ln in lines[1:])])


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_watch(args: argparse.Namespace) -> int:
    msgs = i18n.messages(args.lang)
    impl = resolve_impl(args.impl)
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C must reach us even when started with SIGINT ignored (a background job of a
        # non-interactive shell); SIGTERM ends the watch as cleanly.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate)
    poll = args.poll or not watchfiles_available()
    fancy = can_print("✓✗…")
    deadline = time.monotonic() + args.timeout if args.timeout else None
    runs = 0

    def expired() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    def ready() -> None:
        how = msgs("watch.mode_poll") if poll else msgs("watch.mode_native")
        print(msgs("watch.ready", dir=show_path(impl), how=how), flush=True)

    named = _in_order({check_exercise(i) for i in args.ids})
    # Started now, it imports torch while the first run is prepared or the first save awaited.
    warm = None if args.cold or not warmrun.SUPPORTED else warmrun.WarmRunner(testrun.environment())

    def test(exercise: str, why: str) -> bool:
        """Run one exercise's tests and print the verdict; True when --max-runs is reached."""
        nonlocal runs, warm
        print(f"{time.strftime('%H:%M:%S')} {why}", flush=True)
        try:
            result = testrun.run([exercise], impl if args.impl else None, timeout=600, warm=warm)[exercise]
        except testrun.RunError as err:
            result = testrun.ExerciseTests(exercise, error=str(err))
        print(describe(msgs, result, fancy), flush=True)
        if warm is not None and warm.broken:
            print(msgs("watch.cold", why=warm.why), flush=True)
            warm = None  # said once; the runs go on, cold
        runs += 1
        return bool(args.max_runs and runs >= args.max_runs)

    changes = None
    try:
        for exercise in named:
            if test(exercise, msgs("watch.first_run", id=exercise)):
                return 0
        changes = polled_changes(impl, ready, expired, args.interval) if poll else native_changes(impl, ready, expired)
        for changed in changes:
            for exercise in to_run(impl, changed, named):
                why = msgs("watch.running", file=f"{exercise}.py", id=exercise) if exercise in changed else \
                    msgs("watch.dependent", id=exercise, files=", ".join(f"{c}.py" for c in changed))
                if test(exercise, why):
                    return 0
    except KeyboardInterrupt:
        print("\n" + msgs("watch.stopped"), flush=True)
        return 0
    finally:
        close = getattr(changes, "close", None) if changes is not None else None
        if close:
            close()
        if warm is not None:
            warm.close()
    print(msgs("watch.timeout"), flush=True)
    return 0
