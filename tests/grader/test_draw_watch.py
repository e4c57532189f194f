"""The dropout watch's random-draw rule (grader.probing.random_draw_spy), in one process.

A mask drawn by hand must pass however it is drawn; torch's dropout reached out of the torch
function watch's sight must be seen. The graded versions of these are the dropout mutants and
alternatives; here each route is named on its own, so a regression says which one broke.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from grader.probing import kernel_spy, random_draw_spy, torch_name_spy

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

_DROP = getattr(torch._C._VariableFunctions, "drop" + "out")
KERNELS = ("dropout", "scaled_dot_product", "_fused_sdp", "attention")


def _seen(fn, x: torch.Tensor, p: float = 0.5) -> list[str]:
    spy = torch_name_spy(("dropout",), subclasses=True)
    kernels, draws = kernel_spy(KERNELS), random_draw_spy(spy, KERNELS)
    with kernels, draws, spy:
        out = fn(x, p)
    assert set(out.unique().tolist()) <= {0.0, 1 / (1 - p)}  # each route is a working dropout
    return spy.calls + kernels.calls + draws.calls


class _Masked(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") == "mul":
            return _DROP(args[0].as_subclass(torch.Tensor), 0.5, True)
        return super().__torch_function__(func, types, args, kwargs or {})


def _scripted(x, p):
    # Built here, not at module level: the watch looks for scripts within reach of the running frames.
    def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
        return _DROP(x, p, True)

    scripted = torch.jit.script(dropout)
    return scripted(x, p)


def _keep(x: torch.Tensor, p: float) -> torch.Tensor:
    return torch.rand_like(x) >= p


with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; learners may still use it
    _scripted_keep = torch.jit.script(_keep)


def _disabled(x, p):
    with torch._C.DisableTorchFunction():
        return _DROP(x, p, True)


def _attention(x, p):
    z = torch.zeros(x.numel(), 1, 1)
    return F.scaled_dot_product_attention(z, z, x.reshape(-1, 1, 1), dropout_p=p).reshape(x.shape)


HIDDEN = {
    "torch function handling off": (_disabled, "handling switched off"),
    "inside a subclass's __torch_function__": (
        lambda x, p: torch.mul(x.as_subclass(_Masked), 1.0).as_subclass(torch.Tensor), "inside torch function mul"),
    "attention's dropout_p": (_attention, "inside torch function scaled_dot_product_attention"),
    "TorchScript": (_scripted, "a TorchScript function calling aten.dropout"),
}
FAIR = {
    "rand_like": lambda x, p: x * (torch.rand_like(x) >= p) / (1 - p),
    "bernoulli_": lambda x, p: x * torch.empty_like(x).bernoulli_(1 - p) / (1 - p),
    "distributions": lambda x, p: x * torch.distributions.Bernoulli(probs=torch.full_like(x, 1 - p)).sample() / (1 - p),
    "randperm": lambda x, p: x * (torch.randperm(x.numel()) >= round(p * x.numel())).reshape(x.shape) / (1 - p),
    "nn.init.uniform_": lambda x, p: x * (torch.nn.init.uniform_(torch.empty_like(x)) >= p) / (1 - p),
    "a parameter's uniform_": lambda x, p: x * (torch.nn.Parameter(torch.empty_like(x)).detach().uniform_() >= p) / (1 - p),
    "TorchScript mask": lambda x, p: x * _scripted_keep(x, p) / (1 - p),
    # Gumbel-max: the argmax over (log p, log(1 - p)) plus Gumbel noise is an exact Bernoulli draw.
    "gumbel_softmax": lambda x, p: x * (F.gumbel_softmax(
        torch.tensor([p, 1 - p]).log().expand(*x.shape, 2), dim=-1).argmax(-1) == 1) / (1 - p),
    # rrelu's random slopes: -rrelu(-1, 0, 1) is a U(0, 1) draw.
    "rrelu": lambda x, p: x * (-F.rrelu(-torch.ones_like(x), 0.0, 1.0, training=True) >= p) / (1 - p),
}


@pytest.mark.parametrize("route", HIDDEN)
def test_torch_dropout_out_of_the_function_watchs_sight_is_seen(route: str) -> None:
    fn, words = HIDDEN[route]
    try:
        seen = _seen(fn, torch.ones(64, 32))
    except RuntimeError as err:
        # torch 2.3 refuses the subclass route under the watch's modes: it cannot score there either.
        assert "subclass" in route and "Creating a new Tensor subclass" in str(err)
        return
    assert any(words in s for s in seen), seen


@pytest.mark.parametrize("route", FAIR)
def test_a_mask_drawn_by_hand_is_fair_however_drawn(route: str) -> None:
    assert _seen(FAIR[route], torch.ones(64, 32)) == []
