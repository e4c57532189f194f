"""Hidden checks for cross_entropy: the submission against the reference."""
from __future__ import annotations

import pytest
import torch

from grader.checking import expect, expect_close, expect_equal, expect_raises, uses_any

BANNED = ["torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
          "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.nn.CrossEntropyLoss",
          "torch.nn.NLLLoss", "torch.special.log_softmax"]


def _batch(rng, n=6, c=5, dtype=torch.float32, scale=3.0):
    logits = (torch.randn(n, c, generator=rng, dtype=torch.float64) * scale).to(dtype)
    target = torch.randint(0, c, (n,), generator=rng)
    return logits, target


def _call(name, logits, target, reduction=None):
    red = "" if reduction is None else f", reduction={reduction!r}"
    return f"{name}(logits {str(logits.dtype)[6:]} {tuple(logits.shape)}, target {tuple(target.shape)}{red})"


def test_gather_values(sub, ref, rng):
    """gather_target returns scores[i, target[i]] for every row"""
    for n, c in [(1, 1), (4, 3), (7, 10)]:
        scores, target = _batch(rng, n, c)
        got, want = sub.gather(scores, target), ref.gather(scores, target)
        expect_close(got["out"], want["out"], call=_call("gather_target", scores, target),
                     point="returns scores[i, target[i]], shape (N,), same dtype")


@pytest.mark.weight(2)
def test_gather_uses_gather(sub, rng):
    """gather_target uses torch.gather"""
    scores, target = _batch(rng)
    got = sub.gather(scores, target)
    expect(got["gathered"] is True, call=_call("gather_target", scores, target),
           point="must use torch.gather / Tensor.gather (or torch.take_along_dim; advanced indexing does not count)",
           expected="a call of gather", got="no call of gather")


def test_gather_gradient(sub, ref, rng):
    """gradients flow from gather_target back to scores"""
    scores, target = _batch(rng, 5, 4, torch.float64)
    expect_close(sub.gather_grad(scores, target), ref.gather_grad(scores, target),
                 call=_call("gather_target", scores, target) + ".backward(w)",
                 point="gradients flow back to scores")


@pytest.mark.weight(2)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_values(sub, ref, rng, reduction):
    """each reduction matches the true cross-entropy (float32 and float64)"""
    for dtype in (torch.float32, torch.float64):
        for n, c in [(1, 2), (6, 5), (32, 10)]:
            logits, target = _batch(rng, n, c, dtype)
            got, want = sub.value(logits, target, reduction), ref.value(logits, target, reduction)
            expect_close(got["out"], want["out"], call=_call("cross_entropy", logits, target, reduction),
                         point={"mean": "'mean' gives the mean per-sample loss as a 0-dim tensor",
                                "sum": "'sum' gives the summed loss as a 0-dim tensor",
                                "none": "'none' gives one loss per sample, shape (N,)"}[reduction])


def test_default_reduction_is_mean(sub, ref, rng):
    """reduction defaults to 'mean'"""
    logits, target = _batch(rng)
    expect_close(sub.default_reduction(logits, target), ref.default_reduction(logits, target),
                 call=_call("cross_entropy", logits, target), point="reduction defaults to 'mean'")


@pytest.mark.parametrize("bad", ["avg", "MEAN", "", "elementwise_mean"])
def test_bad_reduction(sub, rng, bad):
    """an unknown reduction raises ValueError naming the value"""
    logits, target = _batch(rng)
    # "Names the value": the value itself in the message, quoted or not.
    expect_raises("ValueError", sub.value, logits, target, bad, match=bad or None,
                  call=_call("cross_entropy", logits, target, bad),
                  point="anything but 'mean', 'sum' or 'none' raises ValueError naming the value")


@pytest.mark.weight(2)
def test_large_logits_float32(sub, ref, rng):
    """finite and accurate for logits as large as ±1e4 in float32"""
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    target = torch.tensor([1, 2, 0, 2])
    logits = torch.cat([logits, (torch.rand(4, 3, generator=rng) * 2e4 - 1e4)])
    target = torch.cat([target, torch.randint(0, 3, (4,), generator=rng)])
    got = sub.value(logits, target, "none")
    # The truth, computed in float64 from the same float32 inputs. A float32 computation
    # rounds intermediates of size |logit| <= 1e4 on a grid of 2^-10 (~1e-3), so it may be
    # off by a few steps of that grid: 8 ulp of 1e4 allowed. Overflow (inf, nan) or a
    # clipped log are off by far more; an exact answer passes, as does the reference's.
    want = ref.value(logits.double(), target, "none")["out"].float()
    expect_close(got["out"], want, rtol=1.3e-6, atol=8 * torch.finfo(torch.float32).eps * 1e4,
                 call=_call("cross_entropy", logits, target, "none"),
                 point="numerically stable: logits of ±1e4 in float32 give finite, accurate losses")


@pytest.mark.weight(2)
def test_tiny_probability(sub, ref):
    """exact when the target has a tiny probability (no clipping)"""
    for gap in (50.0, 90.0, 200.0):
        logits, target = torch.tensor([[0.0, -gap]]), torch.tensor([1])
        got, want = sub.value(logits, target, "sum"), ref.value(logits, target, "sum")
        expect_close(got["out"], want["out"], call=_call("cross_entropy", logits, target, "sum") + f" with logits [0, -{gap:g}]",
                     point=f"logits [0, -{gap:g}] with target 1 give {gap:g}, not a clipped value")


@pytest.mark.weight(2)
def test_uses_gather(sub, rng):
    """cross_entropy selects the target entries with gather"""
    logits, target = _batch(rng)
    got = sub.value(logits, target, "mean")
    expect(got["gathered"] is True, call=_call("cross_entropy", logits, target, "mean"),
           point="must select the target entries with gather", expected="a call of gather", got="none")


@pytest.mark.weight(3)
def test_no_builtin_loss(sub, rng, source):
    """cross_entropy does not call PyTorch's own losses or log_softmax"""
    logits, target = _batch(rng)
    got = sub.value(logits, target, "mean")
    expect(got["forbidden"] == [], call=_call("cross_entropy", logits, target, "mean"),
           point="must not call F.cross_entropy, nll_loss, log_softmax or their nn.Module forms",
           expected="none of them called", got=f"called {got['forbidden']}")
    found = uses_any(source, BANNED)
    expect(found == [], call="cross_entropy.py", point="must not use PyTorch's own cross-entropy pieces",
           expected="no reference to them", got=", ".join(found))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_keeps_dtype(sub, rng, dtype):
    """the loss keeps the dtype of the logits"""
    logits, target = _batch(rng, dtype=dtype)
    for reduction in ("mean", "sum", "none"):
        got = sub.value(logits, target, reduction)
        expect_equal(got["dtype"], str(dtype), call=_call("cross_entropy", logits, target, reduction),
                     point="keeps the dtype of the logits")


@pytest.mark.weight(2)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient(sub, ref, rng, reduction):
    """gradients with respect to the logits are the true gradients"""
    logits, target = _batch(rng, 8, 6, torch.float64)
    expect_close(sub.grad(logits, target, reduction), ref.grad(logits, target, reduction),
                 call=_call("cross_entropy", logits, target, reduction) + ".backward()",
                 point="the gradient is softmax(o) - onehot(y) (over N for 'mean')")


def test_gradient_large_logits(sub, ref):
    """gradients stay finite and exact for large logits"""
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    target = torch.tensor([1, 2])
    expect_close(sub.grad(logits, target, "sum"), ref.grad(logits, target, "sum"),
                 call=_call("cross_entropy", logits, target, "sum") + ".backward()",
                 point="gradients are finite and exact for logits of ±1e4")


def test_inputs_unchanged(sub, rng):
    """cross_entropy never modifies its arguments"""
    for reduction in ("mean", "none"):
        logits, target = _batch(rng)
        got = sub.value(logits, target, reduction)
        expect(got["unchanged"] is True, call=_call("cross_entropy", logits, target, reduction),
               point="never modifies logits or target", expected="inputs unchanged", got="modified in place")


@pytest.mark.cuda
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cuda_matches_cpu(sub, ref, rng, reduction):
    """on CUDA, values and gradients match the CPU and stay on the GPU"""
    logits, target = _batch(rng, 16, 7)
    got = sub.on_cuda(logits, target, reduction)
    call = _call("cross_entropy", logits, target, reduction) + " on CUDA"
    expect_equal(got["device"][:4], "cuda", call=call, point="keeps the device of the logits")
    expect_close(got["out"], ref.value(logits, target, reduction)["out"], call=call,
                 point="values on CUDA match the CPU")
    expect_close(got["grad"], ref.grad(logits, target, reduction), call=call + ".backward()",
                 point="gradients on CUDA match the CPU")
