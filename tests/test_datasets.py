"""Learner tests for the ``datasets`` exercise: MyDataset, CustomImageDataset, one_hot.

The image tests write a few tiny PNG files into a temporary directory with
``torchvision.io.write_png`` (PNG is lossless, so reading a file back must give
exactly the tensor that was written).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.io import write_png

from kata import describe, expect, expect_close, expect_raises, run

# torchvision 0.29 warns on every PNG read/write that its image codecs are deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

# ---------------------------------------------------------------- helpers

def _images() -> list[tuple[str, torch.Tensor, int]]:
    """Four small images: (file name, uint8 C x H x W tensor, label); grayscale and RGB."""
    g = torch.Generator().manual_seed(1234)
    return [
        ("gray_a.png", torch.randint(0, 256, (1, 4, 5), generator=g, dtype=torch.uint8), 3),
        ("rgb_b.png", torch.randint(0, 256, (3, 6, 2), generator=g, dtype=torch.uint8), 0),
        ("gray_c.png", torch.randint(0, 256, (1, 3, 3), generator=g, dtype=torch.uint8), 12),
        ("rgb_d.png", torch.randint(0, 256, (3, 2, 7), generator=g, dtype=torch.uint8), 7),
    ]


def _write_dataset(root: Path, images, csv_text: str | None = None) -> tuple[str, str]:
    """Write the PNGs into root/img and an annotations CSV; return (csv path, img dir)."""
    img_dir = root / "img"
    img_dir.mkdir(exist_ok=True)
    for name, img, _ in images:
        write_png(img, str(img_dir / name))
    if csv_text is None:
        csv_text = "file_name,label\n" + "".join(f"{n},{lab}\n" for n, _, lab in images)
    csv_path = root / "labels.csv"
    csv_path.write_text(csv_text)
    return str(csv_path), str(img_dir)


def _my_dataset(ex, data, labels, call: str = "MyDataset(data, labels)", inputs: dict | None = None):
    return run(ex.MyDataset, data, labels, call=call, inputs=inputs,
               point="MyDataset(data, labels) keeps data and labels (of the same length)")


def _custom(ex, csv_path, img_dir, call: str = "CustomImageDataset(csv, img_dir)", inputs: dict | None = None,
            **kwargs):
    return run(ex.CustomImageDataset, csv_path, img_dir, call=call, inputs=inputs,
               point="__init__ reads the file_name,label CSV (a header row, then one row per image)", **kwargs)


def _same_tensor(got, want) -> bool:
    return (isinstance(got, torch.Tensor) and got.dtype == want.dtype
            and got.shape == want.shape and torch.equal(got, want))


# ---------------------------------------------------------------- MyDataset

def test_mydataset_is_a_dataset(ex):
    call = "MyDataset(torch.zeros(3, 2), torch.zeros(3))"
    ds = _my_dataset(ex, torch.zeros(3, 2), torch.zeros(3), call=call)
    expect(isinstance(ds, Dataset), call=call,
           point="MyDataset is a torch.utils.data.Dataset",
           expected="an instance of torch.utils.data.Dataset", got=f"a {type(ds).__mro__}")


def test_mydataset_len_and_items_over_tensors(ex):
    data = torch.arange(15.0).reshape(5, 3)
    labels = torch.tensor([4, 1, 0, 2, 2])
    call = "MyDataset(data, labels)"
    inputs = {"data": data, "labels": labels}
    ds = _my_dataset(ex, data, labels, call=call, inputs=inputs)
    point = "len(ds) is the length of data"
    n = run(len, ds, call=f"len({call})", point=point, inputs=inputs)
    expect(n == 5, call=f"len({call})", point=point, expected="5", got=repr(n), inputs=inputs)
    point = "ds[i] returns the pair (data[i], labels[i])"
    for i in (0, 3, 4):
        item = run(lambda: ds[i], call=f"{call}[{i}]", point=point, inputs=inputs)
        expect(isinstance(item, tuple) and len(item) == 2, call=f"{call}[{i}]", point=point,
               expected="a tuple of 2 items", got=describe(item))
        expect_close(item[0], data[i], call=f"{call}[{i}][0]", point="ds[i][0] is data[i]",
                     inputs={"data": data})
        expect_close(item[1], labels[i], call=f"{call}[{i}][1]", point="ds[i][1] is labels[i]",
                     inputs={"labels": labels})


def test_mydataset_items_over_lists_are_not_converted(ex):
    data = [1.5, 2.5, 3.5]
    labels = [0, 1, 0]
    built = "MyDataset([1.5, 2.5, 3.5], [0, 1, 0])"
    ds = _my_dataset(ex, data, labels, call=built)
    call, point = f"len({built})", "len(ds) is the length of data"
    n = run(len, ds, call=call, point=point)
    expect(n == 3, call=call, point=point, expected="3", got=repr(n))
    call, point = f"{built}[1]", "ds[i] returns (data[i], labels[i]) exactly as indexing the lists gives them"
    item = run(lambda: ds[1], call=call, point=point)
    expect(isinstance(item, tuple) and item == (2.5, 1) and type(item[0]) is float and type(item[1]) is int,
           call=call, point=point, expected="(2.5, 1), a float and an int", got=describe(item))


def test_mydataset_indexes_like_a_sequence(ex):
    # Never iterate here: a dataset that wraps its index (idx % len) would never stop.
    for dname, data in (("torch.arange(10.0).reshape(5, 2)", torch.arange(10.0).reshape(5, 2)),
                        ("[0.5, 1.5, 2.5, 3.5, 4.5]", [0.5, 1.5, 2.5, 3.5, 4.5])):
        labels = [4, 1, 0, 2, 3]
        built = f"MyDataset({dname}, {labels})"
        ds = _my_dataset(ex, data, labels, call=built)
        point = "ds[i] returns (data[i], labels[i]): a negative index counts from the end, as data[i] does"
        for idx in (-1, -5, -2):
            call = f"{built}[{idx}]"
            item = run(lambda: ds[idx], call=call, point=point)
            ok = isinstance(item, tuple) and len(item) == 2 and item[1] == labels[idx] and (
                _same_tensor(item[0], data[idx]) if isinstance(data, torch.Tensor) else item[0] == data[idx])
            expect(ok, call=call, point=point,
                   expected=f"({describe(data[idx])}, {labels[idx]!r}) (data[{idx}], labels[{idx}])",
                   got=describe(item))
        for idx in (5, 7, -6):
            expect_raises(IndexError, ds.__getitem__, idx, call=f"{built}[{idx}]  # len 5",
                          point="an index out of range raises IndexError, as indexing data does "
                                "(so that `for x in ds` stops)")


@pytest.mark.parametrize("data, labels", [
    (torch.zeros(3, 2), torch.zeros(4)),
    ([1, 2, 3], [0, 1]),
    (torch.zeros(2, 5), [0, 1, 2]),
], ids=["tensors", "lists", "mixed"])
def test_mydataset_different_lengths_raise_value_error(ex, data, labels):
    expect_raises(ValueError, ex.MyDataset, data, labels,
                  call=f"MyDataset(<{len(data)} items>, <{len(labels)} items>)",
                  point="data and labels of different lengths raise ValueError at construction")


def test_mydataset_with_dataloader_over_tensors(ex):
    data = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(10)
    ds = _my_dataset(ex, data, labels, inputs={"data": data, "labels": labels})
    call = "list(DataLoader(MyDataset(data, labels), batch_size=4))"
    point = "works with DataLoader: 10 samples make batches of 4, 4, 2"
    batches = run(lambda: list(DataLoader(ds, batch_size=4)), call=call, point=point)
    expect(len(batches) == 3, call=call, point=point, expected="3 batches", got=f"{len(batches)} batches")
    for b, (start, stop) in enumerate([(0, 4), (4, 8), (8, 10)]):
        x, y = batches[b]
        expect_close(x, data[start:stop], call=f"{call}[{b}][0]",
                     point="default collation stacks the data rows of a batch", inputs={"data": data})
        expect_close(y, labels[start:stop], call=f"{call}[{b}][1]",
                     point="default collation stacks the labels of a batch", inputs={"labels": labels})


def test_mydataset_with_dataloader_over_lists(ex):
    data = [0.5, 1.5, 2.5, 3.5, 4.5]
    labels = [1, 0, 1, 1, 0]
    ds = _my_dataset(ex, data, labels, inputs={"data": data, "labels": labels})
    call = "next(iter(DataLoader(MyDataset(data, labels), batch_size=3)))"
    x, y = run(lambda: next(iter(DataLoader(ds, batch_size=3))), call=call,
               point="works with DataLoader: the first batch is (data[:3], labels[:3]) collated",
               inputs={"data": data, "labels": labels})
    expect_close(x, torch.tensor([0.5, 1.5, 2.5], dtype=torch.float64), call=call + "[0]",
                 point="default collation turns a batch of Python floats into a float64 tensor",
                 inputs={"data": data})
    expect_close(y, torch.tensor([1, 0, 1]), call=call + "[1]",
                 point="default collation turns a batch of Python ints into an int64 tensor",
                 inputs={"labels": labels})


# ---------------------------------------------------------------- CustomImageDataset

def test_custom_is_a_dataset_and_len_counts_data_rows(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    inputs = {"csv": Path(csv_path).read_text()}
    ds = _custom(ex, csv_path, img_dir, inputs=inputs)
    expect(isinstance(ds, Dataset), call="CustomImageDataset(csv, img_dir)",
           point="CustomImageDataset is a torch.utils.data.Dataset",
           expected="an instance of torch.utils.data.Dataset", got=f"a {type(ds).__mro__}")
    call = "len(CustomImageDataset(csv, img_dir))"
    point = "len(ds) is the number of data rows (not the header, not the final newline)"
    n = run(len, ds, call=call, point=point, inputs=inputs)
    expect(n == 4, call=call, point=point, expected="4", got=repr(n), inputs=inputs)


def test_custom_len_without_final_newline_and_with_no_rows(ex, tmp_path):
    images = _images()[:2]
    text = "file_name,label\n" + "\n".join(f"{n},{lab}" for n, _, lab in images)
    csv_path, img_dir = _write_dataset(tmp_path, images, text)
    call = "len(CustomImageDataset(csv, img_dir))"
    point, inputs = "len(ds) is the number of data rows", {"csv": text}
    ds = _custom(ex, csv_path, img_dir, inputs=inputs)
    n = run(len, ds, call=call, point=point, inputs=inputs)
    expect(n == 2, call=call, point=point, expected="2", got=repr(n), inputs=inputs)
    Path(csv_path).write_text("file_name,label\n")
    point, inputs = "len(ds) is the number of data rows: a header alone means 0", {"csv": "file_name,label\n"}
    ds = _custom(ex, csv_path, img_dir, inputs=inputs)
    n = run(len, ds, call=call, point=point, inputs=inputs)
    expect(n == 0, call=call, point=point, expected="0", got=repr(n), inputs=inputs)


def test_custom_images_are_exactly_what_read_image_gives(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    ds = _custom(ex, csv_path, img_dir)
    for i, (name, img, _) in enumerate(images):
        kind = "grayscale (1 channel)" if img.shape[0] == 1 else "RGB (3 channels)"
        call = f"CustomImageDataset(csv, img_dir)[{i}][0]"
        point = f"the image is exactly what read_image returns: uint8, C x H x W, values as stored; {name} is {kind}"
        got = run(lambda: ds[i][0], call=call, point=point)
        expect(_same_tensor(got, img), call=call, point=point, expected=describe(img), got=describe(got))


def test_custom_accepts_path_objects(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    built = "CustomImageDataset(pathlib.Path(csv), pathlib.Path(img_dir))"
    ds = run(ex.CustomImageDataset, Path(csv_path), Path(img_dir), call=built,
             point="annotations_file and img_dir may be str or os.PathLike (a pathlib.Path)")
    point = "img_dir may be a pathlib.Path (os.PathLike): join paths with os.path.join, not +"
    for i in (0, 3):
        call = f"{built}[{i}]"
        got = run(lambda: ds[i], call=call, point=point)
        expect(isinstance(got, tuple) and len(got) == 2 and _same_tensor(got[0], images[i][1])
               and got[1] == images[i][2], call=call, point=point,
               expected=f"({describe(images[i][1])}, {images[i][2]})", got=describe(got))


def test_custom_keeps_the_alpha_channel(ex, tmp_path):
    from PIL import Image  # torchvision writes PNGs of 1 or 3 channels only; Pillow is its dependency

    g = torch.Generator().manual_seed(99)
    images = [("la.png", torch.randint(0, 256, (2, 3, 4), generator=g, dtype=torch.uint8), 1),
              ("rgba.png", torch.randint(0, 256, (4, 5, 2), generator=g, dtype=torch.uint8), 2)]
    csv_path, img_dir = _write_dataset(tmp_path, [])
    for name, img, _ in images:
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(Path(img_dir) / name)
    Path(csv_path).write_text("file_name,label\n" + "".join(f"{n},{lab}\n" for n, _, lab in images))
    ds = _custom(ex, csv_path, img_dir)
    for i, (name, img, _) in enumerate(images):
        call = f"CustomImageDataset(csv, img_dir)[{i}][0]"
        point = f"the image is exactly what read_image returns, alpha channel included; {name} has {img.shape[0]} channels"
        got = run(lambda: ds[i][0], call=call, point=point)
        expect(_same_tensor(got, img), call=call, point=point, expected=describe(img), got=describe(got))


def test_custom_labels_are_python_ints(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    ds = _custom(ex, csv_path, img_dir)
    point = "the label is the row's label as a Python int"
    for i, (_, _, lab) in enumerate(images):
        call = f"CustomImageDataset(csv, img_dir)[{i}][1]"
        got = run(lambda: ds[i][1], call=call, point=point)
        expect(type(got) is int and got == lab, call=call, point=point,
               expected=f"{lab!r} (int)", got=f"{got!r} ({type(got).__name__})")


def test_custom_reads_images_lazily(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    # At construction time the image files hold garbage, not PNGs...
    for name, _, _ in images:
        (Path(img_dir) / name).write_bytes(b"not a png yet")
    try:
        ds = ex.CustomImageDataset(csv_path, img_dir)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - an eager read fails here: tell the learner why
        expect(False, call="CustomImageDataset(csv, img_dir)  # the image files are not PNGs yet",
               point="the image is read from disk when it is asked for, not up front in __init__",
               expected="construction succeeds: __init__ reads only the CSV",
               got=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
    # ... and only afterwards the real images arrive.
    for name, img, _ in images:
        write_png(img, str(Path(img_dir) / name))
    call = "CustomImageDataset(csv, img_dir)[1][0]"
    point = "the image is read from disk when it is asked for, not up front in __init__"
    got = run(lambda: ds[1][0], call=call, point=point)
    expect(_same_tensor(got, images[1][1]), call=call, point=point,
           expected=describe(images[1][1]) + " (the file as it is when ds[1] is called)",
           got=describe(got))
    # Read on every ds[i], not once and kept: the file changes, ds[1] follows.
    write_png(images[0][1], str(Path(img_dir) / images[1][0]))
    call = "ds[1][0]; <image 1 replaced on disk>; ds[1][0]"
    point = "the image is read from disk each time it is asked for (not kept from an earlier ds[i])"
    got = run(lambda: ds[1][0], call=call, point=point)
    expect(_same_tensor(got, images[0][1]), call=call, point=point,
           expected=describe(images[0][1]) + " (the new file)", got=describe(got))


def test_custom_reads_the_csv_when_built(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    ds = _custom(ex, csv_path, img_dir)
    point = "only the annotations are read when the dataset is built (once, in __init__): len and ds[i] use them"
    # Edited rather than removed: a dataset that reads the file again whenever it is there changes.
    name, _, label = images[3]
    Path(csv_path).write_text(f"file_name,label\n{name},{label}\n")
    call = "ds = CustomImageDataset(csv, img_dir); <the CSV now lists only its last row>; len(ds), ds[2][1]"
    n = run(len, ds, call=call, point=point)
    got = run(lambda: ds[2][1], call=call, point=point) if n == 4 else None
    expect(n == 4 and got == images[2][2], call=call, point=point,
           expected=f"(4, {images[2][2]!r}): what __init__ read",
           got=f"({n!r}, {got!r})" if n == 4 else f"len(ds) == {n!r} (ds[2] not tried)")
    Path(csv_path).unlink()  # the annotations were read in __init__: nothing needs the file now
    call = "ds = CustomImageDataset(csv, img_dir); <the CSV removed>; len(ds)"
    n = run(len, ds, call=call, point=point)
    expect(n == 4, call=call, point=point, expected="4", got=repr(n))
    call = "ds = CustomImageDataset(csv, img_dir); <the CSV removed>; ds[2][1]"
    got = run(lambda: ds[2][1], call=call, point=point)
    expect(got == images[2][2], call=call, point=point, expected=repr(images[2][2]), got=repr(got))


def test_custom_negative_indices_count_from_the_end(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    ds = _custom(ex, csv_path, img_dir)
    point = "negative indices count from the end, like a Python list"
    for idx, want in ((-1, 3), (-4, 0), (-2, 2)):
        call = f"CustomImageDataset(csv, img_dir)[{idx}]"
        img, lab = run(lambda: ds[idx], call=call, point=point)
        expect(_same_tensor(img, images[want][1]) and lab == images[want][2], call=call, point=point,
               expected=f"row {want}: ({describe(images[want][1])}, {images[want][2]})",
               got=f"({describe(img)}, {lab!r})")


def test_custom_out_of_range_raises_index_error(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    ds = _custom(ex, csv_path, img_dir)
    for idx in (4, 10, -5):
        expect_raises(IndexError, ds.__getitem__, idx, call=f"CustomImageDataset(csv, img_dir)[{idx}]  # len 4",
                      point="an index out of range raises IndexError")
    call = "list(CustomImageDataset(csv, img_dir))"
    point = "iteration by indexing stops at the IndexError after the last row"
    items = run(list, ds, call=call, point=point)
    expect(len(items) == 4, call=call, point=point, expected="4 items", got=f"{len(items)} items")


def test_custom_transforms_are_applied(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    seen: list = []
    labels_seen: list = []

    def transform(img):
        seen.append(img)
        return img.float() / 255

    def target_transform(y):
        labels_seen.append(y)
        return y * 100 + 1

    built = ("CustomImageDataset(csv, img_dir, transform=lambda x: x.float() / 255, "
             "target_transform=lambda y: y * 100 + 1)")
    ds = _custom(ex, csv_path, img_dir, call=built, transform=transform, target_transform=target_transform)
    call = built + "[2]"
    img, lab = run(lambda: ds[2], call=call,
                   point="ds[i] returns (transform(image), target_transform(label)) when they are given")
    expect(len(seen) == 1 and _same_tensor(seen[0], images[2][1]), call=call,
           point="transform is called once, on the image exactly as read_image returns it",
           expected=f"one call with {describe(images[2][1])}",
           got=f"{len(seen)} calls" + (f", first with {describe(seen[0])}" if seen else ""))
    expect_close(img, images[2][1].float() / 255, call=call + "[0]",
                 point="ds[i] returns transform(image) in place of the image")
    expect(lab == 1201, call=call + "[1]", point="ds[i] returns target_transform(label) in place of the label",
           expected="1201 (= 12 * 100 + 1)", got=repr(lab))
    # Again, after the file changed: each ds[i] reads the image and calls both transforms anew
    # (a random augmentation must differ from one access to the next).
    write_png(images[3][1], str(Path(img_dir) / images[2][0]))
    call = built + "[2]; <image 2 replaced on disk>; ds[2]"
    point = "every ds[i] reads the image and calls transform and target_transform again (results are not kept)"
    img, lab = run(lambda: ds[2], call=call, point=point)
    expect(len(seen) == 2 and len(labels_seen) == 2, call=call, point=point, expected="2 calls each",
           got=f"transform called {len(seen)} times, target_transform {len(labels_seen)} times")
    expect(_same_tensor(seen[1], images[3][1]), call=call,
           point="with a transform too, the image is read from disk at each ds[i]",
           expected=f"the second transform call with the new file {describe(images[3][1])}",
           got=describe(seen[1]))


class _FalsyTransform:
    """A callable that is false in an `if` (like an empty transforms pipeline: len() == 0)."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __len__(self) -> int:
        return 0

    def __call__(self, value):
        self.calls += 1
        return self.fn(value)


def test_custom_falsy_transforms_are_applied(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    transform, target_transform = _FalsyTransform(lambda img: img.float()), _FalsyTransform(lambda y: y + 1)
    built, why = "CustomImageDataset(csv, img_dir, transform=t, target_transform=tt)", "  # bool(t), bool(tt) are False"
    ds = _custom(ex, csv_path, img_dir, call=built + why, transform=transform, target_transform=target_transform)
    call = built + "[1]" + why
    point = "a transform is applied whenever it is given: test `is not None`, not truthiness"
    run(lambda: ds[1], call=call, point=point)
    expect(transform.calls == 1 and target_transform.calls == 1, call=call, point=point,
           expected="transform and target_transform called once each",
           got=f"transform called {transform.calls} times, target_transform {target_transform.calls} times")


def test_custom_without_transforms_leaves_items_alone(ex, tmp_path):
    images = _images()
    csv_path, img_dir = _write_dataset(tmp_path, images)
    built = "CustomImageDataset(csv, img_dir, target_transform=str)"
    ds = _custom(ex, csv_path, img_dir, call=built, target_transform=str)
    call = built + "[0]"
    point = "with transform=None the image is untouched; target_transform applies to the label only"
    img, lab = run(lambda: ds[0], call=call, point=point)
    expect(_same_tensor(img, images[0][1]) and lab == "3", call=call, point=point,
           expected=f"({describe(images[0][1])}, '3')", got=f"({describe(img)}, {lab!r})")


def test_custom_with_dataloader_and_one_hot(ex, tmp_path):
    g = torch.Generator().manual_seed(7)
    images = [(f"im{i}.png", torch.randint(0, 256, (1, 4, 4), generator=g, dtype=torch.uint8), lab)
              for i, lab in enumerate([2, 9, 0, 5, 5])]
    csv_path, img_dir = _write_dataset(tmp_path, images)
    ds = _custom(ex, csv_path, img_dir, call="CustomImageDataset(csv, img_dir, target_transform=one_hot)",
                 target_transform=ex.one_hot)
    call = "next(iter(DataLoader(CustomImageDataset(csv, img_dir, target_transform=one_hot), batch_size=3)))"
    x, y = run(lambda: next(iter(DataLoader(ds, batch_size=3))), call=call,
               point="works with DataLoader: the first batch is (3 images, their one_hot labels) collated")
    want_x = torch.stack([img for _, img, _ in images[:3]])
    expect(_same_tensor(x, want_x), call=call + "[0]",
           point="default collation stacks the uint8 images into (B, C, H, W)",
           expected=describe(want_x), got=describe(x))
    want_y = torch.nn.functional.one_hot(torch.tensor([2, 9, 0]), 10).float()
    expect_close(y, want_y, call=call + "[1]",
                 point="one_hot as target_transform: a (B, 10) float32 batch of one-hot rows")


# ---------------------------------------------------------------- one_hot

@pytest.mark.parametrize("label, num_classes", [(3, 10), (0, 10), (9, 10), (0, 1), (4, 5), (17, 20)])
def test_one_hot_values(ex, label, num_classes):
    call = f"one_hot({label}, num_classes={num_classes})"
    point = "a float32 tensor of shape (num_classes,) with 1.0 at label and 0.0 elsewhere"
    got = run(ex.one_hot, label, num_classes=num_classes, call=call, point=point)
    want = torch.nn.functional.one_hot(torch.tensor(label), num_classes).to(torch.float32)
    expect_close(got, want, call=call, point=point)


def test_one_hot_default_has_ten_classes(ex):
    call, point = "one_hot(6)", "num_classes defaults to 10"
    got = run(ex.one_hot, 6, call=call, point=point)
    want = torch.zeros(10)
    want[6] = 1.0
    expect_close(got, want, call=call, point=point)


def test_one_hot_calls_return_separate_tensors(ex):
    call = "a = one_hot(1, 4); one_hot(2, 4); a"
    point = "each call returns its own new tensor (a later call must not change it)"
    first = run(ex.one_hot, 1, 4, call="a = one_hot(1, 4)", point=point)
    run(ex.one_hot, 2, 4, call="a = one_hot(1, 4); one_hot(2, 4)", point=point)
    expect_close(first, torch.tensor([0.0, 1.0, 0.0, 0.0]), call=call, point=point)
    call = "a = one_hot(1, 4); a.mul_(0.9).add_(0.01); one_hot(1, 4)"
    point = "each call returns its own tensor: writing into one result changes no later one"
    first.mul_(0.9).add_(0.01)
    again = run(ex.one_hot, 1, 4, call=call, point=point)
    expect_close(again, torch.tensor([0.0, 1.0, 0.0, 0.0]), call=call, point=point)
