"""How the learner tests show a value on their ``got:`` and ``expected:`` lines (tests/kata.py)."""
from __future__ import annotations

from collections import namedtuple

import torch
from kata import describe


def test_a_tensor_by_dtype_shape_device_and_small_values() -> None:
    assert describe(torch.tensor([0.0, 1.5])) == "tensor float32 (2,) on cpu = [0, 1.5]"
    assert describe(torch.zeros(2, 3, device="meta")) == "tensor float32 (2, 3) on meta"


def test_a_container_is_named_so_that_a_list_never_passes_for_a_tuple() -> None:
    assert describe([2.5, 1]) == "a list of 2: [2.5, 1]"
    assert describe((2.5, 1)) == "a tuple of 2: (2.5, 1)"
    assert describe((2.5,)) == "a tuple of 1: (2.5,)"


def test_tensors_inside_containers_read_like_tensors() -> None:
    got = describe([torch.zeros(2, device="meta"), [torch.zeros(3, dtype=torch.int64, device="meta"), "label"]])
    assert got == "a list of 2: [tensor float32 (2,) on meta, [tensor int64 (3,) on meta, 'label']]"
    Batch = namedtuple("Batch", ["X", "y"])
    got = describe({"batch": Batch(torch.ones(1), 3)})
    assert got == "a dict of 1: {'batch': Batch(X=tensor float32 (1,) on cpu = [1], y=3)}"


def test_long_containers_are_cut() -> None:
    got = describe(list(range(100)))
    assert got == "a list of 100: [0, 1, 2, 3, 4, 5, 6, 7, ...]"
    assert len(describe([torch.zeros(5)] * 8)) == 200  # one line, cut at 200 characters


def test_a_dtype_mismatch_says_whether_the_values_are_wrong_too() -> None:
    """assert_close stops at the dtype; the learner tests and the grader both say what lies beyond it."""
    import pytest
    from kata import KataFailure, expect_close

    from grader import checking
    from grader.learner.closeness import beyond_the_dtype

    want = torch.tensor([6.0081, 1.5])
    assert beyond_the_dtype(want.double(), want) == "the values agree once converted to float32: only the dtype is wrong"
    wrong = beyond_the_dtype(torch.tensor([1.2016, 1.5], dtype=torch.float64), want)
    assert wrong is not None and wrong.startswith("the values differ too, beyond the dtype (Greatest absolute difference: 4.806")
    assert beyond_the_dtype(want, want) is None and beyond_the_dtype(want[:1].double(), want) is None
    assert beyond_the_dtype([1.0], want) is None and beyond_the_dtype(want.double().to("meta"), want) is None
    # Floats where integers are due are compared as they are: 0.7 is not label 0.
    labels = torch.tensor([0, 2])
    assert beyond_the_dtype(torch.tensor([0.7, 2.0]), labels).startswith("the values differ too")
    assert beyond_the_dtype(torch.tensor([0.0, 2.0]), labels) == \
        "the values agree once converted to int64: only the dtype is wrong"
    for fail, error in ((expect_close, KataFailure), (checking.expect_close, AssertionError)):
        with pytest.raises(error) as err:
            fail(torch.tensor([1.2016, 1.5], dtype=torch.float64), want, call="cross_entropy(...)", point="sum")
        text = str(err.value)
        assert "The values for attribute 'dtype' do not match" in text and "the values differ too" in text, text
