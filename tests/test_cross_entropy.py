"""Learner tests for exercises/cross_entropy.py (run: pytest -m cross_entropy)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from kata import call_str, describe, expect, expect_close, expect_raises, run, run_pure

SCORES = torch.tensor([[0.1, 0.7, 0.2], [1.5, -0.5, 3.0]])
TARGET = torch.tensor([1, 2])


@pytest.fixture(autouse=True)
def _fresh_inputs(monkeypatch):
    """Fresh copies of SCORES and TARGET for every test: code that changes its inputs in place
    fails the test that checks for it, not every test that runs after it."""
    monkeypatch.setitem(globals(), "SCORES", SCORES.clone())
    monkeypatch.setitem(globals(), "TARGET", TARGET.clone())


class _GatherKernels(TorchDispatchMode):
    """Records the ATen gather kernel, however it was reached: a TorchScript function, say, runs
    torch.gather without the Python call a name spy sees."""

    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Otherwise torch wraps __torch_dispatch__ in dynamo's disable, whose first call imports
        # torch._dynamo: 2-3 s of a learner's run, for a mode that never meets torch.compile.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "gather" in str(getattr(func, "__name__", "")):
            self.calls.append(f"aten.{func.__name__}")
        return func(*args, **(kwargs or {}))


@pytest.fixture
def gather_calls(monkeypatch):
    """Records calls of torch.gather / Tensor.gather (and take_along_dim, the same operation)."""
    calls: list[str] = []
    for owner, name in ((torch, "gather"), (torch.Tensor, "gather"),
                        (torch, "take_along_dim"), (torch.Tensor, "take_along_dim")):
        real = getattr(owner, name)
        label = f"{'torch' if owner is torch else 'Tensor'}.{name}"

        def spy(*a, __real=real, __label=label, **k):
            calls.append(__label)
            return __real(*a, **k)

        monkeypatch.setattr(owner, name, spy)
    with _GatherKernels(calls):
        yield calls


def test_gather_target_values(ex):
    call = call_str("gather_target", SCORES, TARGET)
    point = "returns scores[i, target[i]] for every row, shape (N,)"
    inputs = {"scores": SCORES, "target": TARGET}
    got = run_pure(ex.gather_target, SCORES, TARGET, call=call, point=point, inputs=inputs)
    expect_close(got, torch.tensor([0.7, 3.0]), call=call, point=point, inputs=inputs)


@pytest.mark.parametrize("classes", [3, 1])
def test_a_batch_of_one_row_keeps_its_batch_dimension(ex, classes):
    # .squeeze() without a dim drops every size-1 dimension, N == 1 (and C == 1) included.
    scores, target = SCORES[1:, :classes], torch.tensor([classes - 1])
    inputs = {"scores": scores, "target": target}
    point = "a batch of one row gives shape (1,), not a 0-dim tensor: drop only the gathered dimension"
    for name, kwargs in (("gather_target", {}), ("cross_entropy", {"reduction": "none"})):
        call = call_str(name, scores, target, **kwargs)
        got = run(getattr(ex, name), scores, target, call=call, point=point, inputs=inputs, **kwargs)
        expect(isinstance(got, torch.Tensor) and tuple(got.shape) == (1,), call=call, point=point,
               expected="a tensor of shape (1,)", got=describe(got), inputs=inputs)


@pytest.mark.parametrize("classes", [3, 1])
def test_gather_target_uses_gather(ex, gather_calls, classes):
    # One class (C == 1) too: scores[:, 0] is indexing, not gather.
    scores, target = SCORES[:, :classes], TARGET.clamp(max=classes - 1)
    call = call_str("gather_target", scores, target)
    point = "must use torch.gather / Tensor.gather (advanced indexing does not count), C == 1 included"
    run_pure(ex.gather_target, scores, target, call=call, point=point, inputs={"scores": scores, "target": target})
    expect(len(gather_calls) > 0, call=call, point=point, expected="at least one call of gather", got="no call of gather")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_gather_target_keeps_dtype(ex, dtype):
    scores = SCORES.to(dtype)
    call = call_str("gather_target", scores, TARGET)
    point = "a tensor of shape (N,), same dtype as scores (half precision too: no upcast)"
    got = run_pure(ex.gather_target, scores, TARGET, call=call, point=point,
                   inputs={"scores": scores, "target": TARGET})
    expect(isinstance(got, torch.Tensor) and got.dtype == dtype, call=call, point=point, expected=str(dtype),
           got=str(getattr(got, "dtype", type(got).__name__)))


def _graph_names(out):
    """The names of the backward nodes in the autograd graph of ``out``."""
    names, stack = [], [getattr(out, "grad_fn", None)]
    while stack:
        node = stack.pop()
        if node is not None:
            names.append(type(node).__name__)
            stack.extend(f for f, _ in node.next_functions)
    return names


def test_gather_target_result_comes_from_gather(ex):
    # A gather call made on the side does not count: the values returned must come out of it.
    scores = SCORES.clone().requires_grad_(True)
    call = call_str("gather_target", scores, TARGET)
    point = "the values returned come out of torch.gather / take_along_dim (advanced indexing does not count)"
    got = run_pure(ex.gather_target, scores, TARGET, call=call, point=point)
    names = _graph_names(got)
    expect(any(n.startswith("GatherBackward") for n in names), call=call, point=point,
           expected="a GatherBackward node in the result's autograd graph", got=f"graph: {names}")


def _in_place(**tensors):
    """The names of the tensors an in-place operation ran on (their ``_version`` counters, given
    as (tensor, version before)): a clamp_ or add_(0) bumps it, even when the values come out the same."""
    return [name for name, (t, before) in tensors.items() if t._version != before]


def test_gather_target_does_not_modify_inputs(ex):
    for requires_grad in (False, True):
        scores, target = SCORES.clone().requires_grad_(requires_grad), TARGET.clone()
        versions = {"scores": (scores, scores._version), "target": (target, target._version)}
        call = call_str("gather_target", scores, target)
        run_pure(ex.gather_target, scores, target, call=call, point="scores and target are not modified")
        expect(torch.equal(scores.detach(), SCORES) and torch.equal(target, TARGET), call=call,
               point="scores and target are not modified (values, shape, dtype)",
               expected=f"scores still {describe(SCORES)}, target still {describe(TARGET)}",
               got=f"scores {describe(scores.detach())}, target {describe(target)}")
        changed = _in_place(**versions)
        expect(not changed, call=call, point="scores and target are not modified (no in-place operation on them)",
               expected="no in-place operation (clamp_, add_, ...) on scores or target",
               got=f"an in-place operation ran on {' and '.join(changed)} (its _version changed), "
                   "though the values are the same")


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
def test_non_contiguous_scores(ex, layout):
    # Any (N, C) tensor is allowed: a transpose or a strided slice has the same values, another layout.
    if layout == "transposed":
        scores, how = SCORES.t().contiguous().t(), "scores = x.T for x of shape (C, N)"
    else:
        scores = torch.stack([SCORES, torch.zeros_like(SCORES)], 2).flatten(1)[:, ::2]
        how = "scores = x[:, ::2] for x of shape (N, 2C)"
    assert not scores.is_contiguous() and torch.equal(scores, SCORES)
    inputs = {"scores": SCORES, "target": TARGET}
    # The layout is judged only once the same values in the usual layout come out right: a bug
    # that has nothing to do with layout would be blamed on it here, in an early test.
    for name, kwargs, want, basic in (
            ("gather_target", {}, torch.tensor([0.7, 3.0]), "returns scores[i, target[i]] for every row, shape (N,)"),
            ("cross_entropy", {"reduction": "none"}, F.cross_entropy(SCORES, TARGET, reduction="none"),
             "reduction='none': one loss per sample, as torch's cross_entropy")):
        call = call_str(name, SCORES, TARGET, **kwargs)
        got = run(getattr(ex, name), SCORES.clone(), TARGET.clone(), call=call, point=basic, inputs=inputs, **kwargs)
        expect_close(got, want, call=call, point=basic, inputs=inputs)
    point = "works on any (N, C) tensor, a non-contiguous one too (use view only where it is safe, or reshape)"
    call = call_str("gather_target", scores, TARGET) + f"  # {how}"
    got = run_pure(ex.gather_target, scores, TARGET, call=call, point=point, inputs=inputs)
    expect_close(got, torch.tensor([0.7, 3.0]), call=call, point=point, inputs=inputs)
    call = call_str("cross_entropy", scores, TARGET, reduction="none") + f"  # {how}"
    got = run_pure(ex.cross_entropy, scores, TARGET, reduction="none", call=call, point=point, inputs=inputs)
    expect_close(got, F.cross_entropy(SCORES, TARGET, reduction="none"), call=call, point=point, inputs=inputs)


def test_gather_target_gradient(ex):
    scores = SCORES.clone().requires_grad_(True)
    run(lambda: ex.gather_target(scores, TARGET).sum().backward(),
        call=call_str("gather_target", scores, TARGET) + ".sum().backward()",
        point="gradients flow back to scores (1 at each picked entry)", inputs={"scores": SCORES, "target": TARGET})
    want = torch.zeros_like(SCORES)
    want[0, 1] = want[1, 2] = 1.0
    grad = scores.grad  # gather(..., sparse_grad=True) gives a sparse .grad: the same values
    grad = grad.to_dense() if grad is not None and grad.layout != torch.strided else grad
    expect_close(grad, want, call=call_str("gather_target", scores, TARGET) + ".sum().backward()",
                 point="gradients flow back to scores (1 at each picked entry)",
                 inputs={"scores": SCORES, "target": TARGET})


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(ex, reduction):
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    target = torch.tensor([0, 3, 1, 1, 2])
    call = call_str("cross_entropy", logits, target, reduction=reduction)
    point = f"reduction={reduction!r}: " + {"mean": "the mean of the per-sample losses, 0-dim",
                                            "sum": "the sum of the per-sample losses, 0-dim",
                                            "none": "one loss per sample, shape (N,)"}[reduction]
    inputs = {"logits": logits, "target": target}
    got = run_pure(ex.cross_entropy, logits, target, reduction=reduction, call=call, point=point, inputs=inputs)
    want = F.cross_entropy(logits, target, reduction=reduction)
    expect_close(got, want, call=call, point=point, inputs=inputs)


def test_cross_entropy_default_is_mean(ex):
    logits, target = SCORES, TARGET
    call, point, inputs = call_str("cross_entropy", logits, target), "reduction defaults to 'mean'", \
        {"logits": logits, "target": target}
    got = run_pure(ex.cross_entropy, logits, target, call=call, point=point, inputs=inputs)
    expect_close(got, F.cross_entropy(logits, target), call=call, point=point, inputs=inputs)
    # The signature is cross_entropy(logits, target, reduction="mean"): reduction may come by position.
    point = ("reduction is the third argument of cross_entropy(logits, target, reduction='mean'): "
             "it may be passed by position")
    for reduction in ("sum", "none"):
        call = call_str("cross_entropy", logits, target, reduction)
        got = run_pure(ex.cross_entropy, logits, target, reduction, call=call, point=point, inputs=inputs)
        expect_close(got, F.cross_entropy(logits, target, reduction=reduction), call=call, point=point, inputs=inputs)


def test_cross_entropy_bad_reduction(ex):
    # Exactly the three strings are accepted: a near miss (another spelling, a space, None, 0) is
    # "any other reduction" too. For "", None and 0 the message is not searched: their text is
    # too easily found in it by chance.
    for bad in ("avg", "average", "MEAN", "batchmean", "elementwise_mean", "", " mean", "mean ", None, 0):
        expect_raises(ValueError, ex.cross_entropy, SCORES, TARGET, reduction=bad, match=bad or None,
                      call=call_str("cross_entropy", SCORES, TARGET, reduction=bad),
                      point="any other reduction than 'mean', 'sum' or 'none' raises ValueError naming the value")


def test_cross_entropy_large_logits(ex):
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    target = torch.tensor([1, 2])
    call = call_str("cross_entropy", logits, target, reduction="none")
    point = ("numerically stable: finite and accurate for logits of ±1e4 in float32 (logsumexp(o) - o_y "
             "with the max shift; a softmax and then log underflows to log(0))")
    inputs = {"logits": logits, "target": target}
    got = run_pure(ex.cross_entropy, logits, target, reduction="none", call=call, point=point, inputs=inputs)
    expect_close(got, F.cross_entropy(logits, target, reduction="none"), call=call, point=point, inputs=inputs)


def test_cross_entropy_tiny_probability(ex):
    # A top logit of 7, not 0: then a loss that forgets logsumexp (-o_y) gives 43, not 50.
    # At a gap of 200, softmax's e^-200 is 0 in float32: log(softmax) gives inf there.
    for gap in (50.0, 200.0):
        logits = torch.tensor([[7.0, 7.0 - gap]])
        target = torch.tensor([1])
        call = call_str("cross_entropy", logits, target)
        point = (f"exact for a very unlikely target: {gap:g}, not a clipped value (no log(p + eps)); "
                 "stay in log space: logsumexp(o) - o_y, since softmax(o) underflows to 0")
        inputs = {"logits": logits, "target": target}
        got = run_pure(ex.cross_entropy, logits, target, call=call, point=point, inputs=inputs)
        expect_close(got, torch.tensor(gap), call=call, point=point, inputs=inputs)


@pytest.mark.parametrize("rows", [2, 1])
def test_cross_entropy_uses_gather(ex, gather_calls, rows):
    # A batch of one row (N == 1) too: logits[0, target[0]] is indexing, not gather.
    logits, target = SCORES[:rows], TARGET[:rows]
    call = call_str("cross_entropy", logits, target)
    point = "selects the target entries with gather, for any batch size (N == 1 included)"
    run_pure(ex.cross_entropy, logits, target, call=call, point=point, inputs={"logits": logits, "target": target})
    expect(len(gather_calls) > 0, call=call, point=point, expected="a call of gather", got="none")


def test_cross_entropy_no_builtin_losses(ex, monkeypatch):
    used = []
    for owner, name in [(F, "cross_entropy"), (F, "nll_loss"), (F, "log_softmax"), (torch, "log_softmax"),
                        (torch.Tensor, "log_softmax")]:
        monkeypatch.setattr(owner, name, lambda *a, _n=name, **k: used.append(_n) or (_ for _ in ()).throw(
            AssertionError(f"{_n} is not allowed")))
    try:
        ex.cross_entropy(SCORES, TARGET)
    except AssertionError:
        pass
    expect(not used, call=call_str("cross_entropy", SCORES, TARGET),
           point="must not call PyTorch's own cross_entropy, nll_loss or log_softmax",
           expected="no call of them", got=f"called {', '.join(used)}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_entropy_keeps_dtype(ex, dtype):
    logits = SCORES.to(dtype)
    call = call_str("cross_entropy", logits, TARGET)
    got = run_pure(ex.cross_entropy, logits, TARGET, call=call, point="works in float32 and float64")
    expect(isinstance(got, torch.Tensor) and got.dtype == dtype, call=call,
           point="keeps the dtype of the logits", expected=str(dtype),
           got=str(getattr(got, "dtype", type(got).__name__)))


def test_cross_entropy_gradient(ex):
    logits = SCORES.clone().requires_grad_(True)
    call = call_str("cross_entropy", logits, TARGET) + ".backward()"
    point = "the gradient is (softmax(o) - onehot(y)) / N for 'mean'"
    inputs = {"logits": SCORES, "target": TARGET}
    run(lambda: ex.cross_entropy(logits, TARGET).backward(), call=call, point=point, inputs=inputs)
    want = (torch.softmax(SCORES, 1) - F.one_hot(TARGET, 3)) / 2
    expect_close(logits.grad, want, call=call, point=point, inputs=inputs)


def test_cross_entropy_does_not_modify_inputs(ex):
    logits, target = SCORES.clone(), TARGET.clone()
    versions = {"logits": (logits, logits._version), "target": (target, target._version)}
    call = call_str("cross_entropy", logits, target, reduction="sum")
    run_pure(ex.cross_entropy, logits, target, reduction="sum", call=call, point="never modifies its arguments")
    expect(torch.equal(logits.detach(), SCORES) and torch.equal(target, TARGET), call=call,
           point="never modifies its arguments", expected=f"logits still {describe(SCORES)}",
           got=f"logits {describe(logits.detach())}, target {describe(target)}")
    # logits.requires_grad_(True) changes the caller's tensor too.
    expect(not logits.requires_grad and not target.requires_grad, call=call,
           point="never modifies its arguments (requires_grad included: no requires_grad_ on them)",
           expected="logits.requires_grad still False",
           got=f"logits.requires_grad = {logits.requires_grad}, target.requires_grad = {target.requires_grad}")
    changed = _in_place(**versions)
    expect(not changed, call=call, point="never modifies its arguments (no in-place operation on them)",
           expected="no in-place operation (clamp_, add_, ...) on logits or target",
           got=f"an in-place operation ran on {' and '.join(changed)} (its _version changed), "
               "though the values are the same")


@pytest.mark.cuda
def test_cross_entropy_on_cuda(ex):
    logits = SCORES.cuda().requires_grad_(True)
    got = ex.cross_entropy(logits, TARGET.cuda())
    expect(got.device.type == "cuda", call=call_str("cross_entropy", logits, TARGET), point="keeps the device",
           expected="a CUDA tensor", got=str(got.device))
    got.backward()
    expect_close(logits.grad.cpu(), (torch.softmax(SCORES, 1) - F.one_hot(TARGET, 3)) / 2,
                 call="cross_entropy(...).backward() on CUDA", point="gradients on CUDA match the CPU")
