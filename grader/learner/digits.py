"""scikit-learn's bundled handwritten digits as PNG files plus an annotations CSV.

Shared by ``python -m grader capstone`` and the capstone's hidden checks.
``sklearn.datasets.load_digits`` reads a file shipped inside scikit-learn:
nothing is downloaded. scikit-learn is imported only by :func:`load`.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

NUM_CLASSES = 10
SIDE = 8  # the digits are 8 x 8 pixels


def load() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits: uint8 images ``(N, 8, 8)`` scaled to 0..255 and int64 labels ``(N,)``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # The pixels are ink counts 0..16; PNG wants 0..255.
    images = (torch.from_numpy(bunch.images) * (255.0 / 16.0)).round().to(torch.uint8)
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    return images, labels


def split(n: int, fractions: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """A seeded random partition of ``range(n)`` into parts of the given fractions (the last takes the rest)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts, start = [], 0
    for i, frac in enumerate(fractions):
        stop = n if i == len(fractions) - 1 else start + round(frac * n)
        parts.append(order[start:stop].sort().values)
        start = stop
    return parts


def export(root: str | os.PathLike, name: str, images: torch.Tensor,
           labels: torch.Tensor | list[int]) -> tuple[Path, Path]:
    """Write ``images`` as ``root/name/00000.png ...`` and ``root/name.csv`` (``file_name,label``).

    Returns ``(annotations_file, img_dir)``, the two arguments of ``CustomImageDataset``.
    """
    from torchvision.io import write_png

    root = Path(root)
    img_dir = root / name
    img_dir.mkdir(parents=True, exist_ok=True)
    for old in img_dir.glob("*.png"):
        old.unlink()
    rows = []
    for i, (image, label) in enumerate(zip(images, labels)):
        file_name = f"{i:05d}.png"
        write_png(image.reshape(1, *image.shape[-2:]).to(torch.uint8).contiguous(), str(img_dir / file_name))
        rows.append((file_name, int(label)))
    annotations = root / f"{name}.csv"
    with open(annotations, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file_name", "label"])
        writer.writerows(rows)
    return annotations, img_dir
