"""The exercise catalog: the one place that lists the exercises and their points.

Adding an exercise means adding its four files (``exercises/<id>.py``,
``solutions/<id>.py``, ``tests/test_<id>.py``, ``grader/checks/test_<id>.py``
plus its probes in ``grader/probes/<id>.py``) and one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    id: str
    points: int
    title: str
    source: str  # the chapter or tutorial the exercise follows
    bonus: bool = False  # reported apart from the 100 points of the core exercises


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
             "d2l 4.2-4.6 multilayer perceptrons, end to end", bonus=True),
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
