"""Annotations parsed by numpy.loadtxt into a string array; one_hot via arange().eq()."""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.io import read_image


class MyDataset(Dataset):
    def __init__(self, data: Sequence[Any], labels: Sequence[Any]) -> None:
        if len(data) != len(labels):
            raise ValueError(f"{len(data)} samples but {len(labels)} labels")
        self.data, self.labels = data, labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        return self.data[idx], self.labels[idx]


class CustomImageDataset(Dataset):
    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None) -> None:
        table = np.loadtxt(os.fspath(annotations_file), dtype=str, delimiter=",", skiprows=1,
                           ndmin=2, comments=None)
        table = table.reshape(-1, 2)  # a header-only file gives no rows
        self.files = table[:, 0]
        self.labels = table[:, 1]
        self.img_dir = os.fspath(img_dir)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return int(self.files.shape[0])

    def __getitem__(self, idx: int):
        name, label = str(self.files[idx]), int(self.labels[idx])
        image = read_image(os.path.join(self.img_dir, name))
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


def one_hot(label: int, num_classes: int = 10) -> torch.Tensor:
    return torch.arange(num_classes).eq(label).to(torch.float32)
