"""'Did you mean ...?' for a misspelt attribute or name (grader/suggest.py), as Python 3.12 says it:
the learner tests, the capstone and the grader's reports show an error's message without Python's
traceback, and Python 3.11 puts no suggestion in the message itself."""
from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from grader import suggest


def _raised(fn) -> BaseException:
    with pytest.raises((AttributeError, NameError)) as info:
        fn()
    return info.value


class Box:
    def __init__(self) -> None:
        self.weight = 1.0


def test_a_misspelt_attribute_of_an_object() -> None:
    err = _raised(lambda: Box().wieght)
    assert suggest.did_you_mean(err) == "weight"
    assert suggest.message(err) == "'Box' object has no attribute 'wieght'. Did you mean: 'weight'?"


def test_a_misspelt_attribute_of_a_module() -> None:
    assert suggest.did_you_mean(_raised(lambda: torch.nn.functional.crossentropy)) == "cross_entropy"


def test_a_misspelt_parameter_of_an_nn_module() -> None:
    """nn.Module.__getattr__ looks up parameters, buffers and submodules; dir() lists them."""
    assert suggest.did_you_mean(_raised(lambda: nn.Linear(2, 2).weigth)) == "weight"


def test_a_misspelt_private_registry_is_suggested_for_a_private_name() -> None:
    seq = nn.Sequential(nn.ReLU())
    assert suggest.did_you_mean(_raised(lambda: seq._module)) == "_modules"


def test_a_misspelt_local_name() -> None:
    def body() -> int:
        lenght = 3  # noqa: F841 - the name the typo below means
        return lengt  # type: ignore[name-defined]  # noqa: F821
    assert suggest.did_you_mean(_raised(body)) == "lenght"


def test_a_misspelt_builtin() -> None:
    assert suggest.did_you_mean(_raised(lambda: prnt(1))) == "print"  # type: ignore[name-defined]  # noqa: F821


def test_nothing_close_suggests_nothing() -> None:
    err = _raised(lambda: Box().completely_different)
    assert suggest.did_you_mean(err) is None
    assert suggest.message(err) == str(err)


def test_a_public_name_is_not_matched_to_a_private_one() -> None:
    box = types.SimpleNamespace(_weight=1.0)
    assert suggest.did_you_mean(_raised(lambda: box.weight)) is None


def test_other_errors_and_hostile_objects_suggest_nothing() -> None:
    assert suggest.did_you_mean(ValueError("wieght")) is None

    class Hostile:
        def __dir__(self):
            raise RuntimeError("no dir for you")

    assert suggest.message(_raised(lambda: Hostile().wieght)) == "'Hostile' object has no attribute 'wieght'"


def test_a_module_whose_init_never_ran_suggests_nothing() -> None:
    """dir() of such a module raises (no _parameters): the super().__init__ hint says what is wrong."""
    class Broken(nn.Module):
        def __init__(self) -> None:  # no super().__init__()
            pass

    assert suggest.did_you_mean(_raised(lambda: Broken()._modules)) is None
