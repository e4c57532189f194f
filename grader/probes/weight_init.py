"""Probes for the ``weight_init`` exercise (run inside the worker, next to the submission).

The probes build the layers and tensors themselves, call one of the
submission's functions on them and report plain facts: the values afterwards
(detached copies), object identities, autograd state, what was printed, and
which ``torch.nn.init`` functions ran during the call. Every verdict, including
the statistics of the random draws, is made by the checks.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import os
import sys
import warnings
from typing import Any, Iterator

import torch
import torch.nn.init as _nn_init
from torch import nn

from grader.probing import concurrency_watch, recording

_INITS = ("init_normal", "init_constant", "init_xavier", "my_init")

# Every function defined in torch.nn.init, public and private.
_NN_INIT_FUNCTIONS = tuple(sorted(
    name for name, value in vars(_nn_init).items()
    if inspect.isfunction(value) and value.__module__ == "torch.nn.init"))
_NN_INIT_FILES = {f for f in {_nn_init.__file__, os.path.realpath(_nn_init.__file__)} if f}


class Projection(nn.Linear):
    """A subclass of nn.Linear, as a learner or a library would write one. Its name does not say
    "Linear": only isinstance tells it is one (not ``type(m).__name__``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)


class _Scale(nn.Module):
    """Not a linear layer, yet it has ``weight``, ``bias``, ``in_features`` and ``out_features``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.in_features = self.out_features = n
        self.weight = nn.Parameter(torch.randn(n, n))
        self.bias = nn.Parameter(torch.randn(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.t() + self.bias


class LinearAdapter(_Scale):
    """Not a linear layer either, though its class name says "Linear": only isinstance tells."""


def _init_fn(mod: Any, fn: str) -> Any:
    if fn not in _INITS:
        raise KeyError(f"probe misuse: {fn!r} is not one of {_INITS}")
    return getattr(mod, fn)


@contextlib.contextmanager
def _watch_nn_init() -> Iterator[list[str]]:
    """Record every call into torch.nn.init, however the function was reached.

    Two nets: ``recording`` wraps the module attributes (``nn.init.uniform_``,
    ``getattr(torch.nn, "init").uniform_``, ``from torch.nn import init as i``),
    and a profile hook sees any Python frame running code from
    ``torch/nn/init.py`` (a function bound at import time with
    ``from torch.nn.init import uniform_ as u`` escapes the first net).
    """
    seen: list[str] = []
    targets = [f"torch.nn.init.{name}" for name in _NN_INIT_FUNCTIONS]
    previous = sys.getprofile()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename in _NN_INIT_FILES:
            seen.append(f"torch.nn.init.{frame.f_code.co_name}")

    with concurrency_watch() as unwatched, recording(targets) as calls:
        sys.setprofile(profile)
        try:
            yield seen
        finally:
            sys.setprofile(previous)
            seen[:0] = calls
    seen.extend(unwatched)
    # Keep the first occurrence of each name, in order.
    seen[:] = list(dict.fromkeys(seen))


def _autograd(p: Any) -> dict[str, Any]:
    if not isinstance(p, torch.Tensor):
        return {"type": type(p).__name__}
    return {"type": type(p).__name__, "requires_grad": bool(p.requires_grad), "is_leaf": bool(p.is_leaf),
            "grad_fn": None if p.grad_fn is None else type(p.grad_fn).__name__}


def _copy(t: Any) -> Any:
    return torch.Tensor.detach(t).clone() if isinstance(t, torch.Tensor) else None


def _stdout_size() -> int | None:
    """Bytes in the file behind file descriptor 1 (the worker's output file), after a flush; None when
    it is no regular file (a terminal, in-process debugging). Writes that bypass sys.stdout
    (``sys.__stdout__``, ``os.write(1, ...)``) show there."""
    import stat

    for stream in (sys.stdout, sys.__stdout__):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        info = os.fstat(1)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def init_linear(mod: Any, fn: str, in_features: int, out_features: int, bias: bool = True,
                dtype: str = "float32", kind: str = "linear", via: str = "apply") -> dict[str, Any]:
    """Build a linear layer, run ``fn`` on it (through ``net.apply`` or directly), report.

    ``kind`` is "linear" (nn.Linear) or "subclass" (a subclass of nn.Linear);
    with ``via="apply"`` the layer sits in ``nn.Sequential(layer, nn.ReLU())``.
    """
    f = _init_fn(mod, fn)
    cls = {"linear": nn.Linear, "subclass": Projection}[kind]
    layer = cls(int(in_features), int(out_features), bias=bool(bias), dtype=getattr(torch, dtype))
    net = nn.Sequential(layer, nn.ReLU())
    weight, b = layer.weight, layer.bias
    before = _copy(weight)
    params_before = list(net.parameters())
    printed, printed_err = io.StringIO(), io.StringIO()
    returned: Any = None
    size_before = _stdout_size()
    # Warnings (torch's own, a deprecation) are recorded, not shown: only what the code prints
    # to sys.stdout or sys.stderr (print(..., file=sys.stderr), a logging handler) counts.
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed_err), \
            warnings.catch_warnings(record=True):
        if via == "apply":
            net.apply(f)
        else:
            returned = f(layer)
    size_after = _stdout_size()
    w_now, b_now = layer.weight, layer.bias
    params_after = list(net.parameters())
    out: dict[str, Any] = {
        "weight": _copy(w_now),
        "weight_before": before,
        "bias": _copy(b_now),
        "bias_is_none": b_now is None,
        "same_weight": w_now is weight,
        "same_bias": b_now is b,
        "same_parameters": len(params_after) == len(params_before)
        and all(x is y for x, y in zip(params_after, params_before)),
        "dtypes": [str(p.dtype).replace("torch.", "") for p in (w_now, b_now) if isinstance(p, torch.Tensor)],
        "weight_autograd": _autograd(w_now),
        "bias_autograd": None if b_now is None else _autograd(b_now),
        "printed": printed.getvalue()[:2000],
        "printed_stderr": printed_err.getvalue()[:2000],
        "printed_to_fd1": 0 if size_before is None or size_after is None else size_after - size_before,
        "returned": "None" if returned is None else f"{type(returned).__name__} {returned!r}"[:120],
    }
    # Can the layer still be trained? A backward pass must reach the weight's .grad.
    x = torch.randn(3, int(in_features), dtype=getattr(torch, dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            layer(x).sum().backward()
            g = layer.weight.grad
            out["backward"] = ("ok" if isinstance(g, torch.Tensor) and tuple(g.shape) == tuple(layer.weight.shape)
                               else f"weight.grad is {None if g is None else tuple(g.shape)} after backward()")
        except Exception as err:  # noqa: BLE001 - reported as a fact, judged by the check
            out["backward"] = f"backward() raised {type(err).__name__}: {str(err)[:200]}"
    return out


def init_mixed(mod: Any, fn: str) -> dict[str, Any]:
    """``net.apply(fn)`` on a network of linear and non-linear modules.

    Returns, for each non-linear module, whether its parameters kept their
    values and identities, and how many weights of the nn.Linear changed.
    """
    f = _init_fn(mod, fn)
    others: dict[str, nn.Module] = {
        "Conv2d(3, 4, 3)": nn.Conv2d(3, 4, 3),
        "Conv1d(2, 3, 5)": nn.Conv1d(2, 3, 5),
        "Bilinear(3, 4, 5)": nn.Bilinear(3, 4, 5),
        "LayerNorm(6)": nn.LayerNorm(6),
        "BatchNorm1d(4)": nn.BatchNorm1d(4),
        "Embedding(10, 3)": nn.Embedding(10, 3),
        "a custom module with weight and bias (not an nn.Linear)": _Scale(4),
        "LinearAdapter(5), a custom module with weight and bias (not an nn.Linear, whatever its name)":
            LinearAdapter(5),
    }
    with torch.no_grad():
        # Not the defaults (ones and zeros), so that any change shows.
        for m in (others["LayerNorm(6)"], others["BatchNorm1d(4)"]):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_()
    linear = nn.Linear(5, 6)
    net = nn.Sequential(*others.values(), linear)
    snap = {label: [(p, _copy(p)) for p in m.parameters()] for label, m in others.items()}
    lin_before = _copy(linear.weight)
    with contextlib.redirect_stdout(io.StringIO()):
        net.apply(f)
    untouched = {}
    for label, m in others.items():
        now = list(m.parameters())
        untouched[label] = (len(now) == len(snap[label]) and all(
            p is q and p.dtype == v.dtype and torch.equal(torch.Tensor.detach(p), v)
            for p, (q, v) in zip(now, snap[label])))
    changed = (torch.Tensor.detach(linear.weight) != lin_before).double().mean().item()
    return {"untouched": untouched, "linear_changed": changed}


class _Holder(nn.Module):
    """A custom container: a linear layer as an attribute and another inside an nn.ModuleList."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, out_features)
        self.blocks = nn.ModuleList([nn.Linear(out_features, in_features)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[0](self.proj(x))


def init_container(mod: Any, fn: str, kind: str, in_features: int, out_features: int) -> dict[str, Any]:
    """Call ``fn`` directly on a container (not through ``apply``) that holds linear layers.

    ``kind`` is "sequential" (``nn.Sequential(nn.Linear, nn.ReLU())``) or "custom" (a module
    holding an nn.Linear and an nn.ModuleList of one). Reports whether every parameter inside
    kept its value and identity.
    """
    f = _init_fn(mod, fn)
    i, o = int(in_features), int(out_features)
    box: nn.Module = (nn.Sequential(nn.Linear(i, o), nn.ReLU()) if kind == "sequential" else _Holder(i, o))
    snap = [(name, p, _copy(p)) for name, p in box.named_parameters()]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings(record=True):
        returned = f(box)
    now = dict(box.named_parameters())
    changed = [name for name, p, v in snap if now.get(name) is not p
               or not torch.equal(torch.Tensor.detach(now[name]), v)]
    return {"changed": changed, "returned": None if returned is None else type(returned).__name__}


def xavier(mod: Any, shape: list[int], gain: float | None = None, dtype: str = "float32",
           parameter: bool = False, fill: float = 0.0, transposed: bool = False,
           positional: bool = False) -> dict[str, Any]:
    """``xavier_uniform_(t)`` (or ``(t, gain=gain)``, by keyword as the sheet names it) on a fresh
    tensor of ``shape`` filled with ``fill``; ``transposed``: a non-contiguous one, the transposed
    view of a 2-D tensor of the reversed shape; ``positional``: gain as the second argument."""
    if transposed:
        t = torch.full([int(s) for s in reversed(shape)], float(fill), dtype=getattr(torch, dtype)).t()
        assert len(shape) == 2 and not t.is_contiguous(), "probe misuse: transposed needs a 2-D shape, both sizes > 1"
    else:
        t = torch.full([int(s) for s in shape], float(fill), dtype=getattr(torch, dtype))
    if parameter:
        t = nn.Parameter(t)
    with _watch_nn_init() as calls:
        if gain is None:
            result = mod.xavier_uniform_(t)
        else:
            result = mod.xavier_uniform_(t, gain) if positional else mod.xavier_uniform_(t, gain=gain)
    return {
        "values": _copy(t),
        "same": result is t,
        "returned": (f"a tensor {str(result.dtype).replace('torch.', '')} {tuple(result.shape)}, not the input object"
                     if isinstance(result, torch.Tensor) else f"a {type(result).__name__}"),
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "autograd": _autograd(t),
        "nn_init_calls": list(calls),
    }


def xavier_twice(mod: Any, shape: list[int]) -> list[Any]:
    """Two calls of ``xavier_uniform_`` on two fresh tensors of one shape: their values."""
    out = []
    for _ in range(2):
        t = torch.zeros([int(s) for s in shape])
        mod.xavier_uniform_(t)
        out.append(_copy(t))
    return out


def init_two_layers(mod: Any, fn: str, in_features: int, out_features: int) -> list[Any]:
    """``net.apply(fn)`` on a net holding two nn.Linear of one shape: their weights afterwards."""
    f = _init_fn(mod, fn)
    a, b = nn.Linear(int(in_features), int(out_features)), nn.Linear(int(in_features), int(out_features))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        nn.Sequential(a, nn.ReLU(), b).apply(f)
    return [_copy(a.weight), _copy(b.weight)]


def init_many_layers(mod: Any, fn: str, count: int, in_features: int, out_features: int) -> list[Any]:
    """``net.apply(fn)`` on ``nn.Sequential`` of ``count`` nn.Linear of one shape: their weights afterwards."""
    f = _init_fn(mod, fn)
    layers = [nn.Linear(int(in_features), int(out_features)) for _ in range(int(count))]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        nn.Sequential(*layers).apply(f)
    return [_copy(layer.weight) for layer in layers]


def nn_init_functions(mod: Any) -> list[str]:
    """The names of the functions defined in the worker's torch.nn.init."""
    return list(_NN_INIT_FUNCTIONS)



def _host(t: Any) -> Any:
    """A detached CPU copy of a tensor (None for a meta tensor, which holds no values)."""
    if not isinstance(t, torch.Tensor) or t.device.type == "meta":
        return None
    return torch.Tensor.detach(t).to("cpu", copy=True)


def on_device(mod: Any, fn: str, device: str, in_features: int, out_features: int) -> dict[str, Any]:
    """Run ``fn`` (one of the four, through ``net.apply``, or ``xavier_uniform_``) on a device.

    Reports where the parameters (or the tensor) are afterwards and their values
    copied to the CPU. On the ``meta`` device, which has no data, an exception is
    reported as a fact (``raised``) rather than raised: the check tells code that
    reads values (``.item()``, a Python ``if`` on a tensor: no fault) from a device mismatch.
    """
    dev = torch.device(device)
    if fn == "xavier_uniform_":
        t = torch.full((int(out_features), int(in_features)), 1e6, device=dev)
        try:
            result = mod.xavier_uniform_(t)
        except Exception as err:
            if dev.type != "meta":
                raise
            return {"raised": f"{type(err).__name__}: {str(err)[:200]}"}
        return {"raised": None, "devices": {"tensor": str(t.device)}, "same": result is t,
                "values": _host(t)}
    f = _init_fn(mod, fn)
    layer = nn.Linear(int(in_features), int(out_features), device=dev)
    weight, bias = layer.weight, layer.bias
    before = _host(weight)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            nn.Sequential(layer, nn.ReLU()).apply(f)
    except Exception as err:
        if dev.type != "meta":
            raise
        return {"raised": f"{type(err).__name__}: {str(err)[:200]}"}
    w, b = layer.weight, layer.bias
    return {"raised": None,
            "devices": {"weight": str(w.device) if isinstance(w, torch.Tensor) else type(w).__name__,
                        "bias": str(b.device) if isinstance(b, torch.Tensor) else type(b).__name__},
            "same": w is weight and b is bias,
            "weight": _host(w), "weight_before": before, "bias": _host(b)}
