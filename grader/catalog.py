"""The exercise catalog: the one place that lists the exercises and their points.

Adding an exercise means adding its own files and one entry here; nothing else lists the
exercises (CONTRIBUTING.md has the checklist): ``exercises/<id>.py`` (the sheet),
``solutions/<id>.py``, ``tests/test_<id>.py`` (learner tests), ``grader/probes/<id>.py`` and
``grader/checks/test_<id>.py`` (hidden checks), ``tests/mutants/<id>/`` and
``tests/alternatives/<id>/``, ``exercises/hints/<id>.en.toml`` and ``<id>.zh.toml`` (title,
summary, hints). The core exercises' points add up to 100: a new one takes its points from others,
in this same list.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Exercise:
    id: str
    points: int
    title: str
    source: str  # the chapter or tutorial the exercise follows
    bonus: bool = False  # reported apart from the 100 points of the core exercises
    # Its calls get this many times the per-call limit and the budget (--timeout, --budget): one
    # call of the capstone trains a model for 10 epochs, and a small batch the sheet allows takes
    # twice the defaults' time, three times that on a busy machine.
    time_scale: int = 1


# In the recommended order of work.
EXERCISES: tuple[Exercise, ...] = (
    Exercise("cross_entropy", 15, "Cross-entropy with gather and LogSumExp",
             "d2l 3.6-3.7 softmax regression; torch.gather"),
    Exercise("datasets", 14, "Custom Datasets and DataLoader",
             "PyTorch tutorial 'Datasets & DataLoaders' and 'Transforms'"),
    Exercise("sequential", 12, "MySequential: a container of your own",
             "d2l 5.1 layers and blocks"),
    Exercise("dropout", 16, "Inverted dropout and an epoch-level mask",
             "d2l 4.6 dropout"),
    Exercise("weight_init", 14, "Parameter initialisation and Xavier",
             "d2l 5.2 parameter management; 4.8 numerical stability and initialisation"),
    Exercise("training", 17, "The training loop",
             "d2l 3.6 train_epoch_ch3/train_ch3; PyTorch tutorial 'Optimizing Model Parameters'"),
    Exercise("devices", 12, "Devices: choosing a GPU and moving data",
             "d2l 5.6 GPUs; PyTorch tutorial 'Build the Neural Network'"),
    Exercise("capstone", 10, "Capstone: your pieces train a digit classifier",
             "d2l 4.2-4.6 multilayer perceptrons, end to end", bonus=True, time_scale=6),
)
CORE: tuple[Exercise, ...] = tuple(e for e in EXERCISES if not e.bonus)

BY_ID: dict[str, Exercise] = {e.id: e for e in EXERCISES}
TOTAL = sum(e.points for e in CORE)
assert TOTAL == 100, TOTAL


def get(exercise_id: str) -> Exercise:
    try:
        return BY_ID[exercise_id]
    except KeyError:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(BY_ID)}") from None


def with_cuda_checks() -> list[str]:
    """The exercises whose hidden checks include CUDA ones (``@pytest.mark.cuda``), read from the
    checks themselves (none in a student release, which has no checks)."""
    checks = Path(__file__).resolve().parent / "checks"
    return [e.id for e in EXERCISES if (checks / f"test_{e.id}.py").is_file()
            and re.search(r"pytest\.mark\.cuda\b", (checks / f"test_{e.id}.py").read_text(encoding="utf-8"))]


def unknown_message(name: str) -> str:
    """'unknown exercise ...' with the closest id, for a typo on the command line."""
    guess = difflib.get_close_matches(name.lower().replace("-", "_"), list(BY_ID), n=1, cutoff=0.6)
    return (f"unknown exercise {name!r}" + (f" (did you mean {guess[0]}?)" if guess else "")
            + f" (known: {', '.join(BY_ID)})")
