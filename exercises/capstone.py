"""Capstone: your pieces train a digit classifier.

Follows d2l chapters 4.2-4.6 (multilayer perceptrons, dropout) end to end,
with the PyTorch tutorials' data pipeline: files on disk, a ``Dataset``, a
``DataLoader``, a model, a loss, an optimiser and a training loop. Every one
of those pieces except the optimiser is yours, from the core exercises:

* ``datasets.CustomImageDataset`` reads the PNG files listed in a CSV;
* ``sequential.MySequential`` holds the layers;
* ``dropout.EpochDropout`` regularises the hidden layer;
* ``weight_init.init_xavier`` initialises the linear layers;
* ``cross_entropy.cross_entropy`` is the loss;
* ``training.fit`` runs the epochs;
* ``devices.pick_device`` and ``devices.to_device`` choose the device and
  move the model.

The data are scikit-learn's handwritten digits (``sklearn.datasets.
load_digits``, shipped inside the scikit-learn package: nothing is
downloaded): 1797 grayscale images of 8 x 8 pixels, labels 0-9.
``python -m grader capstone`` writes them as PNG files plus an annotations CSV
(``file_name,label``, as in the ``datasets`` exercise), calls the functions
below, trains with a progress bar per epoch, prints the validation accuracy
and saves a plot of the loss and accuracy curves. A multilayer perceptron
built from correct pieces reaches about 96-97% on digits it never saw.

What you write is glue: each function is one to four lines. There is nothing
new to invent, only your own pieces to connect. If ``pytest -m capstone``
says "not implemented yet" in another file, that exercise comes first
(``python -m grader progress`` shows what is left).

Use your modules through the imports below (``training.fit(...)``,
``dropout.EpochDropout(...)``): they are your files from this directory, the
same ones the earlier exercises test. Do not use ``nn.Sequential``,
``nn.Dropout``, ``nn.CrossEntropyLoss``/``F.cross_entropy`` or a training loop
of your own here: the capstone is graded on what your pieces achieve
together, and the grader checks that they are the ones doing the work.

Grading (a bonus of 10 points, reported apart from the 100 of the core
exercises): the grader builds the data sets with ``digits_dataset``, the model
with ``build_model()``, the loaders with ``make_loaders``, trains with
``train(..., epochs=10)``, then measures the accuracy of the trained model on
digits held out from training. Points for: items of the right form, a model
made of your pieces, training through ``fit`` with your loss and devices, the
history, and held-out accuracy of at least 50%, 80% and 90%. The defaults in
the signatures below (256 hidden units, ``p=0.1``, batches of 32, ``lr=0.002``)
are a good start, not part of the contract: tune them if you like; the grader
judges what they reach. It gives ``train(..., epochs=10)`` 60 s (the defaults
take about 5 s of one CPU core; batches of 4 about 12 s).

Pitfalls:

* ``read_image`` gives ``uint8`` values 0..255. Convert to ``float32`` before
  dividing (integer division would floor everything to 0) and flatten the
  ``(1, 8, 8)`` image to the 64 inputs of the first linear layer.
* Labels stay Python ``int`` class indices (no ``one_hot`` target transform):
  ``cross_entropy`` takes class indices, and the default collation turns ints
  into the ``int64`` tensor it wants.
* Build the optimiser after moving the model, from ``model.parameters()``
  (``to_device`` moves a module in place, so the parameters are the same
  objects either way, but it is the habit that keeps you safe).
* Shuffle the training loader, not the validation loader.
"""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import cross_entropy
import datasets
import devices
import dropout
import sequential
import training
import weight_init

IN_FEATURES = 64  # 8 x 8 pixels
NUM_CLASSES = 10


def to_features(image: torch.Tensor) -> torch.Tensor:
    """Turn one image as ``read_image`` gives it into the model's input vector.

    Args:
        image: ``torch.uint8`` tensor of shape ``(1, 8, 8)``, values 0..255.

    Returns:
        A new ``torch.float32`` tensor of shape ``(64,)``: the pixels in
        row-major order, divided by 255, so every value lies in ``[0, 1]``.
        ``image`` itself is not modified.

    Example:
        >>> to_features(torch.full((1, 8, 8), 255, dtype=torch.uint8))[:3]
        tensor([1., 1., 1.])
    """
    raise NotImplementedError


def digits_dataset(annotations_file: str | os.PathLike, img_dir: str | os.PathLike) -> Dataset:
    """The digits listed in ``annotations_file`` as a dataset of your ``CustomImageDataset``.

    Args:
        annotations_file: CSV file ``file_name,label`` (as in the datasets exercise).
        img_dir: the directory holding the PNG files.

    Returns:
        A ``datasets.CustomImageDataset`` (your class) over those files,
        with ``to_features`` as its ``transform`` and no target transform:
        ``ds[i]`` is ``(float32 tensor of shape (64,) in [0, 1], int label)``.
    """
    raise NotImplementedError


def build_model(hidden: int = 256, p: float = 0.1) -> nn.Module:
    """A multilayer perceptron for the digits, made of your pieces.

    Args:
        hidden: the number of hidden units.
        p: the dropout probability of the hidden layer.

    Returns:
        ``sequential.MySequential`` of, in this order: ``nn.Linear(64,
        hidden)``, ``nn.ReLU()``, ``dropout.EpochDropout(p)``,
        ``nn.Linear(hidden, 10)``, initialised by applying
        ``weight_init.init_xavier`` to it (``model.apply``): Xavier weights,
        zero biases. The model maps a batch ``(N, 64)`` to logits ``(N, 10)``
        (no softmax: ``cross_entropy`` takes raw logits).
    """
    raise NotImplementedError


def make_loaders(train_set: Dataset, val_set: Dataset,
                 batch_size: int = 32) -> tuple[DataLoader, DataLoader]:
    """``DataLoader``s for training and validation.

    Returns:
        ``(train_loader, val_loader)``, both with ``batch_size``; the training
        loader shuffles (a new order every epoch), the validation loader does
        not. Worker processes (``num_workers``) are your choice: the grader
        loads every batch in its own process, which gives the same batches
        in the same order.
    """
    raise NotImplementedError


def train(model: nn.Module, train_loader, val_loader, epochs: int = 10, lr: float = 0.002,
          device: torch.device | str | None = None) -> list[dict]:
    """Train ``model`` with your ``fit`` and return its history.

    Contract:
        * ``device``: when ``None``, use ``devices.pick_device()``.
        * Move the model there with ``devices.to_device``, then build a
          ``torch.optim.Adam`` optimiser over ``model.parameters()`` with
          learning rate ``lr``.
        * Call ``training.fit`` with your ``cross_entropy.cross_entropy`` as
          the loss, ``epochs`` epochs, ``val_loader`` and ``device``, and
          return the history it returns (one dict per epoch with ``epoch``,
          ``train_loss``, ``val_loss`` and ``val_acc``).
        * The model is trained in place: afterwards ``model`` is the trained
          model, on ``device``.

    Example:
        >>> history = train(build_model(), *make_loaders(train_set, val_set), epochs=2)
        >>> [round(h["val_acc"], 2) for h in history]
        [0.89, 0.93]
    """
    raise NotImplementedError
