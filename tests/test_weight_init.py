"""Learner tests for the ``weight_init`` exercise.

The random initialisations are tested by their statistics on a few hundred
thousand weights drawn after ``torch.manual_seed(0)``. The tolerances are wide
enough that a correct implementation, whatever random calls it makes, fails
with a probability far below one in a million (bounds in the comments), and
narrow enough to catch the usual mistakes (variance used as the standard
deviation, a normal instead of a uniform, the wrong fans).
"""
from __future__ import annotations

import math
import sys
from typing import NamedTuple

import pytest
import torch
from torch import nn

from kata import DEVICE_FAULT, call_str, describe, expect, expect_close, expect_raises, run

INITS = ("init_normal", "init_constant", "init_xavier", "my_init")


class MyLinear(nn.Linear):
    """A subclass of nn.Linear: the init functions must treat it as a linear layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2


class Projection(nn.Linear):
    """A subclass of nn.Linear whose name does not say "Linear": still a linear layer."""


class LinearAdapter(nn.Module):
    """Not an nn.Linear, though its name says "Linear" and it has a weight and a bias."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.randn(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t() + self.bias


def _big_linear(in_features: int = 500, out_features: int = 200) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(in_features, out_features)


def _ks_uniform(u: torch.Tensor, bins: int = 200) -> tuple[float, float]:
    """Kolmogorov-Smirnov distance between the sample u and U(0, 1), read on the grid x = k / bins:
    max |F_n(x) - x| over it, and the x where it is largest. It is at most the full distance
    sup_x |F_n(x) - x|, so for n independent U(0, 1) draws P(distance > eps) <= 2 exp(-2 n eps^2)
    (the DKW inequality). Counting, not sorting: a few milliseconds for 1e5 values."""
    u = u.detach().double().flatten()
    counts = (u * bins).floor().clamp(0, bins - 1).long().bincount(minlength=bins)
    cdf = counts.cumsum(0).double() / max(u.numel(), 1)
    gap = (cdf - torch.arange(1, bins + 1, dtype=torch.float64) / bins).abs()
    k = int(gap.argmax())
    return gap[k].item(), (k + 1) / bins


# The point a layer's wrong values break, when the function did act on it (a subclass, no bias).
_LAW = "{name} draws the weights from its law (here as for any nn.Linear)"


class Looks(NamedTuple):
    ok: bool
    what: str  # what the weight should look like
    seen: str  # the figures that decide it, as they came out
    untouched: bool  # still nn.Linear's default values: the function did not act on this layer


def _looks_initialised(name: str, w: torch.Tensor, in_f: int, out_f: int, before: torch.Tensor) -> Looks:
    """A quick fingerprint of each init (the defaults of nn.Linear never pass it)."""
    w = w.detach()
    top = f"max |w| = {w.abs().max().item():.4g}"
    if (w == before).double().mean() > 0.1:
        return Looks(False, "the weight re-initialised", "it still holds nn.Linear's default values", True)
    if name == "init_normal":
        # 10 standard deviations: a normal draw exceeds it with probability 1.5e-23.
        return Looks(bool(w.abs().max() < 0.1 and w.std() > 0.003),
                     "weights of N(0, 0.01**2): all |w| < 0.1, std about 0.01", f"{top}, std = {w.std().item():.4g}", False)
    if name == "init_constant":
        return Looks(bool((w == 1).all()), "every weight exactly 1", f"{int((w != 1).sum())} weights not 1", False)
    if name == "init_xavier":
        a = math.sqrt(6 / (in_f + out_f))
        return Looks(bool(w.abs().max() <= a * (1 + 1e-6) and w.abs().max() > 0.5 * a),
                     f"weights in [-a, a], a = {a:.4f}, some near the bound", top, False)
    bad = int((~((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10)))).sum())
    return Looks(bool(bad == 0 and (w != 0).any()), "every weight 0 or 5 <= |w| <= 10, some not 0",
                 f"{bad} weights neither 0 nor in 5 <= |w| <= 10, {int((w != 0).sum())} not 0", False)


# ------------------------------------------------------------- shared contract

@pytest.mark.parametrize("name", INITS)
def test_apply_initialises_linear_layers_and_zeroes_bias(ex, name):
    fn = getattr(ex, name)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 40), nn.ReLU(), nn.Linear(40, 30))
    before = {i: net[i].weight.detach().clone() for i in (0, 2)}
    call = f"nn.Sequential(nn.Linear(6, 40), nn.ReLU(), nn.Linear(40, 30)).apply({name})"
    point = f"{name} initialises the weight of every nn.Linear"
    run(net.apply, fn, call=call, point=point)
    for i, (in_f, out_f) in ((0, (6, 40)), (2, (40, 30))):
        looks = _looks_initialised(name, net[i].weight, in_f, out_f, before[i])
        expect(looks.ok, call=call, point=point, expected=f"net[{i}].weight: {looks.what}",
               got=f"{describe(net[i].weight.detach())}; {looks.seen}")
        expect_close(net[i].bias.detach(), torch.zeros(out_f), call=call,
                     point="the bias is set to zero when there is one")


@pytest.mark.parametrize("name", INITS)
def test_subclass_of_linear_is_initialised(ex, name):
    fn = getattr(ex, name)
    torch.manual_seed(0)
    point = "acts on nn.Linear modules, subclasses included (isinstance, not type(m) == nn.Linear)"
    for cls in (MyLinear, Projection):  # Projection: a subclass whose name does not say "Linear"
        layer = cls(16, 32)
        before = layer.weight.detach().clone()
        call = f"{name}({cls.__name__}(16, 32))"
        note = f"  # class {cls.__name__}(nn.Linear)"
        run(fn, layer, call=call + note, point=point)
        looks = _looks_initialised(name, layer.weight, 16, 32, before)
        # Acted on, but wrong: the values are the point, not the subclass (test_apply_... says the same).
        expect(looks.ok, call=call + note, point=point if looks.untouched else _LAW.format(name=name),
               expected=looks.what, got=f"{describe(layer.weight.detach())}; {looks.seen}")
        expect_close(layer.bias.detach(), torch.zeros(32), call=call + note,
                     point="the bias of a subclass of nn.Linear is set to zero too")


@pytest.mark.parametrize("name", INITS)
def test_other_modules_untouched(ex, name):
    fn = getattr(ex, name)
    torch.manual_seed(0)
    others = {"nn.Conv2d(3, 4, 3)": nn.Conv2d(3, 4, 3), "nn.Bilinear(3, 4, 5)": nn.Bilinear(3, 4, 5),
              "nn.LayerNorm(6)": nn.LayerNorm(6), "nn.Conv1d(2, 3, 5)": nn.Conv1d(2, 3, 5),
              # its class name says "Linear", but it is no nn.Linear: isinstance, not the name
              "LinearAdapter(3, 4)": LinearAdapter(3, 4)}
    notes = {"LinearAdapter(3, 4)": "  # class LinearAdapter(nn.Module), with a weight and a bias"}
    point = "every module that is not an nn.Linear is left untouched"
    for label, mod in others.items():
        before = {k: v.detach().clone() for k, v in mod.named_parameters()}
        call = f"{name}({label})" + notes.get(label, "")
        run(fn, mod, call=call, point=point)
        for k, v in mod.named_parameters():
            expect(torch.equal(v.detach(), before[k]), call=call, point=point,
                   expected=f"{k} unchanged: {describe(before[k])}", got=describe(v.detach()))


@pytest.mark.parametrize("name", INITS)
def test_in_place_same_parameters_still_trainable(ex, name):
    fn = getattr(ex, name)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    params = list(net.parameters())
    call = f"nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)).apply({name})"
    point = "the parameters change in place: the same nn.Parameter objects afterwards"
    run(net.apply, fn, call=call, point=point)
    after = list(net.parameters())
    expect(len(after) == len(params) and all(a is b for a, b in zip(after, params)), call=call, point=point,
           expected="net.parameters() yields the very objects it yielded before",
           got="new Parameter objects (an optimiser built before would update the old ones)")
    for (pname, p) in net.named_parameters():
        expect(p.requires_grad and p.is_leaf and p.grad_fn is None, call=call,
               point="parameters stay leaves with requires_grad=True; no autograd history is recorded",
               expected=f"{pname}: requires_grad=True, is_leaf=True, grad_fn=None",
               got=f"{pname}: requires_grad={p.requires_grad}, is_leaf={p.is_leaf}, grad_fn={p.grad_fn}")


@pytest.mark.parametrize("name", INITS)
def test_bias_false_works(ex, name):
    fn = getattr(ex, name)
    torch.manual_seed(0)
    layer = nn.Linear(12, 30, bias=False)
    before = layer.weight.detach().clone()
    call = f"{name}(nn.Linear(12, 30, bias=False))"
    point = "works on nn.Linear(..., bias=False) (m.bias is None: nothing to zero)"
    run(fn, layer, call=call, point=point)
    looks = _looks_initialised(name, layer.weight, 12, 30, before)
    expect(looks.ok and layer.bias is None, call=call,
           point=point if looks.untouched or layer.bias is not None else _LAW.format(name=name),
           expected=f"{looks.what}, bias still None",
           got=f"weight {describe(layer.weight.detach())} ({looks.seen}), bias {layer.bias}")


@pytest.mark.parametrize("name", INITS)
def test_keeps_dtype(ex, name):
    fn = getattr(ex, name)
    layer = nn.Linear(8, 20).double()
    call = f"{name}(nn.Linear(8, 20).double())"
    point = "in place: the parameters keep their dtype (a float64 layer stays float64)"
    run(fn, layer, call=call, point=point)
    expect(layer.weight.dtype == torch.float64 and layer.bias.dtype == torch.float64, call=call, point=point,
           expected="weight and bias float64", got=f"weight {layer.weight.dtype}, bias {layer.bias.dtype}")


@pytest.mark.parametrize("name", INITS)
def test_returns_none(ex, name):
    fn = getattr(ex, name)
    point = "returns None (it changes the module in place; net.apply(fn) ignores what fn returns)"
    for label, mod in (("nn.Linear(3, 2)", nn.Linear(3, 2)), ("nn.ReLU()", nn.ReLU())):
        call = f"{name}({label})"
        got = run(fn, mod, call=call, point=point)
        expect(got is None, call=call, point=point, expected="None", got=describe(got))


@pytest.mark.parametrize("name", ("init_normal", "init_xavier", "my_init"))
def test_two_layers_get_independent_draws(ex, name):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), nn.Linear(20, 30))
    call = f"nn.Sequential(nn.Linear(20, 30), nn.Linear(20, 30)).apply({name})"
    point = "every weight is drawn independently: two layers of one shape get different values (no reseeding)"
    run(net.apply, getattr(ex, name), call=call, point=point)
    # 600 independent pairs: all equal only if every pair coincides, each with probability <= 1/4 + 2^-20
    # (my_init: both 0), so <= 0.26^600 = 1e-351 for a correct solution.
    expect(not torch.equal(net[0].weight.detach(), net[1].weight.detach()), call=call, point=point,
           expected="net[0].weight and net[1].weight different",
           got=f"the very same values in both: {describe(net[0].weight.detach())}")


# What PyTorch says when CPU and other-device tensors are mixed: on meta as on CUDA.


@pytest.mark.parametrize("name", INITS + ("xavier_uniform_",))
def test_works_on_the_tensors_own_device(ex, name):
    # The meta device stands in for a GPU: tensors with a shape and a device but no values.
    fn = getattr(ex, name)
    on_cpu = "torch.empty(30, 20)" if name == "xavier_uniform_" else "nn.Linear(20, 30)"  # first, on the CPU
    run(fn, torch.empty(30, 20) if name == "xavier_uniform_" else nn.Linear(20, 30), call=f"{name}({on_cpu})",
        point="works on the CPU (before the same call on the meta device)")
    if name == "xavier_uniform_":
        t = torch.empty(30, 20, device="meta")
        target, call, params = t, "xavier_uniform_(torch.empty(30, 20, device='meta'))", [t]
    else:
        layer = nn.Linear(20, 30, device="meta")
        target, call, params = layer, f"{name}(nn.Linear(20, 30, device='meta'))", [layer.weight, layer.bias]
    try:
        fn(target)
    except Exception as err:  # noqa: BLE001 - judged below
        # Code that reads values (.item(), an `if` on a tensor) cannot run on meta tensors, which
        # hold none: no fault. A device mismatch (a new CPU tensor put in place) fails on a GPU too.
        expect(not DEVICE_FAULT.search(str(err)), call=call,
               point="works on the tensor's own device: no new CPU tensor put in its place (.data = ..., set_)",
               expected="no device error", got=f"{type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]}")
        return
    now = [target] if name == "xavier_uniform_" else [target.weight, target.bias]
    names = ["the tensor"] if name == "xavier_uniform_" else ["m.weight", "m.bias"]
    replaced = [n for n, a, b in zip(names, now, params) if a is not b]
    expect(not replaced, call=call, point="in place: the same tensors, filled where they are",
           expected="the same tensor objects as before the call",
           got=f"{' and '.join(replaced)} replaced by new objects (a new nn.Parameter, or .data = ...?)")
    expect(all(p.device.type == "meta" for p in now), call=call,
           point="in place on the tensor's own device: nothing moves to the CPU",
           expected="the same tensors, still on the meta device", got=", ".join(describe(p) for p in now))


@pytest.mark.cuda
@pytest.mark.parametrize("name", INITS + ("xavier_uniform_",))
def test_on_cuda(ex, name):
    fn = getattr(ex, name)
    torch.manual_seed(0)
    if name == "xavier_uniform_":
        t = torch.zeros(40, 60, device="cuda")
        call = "xavier_uniform_(torch.zeros(40, 60, device='cuda'))"
        point = "fills the CUDA tensor itself from U(-a, a) and returns it"
        got = run(fn, t, call=call, point=point)
        a = math.sqrt(6 / 100)
        expect(got is t and t.is_cuda and bool((t != 0).all()) and float(t.abs().max()) <= a * (1 + 1e-6),
               call=call, point=point,
               expected=f"the same CUDA tensor, every |w| <= {a:.5f}", got=describe(t))
        return
    layer = nn.Linear(60, 40, device="cuda")
    weight, before = layer.weight, layer.weight.detach().to("cpu", copy=True)  # a copy on any device
    call = f"{name}(nn.Linear(60, 40, device='cuda'))"
    point = "in place on the GPU: the same Parameter objects, still on CUDA"
    run(fn, layer, call=call, point=point)
    expect(layer.weight is weight and layer.weight.is_cuda and layer.bias.is_cuda, call=call, point=point,
           expected="weight and bias on cuda", got=f"weight {describe(layer.weight)}, bias {describe(layer.bias)}")
    looks = _looks_initialised(name, layer.weight.detach().cpu(), 60, 40, before)
    expect(looks.ok, call=call, point=f"{name} initialises a CUDA nn.Linear", expected=looks.what,
           got=f"{describe(layer.weight.detach())}; {looks.seen}")
    expect_close(layer.bias.detach().cpu(), torch.zeros(40), call=call, point="the bias is set to zero on CUDA too")


# ------------------------------------------------------------- the four laws

def test_init_normal_mean_and_std(ex):
    layer = _big_linear()
    call = "init_normal(nn.Linear(500, 200))"
    point = "weights drawn from N(0, 0.01**2)"
    run(ex.init_normal, layer, call=call, point=point)
    w = layer.weight.detach().double()
    n = w.numel()
    # mean of 1e5 draws of N(0, 0.01^2) has sd 3.2e-5; 3e-4 is ~9.5 sd (p ~ 1e-20).
    expect(abs(w.mean().item()) < 3e-4, call=call, point=point + ": mean 0",
           expected="mean within 3e-4 of 0", got=f"mean {w.mean().item():.3g} over {n} weights")
    # sqrt(mean(w^2)) within 3% of 0.01: chi-square Chernoff bound e^-89 on each side.
    std = w.pow(2).mean().sqrt().item()
    expect(0.0097 < std < 0.0103, call=call,
           point=point + ": standard deviation 0.01 (not 0.0001, not 0.1)",
           expected="standard deviation 0.01 (within 3%)", got=f"standard deviation {std:.6f}")
    # A normal puts 4.55% of its mass beyond 2 sd; a uniform with the same sd puts none there.
    # Binomial(1e5, 0.0455) leaves [4000, 5100] with probability < 2e-9 (multiplicative Chernoff).
    tail = (w.abs() > 0.02).double().mean().item()
    expect(0.04 < tail < 0.051, call=call, point="weights drawn from a normal distribution",
           expected="about 4.55% of the weights beyond 2 standard deviations (|w| > 0.02)",
           got=f"{100 * tail:.2f}%")


def _disjoint_pairs(w: torch.Tensor) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Three ways to pair the weights (x, y), each pair disjoint: neighbours in a row, neighbours in a
    column, and the first half of the flattened weight with the second."""
    r, c = w.shape
    flat, h = w.flatten(), w.numel() // 2
    return [("w[i, 2j], w[i, 2j+1]", w[:, 0:c - 1:2], w[:, 1:c:2]),
            ("w[2k, j], w[2k+1, j]", w[0:r - 1:2], w[1:r:2]),
            ("first half, second half", flat[:h], flat[h:2 * h])]


def _pairs_agree(w: torch.Tensor, median_abs: float) -> list[tuple[str, float]]:
    """For disjoint pairs (x, y) of weights: the fraction whose signs agree and the fraction whose
    |x|, |y| fall on the same side of the median |w|. Independent draws give 1/2 for each."""
    out = []
    for label, x, y in _disjoint_pairs(w):
        out.append((f"{label}: signs agree", ((x > 0) == (y > 0)).double().mean().item()))
        out.append((f"{label}: same side of the median |w|",
                    ((x.abs() > median_abs) == (y.abs() > median_abs)).double().mean().item()))
    return out


def test_init_normal_tails_and_independence(ex):
    layer = _big_linear()
    call = "init_normal(nn.Linear(500, 200))"
    run(ex.init_normal, layer, call=call, point="weights drawn from N(0, 0.01**2)")
    w = layer.weight.detach().double()
    # P(|Z| > 3) = 0.27%. Over 1e5 weights, Chernoff (KL form): outside [0.16%, 0.40%] w.p. < 6e-12.
    tail = (w.abs() > 0.03).double().mean().item()
    expect(0.0016 < tail < 0.0040, call=call, point="a normal distribution, tails included (not truncated)",
           expected="about 0.27% of the weights beyond 3 standard deviations (|w| > 0.03)", got=f"{100 * tail:.3f}%")
    # >= 50000 disjoint pairs each: Hoeffding 2 exp(-2 * 50000 * 0.02^2) = 8e-18 per fraction.
    for label, frac in _pairs_agree(w, 0.6744897501960817 * 0.01):
        expect(abs(frac - 0.5) < 0.02, call=call, point="every weight is drawn independently",
               expected=f"pairs {label} in about half of the pairs", got=f"{frac:.2%}")


def test_init_constant_all_ones(ex):
    layer = nn.Linear(3, 2)
    call = "init_constant(nn.Linear(3, 2))"
    point = "init_constant: every weight is exactly 1"
    run(ex.init_constant, layer, call=call, point=point)
    expect_close(layer.weight.detach(), torch.ones(2, 3), call=call, point=point)


def test_init_xavier_range_and_std(ex):
    layer = _big_linear(500, 100)
    call = "init_xavier(nn.Linear(500, 100))"
    point = "weight from U(-a, a), a = sqrt(6 / (in_features + out_features))"
    run(ex.init_xavier, layer, call=call, point=point)
    w = layer.weight.detach().double()
    a = math.sqrt(6 / 600)
    m = w.abs().max().item()
    # P(max |w| < 0.995 a) = 0.995^50000 = e^-250 for a correct uniform.
    expect(0.995 * a <= m <= a * (1 + 1e-6), call=call, point=point,
           expected=f"max |w| just below a = {a:.5f}", got=f"max |w| = {m:.5f}")
    # mean(w^2)/a^2 within 0.03 of 1/3: Hoeffding 2 exp(-2 * 50000 * 0.03^2) = 2e-39.
    r = (w.pow(2).mean() / a**2).item()
    expect(abs(r - 1 / 3) < 0.03, call=call, point=point + ": standard deviation a / sqrt(3)",
           expected=f"std {a / math.sqrt(3):.5f}", got=f"std {math.sqrt(r) * a:.5f}")
    mean = (w.mean() / a).item()
    expect(abs(mean) < 0.03, call=call, point=point + ": mean 0",
           expected="mean about 0", got=f"mean {mean * a:.5f}")
    # The whole law, not only its moments: Kolmogorov-Smirnov distance of (w / a + 1) / 2 to U(0, 1).
    # DKW inequality over 50000 draws: P(distance > 0.03) <= 2 exp(-2 * 50000 * 0.03^2) = 2e-39.
    ks, at = _ks_uniform((w / a + 1) / 2)
    expect(ks < 0.03, call=call, point=point + ": uniform on [-a, a] (every value in it equally likely)",
           expected="the empirical distribution within 0.03 of U(-a, a) everywhere (Kolmogorov-Smirnov)",
           got=f"Kolmogorov-Smirnov distance {ks:.3f}: the fraction of weights below {(2 * at - 1) * a:.5f} "
               f"is {ks:.3f} off its {at:.3f}")


def test_init_xavier_independent(ex):
    layer = _big_linear(500, 100)
    call = "init_xavier(nn.Linear(500, 100))"
    run(ex.init_xavier, layer, call=call, point="weight from U(-a, a)")
    w = layer.weight.detach().double()
    # >= 25000 disjoint pairs each: Hoeffding 2 exp(-2 * 25000 * 0.03^2) = 5.7e-20 per fraction (the
    # median taken from the same 50000 draws moves a fraction by O(1/50000), far inside 0.03).
    for label, frac in _pairs_agree(w, w.abs().median().item()):
        expect(abs(frac - 0.5) < 0.03, call=call, point="every weight is an independent draw from U(-a, a)",
               expected=f"pairs {label} in about half of the pairs", got=f"{frac:.2%}")


def test_my_init_values_and_fractions(ex):
    layer = _big_linear(500, 200)
    call = "my_init(nn.Linear(500, 200))"
    point = "every weight is 0 or lies in [5, 10] or [-10, -5]"
    run(ex.my_init, layer, call=call, point=point)
    w = layer.weight.detach()
    n = w.numel()
    bad = ~((w == 0) | ((w.abs() >= 5) & (w.abs() <= 10)))
    expect(not bad.any(), call=call, point=point,
           expected="no weight with 0 < |w| < 5 or |w| > 10",
           got=f"{int(bad.sum())} such weights, e.g. {w[bad][:4].tolist()}")
    # Each fraction within 0.015 of its probability: Hoeffding 2 exp(-2 * 1e5 * 0.015^2) = 6e-20.
    parts = {"U(5, 10)": ((w >= 5).double().mean().item(), 0.25),
             "0": ((w == 0).double().mean().item(), 0.5),
             "U(-10, -5)": ((w <= -5).double().mean().item(), 0.25)}
    for label, (got, want) in parts.items():
        expect(abs(got - want) < 0.015, call=call,
               point="each weight is U(5,10) w.p. 1/4, 0 w.p. 1/2, U(-10,-5) w.p. 1/4",
               expected=f"about {want:.0%} of the {n} weights from {label}", got=f"{got:.2%}")
    pos = w[w >= 5].double()
    # The U(5, 10) part has mean 7.5; its sample mean over ~25000 values has sd 0.009.
    expect(abs(pos.mean().item() - 7.5) < 0.1, call=call, point="the positive part is uniform on [5, 10]",
           expected="mean of the positive weights about 7.5", got=f"{pos.mean().item():.3f}")
    # Each part, given its size (>= 23500 after the fractions above), is i.i.d. uniform: DKW bound
    # 2 exp(-2 * 23500 * 0.03^2) = 9e-19 for a Kolmogorov-Smirnov distance above 0.03.
    for label, part in (("U(5, 10)", (pos - 5) / 5), ("U(-10, -5)", (-w[w <= -5].double() - 5) / 5)):
        ks, at = _ks_uniform(part)
        expect(ks < 0.03, call=call, point=f"the non-zero weights are uniform: the {label} part is uniform",
               expected=f"the weights in {label} spread evenly over it (Kolmogorov-Smirnov distance < 0.03)",
               got=f"Kolmogorov-Smirnov distance {ks:.3f}: the fraction of that part with |w| below "
                   f"{5 + 5 * at:.3f} is {ks:.3f} off its {at:.3f}; |w| e.g. {part[:4].mul(5).add(5).tolist()}")


def test_my_init_independent(ex):
    layer = _big_linear(500, 200)
    call = "my_init(nn.Linear(500, 200))"
    point = "each weight, independently, is U(5,10) w.p. 1/4, 0 w.p. 1/2, U(-10,-5) w.p. 1/4"
    run(ex.my_init, layer, call=call, point=point)
    part = layer.weight.detach().sign().long() + 1  # 0: from U(-10, -5), 1: zero, 2: from U(5, 10)
    prob, names = (0.25, 0.5, 0.25), ("U(-10, -5)", "0", "U(5, 10)")
    # >= 50000 disjoint pairs each, 27 cells: Hoeffding 27 * 2 exp(-2 * 50000 * 0.02^2) = 2.3e-16.
    for label, x, y in _disjoint_pairs(part):
        cells = ((3 * x + y).flatten().bincount(minlength=9).double() / x.numel()).tolist()
        for i in range(3):
            for j in range(3):
                got = cells[3 * i + j]
                expect(abs(got - prob[i] * prob[j]) < 0.02, call=call, point=point,
                       expected=f"pairs {label}: ({names[i]}, {names[j]}) in about "
                                f"{prob[i] * prob[j]:.2%} of the pairs", got=f"{got:.2%}")
    # The number of zeros in a layer of 100 weights is Binomial(100, 1/2): exactly 50 w.p. 0.0796, so
    # in all of 10 layers w.p. 0.0796^10 = 1e-11 for a correct solution.
    torch.manual_seed(0)
    net = nn.Sequential(*(nn.Linear(10, 10) for _ in range(10)))
    call = "nn.Sequential(*(nn.Linear(10, 10) for _ in range(10))).apply(my_init)"
    run(net.apply, ex.my_init, call=call, point=point)
    zeros = [int((layer.weight == 0).sum()) for layer in net]
    expect(any(z != 50 for z in zeros), call=call,
           point=point + ": each weight is 0 on its own coin flip, not exactly half of each layer",
           expected="zero counts that vary from layer to layer (Binomial(100, 1/2))",
           got=f"zeros per layer {zeros}")


def test_my_init_prints_nothing(ex, capfd):
    # capfd sees the file descriptors 1 and 2: print(), sys.__stdout__ and os.write(1, ...) alike.
    call, point = "net.apply(my_init)", "my_init prints nothing"
    run(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).apply, ex.my_init, call=call, point=point)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    out, err = capfd.readouterr()
    expect(out == "" and err == "", call=call, point=point + " (on stdout or stderr, by any route)",
           expected="no output", got=repr((out + err)[:80]))


@pytest.mark.parametrize("name", INITS)
def test_called_on_a_container_changes_nothing(ex, name):
    # apply reaches the linear layers inside a container by itself; the function acts on its argument only.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 40), nn.ReLU())
    before = [p.detach().clone() for p in net.parameters()]
    call = f"{name}(nn.Sequential(nn.Linear(6, 40), nn.ReLU()))"
    point = "called on a module that is not an nn.Linear (a container too), it changes nothing"
    run(getattr(ex, name), net, call=call, point=point)
    expect(all(torch.equal(p.detach(), b) for p, b in zip(net.parameters(), before)), call=call, point=point,
           expected="the Linear inside unchanged (net.apply(fn) would call fn on it)",
           got=f"weight {describe(net[0].weight.detach())}")


# ------------------------------------------------------------- xavier_uniform_

def _xavier_bound(shape: tuple[int, ...], gain: float = 1.0) -> float:
    r = math.prod(shape[2:])
    return gain * math.sqrt(6 / (shape[0] * r + shape[1] * r))


@pytest.mark.parametrize("shape, gain, keyword", [((60, 800), 1.0, False), ((40, 30, 5, 5), 1.0, False),
                                                   ((64, 20, 9), 2.5, False), ((50, 40, 3, 3), 0.5, True)])
def test_xavier_uniform_bound(ex, shape, gain, keyword):
    torch.manual_seed(0)
    t = torch.full(shape, float("nan"))
    point = ("U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)), fan_in = size(1) * r, "
             "fan_out = size(0) * r, r = prod(sizes beyond dim 1)")
    if gain == 1.0:
        call = call_str("xavier_uniform_", t)
        run(ex.xavier_uniform_, t, call=call, point=point)
    elif keyword:  # the sheet's own call: xavier_uniform_(k, gain=2.0)
        call = call_str("xavier_uniform_", t, gain=gain)
        run(ex.xavier_uniform_, t, gain=gain, call=call, point=point + " (the argument is called gain)")
    else:
        call = call_str("xavier_uniform_", t, gain)
        run(ex.xavier_uniform_, t, gain, call=call, point=point)
    a = _xavier_bound(shape, gain)
    expect(not torch.isnan(t).any(), call=call, point="fills every element of tensor in place",
           expected="no element left as it was (NaN)", got=f"{int(torch.isnan(t).sum())} NaN left")
    m = t.abs().max().item()
    # n >= 11520 elements: P(max |w| < 0.99 a) = 0.99^n <= e^-115 for a correct uniform.
    expect(0.99 * a <= m <= a * (1 + 1e-6), call=call, point=point,
           expected=f"max |w| just below a = {a:.5f}", got=f"max |w| = {m:.5f}")
    r = (t.double().pow(2).mean() / a**2).item()
    # Hoeffding on (w/a)^2 in [0, 1]: 2 exp(-2 * 11520 * 0.03^2) = 2e-9.
    expect(abs(r - 1 / 3) < 0.03, call=call, point=point + ": a uniform, standard deviation a / sqrt(3)",
           expected=f"std {a / math.sqrt(3):.5f}", got=f"std {math.sqrt(r) * a:.5f}")
    # The whole law, not only its moments: Kolmogorov-Smirnov distance of (w / a + 1) / 2 to U(0, 1).
    # DKW inequality, n >= 11520: P(distance > 0.03) <= 2 exp(-2 * 11520 * 0.03^2) = 2e-9.
    ks, at = _ks_uniform((t.double() / a + 1) / 2)
    expect(ks < 0.03, call=call, point=point + ": uniform on [-a, a] (every value in it equally likely)",
           expected="the empirical distribution within 0.03 of U(-a, a) everywhere (Kolmogorov-Smirnov)",
           got=f"Kolmogorov-Smirnov distance {ks:.3f}: the fraction of values below {(2 * at - 1) * a:.5f} "
               f"is {ks:.3f} off its {at:.3f}")


def test_xavier_uniform_independent(ex):
    torch.manual_seed(0)
    t = torch.empty(100, 400)
    call = "xavier_uniform_(torch.empty(100, 400))"
    run(ex.xavier_uniform_, t, call=call, point="fills every element from U(-a, a)")
    # Split at the median |w| of what came back, not at a / 2: a wrong bound is the range test's
    # to report, and would make every pair "agree" here. >= 20000 disjoint pairs each: Hoeffding
    # 2 exp(-2 * 20000 * 0.03^2) = 4.6e-16 per fraction (the median taken from the same 40000
    # draws moves a fraction by O(1/40000), far inside 0.03).
    for label, frac in _pairs_agree(t.double(), t.double().abs().median().item()):
        expect(abs(frac - 0.5) < 0.03, call=call, point="every element is an independent draw from U(-a, a)",
               expected=f"pairs {label} in about half of the pairs", got=f"{frac:.2%}")
    # A second call draws anew: two independent float32 draws coincide with probability <= 2^-20
    # each, so 1% of 40000 (400) equal elements has probability below 1e-1000.
    t2 = torch.empty(100, 400)
    call = "xavier_uniform_(t := torch.empty(100, 400)); xavier_uniform_(t2 := torch.empty(100, 400))"
    point = "every call draws anew: two tensors of one shape get independent values (no fixed seed)"
    run(ex.xavier_uniform_, t2, call=call, point=point)
    same = (t2 == t).double().mean().item()
    expect(same < 0.01, call=call, point=point, expected="t and t2 with different values",
           got=f"{same:.0%} of the elements equal")


def test_xavier_uniform_returns_same_tensor(ex):
    t = torch.zeros(4, 6)
    call = "xavier_uniform_(t := torch.zeros(4, 6))"
    point = "returns the same tensor object, filled in place"
    got = run(ex.xavier_uniform_, t, call=call, point=point)
    expect(got is t, call=call, point=point, expected="the object t itself", got=describe(got))
    expect(bool((t != 0).all()), call=call,
           point="the values land in tensor itself", expected="t filled with non-zero draws", got=describe(t))
    d = torch.zeros(7, 9, dtype=torch.float64)
    call = "xavier_uniform_(torch.zeros(7, 9, dtype=torch.float64))"
    point = "in place: shape and dtype unchanged"
    run(ex.xavier_uniform_, d, call=call, point=point)
    expect(d.dtype == torch.float64 and bool((d != 0).all()), call=call, point=point,
           expected="a float64 tensor filled in place", got=describe(d))
    base = torch.zeros(9, 7)
    call = "xavier_uniform_(torch.zeros(9, 7).t())  # a transposed view: not contiguous"
    point = "the values land in tensor itself, a non-contiguous one too (not in a reshaped copy)"
    run(ex.xavier_uniform_, base.t(), call=call, point=point)
    expect(bool((base != 0).all()), call=call, point=point,
           expected="every element of the transposed tensor filled", got=f"{int((base == 0).sum())} of 63 left at 0")


def test_xavier_uniform_on_parameter_records_no_history(ex):
    p = nn.Parameter(torch.zeros(5, 3))
    call = "xavier_uniform_(nn.Parameter(torch.zeros(5, 3)))"
    point = "works on a Parameter with requires_grad=True without recording autograd history"
    run(ex.xavier_uniform_, p, call=call, point=point)
    expect(p.requires_grad and p.is_leaf and p.grad_fn is None and bool((p != 0).all()), call=call, point=point,
           expected="filled, still a leaf with requires_grad=True and grad_fn None",
           got=f"requires_grad={p.requires_grad}, is_leaf={p.is_leaf}, grad_fn={p.grad_fn}, "
               f"values {describe(p.detach())}")


@pytest.mark.parametrize("shape", [(5,), ()])
def test_xavier_uniform_needs_two_dims(ex, shape):
    t = torch.zeros(shape)
    expect_raises(ValueError, ex.xavier_uniform_, t, call=call_str("xavier_uniform_", t),
                  point="a tensor with fewer than 2 dimensions raises ValueError")


def test_xavier_uniform_uses_no_nn_init(ex, monkeypatch):
    calls: list[str] = []
    for name in dir(torch.nn.init):
        fn = getattr(torch.nn.init, name)
        if callable(fn) and getattr(fn, "__module__", None) == "torch.nn.init":
            def spy(*args, __fn=fn, __name=name, **kwargs):
                calls.append(__name)
                return __fn(*args, **kwargs)
            monkeypatch.setattr(torch.nn.init, name, spy)
    call = "xavier_uniform_(torch.empty(10, 20))"
    point = "no torch.nn.init function, under any name (write the Xavier formula yourself)"
    run(ex.xavier_uniform_, torch.empty(10, 20), call=call, point=point)
    expect(not calls, call=call, point=point,
           expected="no call into torch.nn.init", got=f"called torch.nn.init.{', '.join(dict.fromkeys(calls))}")
