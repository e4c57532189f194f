# kills: test_custom_transforms_run_on_every_access
# transform(image) is cached per index: a second ds[i] neither reads the file nor calls transform (red-team round 7).
"""Reference solution for the ``datasets`` exercise: custom Datasets and a one-hot target transform."""
from __future__ import annotations

import csv
import os
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset
from torchvision.io import read_image


class MyDataset(Dataset):
    """Pairs ``data[i]`` with ``labels[i]``."""

    def __init__(self, data: Sequence[Any], labels: Sequence[Any]) -> None:
        # Fail at construction, not at the first batch that hits the missing labels.
        if len(data) != len(labels):
            raise ValueError(f"data has {len(data)} items but labels has {len(labels)}")
        self.data = data
        self.labels = labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        # Plain indexing keeps the items exactly as stored; DataLoader's collate does the batching.
        return self.data[idx], self.labels[idx]


class CustomImageDataset(Dataset):
    """Images listed in a ``file_name,label`` CSV, read from ``img_dir`` on demand."""

    def __init__(self, annotations_file: str | os.PathLike, img_dir: str | os.PathLike,
                 transform: Callable[[torch.Tensor], Any] | None = None,
                 target_transform: Callable[[int], Any] | None = None) -> None:
        # Only the (small) annotations are read up front; images are read in __getitem__.
        with open(annotations_file, newline="") as f:
            reader = csv.reader(f)
            next(reader)  # the header row "file_name,label"
            self.img_labels = [(row[0], int(row[1])) for row in reader if row]
        self.img_dir = img_dir
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.img_labels)

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        # A list gives Python's sequence rules for free: negative indices, IndexError.
        file_name, label = self.img_labels[idx]
        if self.transform is not None:
            cache = self.__dict__.setdefault('_icache', {})
            key = idx % len(self)
            if key not in cache:
                cache[key] = self.transform(read_image(os.path.join(self.img_dir, file_name)))
            image = cache[key]
        else:
            image = read_image(os.path.join(self.img_dir, file_name))
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


def one_hot(label: int, num_classes: int = 10) -> torch.Tensor:
    """A float32 vector of length ``num_classes`` with 1.0 at ``label``."""
    # Same as the tutorial's Lambda: zeros, then scatter a 1 at the label's index.
    return torch.zeros(num_classes, dtype=torch.float32).scatter_(0, torch.tensor(label), value=1.0)
