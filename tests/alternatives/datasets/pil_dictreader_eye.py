"""Correct alternative: PIL + numpy for the pixels, csv.DictReader, pairs zipped up front, torch.eye rows."""
from __future__ import annotations

import csv
import os

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


class MyDataset(Dataset):
    def __init__(self, data, labels):
        if len(data) != len(labels):
            raise ValueError("data and labels must have the same length")
        # Iterating a tensor yields its rows, iterating a list its items: the same as data[i].
        self.pairs = list(zip(data, labels))

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return self.pairs[i]


class CustomImageDataset(Dataset):
    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        with open(annotations_file, newline="") as f:
            self.rows = [(r["file_name"], int(r["label"])) for r in csv.DictReader(f)]
        self.img_dir = img_dir
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        name, label = self.rows[i]
        with Image.open(os.path.join(self.img_dir, name)) as im:
            pixels = np.array(im, dtype=np.uint8)
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        image = torch.from_numpy(np.ascontiguousarray(pixels))
        return (self.transform(image) if self.transform is not None else image,
                self.target_transform(label) if self.target_transform is not None else label)


def one_hot(label, num_classes=10):
    return torch.eye(num_classes, dtype=torch.float32)[label]
