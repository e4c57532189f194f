"""Languages: the UI files agree with each other and with the code; the learner package stays shippable."""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from learner_support import ROOT

from grader import catalog
from grader.learner import common, i18n

I18N = ROOT / "exercises" / "i18n"
LANGS = sorted(p.stem for p in I18N.glob("*.toml"))
LEARNER = sorted((ROOT / "grader" / "learner").glob("*.py"))


def _load(lang: str) -> dict:
    with open(I18N / f"{lang}.toml", "rb") as f:
        return tomllib.load(f)


def _flat(data: dict) -> dict[str, str]:
    return {f"{t}.{k}": v for t, table in data.items() if isinstance(table, dict) for k, v in table.items()}


def test_english_and_chinese_exist() -> None:
    assert {"en", "zh"} <= set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_same_keys_and_placeholders_as_english(lang: str) -> None:
    en, other = _flat(_load("en")), _flat(_load(lang))
    assert set(other) == set(en), set(other) ^ set(en)
    for key, text in en.items():
        assert i18n.placeholders(other[key]) == i18n.placeholders(text), key


def test_every_string_the_code_asks_for_exists() -> None:
    en = _flat(_load("en"))
    used = set()
    for path in LEARNER:
        used |= set(re.findall(r'msgs\(\s*"([a-z_]+\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    assert used, "no msgs(...) calls found"
    missing = sorted(k for k in used if k not in en)
    assert not missing, missing


def _about(exercise: str, lang: str) -> dict:
    with open(ROOT / "exercises" / "hints" / f"{exercise}.{lang}.toml", "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_titles_and_summaries_for_every_exercise(lang: str) -> None:
    """They live with the exercise's hints, so adding an exercise touches no shared file."""
    for ex in catalog.EXERCISES:
        about = _about(ex.id, lang)
        assert about.get("title"), (lang, ex.id)
        assert len(about.get("summary", "")) > 40, (lang, ex.id)
        assert i18n.Messages(lang).title(ex.id) == about["title"]
        assert i18n.Messages(lang).summary(ex.id) == about["summary"].strip()
        if lang == "en":
            assert about["title"] == ex.title


@pytest.mark.parametrize("exercise", [e.id for e in catalog.EXERCISES])
def test_english_summary_starts_with_the_stub_docstring(exercise: str) -> None:
    doc = ast.get_docstring(ast.parse((ROOT / "exercises" / f"{exercise}.py").read_text(encoding="utf-8")))
    first = doc.strip().splitlines()[0].replace("``", "")
    summary = _about(exercise, "en")["summary"]
    assert summary.startswith(first), (first, summary[:80])


def test_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KATA_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    assert i18n.resolve(None) == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.resolve(None) == "zh"
    monkeypatch.setenv("LC_ALL", "en_GB.UTF-8")  # LC_ALL overrides LANG
    assert i18n.resolve(None) == "en"
    monkeypatch.setenv("LC_ALL", "C")
    assert i18n.resolve(None) == "en"
    monkeypatch.setenv("KATA_LANG", "zh")
    assert i18n.resolve(None) == "zh"
    assert i18n.resolve("en") == "en"
    with pytest.raises(common.UsageError):
        i18n.resolve("xx")


def test_missing_strings_fall_back_to_english() -> None:
    msgs = i18n.Messages("nonexistent")
    assert msgs("hint.number", n=1, total=3) == "Hint 1 of 3:"
    assert msgs("no.such_key") == "no.such_key"
    assert msgs.title("dropout") == catalog.get("dropout").title


def test_display_width_and_wrapping() -> None:
    assert common.width("abc") == 3 and common.width("中文") == 4
    assert common.pad("中", 4) == "中  "
    lines = common.wrap("一二三四五六七八九十" * 3, 12, "  ")
    assert all(common.width(ln) <= 12 for ln in lines) and "".join(ln.strip() for ln in lines) == "一二三四五六七八九十" * 3
    words = common.wrap("alpha beta gamma delta epsilon zeta", 16)
    assert words == ["alpha beta gamma", "delta epsilon", "zeta"]


def test_learner_package_imports_only_what_the_release_ships() -> None:
    """grader/learner is shipped to students: no grader.session & co., no solutions/."""
    from grader.release import RELEASE_FILES

    shipped = {f"grader.{Path(p).stem}" for p in RELEASE_FILES if p.startswith("grader/") and p.count("/") == 1}
    allowed = {"grader", "grader.learner"} | shipped
    assert "grader.session" not in allowed and "grader.checks" not in allowed
    for path in LEARNER:
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "grader" else [f"grader.{a.name}" for a in node.names]
            for name in names:
                if name.startswith("grader"):
                    assert name in allowed or name.startswith("grader.learner."), f"{path.name} imports {name}"
        assert "solutions" not in text, f"{path.name} mentions solutions/"
