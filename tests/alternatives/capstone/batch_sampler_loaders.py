"""Loaders built from explicit BatchSampler(RandomSampler / SequentialSampler)."""
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

IN_FEATURES = 64
NUM_CLASSES = 10


def to_features(image: torch.Tensor) -> torch.Tensor:
    return torch.true_divide(image, 255).flatten()


def digits_dataset(annotations_file, img_dir) -> Dataset:
    return datasets.CustomImageDataset(annotations_file, img_dir, to_features, None)


def build_model(hidden: int = 256, p: float = 0.1) -> nn.Module:
    layers = [nn.Linear(IN_FEATURES, hidden), nn.ReLU(), dropout.EpochDropout(p), nn.Linear(hidden, NUM_CLASSES)]
    model = sequential.MySequential(*layers)
    model.apply(weight_init.init_xavier)
    return model


def make_loaders(train_set, val_set, batch_size: int = 32):
    from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler
    return (DataLoader(train_set, batch_sampler=BatchSampler(RandomSampler(train_set), batch_size, drop_last=False)),
            DataLoader(val_set, batch_sampler=BatchSampler(SequentialSampler(val_set), batch_size, drop_last=False)))


def train(model, train_loader, val_loader, epochs: int = 10, lr: float = 0.002, device=None) -> list[dict]:
    device = devices.pick_device() if device is None else device
    model = devices.to_device(model, device)
    opt = torch.optim.Adam(model.parameters(), lr)
    return training.fit(model, train_loader, cross_entropy.cross_entropy, opt, epochs, val_loader, device)
