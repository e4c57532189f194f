"""Custom Datasets and DataLoader.

Follows the PyTorch tutorials "Datasets & DataLoaders" (section "Creating a
Custom Dataset for your files") and "Transforms" (section "Lambda Transforms").

A ``torch.utils.data.Dataset`` is PyTorch's idea of "a dataset": any object
that knows how many samples it has (``__len__``) and can hand back sample
number ``i`` (``__getitem__``). That is all. Batching, shuffling and parallel
loading are the job of ``torch.utils.data.DataLoader``, which asks the dataset
for ``len(ds)``, draws indices ``0 .. len(ds) - 1`` from its sampler, calls
``ds[i]`` for each, and glues the samples of a batch together with its
*default collation*: tensors are stacked along a new first dimension, Python
ints become an int64 tensor, floats a float64 tensor, and a tuple of fields
becomes a tuple of batched fields. So if ``ds[i]`` returns ``(x, y)`` with
``x`` of shape ``(3, 32, 32)``, a batch of 16 is ``(X, Y)`` with ``X`` of
shape ``(16, 3, 32, 32)``.

You will write three things:

1. ``MyDataset``: the smallest useful dataset, pairing ``data[i]`` with
   ``labels[i]`` for data already in memory.
2. ``CustomImageDataset``: the tutorial's dataset over image files listed in a
   CSV annotations file. Only the annotations are read when the dataset is
   built; each image is read from disk when it is asked for. This is what
   makes datasets bigger than memory possible, and what lets a DataLoader
   spread the reading over worker processes.
3. ``one_hot``: the target transform of the tutorial's ``Lambda`` example,
   turning a class index into a one-hot float vector.

Allowed: the standard library, ``torch``, ``torchvision`` and ``numpy``.

Pitfalls (some of them where the tutorial would lead you astray):

* The tutorial reads the CSV with pandas. pandas is not available here: the
  standard library's ``csv`` module does the job. Note also that
  ``df.iloc[idx, 1]`` is a ``numpy.int64``, not a Python ``int``; the contract
  below wants a Python ``int`` label (it is what ``target_transform``
  receives, and what a plain ``int(...)`` gives you).
* Do not read the images in ``__init__``. Read each one in ``__getitem__``.
* "Exactly as ``torchvision.io.read_image`` returns it" means: no conversion.
  Not ``ImageReadMode.RGB`` (a grayscale image would become 3 channels), not
  ``ToTensor`` (float values in [0, 1]), not a PIL array left as H x W x C.
* The CSV has a header row. ``len(ds)`` counts the images, not the header,
  and a final newline at the end of the file is not an extra image.
* Index like a Python sequence: ``ds[-1]`` is the last sample and an index
  out of range raises ``IndexError`` (plain ``for x in ds`` relies on that to
  stop). Storing the rows in a list gives you both for free.
* Apply a transform when it is given, i.e. when it is not ``None``: test
  ``is not None``, not truthiness.
* torchvision 0.29 warns (``DeprecationWarning``) that its image decoding
  moves to TorchCodec; ``read_image`` still works and is what this exercise
  uses. The warning is harmless.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset


class MyDataset(Dataset):
    """A dataset over data already in memory: sample ``i`` is ``(data[i], labels[i])``.

    Args:
        data: an indexable sequence (a tensor, indexed along its first
            dimension, or a list) of samples.
        labels: an indexable sequence (tensor or list) of the same length.

    Raises:
        ValueError: at construction, if ``len(data) != len(labels)``.

    Contract:
        * ``len(ds)`` is ``len(data)`` (which equals ``len(labels)``).
        * ``ds[i]`` returns the tuple ``(data[i], labels[i])``: the items
          exactly as indexing ``data`` and ``labels`` gives them (a tensor
          row stays a tensor row with its dtype; a list element is returned
          as it is, not converted to a tensor).
        * It works with ``DataLoader`` and its default collation, e.g.
          ``DataLoader(MyDataset(torch.randn(10, 3), torch.arange(10)),
          batch_size=4)`` yields ``(X, Y)`` with ``X.shape == (4, 3)`` and
          ``Y.shape == (4,)`` (the last batch has 2 rows).

    Example:
        >>> ds = MyDataset([1.5, 2.5, 3.5], [0, 1, 0])
        >>> len(ds), ds[1]
        (3, (2.5, 1))
        >>> MyDataset(torch.zeros(3, 2), torch.zeros(4))
        Traceback (most recent call last):
        ValueError: ...
    """

    def __init__(self, data: Sequence[Any], labels: Sequence[Any]) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        raise NotImplementedError


class CustomImageDataset(Dataset):
    """A dataset over image files listed in a CSV annotations file.

    Args:
        annotations_file: path of a CSV file whose first row is the header
            ``file_name,label`` and which then has one row per image: the
            image's file name relative to ``img_dir``, and its integer class
            label. For example::

                file_name,label
                tshirt1.png,0
                boot7.png,9

        img_dir: the directory holding the images.
        transform: ``None``, or a callable applied to each image tensor.
        target_transform: ``None``, or a callable applied to each label.

    Contract:
        * ``__init__`` reads the CSV, once: ``len(ds)`` and ``ds[i]`` use what
          it read (they still work if the file is removed afterwards).
        * ``len(ds)`` is the number of data rows (the header is not a sample).
        * ``ds[i]`` returns the tuple ``(image, label)``:

          - ``image`` is read from disk when it is asked for, in
            ``__getitem__``, never up front in ``__init__``; it is exactly
            what ``torchvision.io.read_image`` returns for the file: a
            ``torch.uint8`` tensor of shape ``(C, H, W)`` with the values as
            stored (``C == 1`` for a grayscale PNG, ``3`` for RGB, ``2`` and
            ``4`` when the PNG also has an alpha channel). Any way of reading
            that gives exactly this tensor is fine.
          - ``label`` is the row's label as a Python ``int``.
          - when ``transform`` is given it is called once on the image and
            ``ds[i]`` returns its result in place of the image; likewise
            ``target_transform`` is called once on the (``int``) label and
            its result replaces the label.
        * Indexing follows Python's sequence rules: ``ds[-1]`` is the last
          row, ``ds[-len(ds)]`` the first; an index ``>= len(ds)`` or
          ``< -len(ds)`` raises ``IndexError``.
        * Do not use pandas (it is not available).

    Example:
        >>> ds = CustomImageDataset("labels.csv", "images/", target_transform=one_hot)
        >>> image, target = ds[0]
        >>> image.dtype, image.shape, target
        (torch.uint8, torch.Size([1, 28, 28]), tensor([1., 0., 0., 0., 0., 0., 0., 0., 0., 0.]))
    """

    def __init__(self, annotations_file: str | os.PathLike, img_dir: str | os.PathLike,
                 transform: Callable[[torch.Tensor], Any] | None = None,
                 target_transform: Callable[[int], Any] | None = None) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, idx: int) -> tuple[Any, Any]:
        raise NotImplementedError


def one_hot(label: int, num_classes: int = 10) -> torch.Tensor:
    """One-hot encode a class index: the ``Lambda`` target transform of the tutorial.

    Args:
        label: the class index, an ``int`` with ``0 <= label < num_classes``.
        num_classes: the length of the vector (10 for FashionMNIST).

    Returns:
        A new ``torch.float32`` tensor of shape ``(num_classes,)`` with
        ``1.0`` at position ``label`` and ``0.0`` everywhere else.
        Each call returns its own tensor (a DataLoader stacks many of them).

    Example:
        >>> one_hot(3)
        tensor([0., 0., 0., 1., 0., 0., 0., 0., 0., 0.])
        >>> one_hot(0, num_classes=3)
        tensor([1., 0., 0.])
    """
    raise NotImplementedError
