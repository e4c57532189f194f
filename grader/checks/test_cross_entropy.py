"""Hidden checks for cross_entropy: the submission against the reference."""
from __future__ import annotations

import pytest
import torch

from grader.checking import CheckFailed, Raised, expect, expect_close, expect_equal, expect_raises, uses_any

BANNED = ["torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
          "torch.nn.functional.log_softmax", "torch.log_softmax", "torch.nn.CrossEntropyLoss",
          "torch.nn.NLLLoss", "torch.special.log_softmax",
          # torch's reference implementations and decompositions are its losses too
          "torch._refs.log_softmax", "torch._refs.special.log_softmax", "torch._refs.nn.functional.log_softmax",
          "torch._refs.nn.functional.nll_loss", "torch._decomp.decompositions._log_softmax",
          "torch._decomp.decompositions.nll_loss_forward"]


def _batch(rng, n=6, c=5, dtype=torch.float32, scale=3.0):
    logits = (torch.randn(n, c, generator=rng, dtype=torch.float64) * scale).to(dtype)
    target = torch.randint(0, c, (n,), generator=rng)
    return logits, target


def _right(got, want, call, point):
    """How a result was computed (gather used, nothing banned, inputs untouched) earns points only
    when the result is right: otherwise a function that does nothing useful would earn them."""
    expect_close(got, want, call=call, point=f"{point}: this point counts only when the values are right")


OWN_LOSS = "compute the loss yourself: using PyTorch's cross_entropy, nll_loss or log_softmax scores zero for this function"


# The gate's inputs: random, so that a submission cannot tell the gate's call from the checks' own
# (a fixed input could be recognised, and answered without the forbidden loss); seeded, so that
# grading is reproducible.
_GATE = torch.Generator().manual_seed(20261201)


def _own_loss(sub):
    """Every check of cross_entropy fails when it calls PyTorch's own loss (as dropout's do for torch's
    dropout): the exercise is writing that loss. The stub's "not implemented yet" is left to the check
    to report; any other raise on this plain valid input fails the check (the gate cannot be dodged)."""
    n, c = (int(v) for v in torch.randint(2, 7, (2,), generator=_GATE))
    logits = torch.randn(n, c, generator=_GATE) * 3
    target = torch.randint(0, c, (n,), generator=_GATE)
    call = f"cross_entropy(logits float32 ({n}, {c}), target ({n},))"
    try:
        got = sub.value(logits, target, "mean")
    except Raised as err:
        if "NotImplementedError" in err.mro:
            raise
        raise CheckFailed(f"{call}: {OWN_LOSS}\n  expected: a loss for this plain valid input\n"
                          f"  got:      {err.reason()}") from None
    _no_builtin_loss(got, call)


def _no_builtin_loss(got, call):
    seen = list(dict.fromkeys(got.get("forbidden") or [])) if isinstance(got, dict) else []
    expect(not seen, call=call, point=OWN_LOSS, expected="no call to them", got=f"called {seen[:5]}")


def _value(sub, logits, target, *args):
    """``sub.value``, failing the check whenever that call used PyTorch's own loss (not just the gate's)."""
    got = sub.value(logits, target, *args)
    _no_builtin_loss(got, _call("cross_entropy", logits, target, *args[:1]))
    return got


def _call(name, logits, target, reduction=None):
    red = "" if reduction is None else f", reduction={reduction!r}"
    first = "scores" if name == "gather_target" else "logits"  # each function's own name for it, as in the sheet
    return f"{name}({first} {str(logits.dtype)[6:]} {tuple(logits.shape)}, target {tuple(target.shape)}{red})"


def test_gather_values(sub, ref, rng):
    """gather_target returns scores[i, target[i]] for every row"""
    for n, c in [(1, 1), (4, 3), (7, 10)]:
        scores, target = _batch(rng, n, c)
        got, want = sub.gather(scores, target), ref.gather(scores, target)
        expect_close(got["out"], want["out"], call=_call("gather_target", scores, target),
                     point="returns scores[i, target[i]], shape (N,), same dtype")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64], ids=lambda d: str(d)[6:])
def test_gather_keeps_dtype(sub, ref, rng, dtype):
    """gather_target returns the dtype of scores (half precision too: no upcast)"""
    # gather copies entries: on the CPU it works in float16 and bfloat16 as in float32, exactly.
    scores, target = _batch(rng, 5, 4, dtype)
    call = _call("gather_target", scores, target)
    got = sub.gather(scores, target)["out"]
    # Read from the decoded result, not from what the worker says about it.
    expect_equal(str(got.dtype) if isinstance(got, torch.Tensor) else f"a {type(got).__name__}", str(dtype),
                 call=call, point="a tensor of shape (N,), same dtype as scores (no upcast, no downcast)")
    expect_close(got, ref.gather(scores, target)["out"], call=call,
                 point="returns scores[i, target[i]], shape (N,), same dtype")


@pytest.mark.weight(2)
def test_gather_uses_gather(sub, ref, rng):
    """gather_target uses torch.gather (a single column, C == 1, too)"""
    # (N, 1): a shortcut such as scores[:, 0] for one class is not gather either.
    for n, c in [(6, 5), (4, 1)]:
        scores, target = _batch(rng, n, c)
        got = sub.gather(scores, target)
        _right(got["out"], ref.gather(scores, target)["out"], _call("gather_target", scores, target),
               "gather_target uses torch.gather")
        expect(got["gathered"] is True, call=_call("gather_target", scores, target),
               point="must use torch.gather / Tensor.gather (or torch.take_along_dim; advanced indexing does not "
               "count), for any (N, C) scores, C == 1 included",
               expected="a call of gather", got="no call of gather")


@pytest.mark.weight(1.5)
def test_gather_result_comes_from_gather(sub, ref, rng):
    """gather_target's result is the output of gather (not of indexing, with gather called on the side)"""
    for n, c in [(6, 5), (4, 1)]:
        _result_from_gather(sub, ref, *_batch(rng, n, c, torch.float64))


def _result_from_gather(sub, ref, scores, target):
    call = _call("gather_target", scores, target) + " with scores.requires_grad=True"
    got = sub.gather_graph(scores, target, "gather_target")
    _right(got["out"], ref.gather(scores, target)["out"], call, "the result comes out of gather")
    # Read from the autograd graph of the result: the backward node of torch.gather / Tensor.gather /
    # torch.take_along_dim is GatherBackward0, whatever reshaping (squeeze, view, [:, 0]) follows it.
    # A torch.autograd.Function of their own hides its forward from the graph: then gather must
    # have been called, and the bypass question cannot be asked.
    custom = got["custom"] is True and got["gathered"] is True
    expect(got["graph"] is True and (got["through_gather"] is True or custom), call=call,
           point="must use torch.gather / Tensor.gather (or torch.take_along_dim): the values returned come "
           "out of it (advanced indexing does not count, a gather call beside it neither)",
           expected="the result computed from scores by gather (a GatherBackward node in its autograd graph)",
           got=("no autograd graph (the result does not depend on scores)" if not got["graph"]
                else f"no gather on the way from scores to the result; its graph: {', '.join(got['nodes'])}"))
    expect(got["bypass"] is False or custom, call=call,
           point="the values returned come out of gather only (advanced indexing does not count)",
           expected="every dependence of the result on scores goes through gather",
           got=f"the result also depends on scores by another way; its graph: {', '.join(got['nodes'])}")


@pytest.mark.weight(1)
def test_gather_inputs_unchanged(sub, ref, rng):
    """gather_target does not modify scores or target (values, shape, dtype)"""
    for requires_grad in (False, True):
        scores, target = _batch(rng, 7, 4)
        call = _call("gather_target", scores, target) + (" with scores.requires_grad=True" if requires_grad else "")
        got = sub.gather_inputs_kept(scores, target, requires_grad)
        _right(got["out"], ref.gather(scores, target)["out"], call, "scores and target are not modified")
        for name in ("scores", "target"):
            f = got[name]
            expect(f["same_values"] is True, call=call, point="scores and target are not modified",
                   expected=f"{name} unchanged: {f['dtype_before']} {tuple(f['shape_before'])}, the same values",
                   got=(f"{name} is now {f['dtype']} {tuple(f['shape'])}" if (f["shape"], f["dtype"]) !=
                        (f["shape_before"], f["dtype_before"]) else f"the values of {name} changed (in place)"))
            expect(f["in_place"] is False, call=call, point="scores and target are not modified (no in-place operations)",
                   expected=f"no in-place operation on {name}",
                   got=f"an in-place operation ran on {name} ({name}._version changed), though its values are the same")
        expect(got["scores_requires_grad"] is requires_grad, call=call, point="scores and target are not modified",
               expected=f"scores.requires_grad still {requires_grad}",
               got=f"scores.requires_grad = {got['scores_requires_grad']}")


@pytest.mark.weight(1)
def test_gather_non_contiguous(sub, ref, rng):
    """gather_target works on any (N, C) scores, a non-contiguous one too (a transpose, a strided slice)"""
    for layout, how in (("transposed", "scores = x.T for an x of shape (C, N)"),
                        ("strided", "scores = x[:, ::2] for an x of shape (N, 2C)")):
        scores, target = _batch(rng, 6, 5)
        expect_close(sub.gather_layout(scores, target, layout), ref.gather(scores, target)["out"],
                     call=_call("gather_target", scores, target) + f" with {how} (not contiguous)",
                     point="scores is any floating tensor of shape (N, C): a non-contiguous one gives "
                     "the same result as a contiguous copy")


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
    _own_loss(sub)
    for dtype in (torch.float32, torch.float64):
        for n, c in [(1, 2), (6, 5), (32, 10)]:
            logits, target = _batch(rng, n, c, dtype)
            got, want = _value(sub, logits, target, reduction), ref.value(logits, target, reduction)
            expect_close(got["out"], want["out"], call=_call("cross_entropy", logits, target, reduction),
                         point={"mean": "'mean' gives the mean per-sample loss as a 0-dim tensor",
                                "sum": "'sum' gives the summed loss as a 0-dim tensor",
                                "none": "'none' gives one loss per sample, shape (N,)"}[reduction])


def test_default_reduction_is_mean(sub, ref, rng):
    """reduction defaults to 'mean', and is also the third positional argument"""
    _own_loss(sub)
    logits, target = _batch(rng)
    expect_close(sub.default_reduction(logits, target), ref.default_reduction(logits, target),
                 call=_call("cross_entropy", logits, target), point="reduction defaults to 'mean'")
    # The signature cross_entropy(logits, target, reduction="mean"): a positional reduction works too.
    for reduction in ("sum", "none"):
        call = f"cross_entropy(logits {str(logits.dtype)[6:]} {tuple(logits.shape)}, target {tuple(target.shape)}, " \
               f"{reduction!r})"
        expect_close(sub.positional_reduction(logits, target, reduction), ref.value(logits, target, reduction)["out"],
                     call=call, point="reduction is the third argument of cross_entropy(logits, target, "
                                      "reduction='mean'): it may be passed by position")


# Values tried together in one check share its weight (ids as before: the first value).
BAD_REDUCTIONS = [("avg", "average"), ("MEAN", "batchmean"), ("",), ("elementwise_mean",), (None, 0),
                  (" mean", "mean ")]


@pytest.mark.parametrize("bads", BAD_REDUCTIONS, ids=[str(group[0]) for group in BAD_REDUCTIONS])
def test_bad_reduction(sub, rng, bads):
    """an unknown reduction raises ValueError naming the value"""
    _own_loss(sub)
    # "Names the value": the value itself in the message, quoted or not. None, 0, " mean" and "mean "
    # are "any other reduction" too (not "none", not "mean"): the sheet accepts exactly the three strings.
    # For None, "" and 0 the message is not searched (their text is too easily found by chance).
    for bad in bads:
        logits, target = _batch(rng)
        call = (f"cross_entropy(logits {str(logits.dtype)[6:]} {tuple(logits.shape)}, target {tuple(target.shape)}, "
                f"reduction={bad!r})")
        expect_raises("ValueError", sub.value, logits, target, bad, match=bad or None,
                      call=call,
                      point="anything but 'mean', 'sum' or 'none' raises ValueError naming the value")


@pytest.mark.weight(3)
def test_large_logits_float32(sub, ref, rng):
    """finite and accurate for logits as large as ±1e4 in float32"""
    _own_loss(sub)
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4]])
    target = torch.tensor([1, 2, 0, 2])
    logits = torch.cat([logits, (torch.rand(4, 3, generator=rng) * 2e4 - 1e4)])
    target = torch.cat([target, torch.randint(0, 3, (4,), generator=rng)])
    got = _value(sub, logits, target, "none")
    # The truth, computed in float64 from the same float32 inputs. A float32 computation
    # rounds intermediates of size |logit| <= 1e4 on a grid of 2^-10 (~1e-3), so it may be
    # off by a few steps of that grid: 8 ulp of 1e4 allowed. Overflow (inf, nan) or a
    # clipped log are off by far more; an exact answer passes, as does the reference's.
    want = ref.value(logits.double(), target, "none")["out"].float()
    expect_close(got["out"], want, rtol=1.3e-6, atol=8 * torch.finfo(torch.float32).eps * 1e4,
                 call=_call("cross_entropy", logits, target, "none"),
                 point="numerically stable: logits of ±1e4 in float32 give finite, accurate losses")


@pytest.mark.weight(3)
def test_tiny_probability(sub, ref):
    """exact when the target has a tiny probability (no clipping)"""
    _own_loss(sub)
    # The top logit is 7, not 0: with 0, a loss missing its logsumexp term (-o_y) would also give the gap.
    for gap in (50.0, 90.0, 200.0):
        logits, target = torch.tensor([[7.0, 7.0 - gap]]), torch.tensor([1])
        got, want = _value(sub, logits, target, "sum"), ref.value(logits, target, "sum")
        expect_close(got["out"], want["out"], call=_call("cross_entropy", logits, target, "sum") + f" with logits [7, {7 - gap:g}]",
                     point=f"logits [7, {7 - gap:g}] with target 1 give {gap:g}, not a clipped value")


@pytest.mark.weight(2)
def test_uses_gather(sub, ref, rng):
    """cross_entropy selects the target entries with gather (a batch of one row, N == 1, too)"""
    _own_loss(sub)
    for n in (6, 1):  # N == 1: logits[0, target[0]] for a single row is indexing too
        logits, target = _batch(rng, n)
        for reduction in ("none", "mean"):
            call = _call("cross_entropy", logits, target, reduction)
            got = _value(sub, logits, target, reduction)
            _right(got["out"], ref.value(logits, target, reduction)["out"], call,
                   "cross_entropy selects the target entries with gather")
            expect(got["gathered"] is True, call=call,
                   point="must select the target entries with gather, for any batch size (N == 1 included)",
                   expected="a call of gather", got="none")


@pytest.mark.weight(1)
def test_loss_goes_through_gather(sub, ref, rng):
    """cross_entropy's loss depends on the logits through gather (the target entries are not picked by indexing)"""
    _own_loss(sub)
    for n in (6, 1):  # a batch of one row too
        _loss_through_gather(sub, ref, *_batch(rng, n, 5, torch.float64))


def _loss_through_gather(sub, ref, logits, target):
    got = sub.gather_graph(logits, target, "cross_entropy")
    _right(got["out"], ref.value(logits, target, "none")["out"], _call("cross_entropy", logits, target, "none"),
           "the loss is computed from gather's output")
    custom = got["custom"] is True and got["gathered"] is True  # their own autograd.Function: see above
    expect(got["graph"] is True and (got["through_gather"] is True or custom),
           call=_call("cross_entropy", logits, target, "none") + " with logits.requires_grad=True",
           point="must select the target entries with gather (for any batch size, N == 1 included): "
           "the loss is computed from gather's output",
           expected="a GatherBackward node between the logits and the loss in its autograd graph",
           got=("no autograd graph" if not got["graph"]
                else f"no gather on the way from logits to the loss; its graph: {', '.join(got['nodes'])}"))


def test_non_contiguous_logits(sub, ref, rng):
    """cross_entropy works on any (N, C) logits, a non-contiguous one too (a transpose, a strided slice)"""
    _own_loss(sub)
    for layout, how in (("transposed", "logits = x.T for an x of shape (C, N)"),
                        ("strided", "logits = x[:, ::2] for an x of shape (N, 2C)")):
        logits, target = _batch(rng, 6, 5)
        expect_close(sub.value_layout(logits, target, layout, "none"), ref.value(logits, target, "none")["out"],
                     call=_call("cross_entropy", logits, target, "none") + f" with {how} (not contiguous)",
                     point="logits is any floating tensor of shape (N, C): a non-contiguous one gives "
                     "the same losses as a contiguous copy")


@pytest.mark.weight(3)
def test_no_builtin_loss(sub, ref, rng, source):
    """cross_entropy does not call PyTorch's own losses or log_softmax"""
    logits, target = _batch(rng)
    for reduction in ("none", "mean", "sum"):
        # 'mean' with its backward pass too: a custom autograd.Function's backward must not use them either.
        backward = reduction == "mean"
        call = _call("cross_entropy", logits, target, reduction) + (".sum().backward()" if backward else "")
        got = _value(sub, logits, target, reduction, backward)
        expect(got["forbidden"] == [], call=call,
               point="must not call F.cross_entropy, nll_loss, log_softmax or their nn.Module forms",
               expected="none of them called", got=f"called {got['forbidden']}")
        _right(got["out"], ref.value(logits, target, reduction)["out"], call,
               "cross_entropy computes the loss itself, without PyTorch's losses")
    found = uses_any(source, BANNED)
    expect(found == [], call="cross_entropy.py", point="must not use PyTorch's own cross-entropy pieces",
           expected="no reference to them", got=", ".join(found))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=lambda d: str(d)[6:])
def test_keeps_dtype(sub, rng, dtype):
    """the loss keeps the dtype of the logits"""
    _own_loss(sub)
    logits, target = _batch(rng, dtype=dtype)
    for reduction in ("mean", "sum", "none"):
        got = _value(sub, logits, target, reduction)["out"]
        # Read from the decoded result, not from what the worker says about it.
        expect_equal(str(got.dtype) if isinstance(got, torch.Tensor) else f"a {type(got).__name__}", str(dtype),
                     call=_call("cross_entropy", logits, target, reduction), point="keeps the dtype of the logits")


@pytest.mark.weight(2)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient(sub, ref, rng, reduction):
    """gradients with respect to the logits are the true gradients"""
    _own_loss(sub)
    logits, target = _batch(rng, 8, 6, torch.float64)
    expect_close(sub.grad(logits, target, reduction), ref.grad(logits, target, reduction),
                 call=_call("cross_entropy", logits, target, reduction) + ".backward()",
                 point="the gradient is softmax(o) - onehot(y) (over N for 'mean')")


def test_gradient_large_logits(sub, ref):
    """gradients stay finite and exact for large logits"""
    _own_loss(sub)
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    target = torch.tensor([1, 2])
    expect_close(sub.grad(logits, target, "sum"), ref.grad(logits, target, "sum"),
                 call=_call("cross_entropy", logits, target, "sum") + ".backward()",
                 point="gradients are finite and exact for logits of ±1e4")


def test_inputs_unchanged(sub, ref, rng):
    """cross_entropy never modifies its arguments (values, dtype, requires_grad)"""
    _own_loss(sub)
    for reduction in ("mean", "sum", "none"):
        for requires_grad in (False, True):
            logits, target = _batch(rng)
            call = _call("cross_entropy", logits, target, reduction) + (
                " with logits.requires_grad=True" if requires_grad else "")
            got = _value(sub, logits, target, reduction, requires_grad)
            _right(got["out"], ref.value(logits, target, reduction)["out"], call, "never modifies logits or target")
            expect(got["unchanged"] is True, call=call,
                   point="never modifies logits or target", expected="inputs unchanged", got="modified in place")
            expect(got["in_place"] is False, call=call, point="never modifies logits or target (no in-place operations)",
                   expected="no in-place operation on logits or target",
                   got="an in-place operation ran on one of them (its _version changed), though the values are the same")
            expect(got["dtypes_after"] == got["dtypes_before"], call=call,
                   point="never modifies logits or target (their dtype included)",
                   expected=f"logits still {got['dtypes_before'][0]}, target still {got['dtypes_before'][1]}",
                   got=f"logits now {got['dtypes_after'][0]}, target now {got['dtypes_after'][1]}")
            # requires_grad_() on the caller's tensor changes it too: a leaf that did not require grad
            # now does, so the caller's later steps record a graph (or in-place updates fail).
            before, after = got["requires_grad_before"], got["requires_grad_after"]
            expect(after == before, call=call, point="never modifies logits or target (requires_grad included)",
                   expected=f"logits.requires_grad still {before[0]}, target.requires_grad still {before[1]}",
                   got=f"logits.requires_grad = {after[0]}, target.requires_grad = {after[1]}")


@pytest.mark.cuda
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cuda_matches_cpu(sub, ref, rng, reduction):
    """on CUDA, values and gradients match the CPU and stay on the GPU"""
    _own_loss(sub)
    logits, target = _batch(rng, 16, 7)
    got = sub.on_cuda(logits, target, reduction)
    call = _call("cross_entropy", logits, target, reduction) + " on CUDA"
    expect_equal(got["device"][:4], "cuda", call=call, point="keeps the device of the logits")
    expect_equal(got["gather_device"][:4], "cuda", call=_call("gather_target", logits, target) + " on CUDA",
                 point="gather_target returns a tensor on the device of scores")
    expect_close(got["out"], ref.value(logits, target, reduction)["out"], call=call,
                 point="values on CUDA match the CPU")
    expect_close(got["grad"], ref.grad(logits, target, reduction), call=call + ".backward()",
                 point="gradients on CUDA match the CPU")
