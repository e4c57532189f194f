"""Capstone with its pieces chosen once, at import, in a small table: ``CONFIG = {"init":
weight_init.init_xavier, "loss": cross_entropy.cross_entropy, "pick_device": devices.pick_device}``.

fit gets the very function ``cross_entropy.cross_entropy``, the model gets ``model.apply(init_xavier)``
and device=None calls ``pick_device()``, all through references taken before the grader wrapped the
names: the grader must recognise the functions themselves.

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

CONFIG = {
    "init": weight_init.init_xavier,
    "loss": cross_entropy.cross_entropy,
    "pick_device": devices.pick_device,
}


def to_features(image):
    return torch.div(image.reshape(-1), 255, rounding_mode=None).to(torch.float32)


def digits_dataset(annotations_file, img_dir):
    return datasets.CustomImageDataset(annotations_file, img_dir, transform=to_features)


def build_model(hidden=256, p=0.1):
    model = sequential.MySequential(nn.Linear(64, hidden), nn.ReLU(), dropout.EpochDropout(p),
                                    nn.Linear(hidden, 10))
    model.apply(CONFIG["init"])
    return model


def make_loaders(train_set, val_set, batch_size=32):
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True),
            DataLoader(val_set, batch_size=batch_size))


def train(model, train_loader, val_loader, epochs=10, lr=0.002, device=None):
    if device is None:
        device = CONFIG["pick_device"]()
    devices.to_device(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return training.fit(model, train_loader, CONFIG["loss"], optimizer, epochs, val_loader, device)
