"""Registers ``--impl`` at the repository root.

pytest reads ``--impl DIR`` before it loads ``tests/conftest.py`` (and would
take ``DIR`` for a test path), so the option lives here; everything else about
the learner tests is in ``tests/conftest.py``.
"""
from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--impl", default=None, metavar="DIR",
                     help="directory holding the <exercise>.py files to test (default: exercises, or $KATA_IMPL)")
