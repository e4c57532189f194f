"""The learner subcommands of ``python -m grader``: progress, hint, watch and capstone.

``grader/cli.py`` calls :func:`register` with its subparsers. Each command
returns an exit code; a usage mistake (unknown exercise, unknown language,
missing directory) prints one line on stderr and returns 2.
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Callable

from grader.learner.common import UsageError


def _command(module: str, name: str, interrupted: int = 130) -> Callable[[argparse.Namespace], int]:
    """Import the command's module only when it runs; turn usage errors and Ctrl-C into exit codes."""

    @functools.wraps(_command)
    def run(args: argparse.Namespace) -> int:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(errors="replace")  # never crash on a terminal that lacks a glyph
            except (AttributeError, ValueError):
                pass
        try:
            fn = getattr(__import__(f"grader.learner.{module}", fromlist=[name]), name)
            return fn(args)
        except UsageError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("", file=sys.stderr)
            return interrupted
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly, and keep Python's
            # own flush at exit from complaining about the closed pipe too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    return run


def _add_common(p: argparse.ArgumentParser, impl: bool = True) -> None:
    if impl:
        p.add_argument("--impl", metavar="DIR",
                       help="directory holding your <exercise>.py files (default: exercises, or $KATA_IMPL)")
    p.add_argument("--lang", metavar="CODE",
                   help="language of the messages: en, zh, ... (default: $KATA_LANG, then the locale, then en)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("progress", help="your progress: runs the learner tests, shows what to do next",
                              description="Run the learner tests of every exercise once and show a table of "
                                          "their state, a progress bar and the next thing to do.")
    _add_common(p)
    p.set_defaults(func=_command("progress", "cmd_progress"))

    h = subparsers.add_parser("hint", help="the next hint for an exercise",
                              description="Show the next hint for an exercise: one more each time you ask.")
    h.add_argument("id", metavar="ID", help="the exercise, e.g. dropout")
    group = h.add_mutually_exclusive_group()
    group.add_argument("--all", action="store_true", help="show every hint seen so far")
    group.add_argument("--again", action="store_true",
                       help="show the last hint seen again, without a new one (e.g. with --lang zh)")
    group.add_argument("--reset", action="store_true", help="start over from the first hint")
    _add_common(h, impl=False)
    h.set_defaults(func=_command("hints", "cmd_hint"))

    w = subparsers.add_parser("watch", help="re-run an exercise's learner tests whenever you save its file",
                              description="Watch the exercise files; on every save, run that exercise's "
                                          "learner tests and print a short result. Exercises named on the "
                                          "command line are tested at once, and again whenever a file they "
                                          "import is saved. Ctrl-C stops.")
    w.add_argument("ids", nargs="*", metavar="ID",
                   help="exercises to test at once and after a save of any file they import, e.g. capstone")
    _add_common(w)
    w.add_argument("--poll", action="store_true",
                   help="poll the files instead of using file-system events (for network or container mounts)")
    w.add_argument("--interval", type=float, default=0.5, metavar="S", help="polling interval (default 0.5 s)")
    w.add_argument("--max-runs", type=int, default=0, metavar="N", help="stop after N test runs (default: never)")
    w.add_argument("--timeout", type=float, default=0, metavar="S", help="stop after S seconds (default: never)")
    w.add_argument("--cold", action="store_true",
                   help="start a new pytest for every run, paying 'import torch' each time (by default, on "
                        "Linux, one process imports torch once and every run is a fresh fork of it)")
    w.set_defaults(func=_command("watch", "cmd_watch", interrupted=0))

    c = subparsers.add_parser("capstone", help="train your pieces on scikit-learn's handwritten digits",
                              description="Train a digit classifier with your own pieces (capstone.py), show "
                                          "a progress bar per epoch, print the validation accuracy and save a "
                                          "plot of the curves.")
    _add_common(c)
    c.add_argument("--epochs", type=int, default=0, metavar="N", help="epochs (default: your train()'s default)")
    c.add_argument("--out", metavar="PNG", help="where to save the plot (default: .kata/capstone.png)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--stall-timeout", type=float, default=60, metavar="S",
                   help="stop when your code makes no progress for S seconds, e.g. an endless loop "
                        "(default 60; 0: never)")
    c.set_defaults(func=_command("capstone", "cmd_capstone"))
