"""Writing result files so that an interruption never leaves half of one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# What open() would give a new file; read once (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A Ctrl-C, a SIGTERM or a full disk leaves either the old file or the new one, whole:
    a reader (the next ``grade-all`` deciding what to skip, Gradescope, a spreadsheet)
    never sees a truncated one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # as open() would: mkstemp's 0600 could hide results from TAs
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
