"""Capstone whose training routine is fixed once, at import: ``FIT = functools.partial(training.fit,
loss_fn=cross_entropy.cross_entropy)``; train calls FIT with the rest. The grader must follow
``training.fit`` itself (its code is swapped while watched), not only calls through the name.
From fairness round 4 (2026-12-01)."""
from __future__ import annotations

import functools

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

FIT = functools.partial(training.fit, loss_fn=cross_entropy.cross_entropy)


def to_features(image):
    return image.flatten().float() / 255


def digits_dataset(annotations_file, img_dir):
    return datasets.CustomImageDataset(annotations_file, img_dir, transform=to_features)


def build_model(hidden=256, p=0.1):
    model = sequential.MySequential(nn.Linear(64, hidden), nn.ReLU(), dropout.EpochDropout(p), nn.Linear(hidden, 10))
    model.apply(weight_init.init_xavier)
    return model


def make_loaders(train_set, val_set, batch_size=32):
    return DataLoader(train_set, batch_size=batch_size, shuffle=True), DataLoader(val_set, batch_size=batch_size)


def train(model, train_loader, val_loader, epochs=10, lr=0.002, device=None):
    if device is None:
        device = devices.pick_device()
    devices.to_device(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return FIT(model=model, train_loader=train_loader, optimizer=optimizer, epochs=epochs,
               val_loader=val_loader, device=device)
