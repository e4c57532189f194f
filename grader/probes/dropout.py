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


def _unchanged(x: torch.Tensor, before: torch.Tensor | None, version: int) -> bool | str:
    """True, or how x was modified: its values, or an in-place operation that left them as they were
    (``x.nan_to_num_()`` on an x without NaN): the sheet forbids in-place operations on x."""
    if before is not None and not (x.shape == before.shape and torch.equal(x.detach(), before)):
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
                 transposed: bool = False, positional: bool = False) -> dict[str, Any]:
    """``mod.dropout(x, p[, training=...])`` on ``x`` converted to dtype/device.

    ``transposed`` passes the same values in a non-contiguous layout (a transposed view
    of the transposed copy): x.is_contiguous() is False.

    ``training=None`` leaves the default; ``positional`` passes training as the third argument. With ``grad_out`` the input requires
    grad and the probe backpropagates ``grad_out`` through the (first) result.
    ``repeat`` calls it that many times on the same input (fresh masks).
    """
    x = _make(x, dtype, device)
    if transposed:
        x = x.transpose(0, -1).contiguous().transpose(0, -1)
        assert not x.is_contiguous(), "probe misuse: transposed needs two dims of size > 1"
    if grad_out is not None:
        x = x.detach().requires_grad_()
    before = None if device == "meta" else x.detach().clone()
    version = x._version
    args: tuple = (x, p) if training is None or not positional else (x, p, training)
    kwargs = {} if training is None or positional else {"training": training}
    outs = []
    with _watch() as forbidden:
        for _ in range(repeat):
            outs.append(mod.dropout(*args, **kwargs))
    result = _describe_out(outs[0])
    result["more"] = [_describe_out(o)["out"] if isinstance(o, torch.Tensor) else None for o in outs[1:]]
    result["x_unchanged"] = _unchanged(x, before, version)
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


def _tensors_in(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(where, tensor) for ``value`` itself and the tensors inside its dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        yield "", value
    elif depth < 4 and isinstance(value, dict):
        for k, v in value.items():
            for where, t in _tensors_in(v, depth + 1):
                yield f"[{k!r}]{where}", t
    elif depth < 4 and isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            for where, t in _tensors_in(v, depth + 1):
                yield f"[{i}]{where}", t


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
    "grad_out"?: tensor}``, ``{"op": "reset"}``, ``{"op": "train"}``,
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
                version = x._version
                out = m(x)
                entry.update(_describe_out(out))
                entry["x_unchanged"] = _unchanged(x, before, version)
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
                entry["state_keys"] = [str(k) for k in m.state_dict().keys()]
                entry["params"] = [str(n) for n, _ in m.named_parameters()]
                # Where each state_dict tensor and parameter with as many elements as the mask is
                # non-zero (whatever its name), to compare with the mask's own keep pattern.
                mask = getattr(m, "mask", None)
                size = mask.numel() if isinstance(mask, torch.Tensor) else None
                # Also tensors inside other values (get_extra_state's dict, say).
                named = [(f"state_dict()[{k!r}]{where}", t) for k, v in m.state_dict().items()
                         for where, t in _tensors_in(v)]
                named += [(f"parameter {n}", t) for n, t in m.named_parameters()]
                entry["same_size"] = [
                    [name, (t.detach() != 0).to("cpu").flatten()] for name, t in named
                    if isinstance(t, torch.Tensor) and t.numel() == size and t.device.type != "meta"]
            else:
                raise ValueError(f"unknown step {op!r}")
            entry["mask"] = _mask_info(m)
            log.append(entry)
    return {"log": log, "forbidden": forbidden}
