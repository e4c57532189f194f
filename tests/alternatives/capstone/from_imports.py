"""Capstone, written differently: names imported from your modules, a loss wrapped in a lambda,
a device passed as a string, and a DataLoader built with keyword arguments."""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cross_entropy import cross_entropy as my_loss
from datasets import CustomImageDataset
from devices import pick_device, to_device
from dropout import EpochDropout
from sequential import MySequential
from training import fit
from weight_init import init_xavier


def to_features(image: torch.Tensor) -> torch.Tensor:
    return torch.flatten(image).float().div(255)


def digits_dataset(annotations_file: str | os.PathLike, img_dir: str | os.PathLike) -> Dataset:
    return CustomImageDataset(annotations_file=annotations_file, img_dir=img_dir, transform=to_features,
                              target_transform=None)


def build_model(hidden: int = 256, p: float = 0.1) -> nn.Module:
    layers = [nn.Linear(8 * 8, hidden), nn.ReLU(), EpochDropout(p=p), nn.Linear(hidden, 10)]
    return MySequential(*layers).apply(init_xavier)


def make_loaders(train_set: Dataset, val_set: Dataset, batch_size: int = 32):
    train_loader = DataLoader(dataset=train_set, batch_size=batch_size, shuffle=True, drop_last=False)
    val_loader = DataLoader(dataset=val_set, batch_size=batch_size, shuffle=False)
    return train_loader, val_loader


def train(model: nn.Module, train_loader, val_loader, epochs: int = 10, lr: float = 0.002,
          device: torch.device | str | None = None) -> list[dict]:
    device = str(device or pick_device())
    to_device(model, device)  # in place: the same module object
    optimizer = torch.optim.Adam(params=model.parameters(), lr=lr)
    history = fit(model, train_loader, lambda logits, y: my_loss(logits, y, reduction="mean"),
                  optimizer, epochs=epochs, val_loader=val_loader, device=device)
    return history
