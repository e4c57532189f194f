# kills: test_train_picked_device
# train asks pick_device() and ignores its answer: the CPU. From red-team round 6.
"""Capstone: your pieces train a digit classifier (reference glue).

Every piece comes from the learner's own modules, imported by plain name:
they sit in the same directory as this file.
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
    # Float first: uint8 / 255 would be float anyway, but uint8 // 255 floors to 0.
    return image.reshape(-1).to(torch.float32) / 255.0


def digits_dataset(annotations_file: str | os.PathLike, img_dir: str | os.PathLike) -> Dataset:
    # Labels stay int class indices: cross_entropy takes indices, not one-hot rows.
    return datasets.CustomImageDataset(annotations_file, img_dir, transform=to_features)


def build_model(hidden: int = 256, p: float = 0.1) -> nn.Module:
    model = sequential.MySequential(
        nn.Linear(IN_FEATURES, hidden), nn.ReLU(), dropout.EpochDropout(p), nn.Linear(hidden, NUM_CLASSES))
    # apply() visits every submodule; init_xavier acts on the linear layers only.
    model.apply(weight_init.init_xavier)
    return model


def make_loaders(train_set: Dataset, val_set: Dataset,
                 batch_size: int = 32) -> tuple[DataLoader, DataLoader]:
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True),
            DataLoader(val_set, batch_size=batch_size))


def train(model: nn.Module, train_loader, val_loader, epochs: int = 10, lr: float = 0.002,
          device: torch.device | str | None = None) -> list[dict]:
    if device is None:
        devices.pick_device()
        device = "cpu"

    model = devices.to_device(model, device)
    # Built after the move, from the parameters the model now holds.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return training.fit(model, train_loader, cross_entropy.cross_entropy, optimizer, epochs,
                        val_loader=val_loader, device=device)
