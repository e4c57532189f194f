"""``python -m grader hint``: progressive hints, state, languages; and the hint data itself."""
from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest
from learner_support import ROOT, Kata

from grader import catalog

HINTS = ROOT / "exercises" / "hints"
LANGS = sorted(p.stem for p in (ROOT / "exercises" / "i18n").glob("*.toml"))


def _hints(exercise: str, lang: str) -> list[dict]:
    with open(HINTS / f"{exercise}.{lang}.toml", "rb") as f:
        return tomllib.load(f)["hint"]


def test_hints_progress_one_at_a_time(kata: Kata) -> None:
    total = len(_hints("dropout", "en"))
    first = kata.run("hint", "dropout")
    assert first.returncode == 0, first.stderr
    assert f"Hint 1 of {total}:" in first.stdout and "Hint 2" not in first.stdout
    assert _hints("dropout", "en")[0]["text"].split()[0] in first.stdout
    assert "暂退法（Dropout）" in first.stdout  # the d2l section it points to
    second = kata.run("hint", "dropout")
    assert f"Hint 2 of {total}:" in second.stdout and "Hint 1 of" not in second.stdout
    assert json.loads((kata.state / "hints.json").read_text()) == {"dropout": 2}
    every = kata.run("hint", "dropout", "--all")
    assert "Hint 1 of" in every.stdout and "Hint 2 of" in every.stdout and "Hint 3 of" not in every.stdout
    assert json.loads((kata.state / "hints.json").read_text()) == {"dropout": 2}  # --all reveals nothing new
    assert kata.run("hint", "dropout", "--reset").returncode == 0
    again = kata.run("hint", "dropout")
    assert "Hint 1 of" in again.stdout
    # Another exercise keeps its own count.
    assert "Hint 1 of" in kata.run("hint", "training").stdout


def test_again_repeats_the_last_hint_in_another_language(checkout: Kata) -> None:
    total = len(_hints("dropout", "en"))
    checkout.run("hint", "dropout")
    checkout.run("hint", "dropout")
    out = checkout.run("hint", "dropout", "--again", "--lang", "zh")
    assert out.returncode == 0, out.stderr
    assert f"提示 2/{total}：" in out.stdout and "提示 3/" not in out.stdout
    assert _hints("dropout", "zh")[1]["text"].strip().splitlines()[0] in out.stdout
    assert json.loads((checkout.state / "hints.json").read_text()) == {"dropout": 2}  # nothing new revealed
    assert "Hint 3 of" in checkout.run("hint", "dropout").stdout


def test_again_before_any_hint_shows_the_first(checkout: Kata) -> None:
    out = checkout.run("hint", "sequential", "--again")
    assert "Hint 1 of" in out.stdout and "Hint 2 of" not in out.stdout
    assert "`--again` repeats this one" in out.stdout


def test_after_the_last_hint_it_says_so(checkout: Kata) -> None:
    total = len(_hints("devices", "en"))
    for _ in range(total):
        out = checkout.run("hint", "devices").stdout
    assert f"Hint {total} of {total}" in out and "That was the last hint" in out
    out = checkout.run("hint", "devices").stdout
    assert f"Hint {total} of {total}" in out and "That was the last hint" in out


def test_all_before_any_hint_shows_the_first(checkout: Kata) -> None:
    out = checkout.run("hint", "sequential", "--all").stdout
    assert "Hint 1 of" in out and "Hint 2 of" not in out


@pytest.mark.parametrize("how", ["flag", "KATA_LANG", "locale"])
def test_chinese(kata: Kata, how: str) -> None:
    args, env = ["hint", "dropout"], {}
    if how == "flag":
        args.append("--lang=zh")
    elif how == "KATA_LANG":
        env["KATA_LANG"] = "zh"
    else:
        env["LANG"] = "zh_CN.UTF-8"
    out = kata.run(*args, **env)
    assert out.returncode == 0, out.stderr
    total = len(_hints("dropout", "zh"))
    assert f"提示 1/{total}：" in out.stdout
    assert "倒置暂退法与按轮固定的掩码" in out.stdout  # the title, translated
    assert _hints("dropout", "zh")[0]["text"].strip().splitlines()[0] in out.stdout


def test_language_precedence(checkout: Kata) -> None:
    # --lang beats KATA_LANG, which beats the locale; English is the default.
    assert "Hint 1 of" in checkout.run("hint", "training", "--lang", "en", KATA_LANG="zh").stdout
    checkout.run("hint", "training", "--reset")
    assert "提示 1/" in checkout.run("hint", "training", KATA_LANG="zh", LANG="en_US.UTF-8").stdout
    checkout.run("hint", "training", "--reset")
    assert "Hint 1 of" in checkout.run("hint", "training", LANG="C.UTF-8").stdout


def test_usage_errors_are_one_line_exit_2(checkout: Kata) -> None:
    for args in (["hint", "nosuch"], ["hint", "dropout", "--lang", "tlh"]):
        out = checkout.run(*args)
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert f"known: {', '.join(catalog.BY_ID)}" in checkout.run("hint", "nosuch").stderr


def test_corrupt_state_starts_over(checkout: Kata) -> None:
    checkout.state.mkdir(parents=True)
    (checkout.state / "hints.json").write_text("{not json")
    out = checkout.run("hint", "datasets")
    assert out.returncode == 0 and "Hint 1 of" in out.stdout


def test_state_defaults_to_dot_kata(checkout: Kata) -> None:
    import subprocess
    import sys

    env = checkout.env()
    del env["KATA_STATE_DIR"]
    subprocess.run([sys.executable, "-m", "grader", "hint", "datasets"], cwd=checkout.root, env=env,
                   capture_output=True, timeout=60, check=True)
    assert json.loads((checkout.root / ".kata" / "hints.json").read_text()) == {"datasets": 1}


def test_a_third_language_is_only_data(checkout: Kata) -> None:
    i18n = checkout.root / "exercises" / "i18n"
    (i18n / "fr.toml").write_text('[hint]\nnumber = "Indice {n} sur {total} :"\n', encoding="utf-8")
    (checkout.root / "exercises" / "hints" / "dropout.fr.toml").write_text(
        'title = "Dropout inversé"\n\n'
        '[[hint]]\ntext = "Premier indice."\nsee = "d2l 4.6"\n\n[[hint]]\ntext = "Second."\n', encoding="utf-8")
    out = checkout.run("hint", "dropout", "--lang", "fr")
    assert out.returncode == 0, out.stderr
    assert "Indice 1 sur 2 :" in out.stdout and "Premier indice." in out.stdout and "Dropout inversé" in out.stdout
    assert "More:" in out.stdout  # strings the French file lacks fall back to English
    # An exercise without French hints falls back to English, and says so.
    other = checkout.run("hint", "training", "--lang", "fr")
    assert "no hints in 'fr'" in other.stdout and "Premier" not in other.stdout
    assert "Indice 1 sur" in other.stdout
    assert checkout.run("hint", "dropout", LANG="fr_FR.UTF-8").stdout.count("Second.") == 1


# -- the data ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("exercise", [e.id for e in catalog.EXERCISES])
def test_hint_files(exercise: str, lang: str) -> None:
    hints = _hints(exercise, lang)
    assert 3 <= len(hints) <= 6, f"{exercise}.{lang}: {len(hints)} hints"
    assert len(hints) == len(_hints(exercise, "en")), f"{exercise}.{lang}: not as many hints as in English"
    for h in hints:
        assert set(h) == {"text", "see"}, h.keys()
        assert len(h["text"].strip()) > 80
        # Each hint points somewhere a learner can read: d2l, PyTorch's pages or the exercise sheet
        # (not the private study notes the exercises were written from).
        assert re.search(r"d2l|exercises/|docstring|文档|PyTorch|pytorch\.org", h["see"]), h["see"]
        assert not re.search(r"notes 00|笔记", h["see"]), h["see"]


def _code_lines(path: Path) -> list[str]:
    """The statements of a solution file as written (no docstrings, no comments)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {n.body[0].value.lineno for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        code = line.split("#")[0].strip()
        if i in docstrings or len(code) < 24 or code.startswith(("def ", "class ", "import ", "from ", '"""')):
            continue
        out.append(code)
    return out


@pytest.mark.parametrize("exercise", [e.id for e in catalog.EXERCISES])
def test_hints_never_give_the_solution_code(exercise: str) -> None:
    solution = ROOT / "solutions" / f"{exercise}.py"
    sheet = " ".join((ROOT / "exercises" / f"{exercise}.py").read_text(encoding="utf-8").split())
    text = "\n".join(h["text"] + "\n" + h["see"] for lang in LANGS for h in _hints(exercise, lang))
    flat = " ".join(text.split())
    # A line of the reference that the exercise sheet itself already shows gives nothing away.
    leaked = [line for line in _code_lines(solution)
              if " ".join(line.split()) in flat and " ".join(line.split()) not in sheet]
    assert not leaked, f"{exercise}: hints quote the solution: {leaked}"
