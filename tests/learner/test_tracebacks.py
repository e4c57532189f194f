"""grader.tracebacks (where an error was raised, whose file it is) and the stall watchdog's reading of
a live stack (grader.learner.stall.stuck_in)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from grader import tracebacks
from grader.learner.stall import stuck_in


def _module(path: Path, source: str) -> ModuleType:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"kata_tb_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Layer:
    def forward(self) -> None:
        raise ValueError("inner")


def test_the_innermost_frame_is_the_one_that_raised() -> None:
    with pytest.raises(ValueError) as info:
        _Layer().forward()
    frame = tracebacks.innermost_frame(info.value)
    assert frame is not None and frame.f_code.co_name == "forward"
    assert tracebacks.qualname(info.value) == "_Layer.forward"


def test_an_error_never_raised_has_no_frame() -> None:
    assert tracebacks.innermost_frame(ValueError("made, not raised")) is None
    assert tracebacks.qualname(ValueError("made, not raised")) is None


def test_under_means_inside_the_folder_not_a_name_prefix(tmp_path: Path) -> None:
    root = tmp_path / "exercises"
    (root / "sub").mkdir(parents=True)
    assert tracebacks.under(str(root / "dropout.py"), str(root))
    assert tracebacks.under(str(root / "sub" / "x.py"), str(root) + "/")
    assert not tracebacks.under(str(tmp_path / "exercises_old" / "dropout.py"), str(root))
    assert not tracebacks.under(str(root), str(root))
    assert not tracebacks.under(None, str(root)) and not tracebacks.under("", str(root))


def test_under_sees_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "m.py").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert tracebacks.under(str(tmp_path / "link" / "m.py"), str((tmp_path / "real").resolve()))


def test_stuck_in_finds_the_learners_innermost_frame_under_library_frames(tmp_path: Path) -> None:
    theirs = _module(tmp_path / "exercises" / "loop.py", "def call(f):\n    return f()\n")
    frame = theirs.call(sys._getframe)  # the innermost frame is not theirs, its caller is
    found = stuck_in(frame, tmp_path / "exercises")
    assert found is not None and found.f_code.co_name == "call"
    assert stuck_in(frame, tmp_path / "elsewhere") is None


def test_stuck_in_is_none_while_their_code_imports_another_module(tmp_path: Path) -> None:
    # A module of someone else's, which records its own frame while it is being imported.
    other = tmp_path / "lib" / "slow_import.py"
    other.parent.mkdir()
    other.write_text("import sys\nFRAME = sys._getframe()\n")
    theirs = _module(tmp_path / "exercises" / "imp.py",
                     f"import sys\ndef load():\n    sys.path.insert(0, {str(other.parent)!r})\n"
                     "    try:\n        import slow_import\n    finally:\n        sys.path.pop(0)\n"
                     "    return slow_import.FRAME\n")
    try:
        frame = theirs.load()
    finally:
        sys.modules.pop("slow_import", None)
    assert stuck_in(frame, tmp_path / "exercises") is None


def test_stuck_in_finds_their_module_while_it_is_imported(tmp_path: Path) -> None:
    theirs = _module(tmp_path / "exercises" / "top.py", "import sys\nFRAME = sys._getframe()\n")
    found = stuck_in(theirs.FRAME, tmp_path / "exercises")
    assert found is theirs.FRAME
