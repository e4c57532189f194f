"""Hidden checks for the dropout exercise: ``dropout`` and ``EpochDropout``.

Random behaviour is judged by statistics, never by equality with the
reference's random stream. Each statistical check states, next to it, the
bound on the chance that a correct implementation fails it (all < 1e-6).

Torch's own dropout is forbidden: every probe reports the forbidden calls it
saw, and every check of a function also fails when that function used one,
so using it loses all of that function's points; two source scans back this
up.
"""
from __future__ import annotations

import ast
import math
from typing import Any, Callable

import pytest
import torch

from grader.checking import Raised, expect, expect_close, expect_raises, uses_any
from grader.learner.diagnosis import why_scale
from grader.learner.simulation import DEVICE_FAULT, READS_VALUES

# -- helpers -------------------------------------------------------------------

RTOL = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3, "bfloat16": 1.6e-2}

FORBIDDEN_NAMES = [
    "torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
    "torch.dropout", "torch.dropout_", "torch.feature_dropout", "torch.alpha_dropout",
    "torch.feature_alpha_dropout", "torch.native_dropout",
    "torch._VF.dropout", "torch._C._VariableFunctions.dropout",
    "torch.ops.aten.dropout", "torch.ops.aten.native_dropout",
    "torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d", "torch.nn.Dropout3d",
    "torch.nn.AlphaDropout", "torch.nn.FeatureAlphaDropout",
    "torch.nn.modules.dropout.Dropout", "torch.nn.modules.Dropout",
    # torch's reference implementations and decompositions are its dropout too
    "torch._refs.nn.functional.dropout", "torch._refs.nn.functional.alpha_dropout",
    "torch._decomp.decompositions.dropout", "torch._decomp.decompositions.native_dropout",
]

NO_TORCH_DROPOUT = "draw the mask yourself: using torch's own dropout scores zero for this function"


def _on_meta(call: Callable[[], Any]) -> Any:
    """``call()``, or None when it failed only because meta is not a GPU (it reads values, or wants
    meta's own generator): the CUDA checks judge that where a GPU is. A device mismatch is judged."""
    try:
        return call()
    except Raised as err:
        if err.stub or DEVICE_FAULT.search(err.message) or not READS_VALUES.search(err.message):
            raise
        return None


def _nonzero(rng: torch.Generator, *shape: int) -> torch.Tensor:
    """Values in +-[0.5, 1.5): never 0, so a 0 in an output means 'dropped'."""
    mag = torch.rand(shape, generator=rng) + 0.5
    sign = torch.where(torch.rand(shape, generator=rng) < 0.5, -1.0, 1.0)
    return mag * sign


def _xs(x: torch.Tensor) -> str:
    return f"x: {str(x.dtype).replace('torch.', '')} {tuple(x.shape)}"


def _runs(probe: Callable[[], dict[str, Any]], call: str, point: str, expected: str) -> dict[str, Any]:
    """``probe()``; a submission that raises fails with the call and the point of the sheet it breaks
    (the stub's own NotImplementedError stays "not implemented yet")."""
    try:
        return probe()
    except Raised as err:
        if err.stub:
            raise
        expect(False, call=call, point=point, expected=expected, got=err.reason())
        raise  # unreachable: expect(False) raises


def _own_mask(r: dict[str, Any], call: str) -> None:
    seen = list(dict.fromkeys(r.get("forbidden") or []))
    expect(not seen, call=call, point=NO_TORCH_DROPOUT,
           expected="no call to torch's dropout (F.dropout, torch.dropout, nn.Dropout, ...)",
           got=f"calls to {seen[:5]}")


def _own_mask_in_training(sub) -> None:
    """Run dropout once in training mode: a check that only tests the early returns must still
    fail when the training path uses torch's dropout."""
    _own_mask(sub.dropout_call(torch.ones(8, 8), 0.5), "dropout(torch.ones(8, 8), 0.5)")


def _tensor(r: dict[str, Any], shape: tuple, dtype: str, device: str, call: str, point: str) -> None:
    ok = (r.get("is_tensor") and tuple(r["shape"]) == tuple(shape) and r["dtype"] == dtype
          and r["device"] == device)
    got = (f"{r.get('type')} (not a tensor)" if not r.get("is_tensor")
           else f"tensor {r['dtype']} {tuple(r['shape'])} on {r['device']}")
    expect(bool(ok), call=call, point=point, expected=f"tensor {dtype} {tuple(shape)} on {device}", got=got)


def _zero_or_scaled(out: torch.Tensor, x: torch.Tensor, p: float, call: str, point: str,
                    rtol: float = 1e-5) -> None:
    """Every element of out is exactly 0 or x / (1 - p) (x converted to out's dtype first)."""
    want = x.to(out.dtype).double() / (1.0 - p)
    got = out.double()
    bad = (got != 0) & ~torch.isclose(got, want, rtol=rtol, atol=0)
    if bool(bad.any()):
        i = tuple(bad.nonzero()[0].tolist())
        ratio = got[i].item() / x[i].item()
        rel = abs(got[i].item() - want[i].item()) / abs(want[i].item())
        # Enough digits to see the difference the tolerance is about.
        d = max(6, math.ceil(-math.log10(rtol)) + 3)
        expect(False, call=call, point=point,
               expected=f"every element 0 or x / (1 - p) = x * {1 / (1 - p):.{d}g} (relative tolerance {rtol:g})",
               got=f"{int(bad.sum())} of {out.numel()} elements neither; at {list(i)}: x = {x[i].item():.{d}g}, "
                   f"result = {got[i].item():.{d}g} (x * {ratio:.{d}g}, off by {rel:.2g} relative: "
                   f"{why_scale(ratio, p, rel)})")


def _how_modified(unchanged: Any) -> str:
    return unchanged if isinstance(unchanged, str) else "x was modified"


def _frac_dropped(out: torch.Tensor) -> float:
    return (out == 0).double().mean().item()


def _gate(out: dict[str, Any], shape: tuple, call: str, point: str) -> None:
    """Device, no-side-effect and own-mask points count only for a dropout that drops a fraction p:
    otherwise the identity (or a NaN everywhere, or a mask that keeps with probability p, or one
    that ignores p) would earn them for nothing. ``out``: a p = 0.3 result with at least 1000
    independent decisions; p = 0.3, not 0.5, where keeping and dropping look alike."""
    point = f"{point}: this point counts only for a dropout that drops a fraction p"
    _tensor(out, shape, "float32", "cpu", call, point)
    frac = _frac_dropped(out["out"])
    # At least 1000 independent decisions; Hoeffding: P(|frac - 0.3| >= 0.12) <= 2 exp(-2 * 1000 * 0.12^2)
    # = 2 e^-28.8 = 6e-13.
    expect(abs(frac - 0.3) < 0.12, call=call, point=point, expected="about 30% zeroed (p = 0.3)",
           got=f"{frac:.1%} zeroed")


def _dropout_drops(sub, point: str) -> None:
    _gate(sub.dropout_call(torch.ones(4, 500), 0.3), (4, 500), "dropout(torch.ones(4, 500), 0.3)", point)


def _epoch_drops(sub, point: str) -> None:
    call = "EpochDropout(0.3)(torch.ones(2, 1000))"
    (_, e) = _script(sub, 0.3, [_fwd(torch.ones(2, 1000))], call)
    _gate(e, (2, 1000), call, point)


def _region_hits(source: str | None, names: list[str], other: str) -> list[str]:
    """Forbidden names used anywhere in the file except inside the top-level def/class ``other``.

    The two parts of the exercise are scored apart: torch's dropout inside
    ``EpochDropout`` does not cost ``dropout`` its points, and the other way
    round; a use anywhere else (module level, a helper) counts against both.
    """
    hits = uses_any(source, names)
    if not hits:
        return []
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError):
        return hits
    span = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == other:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            span = (first, node.end_lineno or node.lineno)
    out = []
    for hit in hits:
        try:
            line = int(hit.rsplit("(line ", 1)[1].rstrip(")"))
        except (IndexError, ValueError):
            line = None
        if span is None or line is None or not span[0] <= line <= span[1]:
            out.append(hit)
    return out


# == dropout(x, p, training) =====================================================

@pytest.mark.weight(5)
def test_dropout_zero_or_scaled(sub, rng):
    """each element of dropout(x, p) is 0 or x / (1 - p), with x's shape and dtype"""
    # x is any tensor: a non-contiguous one (a transposed activation) too.
    for shape, transposed in [((64, 33), False), ((7,), False), ((2, 3, 4, 5), False), ((40, 25), True)]:
        for p in (0.2, 0.5, 0.75):
            x = _nonzero(rng, *shape)
            call = f"dropout(x, {p}) with {_xs(x)}" + (", x not contiguous (a transposed view)" if transposed else "")
            r = sub.dropout_call(x, p, transposed=transposed)
            _own_mask(r, call)
            _tensor(r, shape, "float32", "cpu", call, "the result has x's shape, dtype and device")
            _zero_or_scaled(r["out"], x, p, call, "every survivor is scaled by 1 / (1 - p); the others are 0")
    # A 0-dim x (a scalar tensor) is a shape too: torch.rand(*x.shape) fails on it, torch.rand(x.shape)
    # does not. One random decision each, so only the two allowed values are checked (no statistics).
    for dtype in ("float32", "float64"):
        call = f"dropout(torch.tensor(1.5, dtype=torch.{dtype}), 0.5)"
        point = ("x may be a tensor of any shape, a 0-dim one too: the result is 0 or x / (1 - p), "
                 "with x's shape and dtype")
        want = f"a 0-dim {dtype} tensor, 0 or 3 (= 1.5 / (1 - 0.5))"
        r = _runs(lambda: sub.dropout_call(torch.tensor(1.5), 0.5, dtype=dtype), call, point, want)
        _own_mask(r, call)
        _tensor(r, (), dtype, "cpu", call, point)
        value = r["out"].item()
        expect(value in (0.0, 3.0), call=call, point=point, expected=want, got=f"tensor({value:.6g})")


@pytest.mark.weight(3)
def test_dropout_drop_fraction(sub, rng):
    """dropout(x, p) zeroes each element with probability p"""
    n = 200_000
    # Off any coarse grid: a p rounded to a multiple of 1/20 (0.25, 0.85) is off by 0.02.
    # training=True under torch.no_grad() too: the training argument decides, not the grad mode.
    for p, no_grad in ((0.27, False), (0.83, False), (0.27, True)):
        x = _nonzero(rng, n)
        call = f"dropout(x, {p}, training=True) with {_xs(x)}" + (", under torch.no_grad()" if no_grad else "")
        r = sub.dropout_call(x, p, training=True, no_grad=no_grad)
        _own_mask(r, call)
        _tensor(r, (n,), "float32", "cpu", call, "the result has x's shape, dtype and device")
        frac = _frac_dropped(r["out"])
        # n iid Bernoulli(p) indicators; Hoeffding: P(|frac - p| >= 0.01) <= 2 exp(-2 n 0.01^2)
        # = 2 e^-40 ~ 8.5e-18 per call, 2.6e-17 for the three. Keeping with probability p instead
        # (frac 0.75 / 0.2) is off by >= 0.5; the identity under no_grad gives 0.
        hint = " (kept with probability p instead of 1 - p?)" if abs(frac - (1 - p)) < 0.01 else ""
        if no_grad and frac == 0:
            hint = " (training=True drops also under torch.no_grad(): the grad mode is not the training mode)"
        expect(abs(frac - p) < 0.01, call=call,
               point="each element is zeroed independently with probability p"
                     + (" (training=True, whatever the grad mode)" if no_grad else ""),
               expected=f"{p:.0%} of the elements zeroed (within 1 point)", got=f"{frac:.2%} zeroed{hint}")


@pytest.mark.weight(4)
def test_dropout_expectation_equals_x(sub, rng):
    """dropout is unbiased: the expectation of dropout(x, p) equals x"""
    n, p = 200_000, 0.3
    x = _nonzero(rng, n)
    call = f"dropout(x, {p}) with {_xs(x)}"
    r = sub.dropout_call(x, p)
    _own_mask(r, call)
    _tensor(r, (n,), "float32", "cpu", call, "the result has x's shape, dtype and device")
    frac = _frac_dropped(r["out"])
    # Hoeffding: P(|frac - p| >= 0.02) <= 2 exp(-2 * 200000 * 0.02^2) = 2 e^-160.
    expect(abs(frac - p) < 0.02, call=call, point="each element is zeroed with probability p (the identity is unbiased too)",
           expected=f"about {p:.0%} zeroed", got=f"{frac:.2%}")
    mean = (r["out"].double() / x.double()).mean().item()
    # out_i / x_i lies in [0, 1/(1-p)] = [0, 1.43], mean 1 when correct. Hoeffding:
    # P(|mean - 1| >= 0.03) <= 2 exp(-2 n 0.03^2 (1-p)^2) = 2 exp(-176) ~ 1e-76.
    # No rescaling gives 0.7, scaling by 1/p 2.33, keeping with probability p 0.43.
    expect(abs(mean - 1.0) < 0.03, call=call,
           point="survivors scaled by 1 / (1 - p) make the expectation equal x",
           expected="mean of result / x about 1.0 (within 0.03)", got=f"{mean:.4f}")


@pytest.mark.weight(2)
def test_dropout_independent_elements_and_calls(sub, rng):
    """elements are dropped independently, with a fresh mask on every call"""
    p = 0.5
    x = _nonzero(rng, 400, 500)
    call = f"dropout(x, {p}) twice with {_xs(x)}"
    r = sub.dropout_call(x, p, repeat=2)
    _own_mask(r, call)
    _tensor(r, (400, 500), "float32", "cpu", call, "the result has x's shape, dtype and device")
    b_out = r["more"][0] if r["more"] else None
    expect(isinstance(b_out, torch.Tensor) and tuple(b_out.shape) == (400, 500), call=call,
           point="the result has x's shape", expected="a (400, 500) tensor from the second call",
           got=repr(b_out)[:80])
    a, b = r["out"] == 0, b_out == 0
    # Disjoint pairs are independent Bernoulli(1/4) events: 1e5 pairs each way, 2e5 positions
    # for agreement (Bernoulli(1/2)). Hoeffding, t = 0.02: 2 exp(-2 * 1e5 * 4e-4) = 2 e^-80
    # for each pair test, 2 e^-160 for agreement: in all < 1e-34. A mask shared by the rows
    # gives 0.5 for vertical pairs, a mask reused across calls gives agreement 1.
    horiz = (a[:, 0::2] & a[:, 1::2]).double().mean().item()
    vert = (a[0::2] & a[1::2]).double().mean().item()
    same = (a == b).double().mean().item()
    point = "each element is zeroed independently of the others"
    expect(abs(horiz - 0.25) < 0.02, call=call, point=point,
           expected="x[i, 2j] and x[i, 2j+1] both zeroed in about 25% of the pairs", got=f"{horiz:.1%}")
    expect(abs(vert - 0.25) < 0.02, call=call, point=point + " (no mask shared by the rows)",
           expected="x[2i, j] and x[2i+1, j] both zeroed in about 25% of the pairs", got=f"{vert:.1%}")
    expect(abs(same - 0.5) < 0.02, call=call, point="every call draws a fresh, independent mask",
           expected="the two calls agree on about 50% of the drop decisions", got=f"{same:.1%}")
    # Inputs with more dims: neighbours along every dim are dropped independently. Each shape
    # has 2e5 elements, all its sizes even: 1e5 disjoint neighbour pairs per dim, both dropped
    # with probability 1/4. Hoeffding, t = 0.02: 2 e^-80 per dim, 7 dims in all: < 1e-33.
    # A decision shared along one dim (the last, say) gives 0.5 along it.
    for shape in [(40, 50, 100), (20, 10, 20, 50)]:
        x = _nonzero(rng, *shape)
        call = f"dropout(x, {p}) with {_xs(x)}"
        r = sub.dropout_call(x, p)
        _own_mask(r, call)
        _tensor(r, shape, "float32", "cpu", call, "the result has x's shape, dtype and device")
        dropped = r["out"] == 0
        # The dim farthest from 25% first: one shared along a dim also makes the others noisy.
        for both, dim in sorted(((_both_along(dropped, d), d) for d in range(len(shape))),
                                key=lambda t: -abs(t[0] - 0.25)):
            expect(abs(both - 0.25) < 0.02, call=call,
                   point="each element is zeroed independently of the others (whatever x's number of dims)",
                   expected=f"neighbours along dim {dim} both zeroed in about 25% of the pairs",
                   got=f"{both:.1%} (one decision shared along dim {dim}?)" if both > 0.4 else f"{both:.1%}")


def _both_along(dropped: torch.Tensor, dim: int) -> float:
    """The share of disjoint neighbour pairs along ``dim`` (indices 2k, 2k+1) that are both True."""
    a = dropped.movedim(dim, -1)
    n = a.shape[-1] // 2 * 2
    return (a[..., 0:n:2] & a[..., 1:n:2]).double().mean().item()


def _exact_half_share(outs: list, n: int) -> float:
    """The share of outputs with exactly n/2 of their n elements dropped (a wrong shape counts as one)."""
    return sum(not isinstance(o, torch.Tensor) or o.numel() != n or int((o == 0).sum()) == n // 2
               for o in outs) / len(outs)


def _even_count_share(outs: list, n: int) -> float:
    """The share of outputs with an even number of their n elements dropped (a wrong shape counts as one)."""
    return sum(not isinstance(o, torch.Tensor) or o.numel() != n or int((o == 0).sum()) % 2 == 0
               for o in outs) / len(outs)


def _expect_odd_counts_too(outs: list, n: int, call: str, what: str) -> None:
    even = _even_count_share(outs, n)
    # Bin(10, 1/2) is even with probability exactly 1/2. Hoeffding over 400 draws:
    # P(share >= 0.75) <= exp(-2 * 400 * 0.25^2) = e^-50 ~ 2e-22. Decisions made in pairs (half
    # the random numbers used twice) give an even count every time.
    expect(even < 0.75, call=call, point=f"each {what} is dropped independently with probability p",
           expected=f"an odd number of the {n} {what}s dropped in about half of the draws",
           got=f"an even number in {even:.0%} of them (decisions made in pairs?)")


@pytest.mark.weight(1)
def test_dropout_count_is_random(sub, rng):
    """the number of zeroed elements is random (binomial), not always round(p * n)"""
    p, n, calls = 0.5, 10, 400
    x = _nonzero(rng, n)
    call = f"dropout(x, {p}) called {calls} times with {_xs(x)}"
    r = sub.dropout_call(x, p, repeat=calls)
    _own_mask(r, call)
    outs = [r.get("out")] + list(r["more"])
    _tensor(r, (n,), "float32", "cpu", call, "the result has x's shape, dtype and device")
    frac = sum(_frac_dropped(o) for o in outs if isinstance(o, torch.Tensor)) / len(outs)
    # 4000 independent drops; Hoeffding: P(|frac - 0.5| >= 0.1) <= 2 exp(-2 * 4000 * 0.1^2) = 2 e^-80.
    expect(abs(frac - p) < 0.1, call=call, point="each element is zeroed with probability p",
           expected=f"about {p:.0%} zeroed over all calls", got=f"{frac:.1%}")
    share = _exact_half_share(outs, n)
    # Independent drops: the count is Bin(10, 1/2), exactly 5 with probability 252/1024 = 0.246.
    # Hoeffding over 400 calls: P(share >= 0.5) <= exp(-2 * 400 * 0.254^2) = e^-51.6 = 4e-23.
    # Dropping exactly round(p * n) elements (a randperm) gives share 1.
    expect(share < 0.5, call=call, point="each element is zeroed independently with probability p",
           expected="exactly 5 of the 10 zeroed in about 25% of the calls (the count is binomial)",
           got=f"exactly 5 zeroed in {share:.0%} of the calls")
    _expect_odd_counts_too(outs, n, call, "element")


@pytest.mark.weight(3)
def test_dropout_identity_when_not_training_or_p_zero(sub, rng):
    """training=False or p == 0 returns x unchanged"""
    x = _nonzero(rng, 6, 7)
    cases = [(0.5, False, None), (0.9, False, None), (1.0, False, None), (0.0, False, None),
             (0.0, None, None), (0.0, True, None), (0.5, False, "float64"), (0.0, True, "float16"),
             # A Python int is a valid float argument (PEP 484): p = 0 is p == 0.
             (0, None, None), (0, True, "float64"), (1, False, None)]
    _own_mask_in_training(sub)
    for p, training, dtype in cases:
        args = f", training={training}" if training is not None else ""
        call = f"dropout(x, {p}{args}) with {_xs(x.to(getattr(torch, dtype or 'float32')))}"
        r = sub.dropout_call(x, p, training=training, dtype=dtype)
        _own_mask(r, call)
        dt = dtype or "float32"
        _tensor(r, (6, 7), dt, "cpu", call, "the result has x's shape, dtype and device")
        expect_close(r["out"], x.to(getattr(torch, dt)), rtol=0, atol=0, call=call,
                     point="training=False or p == 0 returns x unchanged")
    # The sheet's signature dropout(x, p, training=True): training is also the third positional argument.
    call = "dropout(x, 0.5, False)"
    point = "dropout(x, p, training=True) takes training as its third argument, as the signature says"
    r = _runs(lambda: sub.dropout_call(x, 0.5, training=False, positional=True), call, point, "x unchanged")
    _own_mask(r, call)
    _tensor(r, (6, 7), "float32", "cpu", call, point)
    expect_close(r["out"], x, rtol=0, atol=0, call=call, point=point)


@pytest.mark.weight(2)
def test_dropout_p_one_gives_zeros(sub, rng):
    """p == 1 returns all zeros, never NaN or inf"""
    _own_mask_in_training(sub)
    # p = 1, a Python int, is a valid float argument (PEP 484): p == 1 all the same.
    for p, dtype, scale in [(1.0, "float32", 1e30), (1.0, "float64", 1.0), (1.0, "float16", 1000.0),
                            (1, "float32", 1e30), (1, "float64", 1.0)]:
        x = _nonzero(rng, 5, 8) * scale
        call = f"dropout(x, {p}) with {_xs(x.to(getattr(torch, dtype)))}, values up to {1.5 * scale:g}"
        r = sub.dropout_call(x, p, dtype=dtype)
        _own_mask(r, call)
        _tensor(r, (5, 8), dtype, "cpu", call, "the result has x's shape, dtype and device")
        out = r["out"]
        expect(bool((out == 0).all()), call=call,
               point="p == 1 returns all zeros (never NaN or inf: 0/0 is NaN)"
                     + (", also for the int p = 1" if isinstance(p, int) else ""),
               expected="all zeros",
               got=f"{int(out.isnan().sum())} NaN, {int(out.isinf().sum())} inf, "
                   f"{int(((out != 0) & out.isfinite()).sum())} other non-zero values")


@pytest.mark.weight(3)
def test_dropout_invalid_p_raises(sub):
    """p outside [0, 1] raises ValueError, in training and in evaluation"""
    x = torch.ones(3)
    for training in (None, True, False):
        # An int p is a valid float argument (PEP 484): -1 and 2 are outside [0, 1] all the same.
        for p in (-0.1, 1.1, -1.0, 2.0, 1.0001, 2, -1):
            args = f", training={training}" if training is not None else ""
            expect_raises("ValueError", sub.dropout_call, x, p, training=training,
                          call=f"dropout(torch.ones(3), {p}{args})",
                          point="p outside [0, 1] raises ValueError, whatever training is")
    _own_mask_in_training(sub)
    for p in (0.0, 0.5, 1.0):  # the ends of [0, 1] are valid
        r = sub.dropout_call(x, p)
        _own_mask(r, f"dropout(torch.ones(3), {p})")
        _tensor(r, (3,), "float32", "cpu", f"dropout(torch.ones(3), {p})", "p in [0, 1] is valid")


@pytest.mark.weight(2)
def test_dropout_keeps_dtype(sub, rng):
    """dropout(x, p) keeps x's dtype (float64, float16, bfloat16), survivors scaled"""
    for dtype in ("float64", "float16", "bfloat16"):
        for p in (0.3, 0.5):
            x = _nonzero(rng, 50, 40)
            xd = x.to(getattr(torch, dtype))
            call = f"dropout(x, {p}) with {_xs(xd)}"
            r = sub.dropout_call(x, p, dtype=dtype)
            _own_mask(r, call)
            _tensor(r, (50, 40), dtype, "cpu", call,
                    "the result has x's dtype (the mask must not promote it)")
            _zero_or_scaled(r["out"], xd, p, call, "every survivor is x / (1 - p); the others are 0",
                            rtol=RTOL[dtype])
            frac = _frac_dropped(r["out"])
            # 2000 elements; Hoeffding: P(|frac - p| >= 0.1) <= 2 exp(-2 * 2000 * 0.01) = 2 e^-40.
            expect(abs(frac - p) < 0.1, call=call, point="each element is zeroed with probability p",
                   expected=f"about {p:.0%} zeroed", got=f"{frac:.1%}")


@pytest.mark.weight(2)
def test_dropout_follows_device(sub, rng):
    """dropout(x, p) makes its mask on x's device (the meta device stands in for a GPU)"""
    _dropout_drops(sub, "the mask is made on x's device")
    x = _nonzero(rng, 4, 6)
    for p, dtype in [(0.5, None), (0.3, "float16"), (1.0, None), (0.0, None)]:
        call = f"dropout(x, {p}) with x a {dtype or 'float32'} (4, 6) tensor on the meta device"
        r = _on_meta(lambda: sub.dropout_call(x, p, dtype=dtype, device="meta"))
        if r is None:
            continue
        _own_mask(r, call)
        _tensor(r, (4, 6), dtype or "float32", "meta", call,
                "the result has x's device: make the mask with device=x.device")


@pytest.mark.cuda
@pytest.mark.weight(2)
def test_dropout_on_cuda(sub, rng):
    """dropout(x, p) on a CUDA tensor stays on the GPU and drops a fraction p"""
    n, p = 200_000, 0.3
    x = _nonzero(rng, n)
    call = f"dropout(x, {p}) with {_xs(x)} on cuda"
    r = sub.dropout_call(x, p, device="cuda")
    _own_mask(r, call)
    _tensor(r, (n,), "float32", "cuda", call, "the result has x's shape, dtype and device")
    _zero_or_scaled(r["out"], x, p, call, "every survivor is x / (1 - p); the others are 0")
    frac = _frac_dropped(r["out"])
    # Hoeffding: 2 exp(-2 * 2e5 * 0.01^2) = 2 e^-40 ~ 8.5e-18.
    expect(abs(frac - p) < 0.01, call=call, point="each element is zeroed with probability p",
           expected=f"{p:.0%} zeroed (within 1 point)", got=f"{frac:.2%}")


@pytest.mark.weight(2)
def test_dropout_does_not_modify_x(sub, rng):
    """dropout never modifies x itself"""
    _dropout_drops(sub, "x itself is never modified")
    # x of any shape, without grad too: a shortcut taken only for some shapes (3 or more dims, say)
    # must not write into x either.
    # Large magnitudes too (up to 1.5e5 and 1.5e30): x is never clamped or rescaled, not even through
    # x.data (which leaves x._version as it was). The probe also compares x's dtype and requires_grad
    # flag before and after: x.requires_grad_() on the caller's tensor modifies it too.
    for p, dtype, shape, scale in [(0.5, None, (10, 10), 1.0), (0.3, "float64", (10, 10), 1.0),
                                   (1.0, None, (10, 10), 1.0), (0.8, "float16", (10, 10), 1.0),
                                   (0.5, None, (4, 5, 6), 1.0), (0.3, "float64", (2, 3, 4, 5), 1.0),
                                   (0.5, None, (7,), 1.0), (0.5, None, (10, 10), 1e5),
                                   (0.3, "float64", (4, 5, 6), 1e30), (1.0, None, (10, 10), 1e5)]:
        x = _nonzero(rng, *shape) * scale
        big = "" if scale == 1.0 else f", values up to {1.5 * scale:g}"
        call = f"dropout(x, {p}) with {_xs(x.to(getattr(torch, dtype or 'float32')))}{big}, x.requires_grad=False"
        r = sub.dropout_call(x, p, dtype=dtype)
        _own_mask(r, call)
        expect(r["x_unchanged"] is True, call=call, point="x itself is never modified (no in-place operations on it)",
               expected="x unchanged after the call (values, dtype, requires_grad)",
               got=_how_modified(r["x_unchanged"]))


@pytest.mark.weight(2)
def test_dropout_gradient_flows(sub, rng):
    """gradients flow to x: g / (1 - p) where kept, 0 where dropped"""
    for p, training in [(0.4, None), (0.7, True), (0.5, False), (1.0, None), (0.0, None)]:
        x = _nonzero(rng, 20, 30)
        g = torch.randn(20, 30, generator=rng)
        args = f", training={training}" if training is not None else ""
        call = f"dropout(x, {p}{args}).backward(g) with {_xs(x)}, x.requires_grad=True"
        r = sub.dropout_call(x, p, training=training, grad_out=g)
        _own_mask(r, call)
        _tensor(r, (20, 30), "float32", "cpu", call, "the result has x's shape, dtype and device")
        point = ("at p == 1 too gradients flow to x (as zeros): return zeros connected to x, like x * 0, "
                 "not a new tensor (torch.zeros_like(x))" if p == 1.0
                 else "gradients flow to x (no detach, no torch.no_grad)")
        expect(r["requires_grad"] is True, call=call, point=point,
               expected="a result with requires_grad=True", got="requires_grad=False")
        if training is False or p == 0.0:
            want = g  # p == 0 returns x (or an equal tensor): the gradient is g itself
        elif p == 1.0:
            want = torch.zeros_like(g)
        else:
            want = torch.where(r["out"] != 0, g / (1 - p), torch.zeros(()))
        expect(isinstance(r["grad"], torch.Tensor), call=call, point="gradients flow to x",
               expected="x.grad set by backward", got="x.grad is None")
        expect_close(r["grad"], want, call=call,
                     point="the gradient is g / (1 - p) where x was kept, 0 where dropped (g in evaluation)")


@pytest.mark.weight(3)
def test_dropout_source_does_not_use_torch_dropout(sub, source):
    """dropout does not use torch's own dropout (source scan and a run)"""
    _dropout_drops(sub, NO_TORCH_DROPOUT)
    x = torch.ones(4, 4)
    for p, training in [(0.5, None), (0.5, False)]:
        args = f", training={training}" if training is not None else ""
        _own_mask(sub.dropout_call(x, p, training=training), f"dropout(torch.ones(4, 4), {p}{args})")
    hits = _region_hits(source, FORBIDDEN_NAMES, other="EpochDropout")
    expect(not hits, call="dropout.py, function dropout", point=NO_TORCH_DROPOUT,
           expected="no reference to torch's dropout functions or nn.Dropout", got=", ".join(hits[:5]))


# == EpochDropout ======================================================================

def _script(sub, p, steps, call):
    r = sub.epoch_script(p, steps)
    _own_mask(r, call)
    return r["log"]


def _fwd(x, **kw):
    return {"op": "forward", "x": x, **kw}


def _shared_pattern(e: dict[str, Any], call: str, point: str) -> torch.Tensor:
    """The per-feature kept pattern of a forward's output, after checking all samples share it."""
    expect(bool(e.get("is_tensor")), call=call, point="forward returns a tensor",
           expected="a tensor", got=str(e.get("type")))
    kept = e["out"] != 0
    differ = int((kept != kept[:1]).flatten(1).any(1).sum())
    expect(differ == 0, call=call, point=point,
           expected="every sample of the batch dropped at the same features",
           got=f"{differ} of {kept.shape[0]} samples differ from sample 0 (a mask per element, not per feature?)")
    return kept[0]


@pytest.mark.weight(2)
def test_epoch_invalid_p_raises_at_construction(sub):
    """EpochDropout(p) with p outside [0, 1] raises ValueError at construction"""
    for p in (-0.1, 1.5, -1.0, 1.0001, 2, -1):  # ints too (PEP 484: an int is a valid float)
        expect_raises("ValueError", sub.epoch_construct, p, call=f"EpochDropout(p={p})",
                      point="p outside [0, 1] raises ValueError at construction")
    for p in (0.0, 1.0, 0.5, None):
        call = "EpochDropout()" if p is None else f"EpochDropout(p={p})"
        r = sub.epoch_construct(p)
        _own_mask(r, call)
        if p is not None:  # a forward too: torch's dropout may hide in forward
            _script(sub, p, [_fwd(torch.ones(4, 4))], call + "(torch.ones(4, 4))")
        expect(r["is_module"] is True and r["training"] is True, call=call,
               point="EpochDropout is an nn.Module (in training mode when built); p in [0, 1] is valid",
               expected="an nn.Module with training=True",
               got=f"is_module={r['is_module']}, training={r['training']}")


@pytest.mark.weight(5)
def test_epoch_one_scaled_mask_per_feature(sub, rng):
    """training forward: one keep/drop decision per feature, shared by the batch, kept scaled by 1/(1-p)"""
    for p, shape in [(0.5, (16, 300)), (0.3, (8, 4, 25)), (0.75, (12, 200))]:
        x = _nonzero(rng, *shape)
        call = f"EpochDropout({p})(x) with {_xs(x)}"
        (_, e) = _script(sub, p, [_fwd(x)], call)
        _tensor(e, shape, "float32", "cpu", call, "the output has x's shape, dtype and device")
        _shared_pattern(e, call, "one keep/drop decision per feature, shared by every sample of the batch")
        _zero_or_scaled(e["out"], x, p, call, "kept features are scaled by 1 / (1 - p); dropped ones are 0")


@pytest.mark.weight(2)
def test_epoch_features_independent(sub, rng):
    """with several feature dims, every feature gets its own decision (not one per channel)"""
    p, shape = 0.5, (2, 40, 50, 100)
    x = _nonzero(rng, *shape)
    call = f"EpochDropout({p})(x) with {_xs(x)}"
    (_, e) = _script(sub, p, [_fwd(x)], call)
    _tensor(e, shape, "float32", "cpu", call, "the output has x's shape, dtype and device")
    dropped = ~_shared_pattern(e, call, "one keep/drop decision per feature, shared by every sample of the batch")
    # F = (40, 50, 100): 2e5 features, 1e5 disjoint neighbour pairs along each feature dim, both
    # dropped with probability 1/4. Hoeffding, t = 0.02: 2 e^-80 per dim, 6 e^-80 ~ 1e-34 in
    # all. One decision per channel (or shared along any dim) gives 0.5 along that dim.
    for both, dim in sorted(((_both_along(dropped, d), d) for d in range(3)), key=lambda t: -abs(t[0] - 0.25)):
        expect(abs(both - 0.25) < 0.02, call=call,
               point="one keep/drop decision per feature: every position of F = x.shape[1:] decides on its own",
               expected=f"neighbouring features along x's dim {dim + 1} both dropped in about 25% of the pairs",
               got=f"{both:.1%}" + (f" (one decision shared along x's dim {dim + 1}?)" if both > 0.4 else ""))


@pytest.mark.weight(2)
def test_epoch_mask_attribute(sub, rng):
    """self.mask holds the (1, *features) mask, is no parameter and is not in state_dict()"""
    x = _nonzero(rng, 10, 3, 50)
    call = f"m = EpochDropout(0.4); m(x); m(x[:4]); m.state_dict() with {_xs(x)}"
    log = _script(sub, 0.4, [_fwd(x), _fwd(x[:4]), {"op": "state"}], call)
    kept = _shared_pattern(log[1], call, "one keep/drop decision per feature, shared by the batch")
    for e in log[1:]:
        mask = e["mask"]
        expect(mask.get("present") and mask.get("is_tensor") and tuple(mask["shape"]) == (1, 3, 50), call=call,
               point="self.mask holds the current mask, of shape (1, *x.shape[1:])",
               expected="m.mask a tensor of shape (1, 3, 50)",
               got=("no attribute mask" if not mask.get("present") else "None" if mask.get("none")
                    else f"a {mask.get('type')}" if not mask.get("is_tensor") else f"shape {tuple(mask['shape'])}"))
        expect(torch.equal(mask["kept"][0], kept), call=call,
               point="self.mask is 0 exactly where features are dropped",
               expected="mask != 0 exactly at the kept features", got="a different pattern")
        expect(mask["is_parameter"] is False, call=call, point="mask is not a parameter",
               expected="a plain tensor", got="an nn.Parameter")
    st = log[3]
    # Read from the values, not the names (the mask may be kept under any name and in any form: a
    # tensor, a list of numbers, nested lists, bytes, a string, inside get_extra_state's dict): a
    # run of 150 consecutive numbers of a state_dict value or parameter that is non-zero exactly
    # where the mask is (or exactly where it is not). A run that does not depend on this mask has
    # either pattern with probability at most 2 * 0.6^150 < 1e-33 (each feature kept with
    # probability 0.6, independently); the probe reports at most 1e6 numbers per value, so over all
    # runs of all values a correct module matches by chance with probability < 1e-25.
    mine = st["mask"]["kept"].flatten()
    bad = [name for name, kept in st.get("same_size") or [] if _holds_pattern(kept, mine)]
    expect(not bad, call=call, point="mask is neither a parameter nor part of state_dict()",
           expected="no copy of the mask in state_dict() or named_parameters()", got=f"the mask is in {bad}")
    # p == 0 and p == 1 are no exceptions: the training forward still holds a mask
    # (one that keeps every feature, one that drops every feature).
    for p, kept_all in ((0.0, True), (1.0, False)):
        x = _nonzero(rng, 5, 2, 6)
        call = f"m = EpochDropout({p}); m(x) with {_xs(x)}"
        (_, e) = _script(sub, p, [_fwd(x)], call)
        mask = e["mask"]
        want = "non-zero everywhere" if kept_all else "zero everywhere"
        right = mask.get("kept") is None or bool((mask["kept"] if kept_all else ~mask["kept"]).all())
        ok = mask.get("present") and mask.get("is_tensor") and tuple(mask["shape"]) == (1, 2, 6) and right
        expect(bool(ok), call=call,
               point="after a training forward self.mask holds the current mask, of shape (1, *x.shape[1:]), "
                     "also at p == 0 (keeping every feature) and p == 1 (dropping every feature)",
               expected=f"m.mask a tensor of shape (1, 2, 6), {want}",
               got=("no attribute mask" if not mask.get("present") else "None" if mask.get("none")
                    else f"a {mask.get('type')}" if not mask.get("is_tensor") else f"shape {tuple(mask['shape'])}"
                    if tuple(mask["shape"]) != (1, 2, 6) else
                    f"{int((~mask['kept'] if kept_all else mask['kept']).sum())} "
                    f"{'zeros' if kept_all else 'non-zeros'} in it"))


@pytest.mark.weight(2)
def test_epoch_keep_fraction(sub, rng):
    """EpochDropout(p) keeps each feature with probability 1 - p (default p = 0.5)"""
    n = 200_000
    # A training forward under torch.no_grad() too: the module's mode decides, not the grad mode.
    for p, no_grad in ((0.27, False), (None, False), (0.83, False), (0.27, True)):  # off any coarse grid
        pv = 0.5 if p is None else p
        x = _nonzero(rng, 2, n)
        call = f"EpochDropout({'' if p is None else p})(x) with {_xs(x)}" + (", under torch.no_grad()" if no_grad else "")
        (_, e) = _script(sub, p, [_fwd(x, no_grad=no_grad)], call)
        _tensor(e, (2, n), "float32", "cpu", call, "the output has x's shape, dtype and device")
        frac = _frac_dropped(e["out"][0])
        # One Bernoulli(p) decision per feature, 2e5 features. Hoeffding:
        # P(|frac - p| >= 0.01) <= 2 exp(-2 * 2e5 * 1e-4) = 2 e^-40 ~ 8.5e-18, 3.4e-17 for the four.
        hint = " (kept with probability p instead of 1 - p?)" if abs(frac - (1 - pv)) < 0.01 else ""
        if no_grad and frac == 0:
            hint = " (a module in training mode drops also under torch.no_grad(): the grad mode is not the training mode)"
        expect(abs(frac - pv) < 0.01, call=call,
               point="each feature is kept with probability 1 - p (the default p is 0.5)"
                     + ("; training mode, whatever the grad mode" if no_grad else ""),
               expected=f"{pv:.0%} of the features dropped (within 1 point)", got=f"{frac:.2%}{hint}")


@pytest.mark.weight(1)
def test_epoch_count_is_random(sub, rng):
    """the number of dropped features is random (binomial), not always round(p * features)"""
    f, masks = 10, 400
    x = _nonzero(rng, 1, f)
    steps = [_fwd(x)] + [step for _ in range(masks - 1) for step in ({"op": "reset"}, _fwd(x))]
    call = f"m = EpochDropout(0.5); m(x), then m.reset_mask(); m(x) {masks - 1} times, with {_xs(x)}"
    log = _script(sub, 0.5, steps, call)
    outs = [e.get("out") for e in log if e["op"] == "forward"]
    frac = sum(_frac_dropped(o) for o in outs if isinstance(o, torch.Tensor)) / len(outs)
    # 4000 independent features; Hoeffding: P(|frac - 0.5| >= 0.1) <= 2 exp(-2 * 4000 * 0.1^2) = 2 e^-80.
    expect(abs(frac - 0.5) < 0.1, call=call, point="each feature is dropped with probability p",
           expected="about 50% of the features dropped over all masks", got=f"{frac:.1%}")
    share = _exact_half_share(outs, f)
    # As for dropout: Bin(10, 1/2) is exactly 5 with probability 0.246; over 400 masks,
    # Hoeffding gives P(share >= 0.5) <= e^-51.6 = 4e-23.
    expect(share < 0.5, call=call, point="each feature is dropped independently with probability p",
           expected="exactly 5 of the 10 features dropped in about 25% of the masks",
           got=f"exactly 5 dropped in {share:.0%} of the masks")
    _expect_odd_counts_too(outs, f, call, "feature")


@pytest.mark.weight(3)
def test_epoch_mask_reused_for_every_batch_size(sub, rng):
    """later training forwards reuse the mask, whatever their batch size (short last batch included)"""
    f = 256
    sizes = [32, 32, 7, 64, 1]
    xs = [_nonzero(rng, b, f) for b in sizes]
    call = f"m = EpochDropout(0.5); m(x) for batches of {sizes} samples, {f} features"
    log = _script(sub, 0.5, [_fwd(x) for x in xs], call)
    first = _shared_pattern(log[1], call, "one decision per feature, shared by the batch")
    for b, x, e in zip(sizes[1:], xs[1:], log[2:]):
        _tensor(e, (b, f), "float32", "cpu", call, "the output has x's shape, dtype and device")
        kept = _shared_pattern(e, call, "one decision per feature, shared by the batch")
        # A freshly drawn mask equals the first with probability 2^-256.
        expect(torch.equal(kept, first), call=call,
               point="every later training forward reuses the mask, whatever its batch size",
               expected=f"for the batch of {b}: the same {int((~first).sum())} features dropped",
               got=f"{int((kept != first).sum())} of {f} features changed")
        _zero_or_scaled(e["out"], x, 0.5, call, "kept features are scaled by 1 / (1 - p)")
    # A 1-D x of shape (B,) has F = (): ONE decision for the whole batch, a mask of shape (1,), reused
    # for a batch of another size. Deterministic for a correct module (no statistics): each output is
    # all 0 or all 2 (= 1 / (1 - 0.5)), and the second call repeats the first call's decision.
    call = "m = EpochDropout(0.5); m(torch.ones(8)); m(torch.ones(3))"
    log = _script(sub, 0.5, [_fwd(torch.ones(8)), _fwd(torch.ones(3))], call)
    values = []
    for e, b in zip(log[1:], (8, 3)):
        _tensor(e, (b,), "float32", "cpu", call, "the output has x's shape, dtype and device")
        mask = e["mask"]
        expect(bool(mask.get("is_tensor")) and tuple(mask["shape"]) == (1,), call=call,
               point="forward(x) with x of shape (B, *F) draws ONE mask of shape (1, *F): "
                     "for a 1-D x (F = ()) a mask of shape (1,), whatever B",
               expected=f"after the batch of {b}: m.mask a tensor of shape (1,)", got=_mask_desc(mask))
        got = sorted(set(e["out"].tolist()))
        expect(got in ([0.0], [2.0]), call=call,
               point="one keep/drop decision shared by every sample of the batch (a 1-D x has one feature)",
               expected=f"for the batch of {b}: all 0 (dropped) or all 2 (kept, 1 / (1 - 0.5))",
               got=f"the values {got[:6]}")
        values.append(got)
    expect(values[0] == values[1], call=call,
           point="every later training forward reuses the mask, whatever its batch size",
           expected=f"the batch of 3 {'dropped' if values[0] == [0.0] else 'kept'} as the batch of 8",
           got=f"{values[0]} for the batch of 8, {values[1]} for the batch of 3")


@pytest.mark.weight(2)
def test_epoch_reset_mask(sub, rng):
    """reset_mask() sets mask to None; the next training forward draws a new mask, then reuses it"""
    f = 256
    x = _nonzero(rng, 8, f)
    call = f"m = EpochDropout(0.5); m(x); m.reset_mask(); m(x); m(x) with {_xs(x)}"
    log = _script(sub, 0.5, [_fwd(x), {"op": "reset"}, _fwd(x), _fwd(x[:3])], call)
    first = _shared_pattern(log[1], call, "one decision per feature, shared by the batch")
    mask = log[2]["mask"]
    expect(mask.get("present") is True and mask.get("none") is True, call=call,
           point="reset_mask() sets the attribute mask to None", expected="m.mask is None",
           got="no attribute mask" if not mask.get("present") else f"m.mask = {mask.get('shape') or mask.get('type')}")
    second = _shared_pattern(log[3], call, "one decision per feature, shared by the batch")
    # Two independent masks of 256 features at p = 0.5 coincide with probability 2^-256.
    expect(not torch.equal(first, second), call=call,
           point="the first forward after reset_mask() draws a new mask",
           expected="a new drop pattern", got="the same pattern as before reset_mask()")
    third = _shared_pattern(log[4], call, "one decision per feature, shared by the batch")
    expect(torch.equal(third, second), call=call, point="the new mask is reused until the next reset_mask()",
           expected="the same pattern as the forward after the reset", got="a different one")


@pytest.mark.weight(2)
def test_epoch_new_mask_when_feature_shape_changes(sub, rng):
    """a new mask is drawn when the per-sample shape changes"""
    # The last step changes only the last dim: every dim of F counts, not just the first.
    shapes = [(8, 10), (8, 12), (5, 3, 4), (6, 12), (6, 2, 6), (6, 2, 7)]
    xs = [_nonzero(rng, *s) for s in shapes]
    call = f"m = EpochDropout(0.5); m(x) for x of shapes {shapes}"
    log = _runs(lambda: _script(sub, 0.5, [_fwd(x) for x in xs], call), call,
                "if the per-sample shape x.shape[1:] changes (any of its dims), a new mask is drawn for the new shape",
                "an output of x's shape for every call")
    for s, x, e in zip(shapes, xs, log[1:]):
        _tensor(e, s, "float32", "cpu", call, f"with the per-sample shape {s[1:]} the output has x's shape")
        _shared_pattern(e, call, "one decision per feature, shared by the batch")
        _zero_or_scaled(e["out"], x, 0.5, call, "kept features are scaled by 1 / (1 - p)")
        mask = e["mask"]
        expect(bool(mask.get("is_tensor")) and tuple(mask["shape"]) == (1, *s[1:]), call=call,
               point="if the per-sample shape changes, a new mask of shape (1, *x.shape[1:]) is drawn",
               expected=f"for x of shape {s}: m.mask of shape {(1, *s[1:])}",
               got=f"{tuple(mask['shape']) if mask.get('is_tensor') else mask}")
    # The same number of features in another shape: a fresh draw, not the old mask reshaped.
    shapes = [(2, 100, 120), (2, 12000), (2, 30, 400)]
    xs = [_nonzero(rng, *s) for s in shapes]
    call = f"m = EpochDropout(0.5); m(x) for x of shapes {shapes}"
    log = _script(sub, 0.5, [_fwd(x) for x in xs], call)
    pats = []
    for s, e in zip(shapes, log[1:]):
        _tensor(e, s, "float32", "cpu", call, f"with the per-sample shape {s[1:]} the output has x's shape")
        pats.append(_shared_pattern(e, call, "one decision per feature, shared by the batch").flatten())
    for i in (1, 2):
        agree = (pats[i] == pats[i - 1]).double().mean().item()
        # 12000 decisions of two independent masks, each pair agreeing with probability 1/2.
        # Hoeffding, t = 0.05: 2 exp(-2 * 12000 * 0.0025) = 2 e^-60 per pair, 4 e^-60 ~ 4e-26.
        # The old mask reshaped agrees everywhere.
        expect(abs(agree - 0.5) < 0.05, call=call,
               point="if the per-sample shape changes, a new mask is drawn for the new shape "
                     "(also when the number of features stays the same: not the old mask reshaped)",
               expected=f"the masks for {shapes[i - 1][1:]} and {shapes[i][1:]} agree (flattened) on about "
                        f"50% of the features, as two independent draws do",
               got=f"{agree:.1%}" + (" (the old mask reshaped?)" if agree > 0.99 else ""))
    # Back to an earlier shape is a change too: a new draw, not a mask kept from before.
    a, b = _nonzero(rng, 4, 256), _nonzero(rng, 4, 100)
    call = "m = EpochDropout(0.5); m(a); m(b); m(a) with a of shape (4, 256) and b of shape (4, 100)"
    log = _script(sub, 0.5, [_fwd(a), _fwd(b), _fwd(a)], call)
    first = _shared_pattern(log[1], call, "one decision per feature, shared by the batch")
    again = _shared_pattern(log[3], call, "one decision per feature, shared by the batch")
    # A fresh mask repeats the first with probability 2^-256.
    expect(not torch.equal(first, again), call=call,
           point="if the per-sample shape changes, a new mask is drawn (also back to an earlier shape)",
           expected="a new keep/drop pattern for the third call", got="the first call's pattern again")


@pytest.mark.weight(3)
def test_epoch_eval_identity_mask_untouched(sub, rng):
    """eval mode returns x unchanged and leaves the mask alone"""
    f = 256
    x = _nonzero(rng, 6, f)
    other = _nonzero(rng, 3, 7)
    call = "m = EpochDropout(0.5); m.eval(); m(x); m.train(); m(x); m.eval(); m(x); m(other); m.train(); m(x)"
    log = _script(sub, 0.5, [{"op": "eval"}, _fwd(x), {"op": "train"}, _fwd(x), {"op": "eval"},
                             _fwd(x), _fwd(other), {"op": "train"}, _fwd(x)], call)
    init = log[0]["mask"]
    for i, xi in [(2, x), (6, x), (7, other)]:
        _tensor(log[i], tuple(xi.shape), "float32", "cpu", call, "the output has x's shape, dtype and device")
        expect_close(log[i]["out"], xi, rtol=0, atol=0, call=call, point="eval mode returns x unchanged")
    before = log[2]["mask"]
    expect(before.get("none") == init.get("none") and before.get("present") == init.get("present"), call=call,
           point="eval mode leaves the mask alone (a forward in eval mode draws no mask)",
           expected=f"m.mask as built ({'None' if init.get('none') else init})",
           got="a mask" if before.get("is_tensor") else str(before))
    first = _shared_pattern(log[4], call, "one decision per feature, shared by the batch")
    drawn = log[4]["mask"]
    for i in (5, 6, 7):
        now = log[i]["mask"]
        same = (now.get("is_tensor") and drawn.get("is_tensor") and now["shape"] == drawn["shape"]
                and torch.equal(now["values"], drawn["values"]))
        expect(bool(same), call=call, point="eval mode leaves the mask alone (no drawing, no reset, no change)",
               expected=f"m.mask unchanged, shape {tuple(drawn.get('shape') or ())}",
               got=("None" if now.get("none") else f"shape {tuple(now.get('shape') or ())}, other values"))
    last = _shared_pattern(log[9], call, "one decision per feature, shared by the batch")
    expect(torch.equal(last, first), call=call, point="back in training mode the epoch's mask is still used",
           expected="the same drop pattern as before eval", got="a different one")
    # Eval inputs of another dtype and device must not convert the stored mask either.
    call = "m = EpochDropout(0.5); m(x); m.eval(); m(x.double()); m(x.bfloat16()); m(x_meta)"
    log = _script(sub, 0.5, [_fwd(x), {"op": "eval"}, _fwd(x, dtype="float64"), _fwd(x, dtype="bfloat16"),
                             _fwd(x, device="meta")], call)
    drawn = log[1]["mask"]
    desc = _mask_desc(drawn)
    for i, what in [(3, "float64"), (4, "bfloat16"), (5, "meta")]:
        dev = "meta" if what == "meta" else "cpu"
        _tensor(log[i], (6, f), "float32" if what == "meta" else what, dev, call,
                "eval mode returns x unchanged (its dtype and device too)")
        now = log[i]["mask"]
        same = (now.get("is_tensor") and drawn.get("is_tensor") and _mask_desc(now) == desc
                and now["values"] is not None and torch.equal(now["values"], drawn["values"]))
        expect(bool(same), call=call,
               point="eval mode leaves the mask alone: no change at all, not even to the input's dtype or device",
               expected=f"m.mask unchanged after the eval forward on the {what} input: {desc}",
               got=_mask_desc(now) + ("" if _mask_desc(now) != desc else ", other values"))


def _holds_pattern(kept: torch.Tensor, pattern: torch.Tensor) -> bool:
    """Whether some run of consecutive elements of ``kept`` equals ``pattern`` or its complement."""
    if not isinstance(kept, torch.Tensor) or kept.numel() < pattern.numel():
        return False
    hay = bytes(kept.flatten().to(torch.uint8).tolist())
    needle = bytes(pattern.flatten().to(torch.uint8).tolist())
    return hay.find(needle) >= 0 or hay.find(bytes(1 - b for b in needle)) >= 0


def _mask_desc(mask: dict[str, Any]) -> str:
    if not mask.get("present"):
        return "no attribute mask"
    if mask.get("none"):
        return "None"
    if not mask.get("is_tensor"):
        return f"a {mask.get('type')}"
    return f"tensor {mask['dtype']} {tuple(mask['shape'])} on {mask['device']}"


@pytest.mark.weight(2)
def test_epoch_instances_have_own_masks(sub, rng):
    """every EpochDropout has its own mask: two layers draw apart, and resetting one leaves the other"""
    f = 256
    x = _nonzero(rng, 4, f)
    call = "a = EpochDropout(0.5); a(x); b = EpochDropout(0.5); b(x); a(x); b.reset_mask(); a(x); b(x); a(x)"
    steps = [_fwd(x), {"op": "build"}, _fwd(x, m=1), _fwd(x, m=0), {"op": "reset", "m": 1}, _fwd(x, m=0),
             _fwd(x, m=1), _fwd(x, m=0)]
    log = _script(sub, 0.5, steps, call)
    a = _shared_pattern(log[1], call, "one decision per feature, shared by the batch")
    b = _shared_pattern(log[3], call, "one decision per feature, shared by the batch")
    # Two independent masks of 256 features at p = 0.5 coincide with probability 2^-256.
    expect(not torch.equal(a, b), call=call, point="each EpochDropout draws its own mask (self.mask, per instance)",
           expected="b's drop pattern independent of a's", got="b uses a's pattern (a mask shared by the class?)")
    for i, what in [(4, "after b was built and used"), (6, "after b.reset_mask()"), (8, "after b drew again")]:
        again = _shared_pattern(log[i], call, "one decision per feature, shared by the batch")
        expect(torch.equal(again, a), call=call,
               point="each EpochDropout keeps its own mask: another instance never changes or resets it",
               expected=f"a's first drop pattern {what}",
               got=f"{int((again != a).sum())} of {f} features changed (a mask redrawn on every call, or shared by the class?)")
    mask = log[6]["mask"]
    expect(bool(mask.get("is_tensor")), call=call,
           point="reset_mask() on one instance leaves the other's mask alone",
           expected="a.mask still a tensor after b.reset_mask()", got=_mask_desc(mask))


@pytest.mark.weight(2)
def test_epoch_p_zero_identity_p_one_zeros(sub, rng):
    """EpochDropout(0) is the identity, EpochDropout(1) gives zeros (never NaN)"""
    x = _nonzero(rng, 6, 9)
    # A Python int p is a valid float argument (PEP 484): EpochDropout(0) and EpochDropout(1) too.
    for p0 in (0.0, 0):
        call = f"EpochDropout({p0})(x) with {_xs(x)}"
        point = "p == 0 is the identity" + (", also for the int p = 0" if isinstance(p0, int) else "")
        (_, e) = _runs(lambda: _script(sub, p0, [_fwd(x)], call), call, point, "x unchanged")
        _tensor(e, (6, 9), "float32", "cpu", call, "the output has x's shape, dtype and device")
        expect_close(e["out"], x, call=call, point=point)
    big = x * 1e30
    for p1 in (1.0, 1):
        call = f"m = EpochDropout({p1}); m(x); m(x[:2]) with x values up to 1.5e30"
        point = "p == 1 gives zeros (never NaN or inf)" + (", also for the int p = 1" if isinstance(p1, int) else "")
        log = _runs(lambda: _script(sub, p1, [_fwd(big), _fwd(big[:2])], call), call, point, "all zeros")
        for e, n in zip(log[1:], (6, 2)):
            _tensor(e, (n, 9), "float32", "cpu", call, "the output has x's shape, dtype and device")
            out = e["out"]
            expect(bool((out == 0).all()), call=call, point=point,
                   expected="all zeros", got=f"{int(out.isnan().sum())} NaN, {int((out != 0).sum())} non-zero")


@pytest.mark.weight(3)
def test_epoch_gradient_and_input_untouched(sub, rng):
    """inputs are never modified in place; gradients flow: g / (1 - p) for kept features, 0 for dropped"""
    p = 0.25
    xs = [_nonzero(rng, 5, 30), _nonzero(rng, 2, 30)]
    gs = [torch.randn(5, 30, generator=rng), torch.randn(2, 30, generator=rng)]
    call = f"m = EpochDropout({p}); m(x1).backward(g1); m(x2).backward(g2) with x.requires_grad=True"
    log = _script(sub, p, [_fwd(xs[0], grad_out=gs[0]), _fwd(xs[1], grad_out=gs[1])], call)
    for e, g in zip(log[1:], gs):
        _tensor(e, tuple(g.shape), "float32", "cpu", call, "the output has x's shape, dtype and device")
        expect(e["x_unchanged"] is True, call=call, point="inputs are never modified in place",
               expected="x unchanged after the forward", got=_how_modified(e["x_unchanged"]))
        expect(e["requires_grad"] is True, call=call, point="gradients flow to x (no detach, no torch.no_grad)",
               expected="an output with requires_grad=True", got="requires_grad=False")
        expect(isinstance(e["grad"], torch.Tensor), call=call, point="gradients flow to x",
               expected="x.grad set by backward", got="x.grad is None")
        want = torch.where(e["out"] != 0, g / (1 - p), torch.zeros(()))
        expect_close(e["grad"], want, call=call,
                     point="the gradient is g / (1 - p) for kept features and 0 for dropped ones")
    # p == 0 is the identity, and gradients flow to x: the gradient is g itself.
    x = _nonzero(rng, 4, 10)
    g = torch.randn(4, 10, generator=rng)
    call = "m = EpochDropout(0.0); m(x).backward(g) with x.requires_grad=True"
    e = _script(sub, 0.0, [_fwd(x, grad_out=g)], call)[1]
    _tensor(e, (4, 10), "float32", "cpu", call, "the output has x's shape, dtype and device")
    expect(e["requires_grad"] is True, call=call, point="at p == 0 too gradients flow to x (no detach)",
           expected="an output with requires_grad=True", got="requires_grad=False")
    expect(isinstance(e["grad"], torch.Tensor), call=call, point="gradients flow to x",
           expected="x.grad set by backward", got="x.grad is None")
    expect_close(e["grad"], g, call=call, point="at p == 0 every feature is kept: the gradient is g itself")
    x = _nonzero(rng, 4, 10)
    g = torch.randn(4, 10, generator=rng)
    call = "m = EpochDropout(1.0); m(x).backward(g) with x.requires_grad=True"
    log = _script(sub, 1.0, [_fwd(x, grad_out=g)], call)
    e = log[1]
    _tensor(e, (4, 10), "float32", "cpu", call, "the output has x's shape, dtype and device")
    expect(e["x_unchanged"] is True, call=call, point="inputs are never modified in place",
           expected="x unchanged after the forward", got=_how_modified(e["x_unchanged"]))
    expect(e["requires_grad"] is True, call=call,
           point="at p == 1 too gradients flow to x (as zeros): return zeros connected to x, like x * 0, "
                 "not a new tensor (torch.zeros_like(x))",
           expected="an output with requires_grad=True", got="requires_grad=False")
    expect(isinstance(e["grad"], torch.Tensor), call=call, point="gradients flow to x",
           expected="x.grad set by backward", got="x.grad is None")
    expect_close(e["grad"], torch.zeros(4, 10), rtol=0, atol=0, call=call,
                 point="at p == 1 every feature is dropped: the gradient is 0 everywhere")
    # Eval mode returns x unchanged, and gradients flow to x there too: the gradient is g itself.
    x1, x2 = _nonzero(rng, 4, 10), _nonzero(rng, 3, 10)
    g = torch.randn(3, 10, generator=rng)
    call = "m = EpochDropout(0.5); m(x1); m.eval(); m(x2).backward(g) with x2.requires_grad=True"
    e = _script(sub, 0.5, [_fwd(x1), {"op": "eval"}, _fwd(x2, grad_out=g)], call)[3]
    _tensor(e, (3, 10), "float32", "cpu", call, "the output has x's shape, dtype and device")
    expect(e["requires_grad"] is True, call=call,
           point="eval mode returns x unchanged, and gradients flow to x (no detach)",
           expected="an output with requires_grad=True", got="requires_grad=False")
    expect(isinstance(e["grad"], torch.Tensor), call=call, point="gradients flow to x (in eval mode too)",
           expected="x.grad set by backward", got="x.grad is None")
    expect_close(e["grad"], g, call=call, point="eval mode is the identity: the gradient is g itself")
    # Without grad too: a shortcut for inputs that need no graph must not write into them either.
    # (The gradient parts above already fail for a module that does not drop.)
    for p, shape in [(0.25, (5, 30)), (0.5, (4, 3, 20)), (0.0, (4, 10)), (1.0, (4, 10))]:
        xs = [_nonzero(rng, *shape), _nonzero(rng, 2, *shape[1:])]
        call = (f"m = EpochDropout({p}); m(x1); m(x2) with x1 of shape {shape}, x2 of shape {(2, *shape[1:])}, "
                "x.requires_grad=False")
        log = _script(sub, p, [_fwd(xs[0]), _fwd(xs[1])], call)
        for e, x in zip(log[1:], xs):
            _tensor(e, tuple(x.shape), "float32", "cpu", call, "the output has x's shape, dtype and device")
            expect(e["x_unchanged"] is True, call=call,
                   point="inputs are never modified in place (also when x does not require grad)",
                   expected=f"x of shape {tuple(x.shape)} unchanged after the forward", got=_how_modified(e["x_unchanged"]))


@pytest.mark.weight(2)
def test_epoch_follows_dtype(sub, rng):
    """the output keeps x's dtype, and a dtype change mid-epoch keeps the keep/drop pattern"""
    f = 256
    # p = 0.3 too: 1 / (1 - 0.3) is not exact in binary, so a scale computed in float32 shows in float64.
    for dtype in ("float64", "float16", "bfloat16"):
        for p in (0.5, 0.3):
            x = _nonzero(rng, 6, f)
            xd = x.to(getattr(torch, dtype))
            call = f"EpochDropout({p})(x) with {_xs(xd)}"
            (_, e) = _script(sub, p, [_fwd(x, dtype=dtype)], call)
            _tensor(e, (6, f), dtype, "cpu", call, "the output has x's dtype (the mask must not promote it)")
            _zero_or_scaled(e["out"], xd, p, call, "kept features are scaled by 1 / (1 - p)", rtol=RTOL[dtype])
    x = _nonzero(rng, 6, f)
    steps = [_fwd(x), _fwd(x, dtype="float64"), {"op": "to", "dtype": "float64"}, _fwd(x[:2], dtype="float64"),
             _fwd(x, dtype="bfloat16"), _fwd(x)]
    call = "m = EpochDropout(0.5); m(x); m(x.double()); m.double(); m(x[:2].double()); m(x.bfloat16()); m(x)"
    log = _script(sub, 0.5, steps, call)
    first = _shared_pattern(log[1], call, "one decision per feature, shared by the batch")
    for i, dtype in [(2, "float64"), (4, "float64"), (5, "bfloat16"), (6, "float32")]:
        e = log[i]
        _tensor(e, tuple(steps[i - 1]["x"].shape), dtype, "cpu", call, f"the output has x's dtype ({dtype})")
        kept = _shared_pattern(e, call, "one decision per feature, shared by the batch")
        # A new mask equals the first with probability 2^-256.
        expect(torch.equal(kept, first), call=call,
               point="the mask follows the input's dtype: the same keep/drop pattern is used",
               expected="the same drop pattern in every dtype", got=f"changed at the {dtype} input")


@pytest.mark.weight(2)
def test_epoch_follows_device(sub, rng):
    """the mask follows the input's device, also mid-epoch (the meta device stands in for a GPU)"""
    _epoch_drops(sub, "the mask follows the input's device")
    x = _nonzero(rng, 8, 20)
    call = "EpochDropout(0.5)(x) with x a float32 (8, 20) tensor on the meta device"
    first = _on_meta(lambda: _script(sub, 0.5, [_fwd(x, device="meta")], call))
    if first is not None:
        _tensor(first[1], (8, 20), "float32", "meta", call, "the mask is made on the input's device")
    call = "m = EpochDropout(0.5); m(x); m.to('meta'); m(x_meta); m(x_meta[:3])"
    log = _on_meta(lambda: _script(sub, 0.5, [_fwd(x), {"op": "to", "device": "meta"}, _fwd(x, device="meta"),
                                              _fwd(x[:3], device="meta")], call))
    if log is None:
        return
    _tensor(log[1], (8, 20), "float32", "cpu", call, "the output has x's shape, dtype and device")
    _tensor(log[3], (8, 20), "float32", "meta", call,
            "the mask follows the input's device when the module moves mid-epoch")
    _tensor(log[4], (3, 20), "float32", "meta", call,
            "the mask follows the input's device when the module moves mid-epoch")


@pytest.mark.cuda
@pytest.mark.weight(2)
def test_epoch_same_pattern_on_cuda(sub, rng):
    """moving the module and inputs to CUDA mid-epoch keeps the keep/drop pattern"""
    f = 256
    x = _nonzero(rng, 6, f)
    call = "m = EpochDropout(0.5); m(x); m.to('cuda'); m(x.cuda()); m(x[:2].cuda()); m.to('cpu'); m(x)"
    steps = [_fwd(x), {"op": "to", "device": "cuda"}, _fwd(x, device="cuda"), _fwd(x[:2], device="cuda"),
             {"op": "to", "device": "cpu"}, _fwd(x)]
    log = _script(sub, 0.5, steps, call)
    first = _shared_pattern(log[1], call, "one decision per feature, shared by the batch")
    for i, dev, n in [(3, "cuda", 6), (4, "cuda", 2), (6, "cpu", 6)]:
        _tensor(log[i], (n, f), "float32", dev, call, f"the output is on the input's device ({dev})")
        kept = _shared_pattern(log[i], call, "one decision per feature, shared by the batch")
        # A new mask equals the first with probability 2^-256.
        expect(torch.equal(kept, first), call=call, point="the same keep/drop pattern is used on the new device",
               expected="the same drop pattern", got=f"changed on {dev}")
    call = "EpochDropout(0.5)(x.cuda())"
    (_, e) = _script(sub, 0.5, [_fwd(x, device="cuda")], call)
    _tensor(e, (6, f), "float32", "cuda", call, "the mask is made on the input's device")


@pytest.mark.weight(3)
def test_epoch_source_does_not_use_torch_dropout(sub, source):
    """EpochDropout does not use torch's own dropout (source scan and a run)"""
    _epoch_drops(sub, NO_TORCH_DROPOUT)
    x = torch.ones(4, 4)
    _script(sub, 0.5, [_fwd(x), _fwd(x), {"op": "eval"}, _fwd(x)], "m = EpochDropout(0.5); m(x); m(x); m.eval(); m(x)")
    hits = _region_hits(source, FORBIDDEN_NAMES, other="dropout")
    expect(not hits, call="dropout.py, class EpochDropout", point=NO_TORCH_DROPOUT,
           expected="no reference to torch's dropout functions or nn.Dropout", got=", ".join(hits[:5]))
