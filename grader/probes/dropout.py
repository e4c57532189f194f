"""Probes for the dropout exercise (run inside the worker, next to the submission).

Every call of the submission runs under two spies for torch's own dropout:
``grader.probing.recording`` (patches the public names) and
``grader.probing.torch_name_spy``, a torch function mode that sees any torch
function whose name mentions dropout, however it was imported or aliased
(``from torch.nn.functional import dropout as d``, ``torch._VF.dropout``,
``torch.ops.aten.dropout``); and ``grader.probing.random_draw_spy``, a
dispatch mode that sees torch's dropout reached out of the name spy's sight
(torch function handling switched off, a tensor subclass's
``__torch_function__``, attention's ``dropout_p``): its random draw then runs
under no random torch function. ``grader.probing.concurrency_watch`` fails the
call closed when another thread or process could have done its work. Each
probe returns what it saw under ``"forbidden"``.
"""
from __future__ import annotations

import contextlib
import numbers
import re
from typing import Any, Iterator

import torch

from grader.probing import (call_watch, concurrency_watch, function_codes, kernel_spy, random_draw_spy, recording,
                            torch_name_spy)

FORBIDDEN = [
    "torch.nn.functional.dropout",
    "torch.nn.functional.dropout1d",
    "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
    "torch.nn.functional.alpha_dropout",
    "torch.nn.functional.feature_alpha_dropout",
    "torch.dropout",
    "torch.dropout_",
    "torch.feature_dropout",
    "torch.alpha_dropout",
    "torch.feature_alpha_dropout",
    "torch.native_dropout",
    "torch.nn.Dropout.forward",
    "torch.nn.Dropout1d.forward",
    "torch.nn.Dropout2d.forward",
    "torch.nn.Dropout3d.forward",
    "torch.nn.AlphaDropout.forward",
    "torch.nn.FeatureAlphaDropout.forward",
]


# The first operation on the meta device loads its kernels (about a second). The zygote
# imports the probes before it forks the workers, so doing it here does it once for all.
with contextlib.suppress(Exception):
    torch.empty(2, device="meta").mul(torch.rand(2, device="meta") >= 0.5)


# The code of torch's Python dropouts (F.dropout, nn.Dropout.forward, the reference implementations in
# torch._refs and the decompositions in torch._decomp): seen when it runs, under any alias and with
# torch function handling and the dispatch modes switched off.
_DROPOUT_CODES = function_codes(("dropout",), ("torch.nn.functional", "torch.nn", "torch._refs",
                                               "torch._refs.nn.functional", "torch._decomp.decompositions"))

# Kernels of torch's own dropouts (CUDA's fused one, CPU's native_dropout) and of attention,
# whose dropout_p would do a dropout's work.
_DROPOUT_KERNELS = ("dropout", "scaled_dot_product", "_fused_sdp", "attention")


@contextlib.contextmanager
def _watch() -> Iterator[list[str]]:
    """Yields a list that, after the block, holds the forbidden calls seen."""
    seen: list[str] = []
    spy = torch_name_spy(("dropout",), subclasses=True)
    kernels, draws = kernel_spy(_DROPOUT_KERNELS), random_draw_spy(spy, _DROPOUT_KERNELS)
    with concurrency_watch() as unwatched, recording(FORBIDDEN) as calls:
        try:
            with call_watch(_DROPOUT_CODES, ("dropout",)) as ran, kernels, draws, spy:
                yield seen
        finally:
            seen.extend(list(calls) + spy.calls + kernels.calls + draws.calls + ran)
    seen.extend(unwatched)


def _dtype(name: str | None) -> torch.dtype | None:
    return None if name is None else getattr(torch, name)


def _make(x: torch.Tensor, dtype: str | None, device: str) -> torch.Tensor:
    dt = _dtype(dtype) or x.dtype
    if device == "meta":
        return torch.empty(x.shape, dtype=dt, device="meta")
    return x.to(device=device, dtype=dt)


def _describe_out(out: Any) -> dict[str, Any]:
    if not isinstance(out, torch.Tensor):
        return {"is_tensor": False, "type": type(out).__name__}
    return {
        "is_tensor": True,
        "shape": list(out.shape),
        "dtype": str(out.dtype).replace("torch.", ""),
        "device": out.device.type,
        "requires_grad": bool(out.requires_grad),
        # the values (on the CPU), but only where there are values
        "out": None if out.device.type == "meta" else out.detach().to("cpu"),
    }


def _unchanged(x: torch.Tensor, before: torch.Tensor | None, version: int,
               dtype: torch.dtype | None = None, requires_grad: bool | None = None) -> bool | str:
    """True, or how x was modified: its dtype, its requires_grad flag (``x.requires_grad_()`` on the
    caller's tensor), its values (also when written through ``x.data``, which leaves ``x._version``
    alone), or an in-place operation that left them as they were (``x.nan_to_num_()`` on an x
    without NaN): the sheet forbids in-place operations on x."""
    if dtype is not None and x.dtype != dtype:
        return (f"x's dtype changed from {str(dtype).replace('torch.', '')} to "
                f"{str(x.dtype).replace('torch.', '')}")
    if requires_grad is not None and bool(x.requires_grad) != requires_grad:
        return f"x.requires_grad changed from {requires_grad} to {bool(x.requires_grad)}"
    if before is not None and not (x.shape == before.shape and x.dtype == before.dtype
                                   and torch.equal(x.detach(), before)):
        return "x's values changed"
    if x._version != version:
        return "an in-place operation ran on x (x._version changed), though its values are the same"
    return True


def _backward(out: Any, x: torch.Tensor, grad_out: torch.Tensor | None) -> Any:
    if grad_out is None or not isinstance(out, torch.Tensor) or not out.requires_grad:
        return None
    if tuple(out.shape) != tuple(grad_out.shape):
        return None
    out.backward(grad_out.to(device=out.device, dtype=out.dtype))
    return None if x.grad is None else x.grad.detach().to("cpu")


# -- dropout(x, p, training) ------------------------------------------------------

def dropout_call(mod, x: torch.Tensor, p: float, training: bool | None = None,
                 dtype: str | None = None, device: str = "cpu",
                 grad_out: torch.Tensor | None = None, repeat: int = 1,
                 transposed: bool = False, positional: bool = False,
                 no_grad: bool = False) -> dict[str, Any]:
    """``mod.dropout(x, p[, training=...])`` on ``x`` converted to dtype/device.

    ``transposed`` passes the same values in a non-contiguous layout (a transposed view
    of the transposed copy): x.is_contiguous() is False.

    ``training=None`` leaves the default; ``positional`` passes training as the third argument. With ``grad_out`` the input requires
    grad and the probe backpropagates ``grad_out`` through the (first) result.
    ``repeat`` calls it that many times on the same input (fresh masks). ``no_grad`` makes the
    calls under ``torch.no_grad()`` (the training argument still decides the mode).
    """
    x = _make(x, dtype, device)
    if transposed:
        x = x.transpose(0, -1).contiguous().transpose(0, -1)
        assert not x.is_contiguous(), "probe misuse: transposed needs two dims of size > 1"
    if grad_out is not None:
        x = x.detach().requires_grad_()
    before = None if device == "meta" else x.detach().clone()
    version, dtype_before, grad_before = x._version, x.dtype, bool(x.requires_grad)
    args: tuple = (x, p) if training is None or not positional else (x, p, training)
    kwargs = {} if training is None or positional else {"training": training}
    outs = []
    with _watch() as forbidden, (torch.no_grad() if no_grad else contextlib.nullcontext()):
        for _ in range(repeat):
            outs.append(mod.dropout(*args, **kwargs))
    result = _describe_out(outs[0])
    result["more"] = [_describe_out(o)["out"] if isinstance(o, torch.Tensor) else None for o in outs[1:]]
    result["x_unchanged"] = _unchanged(x, before, version, dtype_before, grad_before)
    result["grad"] = _backward(outs[0], x, grad_out)
    result["forbidden"] = forbidden
    return result


# -- EpochDropout -------------------------------------------------------------------

def _mask_info(m: Any) -> dict[str, Any]:
    try:
        mask = m.mask
    except AttributeError:
        return {"present": False}
    if mask is None:
        return {"present": True, "none": True}
    if not isinstance(mask, torch.Tensor):
        return {"present": True, "none": False, "is_tensor": False, "type": type(mask).__name__}
    kept = None
    if mask.device.type != "meta":
        kept = (mask.detach() != 0).to("cpu")
    return {"present": True, "none": False, "is_tensor": True, "shape": list(mask.shape),
            "dtype": str(mask.dtype).replace("torch.", ""), "device": mask.device.type,
            "kept": kept, "values": None if kept is None else mask.detach().to("cpu").double(),
            "is_parameter": isinstance(mask, torch.nn.Parameter)}


_MAX_NUMBERS = 1_000_000  # numbers reported per state value (the module itself holds none)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|True|False|nan|inf")


def _numbers_in(value: Any, depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """(where, flat float64 CPU tensor of the numbers) for ``value`` in any form: a tensor, an array
    (anything torch.as_tensor takes), a list or tuple of numbers (nested too, ragged too: its
    numbers in order), bytes (one number per byte), a string (the numbers written in it, True and
    False as 1 and 0); dicts, lists and tuples that hold other things are searched inside."""
    if depth > 6:
        return
    if isinstance(value, torch.Tensor):
        if value.device.type != "meta":
            yield "", value.detach().flatten()[:_MAX_NUMBERS].to("cpu").double()
        return
    if isinstance(value, (bytes, bytearray)):
        yield "", torch.tensor(list(value[:_MAX_NUMBERS]), dtype=torch.float64)
        return
    if isinstance(value, str):
        found = _NUMBER.findall(value[:20 * _MAX_NUMBERS])
        nums = [1.0 if t == "True" else 0.0 if t == "False" else float(t) for t in found]
        if nums:
            yield "", torch.tensor(nums, dtype=torch.float64)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            for where, t in _numbers_in(v, depth + 1):
                yield f"[{k!r}]{where}", t
        return
    if isinstance(value, (list, tuple)):
        flat = _flat_numbers(value)
        if flat is not None:
            if flat:
                yield "", torch.tensor(flat[:_MAX_NUMBERS], dtype=torch.float64)
            return
        for i, v in enumerate(value):
            for where, t in _numbers_in(v, depth + 1):
                yield f"[{i}]{where}", t
        return
    if isinstance(value, numbers.Number):
        return  # a single number is no mask
    with contextlib.suppress(Exception):  # an array of some library (numpy, say)
        t = torch.as_tensor(value)
        if t.numel() > 1:
            yield "", t.detach().flatten()[:_MAX_NUMBERS].to("cpu").double()


def _flat_numbers(value: Any, depth: int = 0) -> list[float] | None:
    """The numbers of a (nested) list or tuple of numbers, in order; None when it holds anything else."""
    out: list[float] = []
    for v in value:
        if isinstance(v, numbers.Number) and not isinstance(v, complex):
            out.append(float(v))
        elif isinstance(v, torch.Tensor) and v.numel() == 1 and v.device.type != "meta":
            out.append(float(v.detach().to("cpu").double().item()))  # list(mask.flatten())
        elif isinstance(v, (list, tuple)) and depth < 6:
            inner = _flat_numbers(v, depth + 1)
            if inner is None:
                return None
            out.extend(inner)
        else:
            return None
        if len(out) > _MAX_NUMBERS:
            break
    return out


def epoch_construct(mod, p: float | None = None) -> dict[str, Any]:
    """``mod.EpochDropout(p)`` (or with no argument): is it a module, in training mode?"""
    with _watch() as forbidden:
        # By keyword, as the sheet writes it: EpochDropout(p=0.5).
        m = mod.EpochDropout() if p is None else mod.EpochDropout(p=p)
    return {"is_module": isinstance(m, torch.nn.Module), "training": bool(getattr(m, "training", False)),
            "forbidden": forbidden}


def epoch_script(mod, p: float | None, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Build ``EpochDropout(p)`` and run the steps, observing after each.

    Steps: ``{"op": "forward", "x": tensor, "dtype"?: str, "device"?: str,
    "grad_out"?: tensor, "no_grad"?: bool}`` (``no_grad``: the forward runs under
    ``torch.no_grad()``), ``{"op": "reset"}``, ``{"op": "train"}``,
    ``{"op": "eval"}``, ``{"op": "to", "device"?: str, "dtype"?: str}``,
    ``{"op": "state"}`` (state_dict keys and parameter names),
    ``{"op": "build"}`` (build another ``EpochDropout(p)``: module 1, 2, ...).
    A step acts on module ``step.get("m", 0)`` (0 is the one built first).
    Each step yields a dict with the mask of its module as seen after it.
    """
    log: list[dict[str, Any]] = []
    with _watch() as forbidden:
        mods = [mod.EpochDropout() if p is None else mod.EpochDropout(p)]
        log.append({"op": "init", "mask": _mask_info(mods[0])})
        for step in steps:
            op = step["op"]
            entry: dict[str, Any] = {"op": op}
            if op == "build":
                mods.append(mod.EpochDropout() if p is None else mod.EpochDropout(p))
                entry["mask"] = _mask_info(mods[-1])
                log.append(entry)
                continue
            m = mods[step.get("m", 0)]
            if op == "forward":
                device = step.get("device", "cpu")
                x = _make(step["x"], step.get("dtype"), device)
                grad_out = step.get("grad_out")
                if grad_out is not None:
                    x = x.detach().requires_grad_()
                before = None if device == "meta" else x.detach().clone()
                version, dtype_before, grad_before = x._version, x.dtype, bool(x.requires_grad)
                with torch.no_grad() if step.get("no_grad") else contextlib.nullcontext():
                    out = m(x)
                entry.update(_describe_out(out))
                entry["x_unchanged"] = _unchanged(x, before, version, dtype_before, grad_before)
                entry["grad"] = _backward(out, x, grad_out)
            elif op == "reset":
                m.reset_mask()
            elif op == "train":
                m.train()
            elif op == "eval":
                m.eval()
            elif op == "to":
                kw = {}
                if step.get("device"):
                    kw["device"] = step["device"]
                if step.get("dtype"):
                    kw["dtype"] = _dtype(step["dtype"])
                m.to(**kw)
            elif op == "state":
                state = m.state_dict()
                entry["state_keys"] = [str(k) for k in state.keys()]
                entry["params"] = [str(n) for n, _ in m.named_parameters()]
                # Where each state_dict value and parameter, in any form (a tensor, a list of
                # numbers, nested lists, an array, bytes, a string of numbers, inside the dicts,
                # lists and tuples of get_extra_state, say), holding at least as many numbers as
                # the mask has elements, is non-zero (whatever its name): the check compares
                # that with the mask's own keep pattern.
                mask = getattr(m, "mask", None)
                size = mask.numel() if isinstance(mask, torch.Tensor) else None
                named = [(f"state_dict()[{k!r}]{where}", t) for k, v in state.items()
                         for where, t in _numbers_in(v)]
                named += [(f"parameter {n}", t.detach().flatten()) for n, t in m.named_parameters()
                          if t.device.type != "meta"]
                entry["same_size"] = [
                    [name, (t != 0).to("cpu").flatten()[:_MAX_NUMBERS]] for name, t in named
                    if size is not None and t.numel() >= size]
            else:
                raise ValueError(f"unknown step {op!r}")
            entry["mask"] = _mask_info(m)
            log.append(entry)
    return {"log": log, "forbidden": forbidden}
