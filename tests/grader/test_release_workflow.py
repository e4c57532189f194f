"""The student release's CI workflow must not hold anything a student could take."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_student_workflow_uses_no_secrets_and_checks_out_nothing_else() -> None:
    # A student can push a changed workflow, so whatever it can reach is theirs.
    text = (ROOT / "grader" / "templates" / "kata.yml").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "secrets." not in code
    assert not re.search(r"repository:\s*\S", code), "checks out another repository"
    assert "python -m pytest" in code
