"""Hidden checks for ``devices``: choosing a device and moving data.

Without a GPU the probes simulate the hardware (see ``grader/probes/devices.py``)
and use the ``meta`` device as the "other device" for ``to_device``; the
checks marked ``cuda`` use the real GPU and count only when there is one.
"""
from __future__ import annotations

import pytest
import torch

from grader.checking import expect, expect_close, expect_equal

DTYPES = (torch.float32, torch.float64, torch.int64, torch.int32, torch.bool, torch.float16)


def _machine(cuda: int, mps: bool = False, mps_built: bool = False) -> str:
    m = "MPS available" if mps else "MPS built but not available" if mps_built else "no MPS"
    return f"simulated machine: {cuda} GPU(s), {m}"


def _tensor(rng: torch.Generator) -> torch.Tensor:
    dtype = DTYPES[int(torch.randint(len(DTYPES), (1,), generator=rng))]
    shape = tuple(int(s) for s in torch.randint(1, 5, (int(torch.randint(0, 4, (1,), generator=rng)),),
                                                generator=rng))
    x = torch.randn(shape, generator=rng) * 10
    return (x > 0) if dtype == torch.bool else x.to(dtype)


def _t(rng):  # spec node for one random tensor
    return _tensor(rng)


# -- pick_device -------------------------------------------------------------------

def _is_cuda(d) -> bool:
    return d in ("cuda", "cuda:0")


@pytest.mark.weight(2)
def test_pick_device_cuda_when_available(sub):
    """pick_device() is cuda when CUDA is available"""
    for cuda, mps_built in ((1, False), (3, False), (1, True)):
        got = sub.pick(cuda, False, mps_built)
        expect(_is_cuda(got), call=f"pick_device() ({_machine(cuda, False, mps_built)})",
               point="pick_device() is torch.device('cuda') if CUDA is available",
               expected="device(type='cuda')", got=repr(got))


@pytest.mark.weight(1)
def test_pick_device_prefers_cuda_to_mps(sub):
    """pick_device() prefers cuda to mps when both are available"""
    got = sub.pick(2, True, True)
    expect(_is_cuda(got), call=f"pick_device() ({_machine(2, True)})",
           point="pick_device() is cuda if available, else mps if available, else cpu",
           expected="device(type='cuda')", got=repr(got))


@pytest.mark.weight(2)
def test_pick_device_mps_when_no_cuda(sub):
    """pick_device() is mps when MPS is available and CUDA is not"""
    got = sub.pick(0, True, True)
    expect(got == "mps", call=f"pick_device() ({_machine(0, True)})",
           point="pick_device() is torch.device('mps') if CUDA is not available and MPS is",
           expected="device(type='mps')", got=repr(got))


@pytest.mark.weight(2)
def test_pick_device_cpu_otherwise(sub):
    """pick_device() is cpu when neither CUDA nor MPS is available"""
    got = sub.pick(0, False, False)
    expect(got == "cpu", call=f"pick_device() ({_machine(0)})",
           point="pick_device() is torch.device('cpu') when there is no accelerator",
           expected="device(type='cpu')", got=repr(got))


@pytest.mark.weight(1)
def test_pick_device_mps_must_be_available_not_just_built(sub):
    """pick_device() does not choose mps when MPS is only built, not available"""
    got = sub.pick(0, False, True)
    expect(got == "cpu", call=f"pick_device() ({_machine(0, False, True)})",
           point="mps only if torch.backends.mps.is_available() (is_built() is not enough)",
           expected="device(type='cpu')", got=repr(got))


# -- try_gpu / try_all_gpus ------------------------------------------------------------

@pytest.mark.weight(2)
def test_try_gpu_existing_gpu(sub):
    """try_gpu(i) is cuda:i when there are at least i + 1 GPUs"""
    for n, i in ((1, 0), (2, 0), (2, 1), (4, 3), (5, 2)):
        got = sub.gpu(n, i)
        expect(got == f"cuda:{i}", call=f"try_gpu({i}) ({_machine(n)})",
               point="try_gpu(i) is torch.device(f'cuda:{i}') if there are at least i + 1 GPUs",
               expected=f"device(type='cuda', index={i})", got=repr(got))


@pytest.mark.weight(2)
def test_try_gpu_missing_gpu_is_cpu(sub):
    """try_gpu(i) is cpu when there are fewer than i + 1 GPUs"""
    for n, i in ((0, 0), (0, 3), (1, 1), (2, 2), (3, 10)):
        got = sub.gpu(n, i)
        expect(got == "cpu", call=f"try_gpu({i}) ({_machine(n)})",
               point="try_gpu(i) is torch.device('cpu') when there are fewer than i + 1 GPUs",
               expected="device(type='cpu')", got=repr(got))


@pytest.mark.weight(1)
def test_try_gpu_default_is_gpu_0(sub):
    """try_gpu() defaults to i = 0"""
    for n, want in ((2, "cuda:0"), (0, "cpu")):
        got = sub.gpu(n, None)
        expect(got == want, call=f"try_gpu() ({_machine(n)})", point="try_gpu(i=0): the default is GPU 0",
               expected=repr(torch.device(want)), got=repr(got))


@pytest.mark.weight(2)
def test_try_all_gpus_lists_every_gpu(sub):
    """try_all_gpus() is the list of every cuda:i, in order"""
    for n in (1, 2, 5):
        want = {"type": "list", "items": [f"cuda:{i}" for i in range(n)]}
        expect_equal(sub.all_gpus(n), want, call=f"try_all_gpus() ({_machine(n)})",
                     point="try_all_gpus() is the list [cuda:0, ..., cuda:n-1]")


@pytest.mark.weight(1)
def test_try_all_gpus_cpu_when_none(sub):
    """try_all_gpus() is [cpu] when there is no GPU"""
    expect_equal(sub.all_gpus(0), {"type": "list", "items": ["cpu"]}, call=f"try_all_gpus() ({_machine(0)})",
                 point="try_all_gpus() is [torch.device('cpu')] when there is no GPU (never empty)")


# -- to_device ---------------------------------------------------------------------

def _short(node) -> str:
    """A one-line summary of a described node (see probes.devices._describe)."""
    if isinstance(node, dict) and len(node) == 1:
        (kind, body), = node.items()
        if kind == "dict" and isinstance(body, dict):
            return f"a {body.get('type')} with keys [{', '.join(body.get('keys', []))}]"
        if kind == "namedtuple" and isinstance(body, dict):
            return f"a {body.get('class')} with fields {body.get('fields')}"
        if kind in ("list", "tuple") and isinstance(body, list):
            return f"a {kind} of {len(body)}"
        if kind == "module":
            kept = (f", its buffers keep their values: {body['buffers keep their values']}"
                    if "buffers keep their values" in body else "")
            return (f"the same model object: {body.get('same object')}, model now on "
                    f"{body.get('input module now on')}{kept}")
        if kind == "deque" and isinstance(body, dict):
            return f"a {body.get('type')} of {body.get('items')}"
    if isinstance(node, dict) and "unchanged" in node:
        return f"{node['repr']} ({'the same object' if node['unchanged'] else 'another object'})"
    return str(node)[:200]


def _diff(got, want, path: str):
    """The first place where two descriptions differ: (path, got, want), or None."""
    if isinstance(want, dict) and isinstance(got, dict) and list(got) == list(want):
        if len(want) == 1:
            (kind, w), = want.items()
            g = got[kind]
            if kind == "dict" and isinstance(w, dict) and isinstance(g, dict):
                if g.get("type") != w.get("type") or g.get("keys") != w.get("keys"):
                    return path, got, want
                for k, gi, wi in zip(w["keys"], g["items"], w["items"]):
                    found = _diff(gi, wi, f"{path}[{k}]")
                    if found:
                        return found
                return None
            if kind == "namedtuple" and isinstance(w, dict) and isinstance(g, dict):
                if any(g.get(f) != w.get(f) for f in ("class", "same class", "fields")) or g.get("items") is None:
                    return path, got, want
                for f, gi, wi in zip(w["fields"], g["items"], w["items"]):
                    found = _diff(gi, wi, f"{path}.{f}")
                    if found:
                        return found
                return None
            if kind in ("list", "tuple") and isinstance(w, list) and isinstance(g, list):
                if len(g) != len(w):
                    return path, got, want
                for i, (gi, wi) in enumerate(zip(g, w)):
                    found = _diff(gi, wi, f"{path}[{i}]")
                    if found:
                        return found
                return None
        return None if got == want else (path, got, want)
    return None if got == want else (path, got, want)


def _same_move(sub, ref, spec, device, *, call, point, **kw) -> dict:
    got, want = sub.move(spec, device, **kw), ref.move(spec, device, **kw)
    found = _diff(got["structure"], want["structure"], "out")
    if found:
        path, g, w = found
        expect(False, call=f"out = {call}", point=point,
               expected=f"{path} is {_short(w)}", got=f"{path} is {_short(g)}")
    return got


@pytest.mark.weight(2)
def test_to_device_moves_a_tensor(sub, ref, rng):
    """a tensor is moved to the device, keeping its dtype and shape (device as str or torch.device)"""
    fixed = [torch.arange(6).reshape(2, 3), torch.tensor(2.5, dtype=torch.float64), torch.tensor([True, False])]
    for as_device in (False, True):
        for x in fixed + [_tensor(rng) for _ in range(2)]:
            dev = "torch.device('meta')" if as_device else "'meta'"
            _same_move(sub, ref, x, "meta", as_device=as_device,
                       call=f"to_device(<{str(x.dtype)[6:]} {tuple(x.shape)}>, {dev})",
                       point="a tensor is moved to the device (same dtype and shape)")
    # A Parameter is a tensor too (a dispatch on ``type(obj) is torch.Tensor`` misses it).
    _same_move(sub, ref, ["param", torch.randn(3, 2, generator=rng)], "meta", call="to_device(nn.Parameter(w), 'meta')",
               point="every tensor is moved, tensor subclasses such as nn.Parameter included")
    # A complex tensor keeps its dtype (not its real part); a tensor computed from one that requires grad
    # is moved by tensor.to, which keeps it in the autograd graph (no detach).
    real, imag = torch.randn(2, 3, generator=rng), torch.randn(2, 3, generator=rng)
    _same_move(sub, ref, ["complex", real, imag], "meta",
               call="to_device(torch.complex(re, im), 'meta')  # complex64 (2, 3)",
               point="a tensor is moved as tensor.to(device): same values, dtype (complex too) and shape")
    w = torch.randn(4, generator=rng)
    _same_move(sub, ref, ["nonleaf", w], "meta",
               call="to_device(2 * w, 'meta')  # w a leaf with requires_grad=True: 2 * w has a grad_fn",
               point="a tensor is moved as tensor.to(device, non_blocking=...): one computed with autograd "
                     "stays in the graph (requires_grad, a grad_fn), it is not detached")


@pytest.mark.weight(1)
def test_to_device_keeps_values(sub, ref, rng):
    """moving keeps every tensor's values"""
    spec = ["dict", [["a", torch.arange(1.0, 7.0)], ["b", ["tuple", [_t(rng), ["list", [_t(rng)]]]]],
                     ["model", ["module", 3, 2]]]]
    # The model's values are those of its state_dict (weights and BatchNorm buffers),
    # fixed by the probe: Module.to keeps them, Module.to_empty would not.
    call = "to_device({'a': a, 'b': (b, [c]), 'model': m}, 'cpu')"
    got = _same_move(sub, ref, spec, "cpu", call=call, point="moving keeps every tensor's values")
    want = ref.move(spec, "cpu")
    expect_close(got["values"], want["values"], rtol=0, atol=0, call=call,
                 point="moving keeps every tensor's values, a model's parameters and buffers included")
    # A model with buffers but no parameters: module.to keeps the buffers' values (to_empty would not).
    # Its values are drawn afresh in the probe and compared there with a copy taken before the call.
    _same_move(sub, ref, ["stats", 3], "cpu", call="to_device(nn.BatchNorm1d(3, affine=False), 'cpu')  # buffers only",
               point="an nn.Module is moved with module.to: a model without parameters keeps its buffers' values too")


@pytest.mark.weight(2)
def test_to_device_tuples_and_lists(sub, ref, rng):
    """tuples stay tuples and lists stay lists, every tensor inside moved"""
    spec = ["tuple", [_t(rng), ["list", [_t(rng), _t(rng)]], ["tuple", []], ["list", [["tuple", [_t(rng)]]]],
                      ["list", []]]]
    _same_move(sub, ref, spec, "meta", call="to_device((a, [b, c], (), [(d,)], []), 'meta')",
               point="a tuple stays a tuple, a list a list, every tensor inside is moved")
    spec = ["list", [_t(rng), ["value", "name"], _t(rng)]]
    _same_move(sub, ref, spec, "meta", call="to_device([a, 'name', b], 'meta')",
               point="a list stays a list, every tensor inside is moved")


@pytest.mark.weight(2)
def test_to_device_dicts(sub, ref, rng):
    """a dict keeps its keys, every value converted"""
    spec = ["dict", [["meta", ["value", "info"]], ["X", _t(rng)], [0, _t(rng)], [7, ["list", [_t(rng)]]],
                     ["mask", ["value", None]], ["inner", ["dict", [["y", _t(rng)]]]]]]
    _same_move(sub, ref, spec, "meta",
               call="to_device({'meta': 'info', 'X': a, 0: b, 7: [c], 'mask': None, 'inner': {'y': d}}, 'meta')",
               point="a dict stays a dict with the same keys (str or int), in the same order, every value converted")


@pytest.mark.weight(2)
def test_to_device_namedtuples(sub, ref, rng):
    """a namedtuple keeps its class and fields, every field converted"""
    spec = ["nt", "Batch", [_t(rng), _t(rng)]]
    _same_move(sub, ref, spec, "meta", call="to_device(Batch(X=a, y=b), 'meta')",
               point="a namedtuple keeps its class and fields")
    spec = ["list", [["nt", "Triple", [_t(rng), ["value", "label"], ["tuple", [_t(rng)]]]]]]
    _same_move(sub, ref, spec, "meta", call="to_device([Triple(first=a, second='label', third=(b,))], 'meta')",
               point="a namedtuple keeps its class and fields, every field converted")


@pytest.mark.weight(1)
def test_to_device_deep_nesting(sub, ref, rng):
    """containers are converted recursively at any depth"""
    spec: list | torch.Tensor = _t(rng)
    for kind in ("list", "dict", "tuple", "nt", "list", "dict"):
        if kind == "dict":
            spec = ["dict", [["k", spec], ["n", ["value", 1]]]]
        elif kind == "nt":
            spec = ["nt", "Batch", [spec, _t(rng)]]
        else:
            spec = [kind, [spec, _t(rng)]]
    _same_move(sub, ref, spec, "meta", call="to_device({'k': [Batch(({'k': [x, a], 'n': 1}, b), c), d], 'n': 1}, 'meta')",
               point="every tensor inside is moved, recursing through dicts, lists, tuples and namedtuples")


@pytest.mark.weight(1)
def test_to_device_leaves_the_callers_batch_alone(sub, rng):
    """the caller's containers and tensors are left as they were (new containers come back)"""
    spec = ["dict", [["X", _t(rng)], ["rest", ["list", [_t(rng), ["value", "label"]]]],
                     ["pair", ["tuple", [["list", [_t(rng)]]]]], ["inner", ["dict", [["y", _t(rng)]]]]]]
    call = "to_device(batch, 'meta')  # batch = {'X': a, 'rest': [b, 'label'], 'pair': ([c],), 'inner': {'y': d}}"
    got = sub.left_alone(spec, "meta")
    point = ("obj itself is left as it was: the caller's dicts and lists still hold what they held, and its tensors "
             "stay where they were (return new containers; only an nn.Module is moved in place)")
    changed, moved = got["containers changed"], got["tensors moved in place"]
    expect(not changed and not moved, call=call, point=point,
           expected="batch and every list and dict in it unchanged, a, b, c and d still on cpu",
           got="; ".join([f"{p} was filled in place" for p in changed]
                         + [f"{'abcd'[k]} was moved in place, to {dev}" for k, dev in moved]))


@pytest.mark.weight(2)
def test_to_device_module_in_place(sub, ref, rng):
    """an nn.Module is moved in place and the same object is returned"""
    _same_move(sub, ref, ["module", 3, 4], "meta", call="to_device(model, 'meta')",
               point="an nn.Module is moved in place (all parameters and buffers) and the same object returned")
    spec = ["dict", [["model", ["module", 2, 5]], ["batch", ["tuple", [_t(rng), ["module", 4, 1]]]]]]
    _same_move(sub, ref, spec, "meta", call="to_device({'model': m1, 'batch': (x, m2)}, 'meta')",
               point="an nn.Module inside a container is moved in place and the same object kept")


@pytest.mark.weight(2)
def test_to_device_leaves_other_values(sub, ref, rng):
    """anything else (strings, numbers, None, other objects) is returned unchanged"""
    for value, shown in ((["value", "text"], "'text'"), (["value", 3], "3"), (["value", 2.5], "2.5"),
                         (["value", True], "True"), (["value", None], "None"), (["thing"], "Thing()"),
                         (["value", ""], "''")):
        _same_move(sub, ref, value, "meta", call=f"to_device({shown}, 'meta')",
                   point="anything else (strings, numbers, None) is returned unchanged")
    # Other objects, some of which look like containers or tensors, come back as themselves.
    # A deque is no list: it comes back as itself (at least a deque of the same items, never a list).
    for name, shown in (("bytes", "b'ab'"), ("range", "range(3)"), ("set", "{1, 2}"),
                        ("frozenset", "frozenset({3})"), ("movable", "Movable()"),
                        ("ndarray", "numpy.arange(3.0)"), ("deque", "collections.deque(['a', 1])")):
        note = "  # Movable: a plain class with a .to method" if name == "movable" else ""
        _same_move(sub, ref, ["thing", name], "meta", call=f"to_device({shown}, 'meta'){note}",
                   point="anything else (other objects: bytes, range, sets, deques, NumPy arrays, objects with a .to) "
                         "is returned unchanged, the same object")
    spec = ["tuple", [["value", "ab"], ["value", 0], ["thing"], _t(rng), ["value", None]]]
    _same_move(sub, ref, spec, "meta", call="to_device(('ab', 0, Thing(), x, None), 'meta')",
               point="non-tensors inside containers are kept unchanged")


def _flags_ok(res: dict, want: bool) -> tuple[bool, str]:
    n, calls = res["tensors"], res["calls"]
    if want:
        covered = {i for i, nb in calls if nb and i >= 0}
        ok = covered == set(range(n)) or (sum(1 for _, nb in calls if nb) >= n and all(nb for _, nb in calls))
    else:
        ok = not any(nb for _, nb in calls)
    shown = ", ".join(f"tensor {i if i >= 0 else '?'}: non_blocking={nb}" for i, nb in calls) or "no Tensor.to call"
    return ok, shown


@pytest.mark.weight(2)
def test_to_device_passes_non_blocking_true(sub, rng):
    """non_blocking=True is passed on to Tensor.to for every tensor"""
    spec = ["dict", [["X", _t(rng)], ["rest", ["list", [_t(rng), ["nt", "Batch", [_t(rng), ["value", 1]]]]]],
                     ["pair", ["tuple", [_t(rng), ["value", "id"]]]]]]
    ok, shown = _flags_ok(sub.non_blocking_calls(spec, "meta", True), True)
    expect(ok, call="to_device({'X': t0, 'rest': [t1, Batch(t2, 1)], 'pair': (t3, 'id')}, 'meta', non_blocking=True)",
           point="non_blocking is passed on to Tensor.to",
           expected="t0.to(..., non_blocking=True), and the same for t1, t2 and t3", got=shown)
    # The signature to_device(obj, device, non_blocking=False): by position too.
    ok, shown = _flags_ok(sub.non_blocking_calls(["list", [_t(rng)]], "meta", True, True), True)
    expect(ok, call="to_device([t0], 'meta', True)",
           point="non_blocking is passed on to Tensor.to; it is to_device's third argument, so it may be passed "
                 "by position", expected="t0.to(..., non_blocking=True)", got=shown)


@pytest.mark.weight(1)
def test_to_device_non_blocking_defaults_to_false(sub, rng):
    """non_blocking defaults to False and is passed on as given"""
    spec = ["list", [_t(rng), ["tuple", [_t(rng)]]]]
    for nb in (None, False):
        ok, shown = _flags_ok(sub.non_blocking_calls(spec, "meta", nb), False)
        call = "to_device([t0, (t1,)], 'meta'" + (")" if nb is None else ", non_blocking=False)")
        expect(ok, call=call, point="non_blocking=False (the default) is passed on to Tensor.to",
               expected="no Tensor.to call with non_blocking=True", got=shown)


# -- CUDA ------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.weight(1)
def test_cuda_real_gpus_reported(sub):
    """on a CUDA machine, pick_device/try_gpu/try_all_gpus report the real GPUs"""
    got = sub.real()
    n = got["count"]
    want = {"count": n, "pick": got["pick"] if _is_cuda(got["pick"]) else "cuda",
            "all": [f"cuda:{i}" for i in range(n)], "gpu0": "cuda:0", "gpu_last": f"cuda:{n - 1}", "gpu_n": "cpu"}
    expect_equal(got, want, call="pick_device(), try_all_gpus(), try_gpu(0), try_gpu(n-1), try_gpu(n) on this GPU machine",
                 point="the functions report the machine's real GPUs")


@pytest.mark.cuda
@pytest.mark.weight(1)
def test_cuda_to_device_moves_to_gpu(sub, ref, rng):
    """to_device moves a batch and a model to CUDA, values intact (pinned memory, non_blocking=True)"""
    spec = ["dict", [["batch", ["nt", "Batch", [_t(rng), _t(rng)]]], ["model", ["module", 3, 2]],
                     ["extra", ["list", [_t(rng), ["value", "tag"]]]]]]
    call = "to_device({'batch': Batch(X, y), 'model': m, 'extra': [t, 'tag']}, 'cuda', non_blocking=True)"
    got = _same_move(sub, ref, spec, "cuda", non_blocking=True, pin=True, call=call,
                     point="every tensor is moved to the GPU, the model in place")
    want = ref.move(spec, "cuda", non_blocking=True, pin=True)
    expect_close(got["values"], want["values"], rtol=0, atol=0, call=call, point="moving keeps the values")
    back = _same_move(sub, ref, spec, "cpu", src="cuda", call=call.replace("'cuda', non_blocking=True", "'cpu'")
                      + " with everything on CUDA first", point="every tensor is moved back to the CPU, the model in place")
    expect_close(back["values"], want["values"], rtol=0, atol=0, call="to_device(<the same, on CUDA>, 'cpu')",
                 point="moving keeps the values")
