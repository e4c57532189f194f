"""Reading where an error happened: the innermost frame of a traceback, and whether a file is the
learner's. Imports nothing heavy: the learner tests, the capstone, its stall watchdog and the
grader's worker all use it.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import FrameType


def innermost_frame(err: BaseException) -> FrameType | None:
    """The frame that raised ``err`` (the last of its traceback), or None without a traceback."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame if tb is not None else None


def qualname(err: BaseException) -> str | None:
    """``EpochDropout.reset_mask`` rather than ``reset_mask``: the raising frame's qualified name."""
    frame = innermost_frame(err)
    return getattr(frame.f_code, "co_qualname", None) if frame is not None else None


def under(filename: str | None, root: str) -> bool:
    """Whether ``filename`` lies in folder ``root`` (resolved, any depth): ``exercises_old/x.py`` is
    not under ``exercises``."""
    return bool(filename) and str(Path(filename).resolve()).startswith(root.rstrip(os.sep) + os.sep)
