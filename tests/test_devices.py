"""Learner tests for ``devices.py``: choosing a device and moving data.

Most machines that run these tests have no GPU, so most tests *simulate* one:
the ``machine`` fixture replaces ``torch.cuda.is_available``,
``torch.cuda.device_count``, ``torch.backends.mps.is_available`` /
``is_built`` (and the ``torch.mps`` / ``torch.accelerator`` equivalents)
for the duration of a test. For moving data, the "other device" is ``meta``:
a device that keeps shapes and dtypes but no values, available everywhere.
The tests marked ``cuda`` use a real GPU and are skipped without one.
"""
from __future__ import annotations

import contextlib
from collections import deque, namedtuple

import pytest
import torch
from torch import nn

from grader.learner.simulation import non_blocking_of, simulated_machine, tensor_to_calls
from kata import describe, expect, expect_close, run, run_pure

Batch = namedtuple("Batch", ["X", "y"])


@pytest.fixture
def machine(ex):
    """``machine(cuda=2)`` / ``machine(mps=True)``: pretend this is the hardware, for torch and for
    every reference to its queries your module took (the grader pretends the same way)."""
    with contextlib.ExitStack() as stack:
        def simulate(cuda: int = 0, mps: bool = False, mps_built: bool = False) -> None:
            stack.enter_context(simulated_machine(ex, cuda=cuda, mps=mps, mps_built=mps_built))

        yield simulate


def _where(machine_desc: str) -> str:
    return f" (simulated: {machine_desc})"


# -- pick_device -------------------------------------------------------------------

@pytest.mark.parametrize("cuda,mps,want", [
    (0, False, "cpu"), (1, False, "cuda"), (2, False, "cuda"), (0, True, "mps"), (1, True, "cuda")])
def test_pick_device(ex, machine, cuda, mps, want):
    machine(cuda=cuda, mps=mps)
    call = "pick_device()" + _where(f"{cuda} GPU(s), MPS {'available' if mps else 'absent'}")
    point = "pick_device() is cuda if available, else mps if available, else cpu (a torch.device)"
    got = run(ex.pick_device, call=call, point=point)
    ok = isinstance(got, torch.device) and got.type == want and got.index in (None, 0)
    expect(ok, call=call, point=point,
           expected=f"torch.device({want!r})", got=f"{got!r} (a {type(got).__name__})")


def test_pick_device_needs_mps_available_not_just_built(ex, machine):
    machine(cuda=0, mps=False, mps_built=True)
    call = "pick_device()" + _where("no GPU, MPS built but not available")
    point = "mps only when torch.backends.mps.is_available(), not merely is_built()"
    got = run(ex.pick_device, call=call, point=point)
    expect(isinstance(got, torch.device) and got == torch.device("cpu"), call=call, point=point,
           expected="torch.device('cpu')", got=f"{got!r} (a {type(got).__name__})")


# -- try_gpu / try_all_gpus ------------------------------------------------------------

@pytest.mark.parametrize("n,i,want", [
    (0, 0, "cpu"), (1, 0, "cuda:0"), (1, 1, "cpu"), (2, 1, "cuda:1"), (3, 2, "cuda:2"), (2, 10, "cpu")])
def test_try_gpu(ex, machine, n, i, want):
    machine(cuda=n)
    call = f"try_gpu({i})" + _where(f"{n} GPU(s)")
    point = "try_gpu(i) is cuda:i if there are at least i + 1 GPUs, else cpu"
    got = run(ex.try_gpu, i, call=call, point=point)
    expect(isinstance(got, torch.device) and got == torch.device(want), call=call, point=point,
           expected=f"torch.device({want!r})", got=f"{got!r} (a {type(got).__name__})")


def test_try_gpu_default_is_gpu_0(ex, machine):
    machine(cuda=2)
    call, point = "try_gpu()" + _where("2 GPUs"), "try_gpu() defaults to i=0"
    got = run(ex.try_gpu, call=call, point=point)
    expect(got == torch.device("cuda:0"), call=call, point=point, expected="device(type='cuda', index=0)",
           got=repr(got))


@pytest.mark.parametrize("n", [0, 1, 3])
def test_try_all_gpus(ex, machine, n):
    machine(cuda=n)
    call = "try_all_gpus()" + _where(f"{n} GPU(s)")
    point = "try_all_gpus() is the list of every cuda:i; [cpu] when there is none"
    got = run(ex.try_all_gpus, call=call, point=point)
    want = [torch.device(f"cuda:{i}") for i in range(n)] or [torch.device("cpu")]
    expect(type(got) is list and got == want, call=call, point=point,
           expected=repr(want), got=f"{got!r} (a {type(got).__name__})")


# -- to_device ---------------------------------------------------------------------

@pytest.mark.parametrize("device", ["meta", torch.device("meta")], ids=["str", "torch.device"])
def test_to_device_tensor(ex, device):
    g = torch.Generator().manual_seed(0)
    z = torch.complex(torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g))
    point = "a tensor is moved to the device, given as a str or a torch.device (same dtype and shape)"
    for name, x, want in (("x", torch.arange(6, dtype=torch.int32).reshape(2, 3), "tensor int32 (2, 3) on meta"),
                          ("z", z, "tensor complex64 (2, 3) on meta (complex, not its real part)")):
        call, inputs = f"to_device({name}, {device!r})", {name: x}
        out = run_pure(ex.to_device, x, device, call=call, point=point, inputs=inputs)
        ok = isinstance(out, torch.Tensor) and out.device.type == "meta" and out.dtype == x.dtype \
            and out.shape == x.shape
        expect(ok, call=call, point=point, expected=want, got=describe(out), inputs=inputs)


def test_to_device_keeps_values(ex):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64, generator=g)
    z = torch.complex(torch.randn(3, generator=g), torch.randn(3, generator=g))
    for name, t in (("x", x), ("z", z)):
        call, point, inputs = f"to_device({name}, torch.device('cpu'))", "moving keeps the tensor's values", {name: t}
        out = run_pure(ex.to_device, t, torch.device("cpu"), call=call, point=point, inputs=inputs)
        expect_close(out, t, call=call, point=point, inputs=inputs)


def test_to_device_moves_parameters(ex):
    w = nn.Parameter(torch.randn(3, 2, generator=torch.Generator().manual_seed(0)))
    call, point = "to_device({'w': w}, 'meta')  # w = nn.Parameter(...)", \
        "every tensor is moved, tensor subclasses such as nn.Parameter included"
    out = run_pure(ex.to_device, {"w": w}, "meta", call=call, point=point)
    moved = out.get("w") if isinstance(out, dict) else out
    expect(isinstance(moved, torch.Tensor) and moved.device.type == "meta", call=call, point=point,
           expected="out['w'] on meta", got=describe(moved))
    # tensor.to(device) keeps a tensor in the autograd graph: w.to('meta') requires grad (w.data.to would not),
    # and (2 * w).to('meta') has a grad_fn (a detached copy would not).
    point = ("a tensor is moved as tensor.to(device, non_blocking=...): it stays in the autograd graph "
             "(not detached, not moved through .data)")
    expect(moved.requires_grad, call=call, point=point, expected="out['w'].requires_grad == True (as w.to('meta'))",
           got=f"requires_grad={moved.requires_grad}")
    call = "to_device(2 * w, 'meta')  # w = nn.Parameter(...): 2 * w has a grad_fn"
    out = run_pure(ex.to_device, 2 * w, "meta", call=call, point=point)
    ok = isinstance(out, torch.Tensor) and out.requires_grad and out.grad_fn is not None
    expect(ok, call=call, point=point, expected="a tensor on meta with requires_grad=True and a grad_fn",
           got=f"{describe(out)}, requires_grad={getattr(out, 'requires_grad', None)}, "
               f"grad_fn={getattr(out, 'grad_fn', None)}")


def test_to_device_module_keeps_its_values(ex):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    call, point = "to_device(model, 'cpu')", "moving a model keeps its parameters' and buffers' values (Module.to)"
    run_pure(ex.to_device, model, "cpu", call=call, point=point)
    expect_close(dict(model.state_dict()), before, call=call, point=point)
    # A model without parameters, only buffers: Module.to keeps their values too (Module.to_empty would not).
    stats = nn.BatchNorm1d(8, affine=False)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # filled in place: no freed temporary holding the same values
        stats.running_mean.uniform_(-3.0, 3.0, generator=g)
        stats.running_var.uniform_(0.5, 4.0, generator=g)
        stats.num_batches_tracked.fill_(12345)
    before = {k: v.clone() for k, v in stats.state_dict().items()}
    call = "to_device(nn.BatchNorm1d(8, affine=False), 'cpu')  # buffers only, no parameters"
    run_pure(ex.to_device, stats, "cpu", call=call, point=point)
    expect_close(dict(stats.state_dict()), before, call=call, point=point)


def test_to_device_tuple_list_dict(ex):
    a, b, c = torch.zeros(2), torch.ones(3, dtype=torch.int64), torch.full((1,), 2.0)
    obj = {"n": 3, "pair": (a, [b, "label"]), 0: c, "mask": None, "empty": ([], ())}
    call = "to_device({'n': 3, 'pair': (a, [b, 'label']), 0: c, 'mask': None, 'empty': ([], ())}, 'meta')"
    point = "a dict stays a dict with the same keys, in the same order (a None value included)"
    out = run_pure(ex.to_device, obj, "meta", call=call, point=point)
    expect(type(out) is dict and list(out) == ["n", "pair", 0, "mask", "empty"], call=call, point=point,
           expected="a dict with keys ['n', 'pair', 0, 'mask', 'empty']", got=f"{describe(out)}")
    expect(out["mask"] is None, call=call, point="None is returned unchanged", expected="out['mask'] is None",
           got=describe(out["mask"]))
    empty = out["empty"]
    expect(type(empty) is tuple and [type(e) for e in empty] == [list, tuple] and not any(empty), call=call,
           point="a list stays a list and a tuple a tuple, empty ones too",
           expected="out['empty'] == ([], ())", got=describe(empty))
    expect(type(out["pair"]) is tuple and len(out["pair"]) == 2, call=call, point="a tuple stays a tuple",
           expected="out['pair'] a tuple of 2", got=describe(out["pair"]))
    inner = out["pair"][1]
    expect(type(inner) is list and len(inner) == 2 and inner[1] == "label", call=call,
           point="a list stays a list; a string inside is returned unchanged",
           expected="out['pair'][1] == [<b on meta>, 'label']", got=describe(inner))
    moved = {"a": out["pair"][0], "b": inner[0], "c": out[0]}
    for name, t in moved.items():
        expect(isinstance(t, torch.Tensor) and t.device.type == "meta", call=call,
               point="every tensor inside the containers is moved, at any depth",
               expected=f"{name} on meta", got=describe(t))
    expect(moved["b"].dtype == torch.int64, call=call, point="moving keeps the dtype",
           expected="int64", got=str(moved["b"].dtype))
    expect(out["n"] == 3, call=call, point="numbers are returned unchanged", expected="3", got=repr(out["n"]))


def test_to_device_leaves_the_callers_batch_alone(ex):
    a, b, c = torch.zeros(2), torch.ones(3), torch.full((1,), 2.0)
    inner = [b, "label"]
    obj = {"X": a, "rest": inner, "pair": ([c],)}
    before = {"obj": dict(obj), "obj['rest']": list(inner), "obj['pair'][0]": list(obj["pair"][0])}
    call = "batch = {'X': a, 'rest': [b, 'label'], 'pair': ([c],)}; to_device(batch, 'meta')"
    point = "the caller's batch is left as it was: new containers come back, and its tensors stay where they were"
    run_pure(ex.to_device, obj, "meta", call=call, point=point)
    now = {"obj": obj, "obj['rest']": obj["rest"], "obj['pair'][0]": obj["pair"][0]}
    for where, held in before.items():
        items = list(held.values()) if isinstance(held, dict) else held
        still = list(now[where].values()) if isinstance(now[where], dict) else now[where]
        same = len(items) == len(still) and all(x is y for x, y in zip(items, still))
        expect(same, call=call, point=point, expected=f"{where} still holds {describe(items)}",
               got=f"{where} now holds {describe(still)}")
    for name, t in {"a": a, "b": b, "c": c}.items():
        expect(t.device.type == "cpu", call=call, point=point, expected=f"{name} still on cpu",
               got=f"{name} now on {t.device}")


def test_to_device_namedtuple(ex):
    batch = Batch(torch.randn(4, 3), torch.tensor([0, 1, 1, 0]))
    call, point = "to_device(Batch(X, y), 'meta')", "a namedtuple keeps its class and fields"
    out = run_pure(ex.to_device, batch, "meta", call=call, point=point)
    expect(type(out) is Batch, call=call, point=point,
           expected="a Batch(X=..., y=...)", got=describe(out))
    expect(out.X.device.type == "meta" and out.y.device.type == "meta", call=call,
           point="every field of a namedtuple is moved", expected="X and y on meta",
           got=f"X on {out.X.device}, y on {out.y.device}")


def test_to_device_module_in_place(ex):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    call, point = "to_device(model, 'meta')", "an nn.Module is moved in place and the same object is returned"
    out = run_pure(ex.to_device, model, "meta", call=call, point=point)
    expect(out is model, call=call, point=point, expected="the same model object", got=describe(out))
    devs = sorted({str(t.device) for t in model.state_dict().values()})
    expect(devs == ["meta"], call=call,
           point="an nn.Module is moved (every parameter and buffer)", expected="['meta']", got=repr(devs))


class Movable:
    """Not a tensor nor a module, though it has a ``.to`` method."""

    def to(self, *args, **kwargs):
        return Movable()


def test_to_device_other_things_unchanged(ex):
    marker = object()
    values = ["text", 7, 2.5, True, None, marker, b"ab", range(3), {1, 2}, frozenset({3}), Movable(),
              deque(["a", 1])]  # a deque is no list
    try:
        import numpy
    except ImportError:  # numpy is optional
        pass
    else:
        values.append(numpy.arange(3.0))  # a NumPy array is no tensor
    for value in values:
        call = f"to_device({value!r}, 'meta')"
        point = "anything else (strings, numbers, None, other objects) is returned unchanged, the same object"
        out = run_pure(ex.to_device, value, "meta", call=call, point=point)
        if isinstance(value, deque):  # a deque of the same items will do too, never a list
            ok = out is value or (type(out) is deque and list(out) == list(value))
        else:
            ok = out is value
        expect(ok, call=call, point=point, expected=repr(value), got=f"{describe(out)} (a {type(out).__name__})")


@pytest.mark.parametrize("flag,positional", [(True, False), (False, False), (None, False), (True, True)],
                         ids=["True", "False", "default", "True-by-position"])
def test_to_device_passes_non_blocking(ex, flag, positional):
    obj = [torch.zeros(2), (torch.ones(1),)]
    args = (flag,) if positional else ()
    kwargs = {} if flag is None or positional else {"non_blocking": flag}
    shown = "" if flag is None else f", {flag}" if positional else f", non_blocking={flag}"
    call = f"to_device([a, (b,)], 'meta'{shown})"
    point = "non_blocking (default False, to_device's third argument) is passed on to Tensor.to for every tensor"
    with tensor_to_calls() as calls:  # sees Tensor.to however it is reached
        run_pure(ex.to_device, obj, "meta", *args, call=call, point=point, **kwargs)
    seen = [non_blocking_of(args, kw) for _, args, kw in calls]
    want = bool(flag)
    expect(len(seen) >= 2 and all(nb == want for nb in seen), call=call, point=point,
           expected=f"Tensor.to(..., non_blocking={want}) for a and for b", got=f"non_blocking seen: {seen}")


# -- real CUDA -------------------------------------------------------------------

@pytest.mark.cuda
def test_real_gpus_reported(ex):
    n = torch.cuda.device_count()
    call, point = "pick_device()", "pick_device() is cuda when CUDA is available"
    got = run(ex.pick_device, call=call, point=point)
    expect(got.type == "cuda", call=call, point=point, expected="device(type='cuda')", got=repr(got))
    want = [torch.device(f"cuda:{i}") for i in range(n)]
    call, point = "try_all_gpus()", "try_all_gpus() lists every real GPU"
    got = run(ex.try_all_gpus, call=call, point=point)
    expect(got == want, call=call, point=point, expected=repr(want), got=repr(got))
    call, point = f"try_gpu({n})", "no GPU number n: cpu"
    got = run(ex.try_gpu, n, call=call, point=point)
    expect(got == torch.device("cpu"), call=call, point=point, expected="device(type='cpu')", got=repr(got))


@pytest.mark.cuda
def test_to_device_moves_to_cuda_and_back(ex):
    x = torch.randn(3, 5).pin_memory()
    batch = Batch(x, torch.tensor([1, 2, 3]))
    call, point = "to_device({...}, 'cuda', non_blocking=True)", "every tensor is moved to the GPU"
    out = run_pure(ex.to_device, {"batch": batch, "tag": "train"}, "cuda", non_blocking=True, call=call, point=point)
    torch.cuda.synchronize()
    expect(out["batch"].X.is_cuda and out["batch"].y.is_cuda, call=call, point=point, expected="X and y on cuda",
           got=f"X on {out['batch'].X.device}, y on {out['batch'].y.device}")
    call, point, inputs = "to_device(to_device(batch, 'cuda'), 'cpu')", "moving keeps the values", {"x": x}
    back = run_pure(ex.to_device, out, "cpu", call=call, point=point, inputs=inputs)
    expect_close(back["batch"].X, x, call=call, point=point, inputs=inputs)
    model = nn.Linear(5, 2)
    call, point = "to_device(model, 'cuda')", "an nn.Module is moved in place and returned"
    out = run_pure(ex.to_device, model, "cuda", call=call, point=point)
    expect(out is model and model.weight.is_cuda, call=call, point=point, expected="the same model, on cuda",
           got=f"weight on {model.weight.device}")
