"""Learner tests for ``dropout.py``: inverted dropout and ``EpochDropout``.

Random behaviour is tested by its statistics on large tensors, with bounds
loose enough that a correct implementation fails less than once in a million
runs, whatever random calls it makes.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from grader.learner.diagnosis import why_scale
from kata import call_str, describe, expect, expect_close, expect_raises, guard_forward, run, run_on_meta, untouched


# -- helpers ------------------------------------------------------------------

class _TorchDropoutSpy(TorchFunctionMode):
    """Records every torch function whose name mentions dropout (F.dropout, torch.dropout, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or ""
        if "dropout" in name.lower():
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def _nonzero(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random values in +-[0.5, 1.5): never 0, so a 0 in the output means 'dropped'."""
    g = torch.Generator().manual_seed(seed)
    mag = torch.rand(shape, generator=g) + 0.5
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
    return (mag * sign).to(dtype)


def _dropout(ex, x, *args, **kwargs):
    """``ex.dropout(x, ...)``; a change of ``x`` in place is reported first, because the checks that
    follow read ``x`` to judge the result (an in-place dropout would look "not scaled" there)."""
    with untouched({"x": x}, call=call_str("dropout", x, *args, **kwargs)):
        return ex.dropout(x, *args, **kwargs)


def _epoch_dropout(ex, *args, **kwargs):
    """``ex.EpochDropout(...)`` whose every forward reports a change of its input in place first,
    for the same reason as :func:`_dropout`."""
    return guard_forward(ex.EpochDropout(*args, **kwargs), call=f"{call_str('EpochDropout', *args, **kwargs)}(x)")


def _expect_zero_or_scaled(out, x, p, call, point, rtol=1e-5):
    """Every element of out is 0 or x / (1 - p)."""
    want = x.double() / (1 - p)
    kept = out != 0
    ok = torch.isclose(out.double()[kept], want[kept], rtol=rtol, atol=0).all().item()
    bad = (~torch.isclose(out.double(), want, rtol=rtol, atol=0) & kept).nonzero()
    example, why = "", []
    if len(bad):
        i = tuple(bad[0].tolist())
        example = f"at {i}: x = {x[i].item():.6g}, out = {out[i].item():.6g}, x/(1-p) = {want[i].item():.6g}"
        ratio, rel = out[i].item() / x[i].item(), abs(out[i].item() - want[i].item()) / abs(want[i].item())
        why = [why_scale(ratio, p, rel)]  # the grader names the same mistake
    expect(bool(ok), call=call, point=point,
           expected=f"every element 0 or x / (1 - p) = x * {1 / (1 - p):.6g}",
           got="; ".join([example] + why) if example else describe(out), inputs={"x": x})


# -- dropout(x, p, training) ---------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_dropout_keeps_shape_and_dtype(ex, dtype):
    x = _nonzero(4, 3, 5, dtype=dtype)
    call = call_str("dropout", x, 0.5)
    out = run(_dropout, ex, x, 0.5, call=call, point="dropout works in every floating dtype", inputs={"x": x})
    expect(isinstance(out, torch.Tensor) and out.shape == x.shape and out.dtype == x.dtype,
           call=call, point="the result has x's shape and dtype (a float64 mask must not promote it)",
           expected=f"tensor {str(dtype).replace('torch.', '')} {tuple(x.shape)}",
           got=describe(out), inputs={"x": x})
    rtol = {torch.float32: 1e-5, torch.float64: 1e-12, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[dtype]
    _expect_zero_or_scaled(out, x, 0.5, call, "survivors are scaled by 1 / (1 - p)", rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dropout_accepts_a_0_dim_tensor(ex, dtype):
    # One random decision per call: only the two allowed values are checked, never a frequency.
    x = torch.tensor(1.5, dtype=dtype)
    call = f"dropout(torch.tensor(1.5, dtype={dtype}), 0.5)"
    point = "x may be a tensor of any shape, a 0-dim one too (torch.rand(x.shape), not torch.rand(*x.shape))"
    for _ in range(5):
        out = run(_dropout, ex, x, 0.5, call=call, point=point, inputs={"x": x})
        expect(isinstance(out, torch.Tensor) and out.shape == () and out.dtype == dtype
               and out.item() in (0.0, 3.0), call=call, point=point,
               expected=f"a 0-dim {str(dtype).replace('torch.', '')} tensor, 0 or 3 (= 1.5 / (1 - 0.5))",
               got=describe(out), inputs={"x": x})


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_survivors_scaled_by_one_over_one_minus_p(ex, p):
    x = _nonzero(50, 40, seed=1)
    out = _dropout(ex, x, p)
    _expect_zero_or_scaled(out, x, p, call_str("dropout", x, p),
                           "each element is 0 (dropped) or x / (1 - p) (kept)")
    # A transposed activation is not contiguous: x.view(-1) raises for it, x.reshape / x.shape do not.
    xt = x.t()
    call = call_str("dropout", xt, p) + " with x = x.t(), not contiguous"
    point = "x may be any tensor, a non-contiguous one too (a transposed activation: no x.view(-1))"
    out = run(_dropout, ex, xt, p, call=call, point=point, inputs={"x": xt})
    expect(isinstance(out, torch.Tensor) and out.shape == xt.shape, call=call, point=point,
           expected=f"a result of shape {tuple(xt.shape)}", got=describe(out))
    _expect_zero_or_scaled(out, xt, p, call, "each element is 0 (dropped) or x / (1 - p) (kept)")


# 0.225 is no multiple of 1/20: a p rounded to 1/20 (0.2 or 0.25) drops 2.5% off, outside the 1% bound.
@pytest.mark.parametrize("p", [0.2, 0.7, 0.225])
def test_dropout_drops_a_fraction_p(ex, p):
    torch.manual_seed(2)
    n = 200_000
    x = torch.ones(n)
    out = _dropout(ex, x, p)
    frac = (out == 0).double().mean().item()
    # Hoeffding: P(|frac - p| >= 0.01) <= 2 exp(-2 n 0.01^2) = 2 e^-40 ~ 8e-18.
    expect(abs(frac - p) < 0.01, call=call_str("dropout", x, p),
           point="each element is zeroed with probability p (kept with probability 1 - p)",
           expected=f"about {p:.0%} of the elements zeroed (within 1%)",
           got=f"{frac:.2%} zeroed" + (" (did you keep with probability p?)" if abs(frac - (1 - p)) < 0.01 else ""),
           inputs={"x": x})
    # torch.no_grad() is not evaluation: training=True drops there too. A correct dropout keeps
    # all 1000 elements with probability (1 - p)^1000 <= 0.8^1000 ~ 1e-97.
    x = torch.ones(1000)
    with torch.no_grad():
        out = _dropout(ex, x, p)
    expect(isinstance(out, torch.Tensor) and bool((out == 0).any()),
           call="with torch.no_grad(): " + call_str("dropout", x, p),
           point="training=True drops under torch.no_grad() too (only training=False is evaluation)",
           expected=f"about {p:.0%} of the elements zeroed", got=describe(out), inputs={"x": x})


def test_dropout_mean_equals_x(ex):
    torch.manual_seed(3)
    n, p = 200_000, 0.3
    x = torch.full((n,), 2.0)
    out = _dropout(ex, x, p)
    mean = out.double().mean().item()
    # Each element lies in [0, 2/(1-p)]; Hoeffding with t = 0.06 (3%):
    # 2 exp(-2 n t^2 (1-p)^2 / 4) = 2 exp(-88) ~ 1e-38.
    expect(abs(mean - 2.0) < 0.06, call=call_str("dropout", x, p),
           point="inverted dropout is unbiased: the expectation of the result equals x",
           expected="mean of the result about 2.0 (within 3%)", got=f"mean {mean:.4f}", inputs={"x": x})


def test_dropout_elements_and_calls_are_independent(ex):
    torch.manual_seed(4)
    x = torch.ones(400, 500)
    a = _dropout(ex, x, 0.5) == 0
    b = _dropout(ex, x, 0.5) == 0
    call = call_str("dropout", x, 0.5)
    # Disjoint pairs of rows: both dropped with probability 1/4 if independent.
    # 200*500 = 1e5 pairs; Hoeffding 2 exp(-2e5 * 0.03^2) = 2 e^-180.
    both_rows = (a[0::2] & a[1::2]).double().mean().item()
    expect(abs(both_rows - 0.25) < 0.03, call=call,
           point="each element is zeroed independently (not one mask shared by the rows)",
           expected="x[2i, j] and x[2i+1, j] both dropped in about 25% of the pairs",
           got=f"{both_rows:.1%}")
    # Rows i and 200 + i: 1e5 pairs, far apart in memory; Hoeffding 2 exp(-2e5 * 0.03^2) = 2 e^-180.
    halves = (a[:200] == a[200:]).double().mean().item()
    expect(abs(halves - 0.5) < 0.03, call=call,
           point="each element is zeroed independently (no random number used for two elements)",
           expected="rows i and 200 + i agree on about 50% of the drop decisions", got=f"{halves:.1%}")
    same = (a == b).double().mean().item()
    expect(abs(same - 0.5) < 0.03, call=call + " twice",
           point="every call draws a fresh mask",
           expected="two calls agree on about 50% of the drop decisions", got=f"{same:.1%}")
    # Independent decisions: the number dropped is random, not always round(p * n). For 2 elements at
    # p = 0.5 exactly one is dropped with probability 1/2: 40 calls all with one, 2^-40 ~ 9e-13.
    x2 = torch.ones(2)
    counts = [int((_dropout(ex, x2, 0.5) == 0).sum()) for _ in range(40)]
    expect(set(counts) != {1}, call=call_str("dropout", x2, 0.5) + " 40 times",
           point="each element is zeroed independently: how many are dropped varies (not exactly p * n)",
           expected="0, 1 or 2 elements dropped, each count in some of the calls",
           got="exactly 1 dropped in all 40 calls")
    # More dims: neighbours along each dim, 1e5 disjoint pairs per dim; Hoeffding 2 e^-180 each.
    x = torch.ones(40, 50, 100)
    c = _dropout(ex, x, 0.5) == 0
    call = call_str("dropout", x, 0.5)
    for dim in range(3):
        a = c.movedim(dim, -1)
        both = (a[..., 0::2] & a[..., 1::2]).double().mean().item()
        expect(abs(both - 0.25) < 0.03, call=call,
               point="each element is zeroed independently, whatever x's number of dims",
               expected=f"neighbours along dim {dim} both dropped in about 25% of the pairs", got=f"{both:.1%}")


def test_dropout_training_false_and_p_zero_return_x(ex):
    x = _nonzero(6, 7, seed=5)
    # The ints 0 and 1 are valid values of a float argument (PEP 484): p = 0 is p == 0.
    for p, training in [(0.5, False), (0.9, False), (1.0, False), (0.0, True), (0, True), (1, False)]:
        out = _dropout(ex, x, p, training=training)
        expect_close(out, x, rtol=0, atol=0, call=call_str("dropout", x, p, training=training),
                     point="training=False or p == 0 returns x unchanged", inputs={"x": x})
    # training is the third parameter, dropout(x, p, training=True): it may be passed by position.
    call = call_str("dropout", x, 0.5, False)
    point = "dropout(x, p, training=True): training may be given by position, dropout(x, 0.5, False)"
    out = run(_dropout, ex, x, 0.5, False, call=call, point=point, inputs={"x": x})
    expect_close(out, x, rtol=0, atol=0, call=call, point="training=False returns x unchanged", inputs={"x": x})


@pytest.mark.parametrize("p", [1.0, 1], ids=["float", "int"])
def test_dropout_p_one_gives_zeros(ex, p):
    # p = 1, a Python int, is a valid float argument (PEP 484): p == 1 all the same.
    x = _nonzero(5, 8, seed=6) * 1e30
    out = _dropout(ex, x, p)
    expect_close(out, torch.zeros_like(x), rtol=0, atol=0, call=call_str("dropout", x, p),
                 point="p == 1 returns all zeros, never NaN or inf (0/0 is NaN: handle p == 1 apart, "
                       "for the int 1 too)",
                 inputs={"x": x})


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("p", [-0.1, 1.5, 2])  # an int p is a valid float argument: 2 is outside [0, 1] too
def test_dropout_rejects_p_outside_0_1(ex, p, training):
    x = torch.ones(3)
    expect_raises(ValueError, ex.dropout, x, p, training=training,
                  call=call_str("dropout", x, p, training=training),
                  point="p outside [0, 1] raises ValueError, in training and in evaluation")


def test_dropout_does_not_modify_x(ex):
    # x of any number of dims, without grad: no shortcut may write into x. Large values too (1e30 is
    # no overflow in float32): nothing may clamp or clean x in place, not even through x.data.
    for p, shape, scale in [(0.5, (10, 10), 1.0), (1.0, (10, 10), 1.0), (0.5, (4, 5, 6), 1.0),
                            (0.3, (2, 3, 4, 5), 1.0), (0.5, (10, 10), 1e30)]:
        x = _nonzero(*shape, seed=7) * scale
        before, version = x.clone(), x._version
        ex.dropout(x, p)
        call = call_str("dropout", x, p)
        expect_close(x, before, rtol=0, atol=0, call=call,
                     point="x itself is never modified (no in-place operations on it)",
                     inputs={"x before": before})
        # Torch counts the in-place operations on a tensor in x._version, even those that change no value.
        expect(x._version == version, call=call,
               point="x itself is never modified: no in-place operation on it, even one that changes no value",
               expected=f"x._version still {version}",
               got=f"x._version {x._version}: {x._version - version} in-place operation(s) on x")
        expect(not x.requires_grad, call=call,
               point="x itself is never modified (its requires_grad neither: gradients flow without it)",
               expected="x.requires_grad still False", got="x.requires_grad set to True")


def test_dropout_gradient_flows_to_x(ex):
    torch.manual_seed(8)
    p = 0.4
    x = _nonzero(20, 30, seed=8).requires_grad_()
    out = _dropout(ex, x, p)
    call = call_str("dropout", x, p)
    expect(isinstance(out, torch.Tensor) and out.requires_grad, call=call,
           point="gradients flow to x (no detach, no torch.no_grad)",
           expected="a result with requires_grad=True", got=describe(out))
    g = torch.randn(20, 30)
    out.backward(g)
    want = torch.where(out.detach() != 0, g / (1 - p), torch.zeros(()))
    expect_close(x.grad, want, call=call + ".backward(g)",
                 point="the gradient is g / (1 - p) where kept and 0 where dropped")
    exact, close = {"rtol": 0, "atol": 0}, {}
    edges = ((1.0, 9, torch.zeros_like(g), exact,
              "at p == 1 too gradients flow (as zeros): return x * 0, not torch.zeros_like(x)",
              "at p == 1 everything is dropped: the gradient is 0 everywhere"),
             (0.0, 10, g, close, "at p == 0 too gradients flow (the result is x, not x.detach())",
              "at p == 0 nothing is dropped: the gradient is g"))
    for p, seed, want, tolerance, flows, gradient in edges:
        x = _nonzero(20, 30, seed=seed).requires_grad_()
        out = _dropout(ex, x, p)
        call = call_str("dropout", x, p)
        expect(isinstance(out, torch.Tensor) and out.requires_grad, call=call, point=flows,
               expected="a result with requires_grad=True", got=describe(out))
        out.backward(g)
        expect_close(x.grad, want, **tolerance, call=call + ".backward(g)", point=gradient)


def test_dropout_mask_is_made_on_x_device(ex):
    # The meta device stands in for a GPU: tensors there have a shape and a
    # dtype but no values, and mixing them with CPU tensors raises.
    x = torch.empty(4, 6, device="meta")
    for p in (0.5, 1.0):
        out = run_on_meta(ex.dropout, x, p, call=call_str("dropout", x, p),
                          point="the result has x's device: make the mask with device=x.device")
        if out is None:
            continue  # it reads values, which meta tensors do not have: judged on a GPU
        expect(isinstance(out, torch.Tensor) and out.device == x.device and out.shape == x.shape
               and out.dtype == x.dtype, call=call_str("dropout", x, p),
               point="the result has x's device: make the mask with device=x.device",
               expected=describe(x), got=describe(out))


@pytest.mark.cuda
def test_dropout_on_cuda(ex):
    x = torch.ones(100_000, device="cuda")
    call = call_str("dropout", x, 0.3)
    out = run(_dropout, ex, x, 0.3, call=call, point="the mask is made on x's device")
    expect(out.device.type == "cuda", call=call, point="the result has x's device",
           expected="a CUDA tensor", got=describe(out))
    frac = (out == 0).double().mean().item()
    # Hoeffding: 2 exp(-2e5 * 0.015^2) = 2 e^-45.
    expect(abs(frac - 0.3) < 0.015, call=call, point="each element is zeroed with probability p",
           expected="about 30% zeroed", got=f"{frac:.2%}")


def test_dropout_does_not_call_torch_dropout(ex):
    x = torch.ones(8, 8)
    with _TorchDropoutSpy() as spy:
        _dropout(ex, x, 0.5)
        _dropout(ex, x, 0.5, training=False)
    expect(not spy.calls, call=call_str("dropout", x, 0.5),
           point="draw the mask yourself: torch's own dropout is not the exercise",
           expected="no call to torch's dropout functions", got=f"calls to {spy.calls}")


# -- EpochDropout ----------------------------------------------------------------

def _pattern(out: torch.Tensor) -> torch.Tensor:
    """Which features were kept, as seen in the first sample (input without zeros)."""
    return out[0] != 0


@pytest.mark.parametrize("p", [-0.5, 1.01, 2])
def test_epoch_rejects_p_outside_0_1(ex, p):
    expect_raises(ValueError, ex.EpochDropout, p, call=f"EpochDropout({p})",
                  point="p outside [0, 1] raises ValueError at construction")


def test_epoch_one_mask_per_feature_shared_by_the_batch(ex):
    torch.manual_seed(10)
    m = _epoch_dropout(ex, 0.5)
    expect(isinstance(m, nn.Module), call="EpochDropout(0.5)", point="EpochDropout is an nn.Module",
           expected="an nn.Module", got=type(m).__mro__.__repr__())
    x = _nonzero(16, 4, 25, seed=10)
    call = "EpochDropout(0.5)(x)"
    out = run(m, x, call=call, point="the mask has shape (1, *x.shape[1:]): one decision per feature",
              inputs={"x": x})
    dropped = out == 0
    expect(bool((dropped == dropped[:1]).all()), call=call,
           point="one keep/drop decision per feature, shared by every sample of the batch",
           expected="every sample dropped at the same positions",
           got=f"sample 0 drops {int(dropped[0].sum())} positions, "
               f"{int((dropped != dropped[:1]).flatten(1).any(1).sum())} samples differ from it",
           inputs={"x": x})
    _expect_zero_or_scaled(out, x, 0.5, call, "kept features are scaled by 1 / (1 - p)")
    mask = m.mask
    expect(isinstance(mask, torch.Tensor) and tuple(mask.shape) == (1, 4, 25), call=call,
           point="self.mask holds the current mask, of shape (1, *x.shape[1:])",
           expected="a tensor of shape (1, 4, 25)", got=describe(mask))
    expect(bool(((mask[0] != 0) == ~dropped[0]).all()), call=call,
           point="self.mask is 0 exactly where features are dropped",
           expected="mask != 0 where the output is kept", got=describe(mask))


def test_epoch_every_feature_decides_on_its_own(ex):
    torch.manual_seed(23)
    x = torch.ones(2, 40, 50, 100)
    m = _epoch_dropout(ex, 0.5)
    dropped = m(x)[0] == 0
    call = "EpochDropout(0.5)(torch.ones(2, 40, 50, 100))"
    # F = (40, 50, 100): 1e5 disjoint neighbour pairs along each dim; Hoeffding 2 e^-180 each.
    for dim in range(3):
        a = dropped.movedim(dim, -1)
        both = (a[..., 0::2] & a[..., 1::2]).double().mean().item()
        expect(abs(both - 0.25) < 0.03, call=call,
               point="one keep/drop decision per feature: every position of x.shape[1:] (not one per channel)",
               expected=f"neighbouring features along x's dim {dim + 1} both dropped in about 25% of the pairs",
               got=f"{both:.1%}")
    # Features (i, ...) and (20 + i, ...): 1e5 pairs, far apart; Hoeffding 2 exp(-2e5 * 0.03^2) = 2 e^-180.
    halves = (dropped[:20] == dropped[20:]).double().mean().item()
    expect(abs(halves - 0.5) < 0.03, call=call,
           point="each feature decides on its own (no random number used for two features)",
           expected="features x[:, i] and x[:, 20 + i] agree on about 50% of the decisions", got=f"{halves:.1%}")
    # The number of dropped features is random, not always round(p * features): with 2 features at
    # p = 0.5 exactly one is dropped with probability 1/2; 40 masks all with one, 2^-40 ~ 9e-13.
    m, x2 = _epoch_dropout(ex, 0.5), torch.ones(1, 2)
    counts = []
    for _ in range(40):
        m.reset_mask()
        counts.append(int((m(x2) == 0).sum()))
    expect(set(counts) != {1}, call="m = EpochDropout(0.5); 40 times: m.reset_mask(); m(torch.ones(1, 2))",
           point="each feature is kept with probability 1 - p on its own: how many are dropped varies",
           expected="0, 1 or 2 features dropped, each count in some of the masks",
           got="exactly 1 dropped in all 40 masks")


def test_epoch_instances_have_their_own_masks(ex):
    torch.manual_seed(24)
    x = torch.ones(4, 200)
    a = _epoch_dropout(ex, 0.5)
    first = _pattern(a(x))
    b = _epoch_dropout(ex, 0.5)
    other = _pattern(b(x))
    call = "a = EpochDropout(0.5); a(x); b = EpochDropout(0.5); b(x)"
    # Two independent masks of 200 features coincide with probability 2^-200.
    expect(not torch.equal(first, other), call=call, point="each EpochDropout draws its own mask",
           expected="different drop patterns for a and b", got="the same (a mask shared by the class?)")
    b.reset_mask()
    expect(a.mask is not None and torch.equal(_pattern(a(x)), first), call=call + "; b.reset_mask(); a(x)",
           point="each EpochDropout keeps its own mask: another instance never changes or resets it",
           expected="a's first pattern, a.mask still set", got=describe(a.mask))


def test_epoch_mask_is_reused_whatever_the_batch_size(ex):
    torch.manual_seed(11)
    m = _epoch_dropout(ex, 0.5)
    point = "every later training forward reuses the mask, whatever its batch size"
    first = _pattern(run(m, _nonzero(32, 200, seed=11), call="EpochDropout(0.5)(x), a batch of 32", point=point))
    for b in (32, 7, 50, 1):  # 7: the short last batch of an epoch
        x = _nonzero(b, 200, seed=11 + b)
        call = f"EpochDropout(0.5): a batch of 32, then one of {b}"
        again = _pattern(run(m, x, call=call, point=point, inputs={"x": x}))
        # A new random mask would match the first one with probability 2^-200.
        expect(torch.equal(again, first), call=call, point=point,
               expected=f"the same {int((~first).sum())} features dropped",
               got=f"{int((again != first).sum())} of 200 features changed", inputs={"x": x})


def test_epoch_one_dim_input_has_one_decision_per_batch(ex):
    # A 1-D x of shape (B,) has F = (): one decision for the whole batch, a mask of shape (1,), reused
    # for a batch of another size. Deterministic for a correct module: all 0 or all 2, twice the same.
    torch.manual_seed(25)
    m = _epoch_dropout(ex, 0.5)
    call = "m = EpochDropout(0.5); m(torch.ones(8)); m(torch.ones(3))"
    outs = []
    for b in (8, 3):
        out = run(m, torch.ones(b), call=call, point="x of shape (B, *F) may be 1-D (F = ())")
        expect(isinstance(m.mask, torch.Tensor) and tuple(m.mask.shape) == (1,), call=call,
               point="forward(x) with x of shape (B, *F) draws ONE mask of shape (1, *F): (1,) for a 1-D x",
               expected=f"after the batch of {b}: m.mask of shape (1,)", got=describe(m.mask))
        values = sorted(set(out.tolist())) if isinstance(out, torch.Tensor) and out.shape == (b,) else None
        expect(values in ([0.0], [2.0]), call=call,
               point="one keep/drop decision shared by every sample of the batch (a 1-D x has one feature)",
               expected=f"a result of shape ({b},), all 0 or all 2 (= 1 / (1 - 0.5))", got=describe(out))
        outs.append(values)
    expect(outs[0] == outs[1], call=call,
           point="every later training forward reuses the mask, whatever its batch size",
           expected="the batch of 3 dropped or kept as the batch of 8",
           got=f"{outs[0]} for the batch of 8, {outs[1]} for the batch of 3")


def test_epoch_reset_mask_sets_none_and_draws_anew(ex):
    torch.manual_seed(12)
    m = _epoch_dropout(ex, 0.5)
    x = _nonzero(8, 200, seed=12)
    first = _pattern(m(x))
    run(m.reset_mask, call="m(x); m.reset_mask()", point="reset_mask() forgets the mask")
    expect(m.mask is None, call="m.reset_mask()", point="reset_mask() sets the attribute mask to None",
           expected="m.mask is None", got=describe(m.mask))
    second = _pattern(run(m, x, call="m(x); m.reset_mask(); m(x)",
                          point="the first forward after reset_mask() draws a new mask"))
    expect(not torch.equal(first, second), call="m(x); m.reset_mask(); m(x)",
           point="the first forward after reset_mask() draws a new mask",
           expected="a different drop pattern (two random masks of 200 features)",
           got="the same pattern as before the reset")
    expect(torch.equal(_pattern(m(x)), second), call="m.reset_mask(); m(x); m(x)",
           point="the new mask is then reused", expected="the same pattern twice", got="a different one")


def test_epoch_new_mask_when_per_sample_shape_changes(ex):
    torch.manual_seed(13)
    m = _epoch_dropout(ex, 0.5)
    m(_nonzero(8, 10, seed=13))
    for shape in [(8, 12), (5, 3, 4), (5, 3, 7)]:  # (5, 3, 7): only a later dim of F changes
        x = _nonzero(*shape, seed=14)
        call = f"EpochDropout(0.5): x of shape (8, 10), then {shape}"
        out = run(m, x, call=call, point="if the per-sample shape changes, a new mask is drawn for it")
        expect(isinstance(out, torch.Tensor) and out.shape == x.shape, call=call,
               point="if the per-sample shape changes, a new mask is drawn for it",
               expected=f"a result of shape {shape}", got=describe(out))
        expect(m.mask is not None and tuple(m.mask.shape) == (1, *shape[1:]), call=call,
               point="the mask has shape (1, *x.shape[1:])",
               expected=f"mask of shape {(1, *shape[1:])}", got=describe(m.mask))
    # As many features in another shape: a fresh draw, not the old mask reshaped.
    old = _pattern(m(torch.ones(2, 100, 120))).flatten()
    new = _pattern(m(torch.ones(2, 12000))).flatten()
    agree = (old == new).double().mean().item()
    # 12000 independent pairs; Hoeffding, t = 0.05: 2 exp(-2 * 12000 * 0.0025) = 2 e^-60.
    expect(abs(agree - 0.5) < 0.05, call="EpochDropout(0.5): x of shape (2, 100, 120), then (2, 12000)",
           point="a new mask is drawn for the new shape, also with as many features (not the old one reshaped)",
           expected="the two masks agree on about 50% of the features", got=f"{agree:.1%}")
    # Back to an earlier shape: the shape changed again, so a new mask (same bound as above).
    back = _pattern(m(torch.ones(2, 100, 120))).flatten()
    agree = (old == back).double().mean().item()
    expect(abs(agree - 0.5) < 0.05, call="EpochDropout(0.5): x of shape (2, 100, 120), then (2, 12000), "
                                         "then (2, 100, 120) again",
           point="if the per-sample shape changes, a new mask is drawn for it, also when it goes back to an "
                 "earlier shape (no mask kept per shape)",
           expected="the first and third masks agree on about 50% of the features", got=f"{agree:.1%}")


def test_epoch_eval_is_identity_and_leaves_the_mask_alone(ex):
    torch.manual_seed(15)
    m = _epoch_dropout(ex, 0.5)
    m.eval()
    x = _nonzero(4, 200, seed=15)
    out = run(m, x, call="EpochDropout(0.5).eval()(x)", point="in eval mode the module returns x unchanged")
    expect_close(out, x, rtol=0, atol=0, call="EpochDropout(0.5).eval()(x)",
                 point="in eval mode the module returns x unchanged", inputs={"x": x})
    expect(m.mask is None, call="EpochDropout(0.5).eval()(x)",
           point="eval mode leaves the mask alone (draws nothing)", expected="m.mask is None",
           got=describe(m.mask))
    xg = x.clone().requires_grad_()
    out = m(xg)
    expect(isinstance(out, torch.Tensor) and out.requires_grad,
           call="EpochDropout(0.5).eval()(x) with x.requires_grad",
           point="gradients flow to x, in eval mode too (return x, not x.detach())",
           expected="a result with requires_grad=True", got=describe(out))
    m.train()
    first = _pattern(m(x))
    saved = m.mask.clone()
    m.eval()
    # Another batch and feature shape: still nothing may change.
    run(m, _nonzero(3, 7, seed=16), call="m.train(); m(x); m.eval(); m(x of shape (3, 7))",
        point="eval mode is the identity whatever the shape: the mask is neither used nor redrawn")
    expect(m.mask is not None and m.mask.shape == saved.shape and torch.equal(m.mask, saved),
           call="m.train(); m(x); m.eval(); m(other)", point="eval mode leaves the mask alone",
           expected=describe(saved), got=describe(m.mask))
    run(m, x.double(), call="m.train(); m(x); m.eval(); m(x.double())",
        point="eval mode is the identity whatever the dtype")
    expect(m.mask is not None and m.mask.dtype == saved.dtype and torch.equal(m.mask, saved),
           call="m.train(); m(x); m.eval(); m(x.double())",
           point="eval mode leaves the mask alone (not even converted to the input's dtype)",
           expected=describe(saved), got=describe(m.mask))
    m.train()
    expect(torch.equal(_pattern(m(x)), first), call="m.train(); m(x); m.eval(); m(...); m.train(); m(x)",
           point="after eval the epoch's mask is still used", expected="the same pattern",
           got="a different one")


def test_epoch_p_zero_is_identity_and_p_one_zeros(ex):
    x = _nonzero(6, 9, seed=17)
    expect_close(_epoch_dropout(ex, 0.0)(x), x, call="EpochDropout(0.0)(x)",
                 point="p == 0 is the identity", inputs={"x": x})
    # The ints 0 and 1 are valid values of a float argument (PEP 484).
    for p, want in [(0, x), (1, torch.zeros_like(x))]:
        call = f"EpochDropout({p})(x), p the int {p}"
        point = f"p == {p} for the int {p} too (a valid float argument): " + \
            ("the identity" if p == 0 else "zeros")
        out = run(lambda: _epoch_dropout(ex, p)(x), call=call, point=point, inputs={"x": x})
        expect_close(out, want, rtol=0, atol=0, call=call, point=point, inputs={"x": x})
    xg = x.clone().requires_grad_()
    out = _epoch_dropout(ex, 0.0)(xg)
    expect(isinstance(out, torch.Tensor) and out.requires_grad, call="EpochDropout(0.0)(x) with x.requires_grad",
           point="at p == 0 too gradients flow (return x, not x.detach())",
           expected="a result with requires_grad=True", got=describe(out))
    m = _epoch_dropout(ex, 0.0)
    m(x)
    expect(isinstance(m.mask, torch.Tensor) and tuple(m.mask.shape) == (1, 9) and bool((m.mask != 0).all()),
           call="m = EpochDropout(0.0); m(x)", point="p == 0 still holds a mask (one that keeps every feature)",
           expected="m.mask of shape (1, 9), non-zero everywhere", got=describe(m.mask))
    m = _epoch_dropout(ex, 1.0)
    for _ in range(2):
        expect_close(m(x), torch.zeros_like(x), rtol=0, atol=0, call="EpochDropout(1.0)(x)",
                     point="p == 1 gives zeros (never NaN)", inputs={"x": x})
    expect(isinstance(m.mask, torch.Tensor) and tuple(m.mask.shape) == (1, 9) and bool((m.mask == 0).all()),
           call="m = EpochDropout(1.0); m(x)", point="p == 1 still holds a mask (one that drops every feature)",
           expected="m.mask of shape (1, 9), zero everywhere", got=describe(m.mask))
    xg = x.clone().requires_grad_()
    out = m(xg)
    expect(out.requires_grad, call="EpochDropout(1.0)(x) with x.requires_grad",
           point="at p == 1 too gradients flow (as zeros): return x * 0, not torch.zeros_like(x)",
           expected="a result with requires_grad=True", got=describe(out))


def _holds_pattern(value, kept: torch.Tensor) -> bool:
    """Whether value (a tensor, a list of numbers, or a dict / list / tuple holding one) is non-zero
    exactly where ``kept`` is True: a copy of the mask, under any name and in any form."""
    if isinstance(value, dict):
        return any(_holds_pattern(v, kept) for v in value.values())
    if isinstance(value, (list, tuple)) and value and not all(isinstance(v, (int, float, bool)) for v in value):
        return any(_holds_pattern(v, kept) for v in value)
    try:
        t = torch.as_tensor(value).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        return False
    return t.numel() == kept.numel() and torch.equal(t.flatten() != 0, kept.flatten())


def test_epoch_mask_is_not_a_parameter_nor_saved(ex):
    torch.manual_seed(18)
    m = run(ex.EpochDropout, p=0.3, call="EpochDropout(p=0.3)",
            point="EpochDropout(p=0.5): the argument is named p")
    m(_nonzero(4, 200, seed=18))
    state = m.state_dict()
    keys = list(state.keys())
    params = [n for n, _ in m.named_parameters()]
    call = "m = EpochDropout(p=0.3); m(x); m.state_dict()"
    point = "mask is neither a parameter nor part of state_dict()"
    expect(not any("mask" in k for k in keys) and not any("mask" in n for n in params), call=call, point=point,
           expected="no 'mask' in state_dict() or named_parameters()",
           got=f"state_dict keys {keys}, parameters {params}")
    # Under any name, in any form (a buffer, get_extra_state, a list): a value that is non-zero exactly
    # where the mask is. One that does not depend on the mask matches its 200 features with
    # probability at most 0.7^200 ~ 1e-31.
    if isinstance(m.mask, torch.Tensor):
        kept = (m.mask != 0).flatten().cpu()
        holders = [k for k, v in state.items() if _holds_pattern(v, kept)]
        holders += [n for n, v in m.named_parameters() if _holds_pattern(v, kept)]
        expect(not holders, call=call, point=point + " (under no name, in no form: buffer, extra state...)",
               expected="no copy of the mask in state_dict() or named_parameters()",
               got=f"the mask is in {holders}")


def test_epoch_keeps_features_with_probability_1_minus_p(ex):
    torch.manual_seed(19)
    # 0.225 is no multiple of 1/20: a p rounded to 1/20 (0.2 or 0.25) drops 2.5% off, outside the 1% bound.
    for p in (0.3, 0.8, 0.225, None):
        m = _epoch_dropout(ex) if p is None else _epoch_dropout(ex, p)
        x = torch.ones(2, 200_000)
        frac = (m(x)[0] == 0).double().mean().item()
        arg, p = ("", 0.5) if p is None else (p, p)
        # Hoeffding over 200000 features: 2 exp(-2 * 2e5 * 0.01^2) = 2 e^-40.
        expect(abs(frac - p) < 0.01, call=f"EpochDropout({arg})(torch.ones(2, 200000))",
               point="each feature is kept with probability 1 - p (the default p is 0.5)",
               expected=f"about {p:.0%} of the features dropped (within 1%)", got=f"{frac:.2%}")
    # torch.no_grad() is not eval mode: a training forward drops there too. A correct module keeps all
    # 1000 features with probability 2^-1000.
    x = torch.ones(2, 1000)
    with torch.no_grad():
        out = _epoch_dropout(ex, 0.5)(x)
    expect(isinstance(out, torch.Tensor) and bool((out == 0).any()),
           call="with torch.no_grad(): EpochDropout(0.5)(torch.ones(2, 1000))",
           point="a training forward drops under torch.no_grad() too (only eval mode is the identity)",
           expected="about 50% of the features dropped", got=describe(out))


def test_epoch_follows_dtype_and_device(ex):
    torch.manual_seed(20)
    m = _epoch_dropout(ex, 0.5)
    x = _nonzero(4, 200, seed=20)
    first = _pattern(m(x))
    for dtype in (torch.float64, torch.float16):
        xd = x.to(dtype)
        call = f"m(x) in float32, then m(x.to({dtype}))"
        out = run(m, xd, call=call, point="the mask follows the input's dtype mid-epoch")
        expect(out.dtype == dtype, call=call, point="the output has x's dtype",
               expected=str(dtype), got=describe(out))
        expect(torch.equal(_pattern(out), first), call=call,
               point="the mask follows the input's dtype: the same keep/drop pattern",
               expected="the same pattern", got="a different one")
    # A first forward in float64 at p = 0.3: 1 / (1 - 0.3) is not exact in binary, so a scale (or a
    # scaled mask) made in float32 is off by ~2e-8 relative, far above float64's precision.
    x64 = _nonzero(4, 200, seed=20, dtype=torch.float64)
    call = "EpochDropout(0.3)(x) with x float64"
    out = run(_epoch_dropout(ex, 0.3), x64, call=call, point="the output has x's dtype", inputs={"x": x64})
    expect(isinstance(out, torch.Tensor) and out.dtype == torch.float64, call=call,
           point="the output has x's dtype", expected="float64", got=describe(out))
    _expect_zero_or_scaled(out, x64, 0.3, call, "kept features are scaled by 1 / (1 - p) in x's precision "
                                                  "(a float32 scale or mask shows in float64)", rtol=1e-12)
    # The meta device stands in for a GPU (shape and dtype, no values).
    m.to("meta")
    xm = torch.empty(4, 200, device="meta")
    # A call that fails only because meta tensors hold no values is judged on a GPU (run_on_meta).
    out = run_on_meta(m, xm, call="m(x) on the CPU, then m.to('meta')(x_meta)",
                      point="the mask follows the input's device mid-epoch (move it with .to(x.device))")
    expect(out is None or (isinstance(out, torch.Tensor) and out.device == xm.device and out.shape == xm.shape),
           call="m(x) on the CPU, then m.to('meta')(x_meta)",
           point="the mask follows the input's device mid-epoch",
           expected=describe(xm), got=describe(out))
    out = run_on_meta(_epoch_dropout(ex, 0.5), xm, call="EpochDropout(0.5)(x_meta)",
                      point="the mask is made on the input's device")
    expect(out is None or (isinstance(out, torch.Tensor) and out.device == xm.device),
           call="EpochDropout(0.5)(x_meta)",
           point="the mask is made on the input's device", expected=describe(xm), got=describe(out))


@pytest.mark.cuda
def test_epoch_same_pattern_after_moving_to_cuda(ex):
    torch.manual_seed(21)
    m = _epoch_dropout(ex, 0.5)
    x = _nonzero(4, 200, seed=21)
    first = _pattern(m(x))
    out = run(m.to("cuda"), x.to("cuda"), call="m(x); m.to('cuda')(x.cuda())",
               point="the mask follows the input's device mid-epoch")
    expect(out.device.type == "cuda" and torch.equal(_pattern(out).cpu(), first),
           call="m(x); m.to('cuda')(x.cuda())", point="the same keep/drop pattern is used on the new device",
           expected="a CUDA tensor with the same pattern", got=describe(out))


def test_epoch_gradient_flows_and_input_untouched(ex):
    torch.manual_seed(22)
    p = 0.25
    m = _epoch_dropout(ex, p)
    x = _nonzero(5, 30, seed=22)
    before = x.clone()
    run(m, x, call=f"EpochDropout({p})(x)", point="a training forward returns a result")
    expect_close(x, before, rtol=0, atol=0, call=f"EpochDropout({p})(x) with x.requires_grad=False",
                 point="inputs are never modified in place (also when x does not require grad)")
    x = x.requires_grad_()
    out = run(m, x, call=f"EpochDropout({p})(x) with x.requires_grad", point="gradients flow to x")
    expect_close(x.detach(), before, rtol=0, atol=0, call=f"EpochDropout({p})(x)",
                 point="inputs are never modified in place")
    expect(out.requires_grad, call=f"EpochDropout({p})(x)", point="gradients flow to x",
           expected="a result with requires_grad=True", got=describe(out))
    g = torch.randn(5, 30)
    out.backward(g)
    want = torch.where(out.detach() != 0, g / (1 - p), torch.zeros(()))
    expect_close(x.grad, want, call=f"EpochDropout({p})(x).backward(g)",
                 point="the gradient is g / (1 - p) for kept features, 0 for dropped ones")


def test_epoch_does_not_call_torch_dropout(ex):
    x = torch.ones(8, 8)
    with _TorchDropoutSpy() as spy:
        m = _epoch_dropout(ex, 0.5)
        m(x)
        m(x)
    expect(not spy.calls, call="EpochDropout(0.5)(x)",
           point="draw the mask yourself: torch's own dropout is not the exercise",
           expected="no call to torch's dropout functions", got=f"calls to {spy.calls}")
