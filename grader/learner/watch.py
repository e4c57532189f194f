"""``python -m grader watch``: re-run an exercise's learner tests every time its file is saved.

Changes are noticed with ``watchfiles`` (native file-system events, a
well-kept library) or, with ``--poll`` or when watchfiles is not installed,
by polling the files' modification time, size and content (works on any file
system, network and container mounts included). Ctrl-C stops cleanly.
"""
from __future__ import annotations

import argparse
import signal
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

from grader import catalog
from grader.learner import i18n, testrun
from grader.learner.common import can_print, resolve_impl, show_path
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


def describe(msgs: i18n.Messages, t: testrun.ExerciseTests, fancy: bool) -> str:
    ok, bad, warn = ("✓", "✗", "!") if fancy else ("PASS", "FAIL", "ERROR")
    if t.state == "error":
        return f"{warn} " + msgs("watch.error", id=t.exercise, detail=t.error or msgs("progress.no_tests"))
    if t.state == "done":
        line = f"{ok} " + msgs("watch.passed", id=t.exercise, passed=len(t.passed), total=t.ran)
        if t.skipped:
            line += " " + msgs("progress.skipped", n=len(t.skipped))
        return line
    first = t.first_failure
    assert first is not None
    lines = first_lines(first.message, MESSAGE_LINES) or ["(no message)"]
    head = f"{bad} " + msgs("watch.failing", id=t.exercise, failed=len(t.failed), total=t.ran,
                            test=first.name, message=lines[0])
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

    changes = polled_changes(impl, ready, expired, args.interval) if poll else native_changes(impl, ready, expired)
    try:
        for changed in changes:
            for exercise in changed:
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp} " + msgs("watch.running", file=f"{exercise}.py", id=exercise), flush=True)
                try:
                    result = testrun.run([exercise], impl if args.impl else None, timeout=600)[exercise]
                except testrun.RunError as err:
                    result = testrun.ExerciseTests(exercise, error=str(err))
                print(describe(msgs, result, fancy), flush=True)
                runs += 1
                if args.max_runs and runs >= args.max_runs:
                    return 0
    except KeyboardInterrupt:
        print("\n" + msgs("watch.stopped"), flush=True)
        return 0
    finally:
        close = getattr(changes, "close", None)
        if close:
            close()
    print(msgs("watch.timeout"), flush=True)
    return 0
