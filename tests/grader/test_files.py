"""Result files are replaced whole or not at all (grader/files.py)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from grader import batch, files


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("old\n")
    files.write_atomic(path, "new\r\nlines\n")
    assert path.read_bytes() == b"new\r\nlines\n"  # written as given: csv's \r\n survives
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_stop_mid_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "meta.json"
    path.write_text('{"score": 42}\n')

    def stopped(*_args) -> None:
        raise KeyboardInterrupt  # Ctrl-C between writing the new text and renaming it

    monkeypatch.setattr(os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(path, '{"score": 0')
    assert path.read_text() == '{"score": 42}\n'
    assert os.listdir(tmp_path) == ["meta.json"]


def test_a_new_file_gets_the_mode_open_would_give(tmp_path: Path) -> None:
    path = tmp_path / "grades.csv"
    files.write_atomic(path, "student,total\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~files._UMASK


def test_meta_json_which_decides_skipping_is_written_last(tmp_path: Path, monkeypatch) -> None:
    written = []
    monkeypatch.setattr(batch, "write_atomic", lambda path, text: written.append(Path(path).name))
    batch._write_unreadable(tmp_path, "s1", "two submissions for s1")
    assert written == ["summary.txt", "meta.json"]  # no results.json: not graded, so no score of 0 either
    assert not (tmp_path / "s1" / "results.json").exists()
