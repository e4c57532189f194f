"""The wire format decodes data only, and refuses anything malformed."""
from __future__ import annotations

import json
import pickle
import struct

import pytest
import torch

from grader import codec


def roundtrip(value):
    return codec.decode(codec.encode({"v": value}))["v"]


@pytest.mark.parametrize("dtype", list(codec.DTYPES.values()))
def test_tensors_roundtrip(dtype) -> None:
    t = (torch.arange(12) % 3).to(dtype).reshape(3, 4)
    back = roundtrip(t)
    assert type(back) is torch.Tensor and back.dtype == dtype and torch.equal(back, t)


def test_plain_values_roundtrip() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "b": (1, (2, 3)), 3: float("inf")}
    assert roundtrip(value) == value
    assert type(roundtrip(1)) is int and type(roundtrip(1.0)) is float and roundtrip(True) is True


def test_tensor_subclass_becomes_a_plain_tensor() -> None:
    class Liar(torch.Tensor):
        def __eq__(self, other):  # noqa: D105
            return True

    back = roundtrip(torch.zeros(3).as_subclass(Liar))
    assert type(back) is torch.Tensor


def test_unknown_objects_are_opaque_and_equal_nothing() -> None:
    class Always:
        def __eq__(self, other):
            return True

    back = roundtrip(Always())
    assert isinstance(back, codec.Opaque) and back != back and back != 1


def test_meta_tensors_come_back_without_values_and_never_match_values() -> None:
    from grader.checking import CheckFailed, expect_close, expect_equal

    back = roundtrip(torch.empty(2, 3, dtype=torch.float64, device="meta"))
    assert back.device.type == "meta" and back.dtype == torch.float64 and back.shape == (2, 3)
    # assert_close and a shape test pass any meta tensor: a submission must not answer value checks with one.
    want = torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(CheckFailed, match="without values"):
        expect_close(back, want, call="f()", point="values")
    with pytest.raises(CheckFailed):
        expect_equal(back, want, call="f()", point="values")
    with pytest.raises(CheckFailed):
        expect_equal([back], [want], call="f()", point="values")
    # Meta on both sides (a device check run on meta) compares shape and dtype only.
    expect_close(back, torch.empty(2, 3, dtype=torch.float64, device="meta"), call="f()", point="shape")
    expect_equal(back, torch.empty(2, 3, dtype=torch.float64, device="meta"), call="f()", point="shape")


@pytest.mark.parametrize("dtype", [torch.complex64, torch.float8_e4m3fn])
def test_a_dtype_the_codec_does_not_carry_is_opaque(dtype) -> None:
    from grader.checking import CheckFailed, describe, expect_close

    back = roundtrip(torch.zeros(3).to(dtype))
    assert isinstance(back, codec.Opaque) and str(dtype).replace("torch.", "") in describe(back)
    with pytest.raises(CheckFailed, match="not a tensor"):
        expect_close(back, torch.zeros(3), call="f()", point="values")


def _frame(body: dict, blobs: bytes = b"") -> bytes:
    header = json.dumps(body).encode()
    return struct.pack(">Q", len(header)) + header + blobs


@pytest.mark.parametrize("payload", [
    b"", b"\x00" * 8, pickle.dumps({"v": 1}),
    _frame({"v": {"tensor": {"dtype": "float32", "shape": [4], "device": "cpu", "blob": 0}}, "_blobs": [8]}, b"\x00" * 8),
    _frame({"v": {"tensor": {"dtype": "object", "shape": [1], "device": "cpu", "blob": 0}}, "_blobs": [8]}, b"\x00" * 8),
    _frame({"v": {"tensor": {"dtype": "float32", "shape": [2**40], "device": "cpu", "blob": 0}}, "_blobs": [4]}, b"\x00" * 4),
    _frame({"v": {"pickle": "gASVAAAAAAAAAAB9lC4="}, "_blobs": []}),
    _frame({"v": {"int": "1" * 5000}, "_blobs": []}),
    _frame({"v": 1, "_blobs": [3]}),
])
def test_malformed_messages_are_refused(payload: bytes) -> None:
    with pytest.raises(codec.ProtocolError):
        codec.decode(payload)
