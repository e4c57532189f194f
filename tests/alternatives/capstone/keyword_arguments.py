"""Capstone with every call of the pieces spelled with keyword arguments:
``devices.to_device(obj=model, device=device)``, ``training.fit(model=..., loss_fn=..., ...)``,
``model.apply(fn=weight_init.init_xavier)``, and the model re-bound to what to_device returns.

Written by an independent red-team from the exercise sheet alone (2026-12-01).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

import cross_entropy
import datasets
import devices
import dropout
import sequential
import training
import weight_init


def to_features(image: torch.Tensor) -> torch.Tensor:
    return image.flatten().to(dtype=torch.float32).div(255.0)


def digits_dataset(annotations_file, img_dir):
    return datasets.CustomImageDataset(annotations_file=annotations_file, img_dir=img_dir,
                                       transform=to_features)


def build_model(hidden: int = 256, p: float = 0.1) -> nn.Module:
    model = sequential.MySequential(nn.Linear(in_features=64, out_features=hidden), nn.ReLU(),
                                    dropout.EpochDropout(p=p), nn.Linear(in_features=hidden, out_features=10))
    model.apply(fn=weight_init.init_xavier)
    return model


def make_loaders(train_set, val_set, batch_size: int = 32):
    return (DataLoader(dataset=train_set, batch_size=batch_size, shuffle=True),
            DataLoader(dataset=val_set, batch_size=batch_size, shuffle=False))


def train(model, train_loader, val_loader, epochs: int = 10, lr: float = 0.002, device=None):
    if device is None:
        device = devices.pick_device()
    model = devices.to_device(obj=model, device=device)
    optimizer = torch.optim.Adam(params=model.parameters(), lr=lr)
    return training.fit(model=model, train_loader=train_loader, loss_fn=cross_entropy.cross_entropy,
                        optimizer=optimizer, epochs=epochs, val_loader=val_loader, device=device)
