"""Hidden checks for the ``datasets`` exercise: MyDataset, CustomImageDataset, one_hot.

Nothing here is random in the statistical sense: every check compares exact
answers (PNG is lossless, so an image read back must equal the tensor written).
The inputs are drawn from ``rng`` so that each grading seed sees other shapes,
pixel values, labels and file names.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch

from grader.checking import expect, expect_close, expect_equal, expect_raises, describe

POINT_IMAGE = "ds[i][0] is exactly what torchvision.io.read_image returns: uint8, C x H x W, values as stored"


# ---------------------------------------------------------------- input builders

def _randint(rng: torch.Generator, low: int, high: int) -> int:
    """An int in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=rng))


def _image(rng: torch.Generator, channels: int, h: int | None = None, w: int | None = None) -> torch.Tensor:
    h = h if h is not None else _randint(rng, 1, 9)
    w = w if w is not None else _randint(rng, 1, 9)
    return torch.randint(0, 256, (channels, h, w), generator=rng, dtype=torch.uint8)


_STEMS = ("img", "photo 7", "scan-b", "a_b")


def _rows(rng: torch.Generator, n: int, channels: tuple[int, ...] = (1, 3),
          size: tuple[int, int] | None = None) -> list[tuple[str, torch.Tensor, int]]:
    """``n`` rows (file name, image, label); channels drawn from ``channels``."""
    rows = []
    for k in range(n):
        c = channels[_randint(rng, 0, len(channels) - 1)]
        img = _image(rng, c, *(size or (None, None)))
        stem = _STEMS[_randint(rng, 0, len(_STEMS) - 1)]
        rows.append((f"{stem}{k}.png", img, _randint(rng, 0, 999)))
    return rows


def _csv(rows, newline: str = "\n", final_newline: bool = True) -> str:
    lines = ["file_name,label"] + [f"{name},{label}" for name, _, label in rows]
    return newline.join(lines) + (newline if final_newline else "")


def _files(rows) -> list:
    return [[name, img] for name, img, _ in rows]


def _tensor_field(img: torch.Tensor) -> dict[str, Any]:
    return {"type": "Tensor", "value": img}


def _show_rows(rows) -> str:
    return "; ".join(f"{n}: {tuple(img.shape)} label {lab}" for n, img, lab in rows)


def _check_pair(got: dict, call: str) -> None:
    expect(got.get("type") == "tuple" and got.get("len") == 2, call=call,
           point="ds[i] returns a pair (a tuple of 2 items)",
           expected="a tuple of length 2", got=f"a {got.get('type')} of length {got.get('len')}")


# ================================================================ MyDataset

@pytest.mark.weight(1)
def test_mydataset_is_a_dataset(sub):
    """MyDataset is a torch.utils.data.Dataset"""
    got = sub.my_is_dataset()
    expect(got is True, call="isinstance(MyDataset(torch.zeros(2, 1), torch.zeros(2)), Dataset)",
           point="MyDataset subclasses torch.utils.data.Dataset", expected="True", got=repr(got))


@pytest.mark.weight(1)
def test_mydataset_len(sub, rng):
    """len(ds) is the common length of data and labels"""
    for n in (0, 1, _randint(rng, 2, 40)):
        d = _randint(rng, 1, 4)
        got = sub.my_build(torch.randn(n, d, generator=rng), torch.randint(0, 5, (n,), generator=rng))
        expect_equal(got, n, call=f"len(MyDataset(<tensor ({n}, {d})>, <tensor ({n},)>))",
                     point="len(ds) is the length of data and labels")
        got = sub.my_build([float(i) for i in range(n)], list(range(n)))
        expect_equal(got, n, call=f"len(MyDataset(<list of {n}>, <list of {n}>))",
                     point="len(ds) is the length of data and labels")


@pytest.mark.weight(2)
def test_mydataset_items_over_tensors(sub, rng):
    """ds[i] returns the pair (data[i], labels[i]) for tensors"""
    n = _randint(rng, 3, 12)
    for data, labels in (
        (torch.randn(n, 2, 3, generator=rng), torch.randint(0, 10, (n,), generator=rng)),
        (torch.randn(n, 4, generator=rng, dtype=torch.float64), torch.rand(n, 2, generator=rng)),
    ):
        indices = list(range(n))
        got = sub.my_items(data, labels, indices)
        for i in indices:
            call = f"MyDataset(<{str(data.dtype)[6:]} {tuple(data.shape)}>, <{str(labels.dtype)[6:]} {tuple(labels.shape)}>)[{i}]"
            item = got["items"][i]
            _check_pair(item, call)
            expect_equal(item["x"], _tensor_field(data[i]), call=call + "[0]",
                         point="ds[i][0] is data[i] (same values, dtype and shape)")
            expect_equal(item["y"], _tensor_field(labels[i]), call=call + "[1]",
                         point="ds[i][1] is labels[i] (same values, dtype and shape)")


@pytest.mark.weight(2)
def test_mydataset_items_over_lists(sub, rng):
    """ds[i] returns (data[i], labels[i]) for lists, the items as they are"""
    n = _randint(rng, 3, 10)
    floats = [round(float(v), 3) for v in torch.randn(n, generator=rng)]
    ints = [int(v) for v in torch.randint(0, 10, (n,), generator=rng)]
    rows = [[int(a), int(b)] for a, b in torch.randint(0, 100, (n, 2), generator=rng)]
    cases = [
        ("<list of floats>", floats, "<list of ints>", ints),
        ("<list of [int, int]>", rows, "<list of ints>", ints),
        ("<tensor>", torch.randn(n, 3, generator=rng), "<list of ints>", ints),
    ]
    for dname, data, lname, labels in cases:
        got = sub.my_items(data, labels, list(range(n)))
        for i, item in enumerate(got["items"]):
            call = f"MyDataset({dname}, {lname})[{i}]"
            _check_pair(item, call)
            want_x = _tensor_field(data[i]) if isinstance(data, torch.Tensor) else \
                {"type": type(data[i]).__name__, "value": data[i]}
            expect_equal(item["x"], want_x, call=call + "[0]",
                         point="ds[i][0] is data[i], as indexing data gives it (a list item is not converted)")
            expect_equal(item["y"], {"type": "int", "value": labels[i]}, call=call + "[1]",
                         point="ds[i][1] is labels[i], as indexing labels gives it (a list item is not converted)")


@pytest.mark.weight(1)
def test_mydataset_indexes_like_a_sequence(sub, rng):
    """negative indices count from the end and an index out of range raises IndexError, as indexing data does"""
    n = _randint(rng, 3, 8)
    labels = [int(v) for v in torch.randint(0, 10, (n,), generator=rng)]
    for dname, data in (("<tensor>", torch.randn(n, 2, generator=rng)),
                        ("<list of floats>", [round(float(v), 3) for v in torch.randn(n, generator=rng)])):
        built = f"MyDataset({dname}, <list of ints>)"
        negatives = [-1, -n, -_randint(rng, 2, n - 1)]
        got = sub.my_items(data, labels, negatives)
        for k, item in zip(negatives, got["items"]):
            call = f"{built}[{k}]  # len {n}"
            _check_pair(item, call)
            want_x = _tensor_field(data[k]) if isinstance(data, torch.Tensor) else {"type": "float", "value": data[k]}
            expect_equal(item["x"], want_x, call=call + "[0]",
                         point=f"ds[{k}] is (data[{k}], labels[{k}]): negative indices count from the end")
            expect_equal(item["y"], {"type": "int", "value": labels[k]}, call=call + "[1]",
                         point=f"ds[{k}] is (data[{k}], labels[{k}]): negative indices count from the end")
        for idx in (n, n + _randint(rng, 1, 5), -n - 1):
            expect_raises("IndexError", sub.my_get, data, labels, idx, call=f"{built}[{idx}]  # len {n}",
                          point="an index out of range raises IndexError, as indexing data does "
                                "(so that `for x in ds` stops)")


@pytest.mark.weight(2)
def test_mydataset_length_mismatch_raises_value_error(sub, rng):
    """data and labels of different lengths raise ValueError at construction"""
    n = _randint(rng, 2, 20)
    m = n + _randint(rng, 1, 3)
    cases = [
        (f"<tensor ({n}, 3)>", torch.randn(n, 3, generator=rng), f"<tensor ({m},)>", torch.zeros(m, dtype=torch.long)),
        (f"<tensor ({m}, 2)>", torch.randn(m, 2, generator=rng), f"<tensor ({n},)>", torch.zeros(n, dtype=torch.long)),
        (f"<list of {n}>", [0.5] * n, f"<list of {m}>", [1] * m),
        (f"<tensor ({m}, 2)>", torch.randn(m, 2, generator=rng), f"<list of {n}>", [0] * n),
        ("<tensor (0, 2)>", torch.zeros(0, 2), "<list of 1>", [0]),
    ]
    for dname, data, lname, labels in cases:
        # Construction only: nothing is called on the dataset afterwards (not even len).
        expect_raises("ValueError", sub.my_construct, data, labels, call=f"MyDataset({dname}, {lname})",
                      point="data and labels of different lengths raise ValueError at construction")


@pytest.mark.weight(2)
def test_mydataset_dataloader_over_tensors(sub, rng):
    """MyDataset works with DataLoader's default collation (tensors are stacked per batch)"""
    n = _randint(rng, 7, 25)
    bs = _randint(rng, 2, 6)
    data = torch.randn(n, 3, 2, generator=rng)
    labels = torch.randint(0, 10, (n,), generator=rng)
    call = f"list(DataLoader(MyDataset(<float32 ({n}, 3, 2)>, <int64 ({n},)>), batch_size={bs}))"
    batches = sub.my_loader(data, labels, bs)
    starts = list(range(0, n, bs))
    expect(len(batches) == len(starts), call=call, point="a DataLoader yields ceil(len(ds) / batch_size) batches",
           expected=f"{len(starts)} batches", got=f"{len(batches)} batches")
    for b, s in enumerate(starts):
        batch = batches[b]
        expect(batch.get("len") == 2, call=f"{call}[{b}]", point="a batch is a pair (data batch, label batch)",
               expected="2 fields", got=f"a {batch.get('type')} of length {batch.get('len')}")
        expect_equal(batch["x"], _tensor_field(data[s:s + bs]), call=f"{call}[{b}][0]",
                     point="default collation stacks the data rows of a batch")
        expect_equal(batch["y"], _tensor_field(labels[s:s + bs]), call=f"{call}[{b}][1]",
                     point="default collation stacks the labels of a batch")


@pytest.mark.weight(1)
def test_mydataset_dataloader_over_lists(sub, rng):
    """MyDataset over lists works with DataLoader's default collation"""
    n = _randint(rng, 5, 15)
    bs = _randint(rng, 2, 4)
    floats = [round(float(v), 3) for v in torch.randn(n, generator=rng)]
    ints = [int(v) for v in torch.randint(0, 10, (n,), generator=rng)]
    call = f"list(DataLoader(MyDataset(<list of {n} floats>, <list of {n} ints>), batch_size={bs}))"
    batches = sub.my_loader(floats, ints, bs)
    starts = list(range(0, n, bs))
    expect(len(batches) == len(starts), call=call, point="a DataLoader yields ceil(len(ds) / batch_size) batches",
           expected=f"{len(starts)} batches", got=f"{len(batches)} batches")
    for b, s in enumerate(starts):
        batch = batches[b]
        expect(batch.get("len") == 2, call=f"{call}[{b}]", point="a batch is a pair (data batch, label batch)",
               expected="2 fields", got=f"a {batch.get('type')} of length {batch.get('len')}")
        expect_equal(batch["x"], _tensor_field(torch.tensor(floats[s:s + bs], dtype=torch.float64)),
                     call=f"{call}[{b}][0]", point="default collation makes a float64 tensor of the batch's floats")
        expect_equal(batch["y"], _tensor_field(torch.tensor(ints[s:s + bs], dtype=torch.int64)),
                     call=f"{call}[{b}][1]", point="default collation makes an int64 tensor of the batch's ints")


@pytest.mark.weight(1)
def test_mydataset_dataloader_shuffled_keeps_pairs(sub, rng):
    """with shuffle=True every sample comes once, each data row with its own label"""
    n = _randint(rng, 8, 30)
    bs = _randint(rng, 2, 5)
    data = torch.randn(n, 3, generator=rng)
    labels = torch.arange(n)
    call = f"DataLoader(MyDataset(<float32 ({n}, 3)>, torch.arange({n})), batch_size={bs}, shuffle=True)"
    got = sub.my_loader_shuffled(data, labels, bs)
    y = got["y"]
    expect(isinstance(y, torch.Tensor) and y.dtype == torch.int64 and y.shape == (n,)
           and torch.equal(y.sort().values, labels), call=call,
           point="one epoch yields every sample exactly once",
           expected=f"the labels 0..{n - 1} in some order", got=describe(y))
    expect_equal(got["x"], data[y], call=call,
                 point="each data row comes with its own label: ds[i] is (data[i], labels[i])")


# ================================================================ CustomImageDataset

@pytest.mark.weight(1)
def test_custom_is_a_dataset(sub, rng):
    """CustomImageDataset is a torch.utils.data.Dataset"""
    rows = _rows(rng, 2)
    got = sub.img_is_dataset(_files(rows), _csv(rows))
    expect(got is True, call="isinstance(CustomImageDataset(csv, img_dir), Dataset)",
           point="CustomImageDataset subclasses torch.utils.data.Dataset", expected="True", got=repr(got))


@pytest.mark.weight(2)
def test_custom_len_counts_data_rows(sub, rng):
    """len(ds) is the number of data rows, not counting the header"""
    n = _randint(rng, 2, 12)
    rows = _rows(rng, n)
    variants = [
        ("lines end with \\n, with a final newline", rows, "\n", True),
        ("no final newline", rows, "\n", False),
        ("lines end with \\r\\n", rows, "\r\n", True),
        ("a single row", rows[:1], "\n", True),
        ("the header alone", [], "\n", True),
    ]
    for what, rr, nl, final in variants:
        text = _csv(rr, nl, final)
        got = sub.img_len(_files(rr), text)
        expect_equal(got, len(rr), call=f"len(CustomImageDataset(csv, img_dir))  # csv: {what}, {len(rr)} data rows",
                     point="len(ds) is the number of data rows (the header is not a sample)")


@pytest.mark.weight(2)
def test_custom_grayscale_images_exact(sub, rng):
    """a grayscale PNG comes back as read_image gives it: uint8, 1 x H x W"""
    rows = _rows(rng, _randint(rng, 2, 6), channels=(1,))
    got = sub.img_items(_files(rows), _csv(rows), list(range(len(rows))))
    for i, (name, img, _) in enumerate(rows):
        call = f"CustomImageDataset(csv, img_dir)[{i}]  # {name}: grayscale {tuple(img.shape)}"
        _check_pair(got[i], call)
        expect_equal(got[i]["x"], _tensor_field(img), call=call + "[0]", point=POINT_IMAGE)


@pytest.mark.weight(2)
def test_custom_rgb_images_exact(sub, rng):
    """an RGB PNG comes back as read_image gives it: uint8, 3 x H x W"""
    rows = _rows(rng, _randint(rng, 2, 6), channels=(3,))
    got = sub.img_items(_files(rows), _csv(rows), list(range(len(rows))))
    for i, (name, img, _) in enumerate(rows):
        call = f"CustomImageDataset(csv, img_dir)[{i}]  # {name}: RGB {tuple(img.shape)}"
        _check_pair(got[i], call)
        expect_equal(got[i]["x"], _tensor_field(img), call=call + "[0]", point=POINT_IMAGE)


@pytest.mark.weight(1)
def test_custom_accepts_path_objects(sub, rng):
    """annotations_file and img_dir may be pathlib.Path objects (os.PathLike), not only str"""
    rows = _rows(rng, _randint(rng, 2, 4), channels=(1, 3))
    got = sub.img_items(_files(rows), _csv(rows), list(range(len(rows))), True)
    for i, (name, img, label) in enumerate(rows):
        call = f"CustomImageDataset(pathlib.Path(csv), pathlib.Path(img_dir))[{i}]  # {name}: {tuple(img.shape)}"
        _check_pair(got[i], call)
        expect_equal(got[i]["x"], _tensor_field(img), call=call + "[0]", point=POINT_IMAGE)


@pytest.mark.weight(1)
def test_custom_alpha_images_exact(sub, rng):
    """a PNG with an alpha channel comes back as read_image gives it: 2 (gray + alpha) or 4 (RGBA) x H x W"""
    rows = _rows(rng, _randint(rng, 2, 5), channels=(2, 4))
    got = sub.img_items(_files(rows), _csv(rows), list(range(len(rows))))
    for i, (name, img, _) in enumerate(rows):
        kind = "grayscale + alpha" if img.shape[0] == 2 else "RGBA"
        call = f"CustomImageDataset(csv, img_dir)[{i}]  # {name}: {kind} {tuple(img.shape)}"
        _check_pair(got[i], call)
        expect_equal(got[i]["x"], _tensor_field(img), call=call + "[0]",
                     point=POINT_IMAGE + " (the alpha channel included)")


@pytest.mark.weight(2)
def test_custom_labels_are_python_ints(sub, rng):
    """the label is the row's integer label, as a Python int"""
    rows = _rows(rng, _randint(rng, 3, 8))
    got = sub.img_items(_files(rows), _csv(rows), list(range(len(rows))))
    for i, (name, _, label) in enumerate(rows):
        call = f"CustomImageDataset(csv, img_dir)[{i}][1]  # row '{name},{label}'"
        _check_pair(got[i], call)
        expect_equal(got[i]["y"], {"type": "int", "value": label}, call=call,
                     point="the label is the row's label as a Python int")


@pytest.mark.weight(2)
def test_custom_reads_images_lazily(sub, rng):
    """images are read from disk when asked for, not up front"""
    # Judged against the submission's own reading of the final file (a dataset built
    # afterwards), so that this check is about *when* the file is read, not *how*.
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    call = f"ds = CustomImageDataset(csv, img_dir); <image files become real PNGs>; ds[{idx}]"
    got = sub.img_lazy(_files(rows), _csv(rows), idx, "garbage")
    expect("init_error" not in got, call="CustomImageDataset(csv, img_dir)  # while the image files are not PNGs yet",
           point="__init__ reads only the CSV: the images are read when they are asked for",
           expected="construction succeeds", got=f"it raised {got.get('init_error')}")
    expect_equal(got["late"], got["fresh"], call=call,
                 point="__init__ reads only the CSV: the image files may hold anything until ds[i] is asked for")
    replacement = _image(rng, 4 - rows[idx][1].shape[0])  # the other kind: gray <-> RGB
    call = f"ds = CustomImageDataset(csv, img_dir); ds[{idx}]; <replace image {idx} on disk>; ds[{idx}]"
    got = sub.img_lazy(_files(rows), _csv(rows), idx, "replace", replacement)
    expect("init_error" not in got, call="CustomImageDataset(csv, img_dir)", point="the dataset can be built",
           expected="construction succeeds", got=f"it raised {got.get('init_error')}")
    expect_equal(got["late"], got["fresh"], call=call,
                 point="the image is read from disk each time it is asked for: ds[i] returns the file as it is "
                       "then (not a copy kept from __init__ or from an earlier ds[i])")


@pytest.mark.weight(1)
def test_custom_reads_annotations_when_built(sub, rng):
    """the CSV is read when the dataset is built: len(ds) and ds[i] need it no more"""
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    call = f"ds = CustomImageDataset(csv, img_dir); <remove the CSV file>; len(ds), ds[{idx}]"
    point = "only the annotations are read when the dataset is built (in __init__, once): len and ds[i] use what was read"
    got = sub.img_csv_read_once(_files(rows), _csv(rows), idx)
    expect("error" not in got, call=call, point=point,
           expected="the same length and item as before the CSV was removed", got=f"it raised {got.get('error')}")
    expect_equal(got["after"], got["before"], call=call, point=point)
    # Edited rather than removed: a dataset that reads the file again whenever it is there changes.
    call = f"ds = CustomImageDataset(csv, img_dir); <the CSV now lists only its last row>; len(ds), ds[{idx}]"
    got = sub.img_csv_read_once(_files(rows), _csv(rows), idx, _csv(rows[-1:]))
    expect("error" not in got, call=call, point=point,
           expected="the same length and item as before the CSV was edited", got=f"it raised {got.get('error')}")
    expect_equal(got["after"], got["before"], call=call, point=point)


@pytest.mark.weight(1)
def test_custom_negative_indices(sub, rng):
    """negative indices count from the end, as for a Python list"""
    rows = _rows(rng, _randint(rng, 3, 7))
    n = len(rows)
    negatives = [-1, -n, -_randint(rng, 2, n - 1)]
    # ds[-k] must be the submission's own ds[n - k].
    got = sub.img_items(_files(rows), _csv(rows), [i for k in negatives for i in (k, n + k)])
    for j, k in enumerate(negatives):
        expect_equal(got[2 * j], got[2 * j + 1], call=f"CustomImageDataset(csv, img_dir)[{k}]  # len {n}",
                     point=f"ds[{k}] is ds[{n + k}] (negative indices count from the end)")


@pytest.mark.weight(2)
def test_custom_out_of_range_raises_index_error(sub, rng):
    """an index out of range raises IndexError (so iteration stops after the last row)"""
    rows = _rows(rng, _randint(rng, 2, 6))
    n = len(rows)
    files, text = _files(rows), _csv(rows)
    for idx in (n, n + _randint(rng, 1, 5), -n - 1, -n - _randint(rng, 2, 5)):
        expect_raises("IndexError", sub.img_get, files, text, idx,
                      call=f"CustomImageDataset(csv, img_dir)[{idx}]  # len {n}",
                      point="an index >= len(ds) or < -len(ds) raises IndexError")
    got = sub.img_iterate(files, text)
    expect_equal(got, n, call=f"len(list(iter(CustomImageDataset(csv, img_dir))))  # len {n}",
                 point="iterating ds yields each row once and stops at the IndexError after the last")


def _transform_call(image: bool, target: bool, idx: int) -> str:
    kw = []
    if image:
        kw.append("transform=t")
    if target:
        kw.append("target_transform=tt")
    return f"CustomImageDataset(csv, img_dir, {', '.join(kw)})[{idx}]"


def _check_slot(got: dict, slot: str, wrapped_by: str | None, payload: dict, call: str, point: str) -> None:
    s = got.get(slot) or {}
    by = {"image": "transform(image)", "target": "target_transform(label)", "?": "a transform's result on something else",
          None: "no transform's result"}
    expect(s.get("wrapped_by") == wrapped_by, call=call, point=point,
           expected=by[wrapped_by], got=by.get(s.get("wrapped_by"), "?"))
    expect_equal(s.get("payload"), payload, call=call, point=point)


@pytest.mark.weight(2)
def test_custom_transform_applied_to_image(sub, rng):
    """transform is called once on the image, and its result replaces the image"""
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    call = _transform_call(True, False, idx)
    got = sub.img_transforms(_files(rows), _csv(rows), idx, True, False)
    _check_pair(got, call)
    plain = got["plain"]
    expect_equal(got["image_calls"], [plain.get("x")], call=call,
                 point="ds[i] calls transform once, on the image (the one ds[i] gives without transforms)")
    _check_slot(got, "x", "image", plain.get("x"), call + "[0]",
                "ds[i][0] is transform(image) when transform is given")
    _check_slot(got, "y", None, plain.get("y"), call + "[1]",
                "target_transform=None leaves the label alone")


@pytest.mark.weight(2)
def test_custom_target_transform_applied_to_label(sub, rng):
    """target_transform is called once on the label, and its result replaces the label"""
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    call = _transform_call(False, True, idx)
    got = sub.img_transforms(_files(rows), _csv(rows), idx, False, True)
    _check_pair(got, call)
    plain = got["plain"]
    expect_equal(got["target_calls"], [plain.get("y")], call=call,
                 point="ds[i] calls target_transform once, on the label (the int ds[i] gives without transforms)")
    _check_slot(got, "y", "target", plain.get("y"), call + "[1]",
                "ds[i][1] is target_transform(label) when target_transform is given")
    _check_slot(got, "x", None, plain.get("x"), call + "[0]",
                "transform=None leaves the image alone")


@pytest.mark.weight(1)
def test_custom_both_transforms(sub, rng):
    """with both transforms each goes to its own field: transform to the image, target_transform to the label"""
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    call = _transform_call(True, True, idx)
    got = sub.img_transforms(_files(rows), _csv(rows), idx, True, True)
    _check_pair(got, call)
    plain = got["plain"]
    _check_slot(got, "x", "image", plain.get("x"), call + "[0]", "ds[i][0] is transform(image)")
    _check_slot(got, "y", "target", plain.get("y"), call + "[1]", "ds[i][1] is target_transform(label)")
    expect(len(got["image_calls"]) == 1 and len(got["target_calls"]) == 1, call=call,
           point="each transform is called once per ds[i]",
           expected="1 call each", got=f"transform {len(got['image_calls'])}, target_transform {len(got['target_calls'])}")


@pytest.mark.weight(1)
def test_custom_transforms_run_on_every_access(sub, rng):
    """each ds[i] reads the image and calls both transforms again (random augmentations differ per access)"""
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    replacement = _image(rng, 4 - rows[idx][1].shape[0])  # the other kind: gray <-> RGB
    call = (f"ds = {_transform_call(True, True, idx)[:-len(f'[{idx}]')]}; ds[{idx}]; "
            f"<replace image {idx} on disk>; ds[{idx}]")
    got = sub.img_transforms_twice(_files(rows), _csv(rows), idx, replacement)
    expect(len(got["image_calls"]) == 2 and len(got["target_calls"]) == 2, call=call,
           point="every ds[i] calls transform and target_transform anew (their results are not kept)",
           expected="2 calls each", got=f"transform {len(got['image_calls'])}, target_transform {len(got['target_calls'])}")
    expect_equal(got["image_calls"][1], got["fresh"].get("x"), call=call,
                 point="with a transform too, the image is read from disk at each ds[i]: the second call's "
                       "transform gets the replaced file")


@pytest.mark.weight(1)
def test_custom_falsy_transforms_applied(sub, rng):
    """a given transform is applied even when it is false in a boolean context (test `is not None`)"""
    rows = _rows(rng, _randint(rng, 2, 5))
    idx = _randint(rng, 0, len(rows) - 1)
    call = _transform_call(True, True, idx) + "  # both transforms empty-pipeline-like: bool(t) is False"
    got = sub.img_transforms(_files(rows), _csv(rows), idx, True, True, True)
    _check_pair(got, call)
    expect(len(got["image_calls"]) == 1 and len(got["target_calls"]) == 1, call=call,
           point="a transform is applied whenever it is given (is not None), not only when it is truthy",
           expected="1 call each", got=f"transform {len(got['image_calls'])}, target_transform {len(got['target_calls'])}")


def _loader_rows(rng: torch.Generator, c: int):
    """5..12 images of one size with ``c`` channels (so they stack), labels 0..9."""
    h, w = _randint(rng, 1, 8), _randint(rng, 1, 8)
    rows = _rows(rng, _randint(rng, 5, 12), channels=(c,), size=(h, w))
    return [(name, img, label % 10) for name, img, label in rows]  # classes 0..9 for one_hot


def _check_loader(sub, rng, one_hot_targets: bool) -> None:
    for c in (1, 3):
        rows = _loader_rows(rng, c)
        bs = _randint(rng, 2, 4)
        kw = ", target_transform=one_hot" if one_hot_targets else ""
        shape = tuple(rows[0][1].shape)
        call = f"list(DataLoader(CustomImageDataset(csv, img_dir{kw}), batch_size={bs}))  # {len(rows)} images {shape}"
        batches = sub.img_loader(_files(rows), _csv(rows), bs, one_hot_targets)
        starts = list(range(0, len(rows), bs))
        expect(len(batches) == len(starts), call=call, point="a DataLoader yields ceil(len(ds) / batch_size) batches",
               expected=f"{len(starts)} batches", got=f"{len(batches)} batches")
        for b, s in enumerate(starts):
            chunk = rows[s:s + bs]
            expect_equal(batches[b].get("x"), _tensor_field(torch.stack([img for _, img, _ in chunk])),
                         call=f"{call}[{b}][0]", point="the images of a batch stack into a (B, C, H, W) uint8 tensor")
            labels = torch.tensor([lab for _, _, lab in chunk])
            if one_hot_targets:
                want = torch.zeros(len(chunk), 10)
                want[torch.arange(len(chunk)), labels] = 1.0
                expect_equal(batches[b].get("y"), _tensor_field(want), call=f"{call}[{b}][1]",
                             point="one_hot as target_transform: the batch's labels become one-hot float32 rows")
            else:
                expect_equal(batches[b].get("y"), _tensor_field(labels), call=f"{call}[{b}][1]",
                             point="the Python int labels of a batch collate into an int64 tensor")


@pytest.mark.weight(2)
def test_custom_dataloader_default_collation(sub, rng):
    """DataLoader stacks the images into (B, C, H, W) uint8 and the int labels into an int64 tensor"""
    _check_loader(sub, rng, False)


@pytest.mark.weight(2)
def test_custom_dataloader_with_one_hot(sub, rng):
    """with target_transform=one_hot a DataLoader batch of labels is a (B, 10) float32 one-hot matrix"""
    _check_loader(sub, rng, True)


# ================================================================ one_hot

def _one_hot(label: int, num_classes: int) -> torch.Tensor:
    want = torch.zeros(num_classes, dtype=torch.float32)
    want[label] = 1.0
    return want


@pytest.mark.weight(2)
def test_one_hot_dtype_and_shape(sub, rng):
    """one_hot returns a float32 tensor of shape (num_classes,)"""
    for num_classes in (1, 10, _randint(rng, 2, 50)):
        label = _randint(rng, 0, num_classes - 1)
        got = sub.one_hot(label, num_classes)
        value = got.get("value")
        expect(got.get("type") == "Tensor" and isinstance(value, torch.Tensor), call=f"one_hot({label}, {num_classes})",
               point="one_hot returns a tensor", expected="a torch.Tensor", got=f"a {got.get('type')}")
        expect(value.dtype == torch.float32 and tuple(value.shape) == (num_classes,),
               call=f"one_hot({label}, {num_classes})", point="a float32 tensor of shape (num_classes,)",
               expected=f"float32 ({num_classes},)", got=f"{str(value.dtype)[6:]} {tuple(value.shape)}")


@pytest.mark.weight(2)
def test_one_hot_values(sub, rng):
    """one_hot has 1.0 at label and 0.0 everywhere else"""
    cases = [(0, 10), (9, 10), (0, 1), (0, 2), (1, 2)]
    for _ in range(4):
        c = _randint(rng, 3, 100)
        cases.append((_randint(rng, 0, c - 1), c))
    for k, (label, num_classes) in enumerate(cases):
        # Every other call names num_classes by keyword, as the sheet's example does.
        keyword = k % 2 == 1
        got = sub.one_hot(label, num_classes, keyword)
        expect_close(got.get("value"), _one_hot(label, num_classes), check_dtype=False,
                     call=f"one_hot({label}, {'num_classes=' if keyword else ''}{num_classes})",
                     point="1.0 at position label and 0.0 elsewhere")


@pytest.mark.weight(1)
def test_one_hot_default_num_classes(sub, rng):
    """num_classes defaults to 10"""
    for label in (0, 9, _randint(rng, 1, 8)):
        got = sub.one_hot(label)
        expect_equal(got, _tensor_field(_one_hot(label, 10)), call=f"one_hot({label})",
                     point="num_classes defaults to 10: a float32 (10,) one-hot vector")


@pytest.mark.weight(1)
def test_one_hot_returns_new_tensors(sub, rng):
    """each call returns its own tensor: a later call does not change an earlier result"""
    c = _randint(rng, 3, 12)
    labels = [int(v) for v in torch.randint(0, c, (5,), generator=rng)]
    labels[1] = (labels[0] + 1) % c  # at least two different labels in a row
    got = sub.one_hot_many(labels, c)
    for k, (g, label) in enumerate(zip(got, labels)):
        expect_close(g.get("value"), _one_hot(label, c), check_dtype=False,
                     call=f"results = [one_hot(y, {c}) for y in {labels}]; results[{k}]",
                     point="each call returns a new tensor; later calls must not change it")
    label = labels[0]
    got = sub.one_hot_after_write(label, c)
    expect_close(got.get("value"), _one_hot(label, c), check_dtype=False,
                 call=f"a = one_hot({label}, {c}); a.mul_(0.9).add_(0.01); one_hot({label}, {c})",
                 point="each call returns its own tensor: writing into one result changes no later one")
