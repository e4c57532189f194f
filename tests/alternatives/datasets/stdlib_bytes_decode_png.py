"""datasets read without read_image: the file's bytes through the standard library, then
decode_png; the header skipped with itertools.islice; one_hot with index_fill_.

Written by an independent red-team from the exercise sheet alone (2026-11-30).
"""
from __future__ import annotations
import csv, io, itertools, os
import torch
from torch.utils.data import Dataset
from torchvision.io import decode_png


class MyDataset(Dataset):
    def __init__(self, data, labels):
        self.data = data
        self.labels = labels
        if len(self) != len(labels):
            raise ValueError("data and labels must have the same length")

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return tuple((self.data[idx], self.labels[idx]))


class CustomImageDataset(Dataset):
    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        with open(os.fspath(annotations_file), "r", encoding="utf-8", newline="") as fh:
            self.annotations = [(r[0], int(r[1])) for r in itertools.islice(csv.reader(fh), 1, None) if r]
        self.img_dir = os.fspath(img_dir)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.annotations)

    def __getitem__(self, idx):
        file_name, label = self.annotations[idx]
        with open(os.path.join(self.img_dir, file_name), "rb") as fh:
            raw = torch.frombuffer(bytearray(fh.read()), dtype=torch.uint8)
        image = decode_png(raw)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


def one_hot(label, num_classes=10):
    return torch.zeros(num_classes).index_fill_(0, torch.tensor(label), 1.0)
