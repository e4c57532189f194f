"""Probes for the ``datasets`` exercise (run inside the worker, next to the submission).

Image files are written by the probes themselves into a fresh directory under the
worker's scratch working directory, from plain data the check sends:
``files`` is a list of ``[file_name, uint8 C x H x W tensor]`` and ``csv_text``
the annotations file's exact text.
"""
from __future__ import annotations

import itertools
import os
import pathlib
import tempfile
import warnings
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from grader.probing import raised_by_stub

# torchvision 0.29 warns about its deprecated image codecs on every call: keep the output clean.
warnings.filterwarnings("ignore", message="The image decoding and encoding", category=DeprecationWarning)

# This module is imported before the worker is confined (and may lose read access to
# site-packages): load PIL's format plugins now, so that a submission reading its PNGs
# with PIL (a correct alternative to read_image) can still find the PNG decoder later.
try:
    from PIL import Image as _PILImage

    _PILImage.init()
except ImportError:  # pragma: no cover - torchvision depends on pillow
    pass


# ---------------------------------------------------------------- helpers (not probes)

def _write_png(img: torch.Tensor, path: str) -> None:
    img = img.to(torch.uint8).contiguous()
    if img.shape[0] in (2, 4):  # with alpha: torchvision writes only 1 or 3 channels, Pillow (its dependency) all
        from PIL import Image
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)  # H x W x 2 -> "LA", x 4 -> "RGBA"
        return
    from torchvision.io import write_png
    write_png(img, path)


def _make(files: list, csv_text: str) -> tuple[str, str]:
    """Write the images and the CSV into a new directory; return (csv path, image dir)."""
    root = tempfile.mkdtemp(dir=".", prefix="ds-")
    img_dir = os.path.join(root, "images")
    os.mkdir(img_dir)
    for name, img in files:
        _write_png(img, os.path.join(img_dir, name))
    csv_path = os.path.join(root, "annotations.csv")
    with open(csv_path, "w", newline="") as f:  # newline="": the check chooses the line endings
        f.write(csv_text)
    return os.path.abspath(csv_path), os.path.abspath(img_dir)


def _plain(value: Any) -> Any:
    """A sample's field as plain data, with the Python type made explicit."""
    return {"type": type(value).__name__, "value": value if _is_plain(value) else repr(value)[:200]}


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return False


def _kind(value: Any) -> str:
    """Its type's name; "tuple" for any tuple, since a namedtuple is one (it unpacks and collates as one)."""
    return "tuple" if isinstance(value, tuple) else type(value).__name__


def _item(item: Any) -> dict[str, Any]:
    """Describe ``ds[i]``: its type, its length, and its two fields."""
    out: dict[str, Any] = {"type": _kind(item)}
    try:
        out["len"] = len(item)
    except TypeError:
        out["len"] = None
    if out["len"] == 2:
        first, second = item[0], item[1]
        out["x"], out["y"] = _plain(first), _plain(second)
    return out


class _Wrapped:
    """What the probes' transforms return, so a probe can tell it was returned as is."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload


# ---------------------------------------------------------------- MyDataset

def my_is_dataset(datasets: Any) -> bool:
    return isinstance(datasets.MyDataset(torch.zeros(2, 1), torch.zeros(2)), Dataset)


def my_build(datasets: Any, data: Any, labels: Any) -> int:
    """Construct ``MyDataset(data, labels)`` and return ``len(ds)``."""
    return len(datasets.MyDataset(data, labels))


def my_construct(datasets: Any, data: Any, labels: Any) -> bool:
    """Only construct ``MyDataset(data, labels)``: no len(), no indexing afterwards."""
    datasets.MyDataset(data, labels)
    return True


def my_items(datasets: Any, data: Any, labels: Any, indices: list[int]) -> dict[str, Any]:
    ds = datasets.MyDataset(data, labels)
    return {"len": len(ds), "items": [_item(ds[i]) for i in indices]}


def my_get(datasets: Any, data: Any, labels: Any, index: int) -> dict[str, Any]:
    """A single ``MyDataset(data, labels)[index]`` (for indices that must raise)."""
    return _item(datasets.MyDataset(data, labels)[index])


def my_loader(datasets: Any, data: Any, labels: Any, batch_size: int, drop_last: bool = False) -> list:
    """All batches of ``DataLoader(MyDataset(data, labels), batch_size)`` (no shuffling)."""
    loader = DataLoader(datasets.MyDataset(data, labels), batch_size=batch_size, drop_last=drop_last)
    return [_item(batch) for batch in itertools.islice(loader, 1000)]


def my_loader_shuffled(datasets: Any, data: torch.Tensor, labels: torch.Tensor, batch_size: int) -> dict[str, Any]:
    """One shuffled epoch: the rows and labels seen, in the order they came."""
    loader = DataLoader(datasets.MyDataset(data, labels), batch_size=batch_size, shuffle=True)
    xs, ys = [], []
    for x, y in itertools.islice(loader, 1000):
        xs.append(x)
        ys.append(y)
    return {"x": torch.cat(xs) if xs else None, "y": torch.cat(ys) if ys else None, "batches": len(xs)}


# ---------------------------------------------------------------- CustomImageDataset

def img_is_dataset(datasets: Any, files: list, csv_text: str) -> bool:
    csv_path, img_dir = _make(files, csv_text)
    return isinstance(datasets.CustomImageDataset(csv_path, img_dir), Dataset)


def img_len(datasets: Any, files: list, csv_text: str) -> int:
    csv_path, img_dir = _make(files, csv_text)
    return len(datasets.CustomImageDataset(csv_path, img_dir))


def img_items(datasets: Any, files: list, csv_text: str, indices: list[int], as_path: bool = False) -> list:
    """``ds[i]`` for each index, without transforms; ``as_path``: both paths given as ``pathlib.Path``."""
    csv_path, img_dir = _make(files, csv_text)
    if as_path:
        csv_path, img_dir = pathlib.Path(csv_path), pathlib.Path(img_dir)
    ds = datasets.CustomImageDataset(csv_path, img_dir)
    return [_item(ds[i]) for i in indices]


def img_get(datasets: Any, files: list, csv_text: str, index: int) -> dict[str, Any]:
    """A single ``ds[index]`` (for indices that must raise)."""
    csv_path, img_dir = _make(files, csv_text)
    ds = datasets.CustomImageDataset(csv_path, img_dir)
    return _item(ds[index])


def img_iterate(datasets: Any, files: list, csv_text: str) -> int:
    """How many items ``for item in ds`` yields (it stops at the first IndexError); capped."""
    csv_path, img_dir = _make(files, csv_text)
    ds = datasets.CustomImageDataset(csv_path, img_dir)
    return sum(1 for _ in itertools.islice(iter(ds), len(files) + 20))


def img_lazy(datasets: Any, files: list, csv_text: str, index: int, before: str,
             replacement: torch.Tensor | None = None) -> dict[str, Any]:
    """Construct the dataset while the image files are not the real ones yet, then index.

    ``before="garbage"``: every image file holds bytes that are not an image while
    the dataset is built; the real PNGs are written afterwards.
    ``before="replace"``: the files are real at construction; ``ds[index]`` is read
    once, then image ``index`` is replaced by ``replacement`` (so a dataset that
    keeps what it read, up front or on first access, shows the old image).
    """
    csv_path, img_dir = _make(files, csv_text)
    if before == "garbage":
        for name, _ in files:
            with open(os.path.join(img_dir, name), "wb") as f:
                f.write(b"this is not an image yet\n")
    try:
        ds = datasets.CustomImageDataset(csv_path, img_dir)
    except Exception as err:  # noqa: BLE001 - an eager read fails here; say so instead of a bare error
        if raised_by_stub(err, getattr(datasets, "__file__", None)):
            raise
        return {"init_error": f"{type(err).__name__}: {str(err)[:200]}"}
    if before == "garbage":
        for name, img in files:
            _write_png(img, os.path.join(img_dir, name))
    else:
        ds[index]
        _write_png(replacement, os.path.join(img_dir, files[index][0]))
    late = _item(ds[index])
    # What the submission gives for the same file from a dataset built after the files settled.
    fresh = _item(datasets.CustomImageDataset(csv_path, img_dir)[index])
    return {"late": late, "fresh": fresh}


def img_csv_read_once(datasets: Any, files: list, csv_text: str, index: int,
                      rewrite: str | None = None) -> dict[str, Any]:
    """``len(ds)`` and ``ds[index]`` after the CSV file is removed (or replaced by ``rewrite``), and
    (``before``) the same from a dataset read while it was there: the annotations are read when the
    dataset is built."""
    csv_path, img_dir = _make(files, csv_text)
    ds = datasets.CustomImageDataset(csv_path, img_dir)
    before = [len(ds), _item(datasets.CustomImageDataset(csv_path, img_dir)[index])]
    if rewrite is None:
        os.remove(csv_path)
    else:
        with open(csv_path, "w", newline="") as f:
            f.write(rewrite)
    try:
        after = [len(ds), _item(ds[index])]
    except Exception as err:  # noqa: BLE001 - reading the CSV again fails here; say so
        if raised_by_stub(err, getattr(datasets, "__file__", None)):
            raise
        return {"before": before, "error": f"{type(err).__name__}: {str(err)[:200]}"}
    return {"before": before, "after": after}


class _Falsy:
    """A callable that is false in a boolean context, as an empty ``nn.Sequential()`` pipeline is."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def __len__(self) -> int:
        return 0


def _recording_transforms() -> tuple[list, list, Any, Any]:
    """A transform and a target_transform that note what they get and wrap it (``_Wrapped``), with
    the lists they note it in."""
    img_args: list = []
    tgt_args: list = []

    def transform(x: Any) -> _Wrapped:
        img_args.append(x)
        return _Wrapped(x)

    def target_transform(y: Any) -> _Wrapped:
        tgt_args.append(y)
        return _Wrapped(y)

    return img_args, tgt_args, transform, target_transform


def img_transforms(datasets: Any, files: list, csv_text: str, index: int,
                   image: bool, target: bool, falsy: bool = False) -> dict[str, Any]:
    """``ds[index]`` with recording transforms; says what they got and whether their result came back.

    ``plain`` is the submission's own ``ds[index]`` without transforms, to compare with.
    ``falsy``: the transforms are callables that are false in a boolean context.
    """
    csv_path, img_dir = _make(files, csv_text)
    plain = _item(datasets.CustomImageDataset(csv_path, img_dir)[index])
    img_args, tgt_args, transform, target_transform = _recording_transforms()

    kwargs: dict[str, Any] = {}
    if image:
        kwargs["transform"] = _Falsy(transform) if falsy else transform
    if target:
        kwargs["target_transform"] = _Falsy(target_transform) if falsy else target_transform
    ds = datasets.CustomImageDataset(csv_path, img_dir, **kwargs)
    built_img, built_tgt = len(img_args), len(tgt_args)
    item = ds[index]
    out: dict[str, Any] = {
        "calls_in_init": [built_img, built_tgt],
        "image_calls": [_plain(a) for a in img_args[built_img:]],
        "target_calls": [_plain(a) for a in tgt_args[built_tgt:]],
        "type": _kind(item),
        "plain": plain,
    }
    try:
        first, second = item
    except (TypeError, ValueError):
        out["len"] = None
        return out
    out["len"] = 2
    # Which transform's result (if any) is in each slot, and what it wrapped.
    for slot, value in (("x", first), ("y", second)):
        if isinstance(value, _Wrapped):
            src = "image" if any(value.payload is a for a in img_args) else (
                "target" if any(value.payload is a for a in tgt_args) else "?")
            out[slot] = {"wrapped_by": src, "payload": _plain(value.payload)}
        else:
            out[slot] = {"wrapped_by": None, "payload": _plain(value)}
    return out


def img_transforms_twice(datasets: Any, files: list, csv_text: str, index: int,
                         replacement: torch.Tensor) -> dict[str, Any]:
    """``ds[index]`` twice with recording transforms, image ``index`` replaced on disk in between;
    ``fresh`` is the submission's own plain ``ds[index]`` of the replaced file, to compare with."""
    csv_path, img_dir = _make(files, csv_text)
    img_args, tgt_args, transform, target_transform = _recording_transforms()

    ds = datasets.CustomImageDataset(csv_path, img_dir, transform=transform, target_transform=target_transform)
    built_img, built_tgt = len(img_args), len(tgt_args)
    ds[index]
    _write_png(replacement, os.path.join(img_dir, files[index][0]))
    ds[index]
    fresh = _item(datasets.CustomImageDataset(csv_path, img_dir)[index])
    return {"image_calls": [_plain(a) for a in img_args[built_img:]],
            "target_calls": [_plain(a) for a in tgt_args[built_tgt:]], "fresh": fresh}


def img_loader(datasets: Any, files: list, csv_text: str, batch_size: int, one_hot_targets: bool) -> list:
    """All batches of a DataLoader over the dataset (optionally with ``target_transform=one_hot``)."""
    csv_path, img_dir = _make(files, csv_text)
    kwargs = {"target_transform": datasets.one_hot} if one_hot_targets else {}
    ds = datasets.CustomImageDataset(csv_path, img_dir, **kwargs)
    loader = DataLoader(ds, batch_size=batch_size)
    return [_item(batch) for batch in itertools.islice(loader, 1000)]


# ---------------------------------------------------------------- one_hot

def one_hot(datasets: Any, label: int, num_classes: int | None = None, keyword: bool = False) -> dict[str, Any]:
    """``one_hot(label)``, ``one_hot(label, num_classes)`` or (``keyword``) ``one_hot(label, num_classes=...)``."""
    if num_classes is None:
        out = datasets.one_hot(label)
    elif keyword:
        out = datasets.one_hot(label, num_classes=num_classes)
    else:
        out = datasets.one_hot(label, num_classes)
    return _plain(out)


def one_hot_after_write(datasets: Any, label: int, num_classes: int) -> dict[str, Any]:
    """one_hot(label), written into in place by its caller, then one_hot(label) again."""
    first = datasets.one_hot(label, num_classes)
    if isinstance(first, torch.Tensor):
        with torch.no_grad():
            first.mul_(0.9).add_(0.01)  # label smoothing done in place, as a caller may
    return _plain(datasets.one_hot(label, num_classes))


def one_hot_many(datasets: Any, labels: list[int], num_classes: int) -> list:
    """Call one_hot for every label first, then report all results (a shared buffer shows here)."""
    outs = [datasets.one_hot(lab, num_classes) for lab in labels]
    return [_plain(o) for o in outs]
