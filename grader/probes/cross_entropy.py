"""Probes for cross_entropy (run inside the worker, next to the submission)."""
from __future__ import annotations

import torch

from grader.probing import call_watch, concurrency_watch, function_codes, kernel_spy, recording, torch_name_spy

FORBIDDEN = [
    "torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "torch.nn.functional.log_softmax",
    "torch.log_softmax", "torch.Tensor.log_softmax", "torch.nn.CrossEntropyLoss.forward",
    "torch.nn.NLLLoss.forward", "torch._C._nn.cross_entropy_loss", "torch._C._nn.nll_loss",
    "torch.special.log_softmax",
]
# Any torch function by these names, however reached (torch.ops.aten.cross_entropy_loss,
# torch._C._nn.nll_loss fetched before the call, an alias): the names above miss those. The
# same words at the kernel level catch them with torch function handling switched off.
_LOSS_WORDS = ("cross_entropy", "nll_loss", "log_softmax")
# Their Python code (F.cross_entropy, the reference implementations in torch._refs, the
# decompositions in torch._decomp), seen when it runs: under an alias, with the modes switched off.
_LOSS_CODES = function_codes(_LOSS_WORDS, ("torch.nn.functional", "torch.nn", "torch.special", "torch._refs",
                                           "torch._refs.nn.functional", "torch._refs.special",
                                           "torch._decomp.decompositions"))
GATHER = ["torch.gather", "torch.Tensor.gather", "torch.take_along_dim", "torch.Tensor.take_along_dim"]


# gather reached where the name recording cannot see it (a TorchScript function runs its
# operators under no Python torch function) still reaches the ATen gather kernel.
_GATHER_WORDS = ("gather",)


def gather(mod, scores, target):
    kernels = kernel_spy(_GATHER_WORDS)
    with recording(GATHER) as calls, kernels:
        out = mod.gather_target(scores, target)
    return {"out": out, "gathered": bool(calls) or bool(kernels.calls)}


def _layout(t, layout):
    """The same values as ``t`` (N, C) in another memory layout: "contiguous", "transposed"
    (a view of a (C, N) tensor) or "strided" (every other column of an (N, 2C) tensor)."""
    if layout == "transposed":
        out = t.t().contiguous().t()
    elif layout == "strided":
        wide = torch.zeros(t.shape[0], 2 * t.shape[1], dtype=t.dtype)
        wide[:, ::2] = t
        out = wide[:, ::2]
    elif layout == "contiguous":
        return t
    else:
        raise KeyError(f"probe misuse: layout {layout!r}")
    assert torch.equal(out, t) and not out.is_contiguous()
    return out


def gather_layout(mod, scores, target, layout):
    """``gather_target`` on scores with the same values in a non-contiguous layout."""
    return mod.gather_target(_layout(scores, layout), target)


def value_layout(mod, logits, target, layout, reduction="none"):
    """``cross_entropy`` on logits with the same values in a non-contiguous layout."""
    return mod.cross_entropy(_layout(logits, layout), target, reduction=reduction)


def gather_inputs_kept(mod, scores, target, requires_grad):
    """Did ``gather_target`` leave ``scores`` and ``target`` as they were (values, shape, dtype)?"""
    scores = scores.clone().requires_grad_(bool(requires_grad))
    target = target.clone()
    before = {"scores": torch.Tensor.detach(scores).clone(), "target": target.clone()}
    versions = {"scores": scores._version, "target": target._version}
    out = mod.gather_target(scores, target)
    now = {"scores": scores, "target": target}
    facts = {}
    for name, t in now.items():
        b = before[name]
        t = torch.Tensor.detach(t)
        facts[name] = {
            "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
            "shape_before": list(b.shape), "dtype_before": str(b.dtype).replace("torch.", ""),
            "same_values": bool(t.shape == b.shape and t.dtype == b.dtype and torch.equal(t, b)),
            # An in-place operation that leaves the values as they were (a clamp_ of valid classes).
            "in_place": t._version != versions[name],
        }
    facts["scores_requires_grad"] = bool(scores.requires_grad)
    facts["out"] = _detached(out)
    return facts


# Backward nodes of torch.gather / Tensor.gather / torch.take_along_dim (GatherBackward0).
def _is_gather_node(node):
    name = type(node).__name__
    return name.startswith("GatherBackward") or name.startswith("TakeAlongDimBackward")


def _walk(root, stop_at_gather=False, limit=20000):
    """The backward nodes below ``root``, each once (optionally not past a gather node)."""
    seen, stack, keep = set(), [root], []
    while stack and len(seen) < limit:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        keep.append(n)  # hold the objects so that ids are not reused during the walk
        yield n
        if not (stop_at_gather and _is_gather_node(n)):
            stack.extend(f for f, _ in n.next_functions)


def _reaches(node, leaf, stop_at_gather):
    """Does the graph below ``node`` reach the AccumulateGrad of ``leaf``? (Optionally not through gather.)"""
    return any(getattr(n, "variable", None) is leaf for n in _walk(node, stop_at_gather))


def gather_graph(mod, scores, target, fn="gather_target"):
    """How the result of ``fn`` (gather_target or cross_entropy) depends on its scores, in autograd.

    Returns: whether the graph has a gather node through which the result depends on the scores
    (``through_gather``), whether the result also depends on the scores by a path that avoids
    every gather node (``bypass``), and the names of the backward nodes (for the message).
    """
    scores = scores.clone().requires_grad_(True)
    kernels = kernel_spy(_GATHER_WORDS)
    with recording(GATHER) as calls, kernels:
        out = mod.gather_target(scores, target) if fn == "gather_target" else mod.cross_entropy(scores, target, reduction="none")
    calls = calls + kernels.calls
    root = getattr(out, "grad_fn", None)
    if root is None:
        return {"graph": False, "through_gather": False, "bypass": False, "nodes": [], "out": _detached(out),
                "custom": False, "gathered": bool(calls)}
    nodes = list(_walk(root))
    return {
        "out": _detached(out),
        # A torch.autograd.Function of their own is one node: what its forward did is not in the
        # graph, so whether it gathered is read from the calls it made.
        "custom": any(isinstance(n, torch.autograd.function.BackwardCFunction) for n in nodes),
        "gathered": bool(calls),
        "graph": True,
        "through_gather": any(_reaches(g, scores, False) for g in nodes if _is_gather_node(g)),
        "bypass": _reaches(root, scores, True),
        "nodes": list(dict.fromkeys(type(n).__name__ for n in nodes))[:30],
    }


def _detached(out):
    return torch.Tensor.detach(out) if isinstance(out, torch.Tensor) else out


def _dense(grad):
    """A ``.grad`` as a strided tensor: gather(..., sparse_grad=True) leaves a sparse one, with the same values."""
    return grad.to_dense() if grad is not None and grad.layout != torch.strided else grad


def gather_grad(mod, scores, target):
    scores = scores.clone().requires_grad_(True)
    out = mod.gather_target(scores, target)
    out.backward(torch.arange(1, out.numel() + 1, dtype=out.dtype).reshape(out.shape))
    return _dense(scores.grad)


def value(mod, logits, target, reduction="mean", requires_grad=False):
    """The loss, the calls it made, and whether the inputs survived unchanged (values, and
    ``logits.requires_grad``: ``requires_grad_`` on the caller's leaf modifies it too).
    With ``requires_grad`` the logits are a leaf that requires grad (the loss comes back detached), and
    the backward pass runs under the same watch (a custom autograd.Function's backward is code too)."""
    if requires_grad:
        logits = logits.clone().requires_grad_(True)
    before = (torch.Tensor.detach(logits).clone(), target.clone())
    versions = (logits._version, target._version)
    grad_before = (bool(logits.requires_grad), bool(target.requires_grad))
    spy, kernels, gathers = torch_name_spy(_LOSS_WORDS), kernel_spy(_LOSS_WORDS), kernel_spy(_GATHER_WORDS)
    with concurrency_watch() as unwatched, recording(FORBIDDEN + GATHER) as calls:
        with call_watch(_LOSS_CODES, _LOSS_WORDS) as ran, kernels, gathers, spy:
            out = mod.cross_entropy(logits, target, reduction=reduction)
            if requires_grad and isinstance(out, torch.Tensor) and out.requires_grad:
                out.sum().backward()
    forbidden = sorted({c for c in calls if c not in GATHER} | set(spy.calls) | set(kernels.calls) | set(ran)) + unwatched
    return {
        "out": _detached(out) if requires_grad else out,
        "dtype": str(out.dtype) if isinstance(out, torch.Tensor) else type(out).__name__,
        "forbidden": forbidden,
        "gathered": any(c in GATHER for c in calls) or bool(gathers.calls),
        "unchanged": bool(torch.equal(before[0], torch.Tensor.detach(logits)) and torch.equal(before[1], target)),
        # torch.equal ignores the dtype, and ``target.data = target.data.int()`` leaves _version alone.
        "dtypes_before": [str(before[0].dtype).replace("torch.", ""), str(before[1].dtype).replace("torch.", "")],
        "dtypes_after": [str(logits.dtype).replace("torch.", ""), str(target.dtype).replace("torch.", "")],
        "in_place": (logits._version, target._version) != versions,
        "requires_grad_before": list(grad_before),
        "requires_grad_after": [bool(logits.requires_grad), bool(target.requires_grad)],
    }


def default_reduction(mod, logits, target):
    return mod.cross_entropy(logits, target)


def positional_reduction(mod, logits, target, reduction):
    """``cross_entropy(logits, target, reduction)``: the third argument, as the signature allows."""
    return mod.cross_entropy(logits, target, reduction)


def grad(mod, logits, target, reduction="mean"):
    logits = logits.clone().requires_grad_(True)
    out = mod.cross_entropy(logits, target, reduction=reduction)
    weights = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * weights).sum().backward()
    return _dense(logits.grad)


def on_cuda(mod, logits, target, reduction="mean"):
    x = logits.cuda().requires_grad_(True)
    out = mod.cross_entropy(x, target.cuda(), reduction=reduction)
    picked = mod.gather_target(torch.Tensor.detach(x), target.cuda())
    weights = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    (out * weights).sum().backward()
    return {"device": str(out.device), "out": out.cpu(), "grad": _dense(x.grad).cpu(),
            "gather_device": str(picked.device) if isinstance(picked, torch.Tensor) else type(picked).__name__}
