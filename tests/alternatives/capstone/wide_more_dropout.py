"""Capstone with other (valid) choices: a wider hidden layer, more dropout, larger batches,
pixels scaled by a multiplication, and train's arguments passed to fit by position."""
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


def to_features(image: torch.Tensor) -> torch.Tensor:
    return image.view(64).to(dtype=torch.float32) * (1.0 / 255.0)


def digits_dataset(annotations_file: str | os.PathLike, img_dir: str | os.PathLike) -> Dataset:
    return datasets.CustomImageDataset(str(annotations_file), str(img_dir), to_features)


def build_model(hidden: int = 512, p: float = 0.2) -> nn.Module:
    model = sequential.MySequential()
    for i, layer in enumerate([nn.Linear(64, hidden), nn.ReLU(), dropout.EpochDropout(p), nn.Linear(hidden, 10)]):
        model.add_module(str(i), layer)
    model.apply(weight_init.init_xavier)
    return model


def make_loaders(train_set: Dataset, val_set: Dataset, batch_size: int = 64):
    return (DataLoader(train_set, batch_size, shuffle=True), DataLoader(val_set, batch_size))


def train(model: nn.Module, train_loader, val_loader, epochs: int = 10, lr: float = 0.002,
          device: torch.device | str | None = None) -> list[dict]:
    if device is None:
        device = devices.pick_device()
    model = devices.to_device(model, device, non_blocking=False)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    loss = cross_entropy.cross_entropy
    return training.fit(model, train_loader, loss, optimizer, epochs, val_loader, device)
