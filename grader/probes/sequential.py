"""Probes for the ``sequential`` exercise (run inside the worker, next to the submission).

Every probe builds its modules itself from a plain ``spec`` sent by the check,
after ``torch.manual_seed(seed)``, so the submission and the reference see
identical layers and the check can compare their answers.

A spec is a list of layer descriptions: ``["Linear", in, out]``, ``["ReLU"]``,
``["Tanh"]``, ``["Sigmoid"]``, ``["BatchNorm1d", n]``, ``["Affine", a, b]``
(x -> a * x + b, no parameters: order-sensitive on same-shaped data).
A pattern lists which built layer goes at each position (a layer may repeat);
``None`` means ``range(len(spec))``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from grader.probing import call_watch, class_codes, concurrency_watch, raised_by_stub, recording

BANNED = ("torch.nn.Sequential.__init__", "torch.nn.ModuleList.__init__", "torch.nn.ModuleDict.__init__")
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# The code of their own methods (nn.Sequential.forward(self, x), a ModuleList's __iter__, ...), read
# before any recording() wraps them (a wrapper's code is shared): whatever name they are called by.
_CONTAINER_CODES = class_codes(_CONTAINERS)


class Affine(nn.Module):
    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a, self.b = float(a), float(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x + self.b

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}"


def _layer(desc: list) -> nn.Module:
    kind, *args = desc
    if kind == "Linear":
        return nn.Linear(int(args[0]), int(args[1]))
    if kind == "BatchNorm1d":
        bn = nn.BatchNorm1d(int(args[0]))
        # Non-trivial buffers and affine parameters, so that losing them shows.
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.num_batches_tracked.fill_(7)
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_()
        return bn
    if kind == "Affine":
        return Affine(args[0], args[1])
    return {"ReLU": nn.ReLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "Identity": nn.Identity}[kind]()


def _layers(spec: list, seed: int) -> list[nn.Module]:
    torch.manual_seed(seed)
    return [_layer(d) for d in spec]


def _arrange(mods: list[nn.Module], pattern: list | None) -> list[nn.Module]:
    return list(mods) if pattern is None else [mods[int(i)] for i in pattern]


def _index_of(obj: Any, mods: list[nn.Module]) -> int | str:
    for k, m in enumerate(mods):
        if obj is m:
            return k
    return f"not one of the modules passed in (a {type(obj).__name__})"


def _borrowed(cls: type) -> list[str]:
    """Methods of nn.Sequential / ModuleList / ModuleDict put into the submission's own classes
    (``forward = nn.Sequential.forward``), found by identity, not by reading the source."""
    theirs: dict[int, str] = {}
    for c in _CONTAINERS:
        for name, v in vars(c).items():
            for f in (v, getattr(v, "__func__", None), getattr(v, "fget", None)):
                if callable(f):
                    theirs[id(f)] = f"{c.__name__}.{name}"
    found = []
    for c in cls.__mro__:
        if c.__module__.startswith("torch.") or c is object:
            continue
        for name, v in vars(c).items():
            for f in (v, getattr(v, "__func__", None), getattr(v, "fget", None), getattr(v, "fset", None),
                      getattr(v, "__wrapped__", None), getattr(v, "func", None)):
                if f is not None and id(f) in theirs and f"{name} = {theirs[id(f)]}" not in found:
                    found.append(f"{name} = {theirs[id(f)]}")
    return found


def containers(mod: Any, spec: list, seed: int, x: torch.Tensor) -> dict:
    """Subclassing, building or borrowing from an nn.Sequential / ModuleList / ModuleDict at any point of use."""
    mods = _layers(spec, seed)
    banned = _CONTAINERS
    # Their methods seen by the code that runs: called through an alias taken at import, a function
    # rebuilt from their code, or a container hidden where no attribute scan looks.
    with concurrency_watch() as unwatched, recording(list(BANNED)) as calls, \
            call_watch(_CONTAINER_CODES) as ran:
        net = mod.MySequential(*mods)
        # Only which containers get built matters here; other checks judge the results.
        for use in (lambda: net(x), lambda: len(net), lambda: net[0], lambda: net[-1],
                    lambda: repr(net), lambda: net.state_dict()):
            try:
                use()
            except Exception as err:  # noqa: BLE001
                if raised_by_stub(err, getattr(mod, "__file__", None)):
                    raise
    inside = [type(m).__name__ for m in net.modules() if isinstance(m, banned)]
    for value in vars(net).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        inside += [type(v).__name__ for v in items if isinstance(v, banned)]
    borrowed = _borrowed(type(net))
    borrowed += [f"runs {name}" for name in dict.fromkeys(ran)]
    borrowed += unwatched
    return {
        "is_module": isinstance(net, nn.Module),
        "bad_bases": [c.__name__ for c in type(net).__mro__ if issubclass(c, banned)],
        "built": sorted({name.split(".")[-2] for name in calls if name in BANNED}),
        "inside": inside,
        "borrowed": borrowed,
    }


def child_names(mod: Any, spec: list, pattern: list | None, seed: int) -> list:
    """The direct children's names (duplicates kept) and kinds, in registration order."""
    net = mod.MySequential(*_arrange(_layers(spec, seed), pattern))
    return [(name, type(m).__name__)
            for name, m in net.named_modules(remove_duplicate=False)
            if name and "." not in name]


def named_children(mod: Any, spec: list, pattern: list | None, seed: int) -> list:
    """``net.named_children()``: the names, in the order given (a repeated module once, as nn.Module does)."""
    net = mod.MySequential(*_arrange(_layers(spec, seed), pattern))
    return [name for name, _ in net.named_children()]


def child_identity(mod: Any, spec: list, pattern: list | None, seed: int) -> list:
    """For each position i: which of the passed modules is the child named str(i)."""
    mods = _layers(spec, seed)
    net = mod.MySequential(*_arrange(mods, pattern))
    out = []
    for i in range(len(pattern) if pattern is not None else len(mods)):
        try:
            child = net.get_submodule(str(i))
        except AttributeError:
            out.append(f"no child named {str(i)!r}")
            continue
        out.append(_index_of(child, mods))
    return out


def named_parameters(mod: Any, spec: list, seed: int) -> list:
    net = mod.MySequential(*_layers(spec, seed))
    return [(name, p.detach().clone()) for name, p in net.named_parameters()]


def state_dict(mod: Any, spec: list, seed: int) -> list:
    net = mod.MySequential(*_layers(spec, seed))
    return [(k, v.detach().clone()) for k, v in net.state_dict().items()]


def load_from_sequential(mod: Any, spec: list, seed: int, x: torch.Tensor) -> dict:
    """Load an nn.Sequential's state_dict (other weights) into a fresh MySequential."""
    seq = nn.Sequential(*_layers(spec, seed))
    mods = _layers(spec, seed + 1)
    net = mod.MySequential(*mods)
    net.load_state_dict(seq.state_dict())
    # Read the loaded values through the layers themselves, not through net.
    loaded = [(f"{i}.{k}", v.detach().clone()) for i, m in enumerate(mods) for k, v in m.state_dict().items()]
    for m in mods:
        m.eval()
    with torch.no_grad():
        y = x
        for m in mods:
            y = m(y)
    return {"loaded": loaded, "output": y}


def convert(mod: Any, spec: list, seed: int) -> dict:
    """.to(float64) then .to('meta'): what each parameter and buffer of each layer became."""
    mods = _layers(spec, seed)
    net = mod.MySequential(*mods)

    def seen() -> list:
        return [(f"{i}.{k}", str(v.dtype), str(v.device))
                for i, m in enumerate(mods) for k, v in m.state_dict().items()]

    out64 = net.to(torch.float64)
    after64 = seen()
    out_meta = net.to("meta")
    return {"returns_self": [out64 is net, out_meta is net], "float64": after64, "meta": seen()}


def modes(mod: Any, spec: list, seed: int) -> dict:
    mods = _layers(spec, seed)
    net = mod.MySequential(*mods)
    net.eval()
    after_eval = [m.training for m in mods]
    net.train()
    return {"eval": after_eval, "train": [m.training for m in mods]}


def apply_order(mod: Any, spec: list, pattern: list | None, seed: int) -> list:
    mods = _layers(spec, seed)
    net = mod.MySequential(*_arrange(mods, pattern))
    seen: list = []
    net.apply(lambda m: seen.append("self" if m is net else _index_of(m, mods)))
    return seen


def text(mod: Any, spec: list, seed: int) -> str:
    return repr(mod.MySequential(*_layers(spec, seed)))


def text_nested(mod: Any, a: int, b: int) -> dict:
    """repr of a net whose children include containers (multi-line reprs), and of an empty net."""
    net = mod.MySequential(
        nn.Linear(a, b),
        nn.Sequential(nn.BatchNorm1d(b), nn.ReLU()),
        mod.MySequential(Affine(2.0, 1.0), nn.Tanh()),
        mod.MySequential(),
        nn.Linear(b, a),
    )
    return {"nested": repr(net), "empty": repr(mod.MySequential())}


class _Block(nn.Module):
    """A plain module with children of its own (not a container class)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(n)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.bn(x))


def modes_nested(mod: Any, n: int) -> dict:
    """.eval() / .train() / .train(False) on a net with nested modules: the mode of every module, at any depth."""
    bn, drop, block = nn.BatchNorm1d(n), nn.Dropout(0.5), _Block(n)
    seq = nn.Sequential(nn.Linear(n, n), bn)
    own = mod.MySequential(drop, nn.ReLU())
    net = mod.MySequential(nn.Linear(n, n), seq, own, block)
    watched = [("net", net), ("net[1] (nn.Sequential)", seq), ("net[1][1] (BatchNorm1d)", bn),
               ("net[2] (MySequential)", own), ("net[2][0] (Dropout)", drop),
               ("net[3] (a module with children)", block), ("net[3].bn (BatchNorm1d)", block.bn),
               ("net[3].drop (Dropout)", block.drop)]

    def seen() -> list:
        return [(label, m.training) for label, m in watched]

    out: dict = {"returns_self": []}
    for step, call in (("eval()", lambda: net.eval()), ("train()", lambda: net.train()),
                       ("train(False)", lambda: net.train(False)), ("train(True)", lambda: net.train(True))):
        out["returns_self"].append((step, call() is net))
        out[step] = seen()
    return out


class _Logged(nn.Module):
    """x -> a * x + b that writes its number into a shared log when it runs."""

    def __init__(self, k: int, log: list) -> None:
        super().__init__()
        self.k, self.log = k, log
        self.a, self.b = 1.0 + 0.1 * (k % 4), 0.25 * k - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.log.append(self.k)
        return self.a * x + self.b


def forward_order(mod: Any, n: int, x: torch.Tensor) -> dict:
    """Run MySequential(step0, ..., step{n-1}) on x: which steps ran, in which order, and the output."""
    log: list = []
    net = mod.MySequential(*[_Logged(k, log) for k in range(n)])
    with torch.no_grad():
        out = net(x)
    return {"order": log, "out": out if isinstance(out, torch.Tensor) else repr(out)[:100]}


def forward(mod: Any, spec: list, pattern: list | None, seed: int, x: torch.Tensor) -> torch.Tensor:
    net = mod.MySequential(*_arrange(_layers(spec, seed), pattern))
    return net(x).detach()


class _Split(nn.Module):
    """x -> (x, 2x - 1): a module whose output is a tuple."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, 2 * x - 1


class _Merge(nn.Module):
    """Takes ONE argument, a pair, and returns pair[0] + 3 * pair[1]."""

    def forward(self, pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return pair[0] + 3 * pair[1]


def forward_tuple(mod: Any, x: torch.Tensor) -> dict:
    """MySequential(split, merge)(x), split returning a tuple that merge takes as its one argument."""
    with torch.no_grad():
        out = mod.MySequential(_Split(), _Merge())(x)
    return {"out": out if isinstance(out, torch.Tensor) else repr(out)[:100]}


def grads(mod: Any, spec: list, seed: int, x: torch.Tensor) -> list:
    """Gradients of net(x).sum() w.r.t. every layer's parameters (read from the layers)."""
    mods = _layers(spec, seed)
    net = mod.MySequential(*mods)
    out = net(x)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return {"graph": False, "names": [], "grads": []}
    out.sum().backward()
    pairs = [(f"{i}.{n}", p.grad) for i, m in enumerate(mods) for n, p in m.named_parameters()]
    return {"graph": True, "names": [n for n, _ in pairs],
            "grads": [g if g is None else g.clone() for _, g in pairs]}


def hooks(mod: Any, spec: list, pattern: list | None, seed: int, x: torch.Tensor) -> dict:
    """Forward hooks on every child: how often each ran, and the output when one doubles its output."""
    mods = _layers(spec, seed)
    net = mod.MySequential(*_arrange(mods, pattern))
    ran = [0] * len(mods)
    for k, m in enumerate(mods):
        m.register_forward_hook(lambda _m, _i, _o, k=k: ran.__setitem__(k, ran[k] + 1))
    mods[0].register_forward_hook(lambda _m, _i, o: o * 2)  # a hook may replace the output
    with torch.no_grad():
        out = net(x)
    return {"ran": ran, "out": out.detach() if isinstance(out, torch.Tensor) else None}


def empty(mod: Any, x: torch.Tensor) -> dict:
    net = mod.MySequential()
    out = net(x)
    return {"same_object": out is x, "value": out if isinstance(out, torch.Tensor) else repr(out)[:100]}


def length(mod: Any, spec: list, patterns: list) -> list:
    mods = _layers(spec, 0)
    return [len(mod.MySequential(*_arrange(mods, p))) for p in patterns]


def getitem(mod: Any, spec: list, pattern: list | None, indices: list) -> list:
    """For each index: the position (in the built layers) of net[i], or the exception's class names."""
    mods = _layers(spec, 0)
    net = mod.MySequential(*_arrange(mods, pattern))
    out: list = []
    for i in indices:
        try:
            got = net[int(i)]
        except Exception as err:  # noqa: BLE001 - which exception is the point of the check
            if raised_by_stub(err, getattr(mod, "__file__", None)):
                raise
            out.append({"raised": [c.__name__ for c in type(err).__mro__], "message": str(err)[:200]})
            continue
        out.append(_index_of(got, mods))
    return out


def on_cuda(mod: Any, spec: list, seed: int, x: torch.Tensor) -> dict:
    """Move to CUDA with .to('cuda'): where each tensor went and the forward result."""
    mods = _layers(spec, seed)
    net = mod.MySequential(*mods)
    out = net.to("cuda")
    devices = [(f"{i}.{k}", str(v.device)) for i, m in enumerate(mods) for k, v in m.state_dict().items()]
    for m in mods:
        m.eval()
    with torch.no_grad():
        y = net(x.to("cuda"))
    return {"returns_self": out is net, "devices": devices, "out_device": str(y.device), "output": y.cpu()}


def eval_forward(mod: Any, spec: list, seed: int, x: torch.Tensor) -> torch.Tensor:
    """net.eval(); net(x) on the CPU, without grad (the baseline for the CUDA check)."""
    mods = _layers(spec, seed)
    net = mod.MySequential(*mods)
    for m in mods:
        m.eval()
    with torch.no_grad():
        return net(x)
