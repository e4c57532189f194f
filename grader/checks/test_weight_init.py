"""Hidden checks for ``weight_init``: init functions for ``net.apply`` and ``xavier_uniform_``.

Random initialisations are judged by their statistics against the laws the
contract states, never by equality with the reference's random stream. Each
statistical check states, next to it, the probability that a correct
implementation fails it (always below 1e-8, whatever the seed), and is sized
so that the plausible wrong laws (variance used as the standard deviation,
std 0.1, a normal instead of a uniform, the wrong fans or mixture weights)
fail with near certainty.

Checks of the invariants (same Parameter objects, still trainable leaves,
dtype kept, other modules untouched) first require that the function did
initialise the linear layer, so a function that does nothing earns nothing.
"""
from __future__ import annotations

import ast
import inspect
import math
import re
from typing import Any, Callable

import pytest
import torch
import torch.nn.init

from grader.checking import describe, expect, expect_equal, expect_raises, import_aliases
from grader.results import GATE

INITS = ("init_normal", "init_constant", "init_xavier", "my_init")

NN_INIT_NAMES = ["torch.nn.init"] + sorted(
    f"torch.nn.init.{name}" for name, value in vars(torch.nn.init).items()
    if inspect.isfunction(value) and value.__module__ == "torch.nn.init")


# ----------------------------------------------------------------- helpers

def _int(rng: torch.Generator, lo: int, hi: int) -> int:
    """A random int in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=rng))


def _xavier_a(shape: list[int], gain: float = 1.0) -> float:
    r = math.prod(shape[2:])
    return gain * math.sqrt(6.0 / (shape[1] * r + shape[0] * r))


def _ks(x: torch.Tensor, cdf: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Kolmogorov-Smirnov distance between the sample ``x`` and the law ``cdf``."""
    x = torch.sort(x.double().flatten()).values
    n = x.numel()
    f = cdf(x)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return max(float((i / n - f).max()), float((f - (i - 1) / n).max()))


def _dkw_eps(n: int, delta: float) -> float:
    """Dvoretzky-Kiefer-Wolfowitz: P(KS distance > eps) <= 2 exp(-2 n eps^2) = delta."""
    return math.sqrt(math.log(2 / delta) / (2 * n))


def _normal_cdf(sigma: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: 0.5 * (1 + torch.erf(x / (sigma * math.sqrt(2))))


def _uniform_cdf(lo: float, hi: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: ((x - lo) / (hi - lo)).clamp(0, 1)


def _pairings(w: torch.Tensor) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Disjoint pairs of elements of a 2-D weight ``(R, C)``, in several arrangements.

    Within one arrangement every element is in at most one pair, so for independent draws the
    pairs are independent of each other. The arrangements cover the usual ways of re-using
    draws: a neighbour in the row or in the column (either parity), the other half of the tensor.
    """
    r, c = w.shape
    flat = w.flatten()
    h = flat.numel() // 2
    return [
        ("w[i, 2j] and w[i, 2j+1]", w[:, 0:c - 1:2], w[:, 1:c:2]),
        ("w[i, 2j+1] and w[i, 2j+2]", w[:, 1:c - 1:2], w[:, 2:c:2]),
        ("w[2k, j] and w[2k+1, j]", w[0:r - 1:2], w[1:r:2]),
        ("w[2k+1, j] and w[2k+2, j]", w[1:r - 1:2], w[2:r:2]),
        ("the first and the second half of the flattened weight", flat[:h], flat[h:2 * h]),
    ]


def _expect_independent(w: torch.Tensor, median_abs: float, *, call: str, point: str) -> None:
    """Every element an independent draw from a continuous law symmetric about 0 with median |w| = median_abs.

    For each arrangement of disjoint pairs (x, y) two agreements are counted: the signs agree, and
    |x|, |y| lie on the same side of the median of |w|. For independent draws each agreement has
    probability exactly 1/2, independently from pair to pair, whatever the law's scale details; a
    copied, negated or shared draw agrees (or disagrees) nearly always.
    Hoeffding: P(|fraction - 1/2| >= eps) <= 2 exp(-2 m eps^2) = 1e-10 with m pairs, for each of
    the 10 fractions: a correct implementation fails with probability below 1e-9.
    """
    _expect_independent_events(w, [("signs agree", lambda t: t > 0, 0.5),
                                   (f"both |w| above or both below the median {median_abs:.4g}",
                                    lambda t: t.abs() > median_abs, 0.5)], call=call, point=point)


def _expect_independent_events(w: torch.Tensor, events: list, *, call: str, point: str) -> None:
    """For each (what, event, p): over disjoint pairs (x, y), event(x) == event(y) in a fraction
    p^2 + (1 - p)^2 of the pairs, as for independent draws where the event has probability p.
    Hoeffding as in :func:`_expect_independent`: below 1e-10 per fraction."""
    w = w.double()
    for label, x, y in _pairings(w):
        m = x.numel()
        eps = _dkw_eps(m, 1e-10)  # sqrt(ln(2 / 1e-10) / (2 m)): the same Hoeffding bound
        for what, event, p in events:
            q = p * p + (1 - p) * (1 - p)
            frac = float((event(x) == event(y)).double().mean())
            expect(abs(frac - q) < eps, call=call, point=point,
                   expected=f"pairs {label}: {what} in about {q:.0%} of the {m} pairs (within {eps:.4f}), "
                   "as for independent draws",
                   got=f"{frac:.2%} of the pairs")


def _stats(w: torch.Tensor) -> str:
    w = w.double()
    return (f"{w.numel()} weights: mean {w.mean().item():.4g}, std {w.std().item():.4g}, "
            f"min {w.min().item():.4g}, max {w.max().item():.4g}")


def _fingerprint(fn: str, got: dict[str, Any], in_f: int, out_f: int) -> tuple[bool, str, str]:
    """Did ``fn`` initialise the weight? Returns (ok, what was expected, what came back).

    The layers here have at least 400 weights; the bounds below hold for that.
    """
    w = got["weight"].double()
    before = got["weight_before"].double()
    changed = float((w != before).double().mean()) if w.shape == before.shape else 0.0
    # A fresh continuous draw equals the old float with negligible probability.
    if changed < 0.9:
        return False, "the weight re-initialised", f"{100 * changed:.0f}% of the weights changed"
    if fn == "init_normal":
        rms = float(w.pow(2).mean().sqrt())
        # 10 sd: P(|Z| > 10) = 1.5e-23 per weight. rms in [0.5, 2] x 0.01 with n >= 400:
        # chi-square Chernoff bounds e^-127 and e^-322.
        ok = float(w.abs().max()) < 0.1 and 0.005 < rms < 0.02
        return ok, "weights of N(0, 0.01**2)", _stats(w)
    if fn == "init_constant":
        return bool((w == 1).all()), "every weight exactly 1", _stats(w)
    if fn == "init_xavier":
        a = math.sqrt(6 / (in_f + out_f))
        m2 = float(w.pow(2).mean()) / a**2
        # Hoeffding on (w/a)^2 in [0, 1], n >= 400: P(|m2 - 1/3| >= 0.2) <= 2 e^-32.
        ok = float(w.abs().max()) <= a * (1 + 1e-6) and abs(m2 - 1 / 3) < 0.2
        return ok, f"weights of U(-a, a), a = {a:.4g}", _stats(w)
    nonzero = w != 0
    support = bool((~nonzero | ((w.abs() >= 5 * (1 - 1e-6)) & (w.abs() <= 10 * (1 + 1e-6)))).all())
    # P(all zero) = 2^-400.
    return support and bool(nonzero.any()), "every weight 0 or 5 <= |w| <= 10, not all 0", _stats(w)


def _linear_call(fn: str, in_f: int, out_f: int, *, bias: bool = True, dtype: str = "float32",
                 kind: str = "linear", via: str = "apply") -> str:
    cls = "Projection" if kind == "subclass" else "nn.Linear"
    args = f"{in_f}, {out_f}" + ("" if bias else ", bias=False") + ("" if dtype == "float32" else f", dtype=torch.{dtype}")
    layer = f"{cls}({args})"
    sub_note = "  # class Projection(nn.Linear)" if kind == "subclass" else ""
    if via == "apply":
        return f"nn.Sequential({layer}, nn.ReLU()).apply({fn}){sub_note}"
    return f"{fn}({layer}){sub_note}"


def _init(sub: Any, fn: str, in_f: int, out_f: int, **kw: Any) -> tuple[dict[str, Any], str]:
    return sub.init_linear(fn, in_f, out_f, **kw), _linear_call(fn, in_f, out_f, **kw)


def _require_initialised(fn: str, got: dict[str, Any], in_f: int, out_f: int, call: str) -> None:
    ok, want, saw = _fingerprint(fn, got, in_f, out_f)
    expect(ok, call=call, point=f"{fn} initialises the weight of the nn.Linear {GATE}",
           expected=want, got=saw)


def _fill_bound(n: int) -> float:
    """delta with (1 - delta)^n = 1e-12: a U(-a, a) sample of n values has max |w| < (1 - delta) a
    with probability exactly 1e-12."""
    return 1 - 1e-12 ** (1 / n)


def _expect_xavier_bound(values: torch.Tensor, a: float, *, call: str, point: str) -> None:
    v = values.double()
    m = float(v.abs().max()) if v.numel() else float("nan")
    expect(bool(torch.isfinite(v).all()) and m <= a * (1 + 1e-6), call=call, point=point,
           expected=f"every |w| <= a = {a:.6g}", got=f"max |w| = {m:.6g}")
    d = _fill_bound(v.numel())
    # P(max |w| < (1 - d) a) = (1 - d)^n = 1e-12 for a correct U(-a, a).
    expect(m >= a * (1 - d), call=call, point=point,
           expected=f"max |w| just below a = {a:.6g} (at least {a * (1 - d):.6g} with {v.numel()} draws)",
           got=f"max |w| = {m:.6g}, so the values come from a narrower range")


_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSION = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _target_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _local_names(fn: ast.AST) -> tuple[set[str], set[str]]:
    """Names a function (or lambda) binds for itself: parameters, assignment, ``for``, ``with ... as``,
    ``except ... as``, ``match`` targets, nested ``def``/``class``. Names it imports are left out (they
    still stand for what they import), and so are names it declares ``global``/``nonlocal``.
    Returns (bound, unbound): ``unbound`` are the names it imports or declares ``global``, which it
    does not take from an enclosing function even where that one binds them."""
    args = fn.args  # type: ignore[attr-defined]
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
    if isinstance(fn, ast.Lambda):
        return names, set()
    imported: set[str] = set()
    declared: set[str] = set()
    globals_: set[str] = set()
    todo: list[ast.AST] = list(fn.body)  # type: ignore[attr-defined]
    while todo:
        node = todo.pop()
        if isinstance(node, (*_FUNCTION, ast.ClassDef)):
            names.add(node.name)
            continue  # its own scope (its decorators and defaults bind nothing here)
        if isinstance(node, (ast.Lambda, *_COMPREHENSION)):
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
            if isinstance(node, ast.Global):
                globals_.update(node.names)
        todo.extend(ast.iter_child_nodes(node))
    return names - imported - declared, imported | globals_


def _scoped_nn_init_uses(source: str | None, root: str = "xavier_uniform_") -> list[str]:
    """References to torch.nn.init inside ``root`` and the module-level names it uses.

    The other init functions may use torch.nn.init, so only the code reachable
    by name from ``root`` (module-level functions, classes and assignments) is
    looked at. Import aliases are those of the whole file (as in ``uses_any``),
    except where a function binds the name for itself (a parameter or local
    variable called ``init`` is not ``torch.nn.init``). ``Klass.attr`` follows
    only that attribute's definition in the class (and what it reaches through
    ``self``/``cls``); a plain use of the class name follows the whole class. An
    import that itself binds a followed name to something in torch.nn.init
    (``from torch.nn.init import xavier_uniform_``) counts too.
    """
    if not source:
        return []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    aliases = import_aliases(tree)
    wanted = set(NN_INIT_NAMES)
    defined: dict[str, list[ast.AST]] = {}
    imported: dict[str, list[tuple[str, int]]] = {}
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, (*_FUNCTION, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = sorted(set().union(*(_target_names(t) for t in targets)))
        elif isinstance(node, ast.Import):
            for a in node.names:
                imported.setdefault(a.asname or a.name.split(".")[0], []).append(
                    (a.name if a.asname else a.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                imported.setdefault(a.asname or a.name, []).append((f"{node.module}.{a.name}", node.lineno))
        for name in names:
            defined.setdefault(name, []).append(node)
    classes = {name for name, nodes in defined.items()
               if name not in imported and all(isinstance(n, ast.ClassDef) for n in nodes)}
    found: list[str] = []
    todo: list[str | tuple[str, str]] = [root]

    def dotted(node: ast.AST, local: set[str]) -> str | None:
        if isinstance(node, ast.Name):
            return None if node.id in local else aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = dotted(node.value, local)
            return f"{base}.{node.attr}" if base else None
        return None

    def visit(node: ast.AST, local: set[str], owner: tuple[str, str] | None = None) -> None:
        """``owner``: (class, name of self/cls) while in a method followed on its own."""
        if isinstance(node, (*_FUNCTION, ast.Lambda)):
            args = node.args
            outer = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
            if not isinstance(node, ast.Lambda):
                outer += [*node.decorator_list, *(a.annotation for a in [
                    *args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a and a.annotation)]
                if node.returns:
                    outer.append(node.returns)
            for sub in outer:
                visit(sub, local, owner)
            bound, unbound = _local_names(node)
            inner = (local - unbound) | bound
            for sub in ([node.body] if isinstance(node, ast.Lambda) else node.body):
                visit(sub, inner, owner)
            return
        if isinstance(node, _COMPREHENSION):
            gens = node.generators
            visit(gens[0].iter, local, owner)  # evaluated in the enclosing scope
            inner = local | set().union(*(_target_names(g.target) for g in gens))
            for g in gens:
                visit(g.target, inner, owner)
                if g is not gens[0]:
                    visit(g.iter, inner, owner)
                for cond in g.ifs:
                    visit(cond, inner, owner)
            for part in ((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)):
                visit(part, inner, owner)
            return
        if isinstance(node, (ast.Name, ast.Attribute)):
            full = dotted(node, local)
            if full in wanted:
                found.append(f"{full} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if f"{node.module}.{a.name}" in wanted:
                    found.append(f"{node.module}.{a.name} (line {node.lineno})")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = node.value.id
            if owner and base == owner[1]:  # self.attr / cls.attr inside a followed method
                todo.append((owner[0], node.attr))
                return
            if base not in local and base in classes and base not in aliases:
                todo.append((base, node.attr))
                return
        if isinstance(node, ast.Name):
            if owner and node.id in (owner[1], "super", "__class__", "type"):
                todo.append(owner[0])  # self passed on, super(), type(self): the whole class
            elif node.id not in local:
                todo.append(node.id)
        for sub in ast.iter_child_nodes(node):
            visit(sub, local, owner)

    def members(cls: ast.ClassDef, attr: str) -> list[ast.AST]:
        out = []
        for node in cls.body:
            if isinstance(node, (*_FUNCTION, ast.ClassDef)) and node.name == attr:
                out.append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(attr in _target_names(t) for t in targets):
                    out.append(node)
        return out

    seen: set[str | tuple[str, str]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        if isinstance(item, tuple):
            name, attr = item
            if name in seen:
                continue  # the whole class is followed already
            picked = [(cls, members(cls, attr)) for cls in defined[name]]
            if not all(found_members for _, found_members in picked):
                todo.append(name)  # inherited or set elsewhere: the whole class
                continue
            for cls, nodes in picked:
                for part in [*cls.decorator_list, *cls.bases, *cls.keywords]:
                    visit(part, set())  # a decorator or metaclass may rewrite the attribute
                for node in nodes:
                    self_name = None
                    if isinstance(node, _FUNCTION) and not any(
                            isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list):
                        params = [*node.args.posonlyargs, *node.args.args]
                        self_name = params[0].arg if params else None
                    visit(node, set(), (name, self_name) if self_name else None)
            continue
        for target, line in imported.get(item, []):
            if target == "torch.nn.init" or target.startswith("torch.nn.init."):
                found.append(f"{target} (line {line})")
        for node in defined.get(item, []):
            visit(node, set())
    found = list(dict.fromkeys(found))
    # "torch.nn.init.uniform_ (line 9)" already says what "torch.nn.init (line 9)" would.
    return [h for h in found if not (h.startswith("torch.nn.init (") and any(
        o != h and o.startswith("torch.nn.init.") and o.endswith(h[len("torch.nn.init"):]) for o in found))]


# ----------------------------------------------------------------- shared contract

@pytest.mark.weight(1)
def test_apply_initialises_linear(sub, rng):
    """net.apply(fn) initialises the weight of every nn.Linear (all four functions)"""
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        got, call = _init(sub, fn, i, o)
        ok, want, saw = _fingerprint(fn, got, i, o)
        expect(ok, call=call, point=f"{fn} initialises the weight of an nn.Linear", expected=want, got=saw)


@pytest.mark.weight(2)
def test_acts_on_linear_subclasses(sub, rng):
    """acts on subclasses of nn.Linear too (isinstance, not type(m) == nn.Linear)"""
    # The subclass is called Projection: a test of the class name ("Linear" in it) misses it.
    for fn in INITS:
        for via in ("apply", "direct"):
            i, o = _int(rng, 20, 40), _int(rng, 20, 40)
            got, call = _init(sub, fn, i, o, kind="subclass", via=via)
            ok, want, saw = _fingerprint(fn, got, i, o)
            expect(ok, call=call, point="acts on nn.Linear modules, subclasses of nn.Linear included",
                   expected=want, got=saw)
            expect(got["bias"] is not None and bool((got["bias"] == 0).all()), call=call,
                   point="a subclass of nn.Linear gets its bias zeroed too",
                   expected="bias all 0", got=f"bias {got['bias']}")


@pytest.mark.weight(2)
def test_other_modules_untouched(sub):
    """leaves every module that is not an nn.Linear untouched (Conv2d, Conv1d, Bilinear, LayerNorm, ...)"""
    # LinearAdapter is no nn.Linear, though its class name says "Linear": only isinstance tells.
    for fn in INITS:
        got = sub.init_mixed(fn)
        call = (f"nn.Sequential(Conv2d, Conv1d, Bilinear, LayerNorm, BatchNorm1d, Embedding, Custom, LinearAdapter, "
                f"Linear).apply({fn})")
        touched = [label for label, ok in got["untouched"].items() if ok is not True]
        expect(not touched, call=call, point="every module that is not an nn.Linear is left untouched",
               expected="their parameters unchanged (values and objects)", got=f"changed: {', '.join(touched)}")
        expect(got["linear_changed"] >= 0.9, call=call,
               point=f"{fn} initialises the nn.Linear of the same net {GATE}",
               expected="the nn.Linear's weight re-initialised",
               got=f"{100 * got['linear_changed']:.0f}% of its weights changed")


@pytest.mark.weight(1)
def test_container_call_changes_nothing(sub, rng):
    """called directly on a container, it changes nothing (net.apply reaches the linear layers inside by itself)"""
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        # Only a function that initialises a linear layer earns this point.
        got, call = _init(sub, fn, i, o, via="direct")
        _require_initialised(fn, got, i, o, call)
        for kind, box in (("sequential", f"nn.Sequential(nn.Linear({i}, {o}), nn.ReLU())"),
                          ("custom", f"Holder()  # a module with .proj = nn.Linear({i}, {o}) and "
                                     f".blocks = nn.ModuleList([nn.Linear({o}, {i})])")):
            res = sub.init_container(fn, kind, i, o)
            expect(res["changed"] == [], call=f"{fn}({box})",
                   point="acts only on the module it is given when that is an nn.Linear; any other module "
                   "(a container too) is left untouched: net.apply calls it on each layer inside",
                   expected="every parameter inside unchanged (values and objects)",
                   got=f"changed: {', '.join(res['changed'])}")


@pytest.mark.weight(1.5)
def test_same_parameter_objects(sub, rng):
    """changes the parameters in place: the same nn.Parameter objects afterwards"""
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        got, call = _init(sub, fn, i, o)
        _require_initialised(fn, got, i, o, call)
        expect(got["same_weight"] is True and got["same_bias"] is True and got["same_parameters"] is True,
               call=call, point="in place: m.weight and m.bias are the same nn.Parameter objects afterwards",
               expected="the very Parameter objects the layer had (an optimiser may hold them)",
               got=f"same weight object: {got['same_weight']}, same bias object: {got['same_bias']}")


@pytest.mark.weight(1.5)
def test_parameters_stay_trainable_leaves(sub, rng):
    """the parameters stay leaves with requires_grad=True; no autograd history is recorded"""
    want = {"type": "Parameter", "requires_grad": True, "is_leaf": True, "grad_fn": None}
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        got, call = _init(sub, fn, i, o)
        _require_initialised(fn, got, i, o, call)
        for name in ("weight", "bias"):
            state = got[f"{name}_autograd"]
            expect(state == want, call=call,
                   point="parameters stay leaves with requires_grad=True and no autograd history (grad_fn None)",
                   expected=f"{name}: {want}", got=f"{name}: {state}")
        expect(got["backward"] == "ok", call=call + "; then layer(x).sum().backward()",
               point="the layer can still be trained: backward() fills weight.grad",
               expected="weight.grad of the weight's shape", got=got["backward"])


@pytest.mark.weight(0.5)
def test_keeps_dtype(sub, rng):
    """in place: a float64 layer keeps float64 parameters"""
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        got, call = _init(sub, fn, i, o, dtype="float64")
        _require_initialised(fn, got, i, o, call)
        expect_equal(got["dtypes"], ["float64", "float64"], call=call,
                     point="in place: the parameters keep their dtype (weight, bias)")


@pytest.mark.weight(0.5)
def test_returns_none(sub, rng):
    """the four functions return None (they work in place)"""
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        got, call = _init(sub, fn, i, o, via="direct")
        _require_initialised(fn, got, i, o, call)
        expect(got["returned"] == "None", call=call, point="returns None: the work is done in place",
               expected="None", got=got["returned"])


@pytest.mark.weight(1.5)
def test_bias_zeroed(sub, rng):
    """sets the bias to zero when there is one"""
    for fn in INITS:
        for via in ("apply", "direct"):
            i, o = _int(rng, 20, 40), _int(rng, 20, 40)
            got, call = _init(sub, fn, i, o, via=via)
            expect(got["bias"] is not None and got["bias"].shape == (o,) and bool((got["bias"] == 0).all()),
                   call=call, point="the bias is set to zero when there is one",
                   expected=f"bias = zeros({o})", got=f"bias {got['bias']}")


@pytest.mark.weight(1.5)
def test_bias_false(sub, rng):
    """works on nn.Linear(..., bias=False)"""
    for fn in INITS:
        for via in ("apply", "direct"):
            i, o = _int(rng, 20, 40), _int(rng, 20, 40)
            got, call = _init(sub, fn, i, o, bias=False, via=via)
            ok, want, saw = _fingerprint(fn, got, i, o)
            expect(ok and got["bias_is_none"] is True, call=call,
                   point="works on nn.Linear(..., bias=False): the weight is initialised, bias stays None",
                   expected=f"{want}; bias None", got=f"{saw}; bias {'None' if got['bias_is_none'] else got['bias']}")


def _device_call(fn: str, in_f: int, out_f: int, device: str) -> str:
    if fn == "xavier_uniform_":
        return f"xavier_uniform_(torch.empty({out_f}, {in_f}, device='{device}'))"
    return f"nn.Sequential(nn.Linear({in_f}, {out_f}, device='{device}'), nn.ReLU()).apply({fn})"


# What PyTorch says when CPU and other-device tensors are mixed: on meta as on CUDA.
_DEVICE_FAULT = re.compile(r"incompatible tensor type|different device|devices must match|"
                           r"not on the expected device|same device", re.IGNORECASE)


def _require_xavier_fills(sub: Any, in_f: int, out_f: int) -> None:
    got = sub.xavier([out_f, in_f])
    a = _xavier_a([out_f, in_f])
    expect(bool((got["values"].abs() <= a * (1 + 1e-6)).all()), call=_xu_call([out_f, in_f]),
           point=f"xavier_uniform_ fills the tensor from U(-a, a) {GATE}",
           expected=f"every |w| <= {a:.5g}", got=describe(got["values"]))


@pytest.mark.weight(1)
def test_keeps_device(sub, rng):
    """the parameters (and xavier_uniform_'s tensor) stay on their device (meta stands in for a GPU)"""
    for fn in INITS + ("xavier_uniform_",):
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        # Only a function that does its job on the CPU earns this point.
        if fn == "xavier_uniform_":
            _require_xavier_fills(sub, i, o)
        else:
            got, call = _init(sub, fn, i, o)
            _require_initialised(fn, got, i, o, call)
        meta = sub.on_device(fn, "meta", i, o)
        if meta["raised"]:
            # Meta tensors hold no values, so code that reads them (.item(), an `if` on a tensor)
            # cannot run there, and that is no fault. A device mismatch fails on a GPU as well.
            expect(not _DEVICE_FAULT.search(meta["raised"]), call=_device_call(fn, i, o, "meta"),
                   point="works on the tensor's own device: no new CPU tensor put in its place (.data = ..., set_)",
                   expected="no device error", got=f"raised {meta['raised']}")
            continue
        moved = {k: d for k, d in meta["devices"].items() if d not in ("meta", "NoneType")}
        expect(not moved and meta["same"] is True, call=_device_call(fn, i, o, "meta"),
               point="in place on the tensor's own device: nothing moves to the CPU (no .data = a new CPU tensor)",
               expected="every parameter still the same object, on the meta device",
               got=f"same objects: {meta['same']}; devices: {meta['devices']}")


# ----------------------------------------------------------------- init_normal

@pytest.mark.weight(2)
def test_init_normal_std(sub, rng):
    """init_normal: weights have standard deviation 0.01 (variance 0.0001)"""
    i = _int(rng, 500, 600)
    got, call = _init(sub, "init_normal", i, 200)
    w = got["weight"].double()
    # w.numel() >= 100000: the n of the bounds below.
    rms = float(w.pow(2).mean().sqrt())
    # n * rms^2 / 0.01^2 ~ chi-square(n). Chernoff: P(rms > 1.03 sd) <= exp(-n/2 (t - ln(1+t))) with
    # t = 0.0609, = e^-89; P(rms < 0.97 sd) <= exp(-n/2 (-t - ln(1-t))) with t = 0.0591, = e^-90.
    # std 1e-4 (variance used as std) or 0.1 is 100 or 10 times off.
    expect(0.0097 < rms < 0.0103, call=call, point="weights drawn from N(0, 0.01**2): standard deviation 0.01",
           expected="standard deviation 0.01 (within 3%)", got=_stats(w))


@pytest.mark.weight(1)
def test_init_normal_centred_gaussian(sub, rng):
    """init_normal: weights are normal with mean 0 (N(0, 0.01**2), not a uniform)"""
    i = _int(rng, 500, 600)
    got, call = _init(sub, "init_normal", i, 200)
    w = got["weight"].double()
    n = w.numel()
    # The sample mean of n draws of N(0, 0.01^2) is N(0, 0.01^2 / n): P(|mean| > 6 sd) = 2e-9.
    limit = 6 * 0.01 / math.sqrt(n)
    expect(abs(float(w.mean())) < limit, call=call, point="weights drawn from N(0, 0.01**2): mean 0",
           expected=f"|mean| < {limit:.3g}", got=_stats(w))
    # DKW with n >= 100000: P(KS distance > 0.01) <= 2 exp(-2 n 0.01^2) = 4.1e-9. A uniform with the
    # same std is 0.057 away in KS distance (std 0.0104 would be 0.0095 away; the std check sees that).
    d = _ks(w, _normal_cdf(0.01))
    expect(d < 0.01, call=call, point="weights drawn from the normal distribution N(0, 0.01**2)",
           expected="empirical CDF within 0.01 of the N(0, 0.01**2) CDF (Kolmogorov-Smirnov distance)",
           got=f"KS distance {d:.4f}; {_stats(w)}")


@pytest.mark.weight(1)
def test_init_normal_tails(sub, rng):
    """init_normal: about 0.27% of the weights lie beyond 3 standard deviations, as for a normal"""
    i = _int(rng, 500, 600)
    got, call = _init(sub, "init_normal", i, 200)
    w = got["weight"].double()
    n = w.numel()  # 100000 to 120000
    # P(|Z| > 3) = p = 0.0026998. Chernoff (KL form), n >= 100000: P(fraction <= 0.0016) <=
    # exp(-n KL(0.0016 || p)) = 3.7e-12, P(fraction >= 0.0040) <= exp(-n KL(0.0040 || p)) = 1.4e-12.
    # A normal truncated at +-3 sd (trunc_normal_) has none there; the KS check cannot see it.
    frac = float((w.abs() > 0.03).double().mean())
    expect(0.0016 < frac < 0.0040, call=call,
           point="weights drawn from the normal distribution N(0, 0.01**2): its tails included (not truncated)",
           expected=f"about 0.27% of the {n} weights with |w| > 0.03 (3 standard deviations), "
           "between 0.16% and 0.40%", got=f"{100 * frac:.3f}% ({round(frac * n)} weights); {_stats(w)}")


@pytest.mark.weight(1)
def test_init_normal_independent(sub, rng):
    """init_normal: every weight is drawn independently (no weight copies or mirrors another)"""
    i = _int(rng, 500, 600)
    got, call = _init(sub, "init_normal", i, 200)
    _require_initialised("init_normal", got, i, 200, call)
    # >= 49500 pairs per arrangement; failure probability below 1e-9 (see _expect_independent).
    # The median of |N(0, s^2)| is 0.6744898 s.
    _expect_independent(got["weight"], 0.6744897501960817 * 0.01, call=call,
                        point="init_normal: every weight is drawn independently from N(0, 0.01**2)")


def test_init_xavier_independent(sub, rng):
    """init_xavier: every weight is drawn independently (no weight copies or mirrors another)"""
    i, o = _int(rng, 400, 600), _int(rng, 100, 200)
    got, call = _init(sub, "init_xavier", i, o)
    _require_initialised("init_xavier", got, i, o, call)
    # >= 19800 pairs per arrangement; failure probability below 1e-9 (see _expect_independent).
    # The median of |U(-a, a)| is a / 2.
    _expect_independent(got["weight"], math.sqrt(6 / (i + o)) / 2, call=call,
                        point="init_xavier: every weight is drawn independently from U(-a, a)")


def test_my_init_independent(sub, rng):
    """my_init: every weight is drawn independently (no weight copies or mirrors another)"""
    w, call = _my_init_weights(sub, rng)
    # 0 with probability 1/2 (|U(-10, 10)| < 5); given non-zero, positive and |w| > 7.5 each with
    # probability 1/2. Events of probability 1/2, 1/4 and 1/4: >= 49500 pairs per arrangement, 15
    # fractions, each off with probability below 1e-10 (see _expect_independent_events).
    _expect_independent_events(w, [("both 0 or both non-zero", lambda t: t == 0, 0.5),
                                   ("both positive or both not", lambda t: t > 0, 0.25),
                                   ("both |w| > 7.5 or both not", lambda t: t.abs() > 7.5, 0.25)],
                               call=call, point="my_init: every weight is drawn independently")
    # Many small layers: each weight is 0 independently with probability 1/2, so the number of zeros
    # in a layer of 4 weights is Bin(4, 1/2), exactly 2 with probability 6/16 = 0.375. Over 200
    # layers, Hoeffding: P(share of layers with exactly 2 zeros >= 0.75) <= exp(-2 * 200 * 0.375^2)
    # = e^-56.25 ~ 3.7e-25. Zeroing exactly half of each layer's weights (a randperm) gives share 1.
    count = 200
    weights = sub.init_many_layers("my_init", count, 2, 2)
    call = f"nn.Sequential(*[nn.Linear(2, 2) for _ in range({count})]).apply(my_init)"
    bad = [w for w in weights if not isinstance(w, torch.Tensor) or tuple(w.shape) != (2, 2)]
    expect(not bad, call=call, point="my_init keeps every layer's weight, in place, with its shape",
           expected=f"{count} weights of shape (2, 2)", got=f"{len(bad)} others, e.g. {describe(bad[0]) if bad else ''}")
    ws = torch.stack(weights)
    share = float(((ws == 0).flatten(1).sum(1) == 2).double().mean())
    frac = float((ws == 0).double().mean())  # shown, not judged
    expect(share < 0.75, call=call,
           point="my_init: each weight, independently, is 0 with probability 1/2 (the number of zeros in a layer "
                 "is random, Bin(n, 1/2), not exactly half)",
           expected=f"exactly 2 of the 4 weights 0 in about 38% of the {count} layers",
           got=f"exactly 2 zero in {share:.0%} of the layers ({frac:.1%} of all weights 0)")


@pytest.mark.weight(1)
def test_init_layers_independent(sub, rng):
    """init_normal, init_xavier and my_init: two layers of one shape get independent draws, not the same weights"""
    i, o = _int(rng, 20, 30), _int(rng, 20, 30)
    for fn in ("init_normal", "init_xavier", "my_init"):
        w1, w2 = sub.init_two_layers(fn, i, o)
        call = f"nn.Sequential(nn.Linear({i}, {o}), nn.ReLU(), nn.Linear({i}, {o})).apply({fn})"
        both = (w1 != 0) & (w2 != 0)
        n = int(both.sum())
        # my_init leaves 1/2 of the weights 0: about 1/4 of the >= 400 positions are non-zero in both
        # layers; fewer than 10% has probability below 1e-12 (Chernoff).
        expect(n >= 0.1 * w1.numel(), call=call, point=f"{fn} initialises both layers {GATE}",
               expected="non-zero weights in both layers", got=f"{n} positions non-zero in both")
        # Continuous draws: two independent ones are equal with probability about 2^-24 or less (a
        # float32 grid); more than max(2, 1%) of >= 40 positions equal is beyond chance. Reseeding the
        # generator (or a fixed-seed one) gives the very same weights.
        same = int((both & (w1 == w2)).sum())
        expect(same <= max(2, 0.01 * n), call=call,
               point=f"{fn}: every weight is an independent draw, so two layers of one shape get different weights "
                     "(no reseeding, no fixed-seed generator)",
               expected="the two weights different", got=f"{same} of {n} non-zero weights equal in both layers")


# ----------------------------------------------------------------- init_constant

@pytest.mark.weight(1)
def test_init_constant_ones(sub, ref, rng):
    """init_constant: every weight is exactly 1"""
    for dtype in ("float32", "float64"):
        i, o = _int(rng, 2, 30), _int(rng, 2, 30)
        got, call = _init(sub, "init_constant", i, o, dtype=dtype)
        want, _ = _init(ref, "init_constant", i, o, dtype=dtype)
        expect_equal(got["weight"], want["weight"], call=call, point="init_constant: every weight is exactly 1")


# ----------------------------------------------------------------- init_xavier

@pytest.mark.weight(2)
def test_init_xavier_range(sub, rng):
    """init_xavier: weights fill U(-a, a), a = sqrt(6 / (in_features + out_features))"""
    i, o = _int(rng, 400, 600), _int(rng, 100, 200)
    got, call = _init(sub, "init_xavier", i, o)
    a = math.sqrt(6 / (i + o))
    # n >= 40000 weights; the bound's failure probability is 1e-12 (see _expect_xavier_bound).
    _expect_xavier_bound(got["weight"], a, call=call,
                         point="init_xavier: weight from U(-a, a), a = sqrt(6 / (in_features + out_features))")


@pytest.mark.weight(1)
def test_init_xavier_moments(sub, rng):
    """init_xavier: weights have mean 0 and standard deviation a / sqrt(3)"""
    i, o = _int(rng, 400, 600), _int(rng, 100, 200)
    got, call = _init(sub, "init_xavier", i, o)
    a = math.sqrt(6 / (i + o))
    w = got["weight"].double() / a
    # w.numel() >= 40000: the n of the bounds below.
    # Hoeffding, (w/a)^2 in [0, 1]: P(|mean - 1/3| >= 0.02) <= 2 exp(-2 n 0.02^2) = 2.5e-14.
    m2 = float(w.pow(2).mean())
    expect(abs(m2 - 1 / 3) < 0.02, call=call, point="init_xavier: a uniform on [-a, a] has standard deviation a / sqrt(3)",
           expected=f"std {a / math.sqrt(3):.5g}", got=f"std {math.sqrt(m2) * a:.5g} (root mean square)")
    # Hoeffding, w/a in [-1, 1]: P(|mean| >= 0.04) <= 2 exp(-n 0.04^2 / 2) = 2.5e-14.
    m1 = float(w.mean())
    expect(abs(m1) < 0.04, call=call, point="init_xavier: weights centred on 0",
           expected="mean about 0", got=f"mean {m1 * a:.5g} (a = {a:.5g})")
    # DKW, n >= 40000: P(KS distance > 0.015) <= 2 exp(-2 n 0.015^2) = 3.3e-8. Another law with the
    # same bound, mean and standard deviation is not the uniform one.
    d = _ks(w, _uniform_cdf(-1.0, 1.0))
    expect(d <= 0.015, call=call, point="init_xavier: each weight is drawn from U(-a, a)",
           expected="weight / a uniform on [-1, 1] (Kolmogorov-Smirnov distance <= 0.015)",
           got=f"KS distance {d:.4f}")


# ----------------------------------------------------------------- my_init

def _my_init_weights(sub: Any, rng: torch.Generator) -> tuple[torch.Tensor, str]:
    i = _int(rng, 500, 600)
    got, call = _init(sub, "my_init", i, 200)
    return got["weight"].double(), call


@pytest.mark.weight(2)
def test_my_init_support(sub, rng):
    """my_init: every weight is 0 or lies in [5, 10] or [-10, -5]"""
    w, call = _my_init_weights(sub, rng)
    a = w.abs()
    bad = ~((w == 0) | ((a >= 5 * (1 - 1e-6)) & (a <= 10 * (1 + 1e-6))))
    expect(not bool(bad.any()), call=call, point="my_init: each weight is 0, or from U(5, 10), or from U(-10, -5)",
           expected="no weight with 0 < |w| < 5 or |w| > 10",
           got=f"{int(bad.sum())} such weights, e.g. {w[bad][:4].tolist()}")


@pytest.mark.weight(2)
def test_my_init_fractions(sub, rng):
    """my_init: U(5, 10) with probability 1/4, 0 with probability 1/2, U(-10, -5) with probability 1/4"""
    w, call = _my_init_weights(sub, rng)
    n = w.numel()  # >= 100000
    # Hoeffding on each indicator: P(|fraction - p| >= 0.01) <= 2 exp(-2 n 0.01^2) = 4.1e-9; 1.3e-8 for all three.
    for label, frac, p in (("positive (U(5, 10))", float((w > 0).double().mean()), 0.25),
                           ("zero", float((w == 0).double().mean()), 0.5),
                           ("negative (U(-10, -5))", float((w < 0).double().mean()), 0.25)):
        expect(abs(frac - p) < 0.01, call=call,
               point="my_init: U(5, 10) w.p. 1/4, 0 w.p. 1/2, U(-10, -5) w.p. 1/4",
               expected=f"about {p:.0%} of the {n} weights {label}", got=f"{frac:.2%}")


@pytest.mark.weight(1)
def test_my_init_parts_uniform(sub, rng):
    """my_init: the non-zero weights are uniform on [5, 10] and on [-10, -5]"""
    w, call = _my_init_weights(sub, rng)
    for label, part, cdf in (("U(5, 10)", w[w > 0], _uniform_cdf(5, 10)),
                             ("U(-10, -5)", w[w < 0], _uniform_cdf(-10, -5))):
        n = part.numel()
        expect(n >= 1000, call=call, point=f"my_init: a quarter of the weights from {label}",
               expected="about 25% of the weights there", got=f"{n} of {w.numel()}")
        # DKW with eps chosen for n: P(KS distance > eps) <= 1e-10 per part, conditionally on n
        # (n >= 20000 except with probability e^-500, so eps <= 0.0222). A law 5 + 5 u^2 is 0.25 away.
        eps = _dkw_eps(n, 1e-10)
        d = _ks(part, cdf)
        expect(d < eps, call=call, point=f"my_init: the weights of that part are uniform, {label}",
               expected=f"empirical CDF within {eps:.4f} of the {label} CDF (Kolmogorov-Smirnov distance)",
               got=f"KS distance {d:.4f}; {_stats(part)}")


@pytest.mark.weight(0.5)
def test_my_init_prints_nothing(sub, rng):
    """my_init prints nothing"""
    i, o = _int(rng, 20, 40), _int(rng, 20, 40)
    got, call = _init(sub, "my_init", i, o)
    _require_initialised("my_init", got, i, o, call)
    expect(got["printed"] == "", call=call, point="my_init prints nothing (the notes' print is not part of it)",
           expected="no output", got=repr(got["printed"][:200]))
    expect(got["printed_stderr"] == "", call=call,
           point="my_init prints nothing, not even to sys.stderr (the notes' print is not part of it)",
           expected="no output on stderr", got=repr(got["printed_stderr"][:200]))
    expect(got["printed_to_fd1"] == 0, call=call,
           point="my_init prints nothing, not even past sys.stdout (sys.__stdout__, os.write(1, ...))",
           expected="no output", got=f"{got['printed_to_fd1']} bytes written to the standard output")


# ----------------------------------------------------------------- xavier_uniform_

XU_POINT = ("U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)), fan_in = size(1) * r, "
            "fan_out = size(0) * r, r = product of the sizes beyond dimension 1")


def _xu_call(shape: list[int], gain: float | None = None, dtype: str = "float32", parameter: bool = False) -> str:
    t = f"torch.empty({', '.join(map(str, shape))}" + ("" if dtype == "float32" else f", dtype=torch.{dtype}") + ")"
    if parameter:
        t = f"nn.Parameter({t})"
    return f"xavier_uniform_({t}" + ("" if gain is None else f", gain={gain:.4g}") + ")"


@pytest.mark.weight(2)
def test_xavier_uniform_2d(sub, rng):
    """xavier_uniform_ on a 2-D weight fills U(-a, a), a = sqrt(6 / (fan_in + fan_out))"""
    shape = [_int(rng, 40, 80), _int(rng, 500, 700)]  # fan_in != fan_out: a fan used twice shows
    got = sub.xavier(shape)
    # n >= 20000 values; failure probability of the bound 1e-12 (see _expect_xavier_bound).
    _expect_xavier_bound(got["values"], _xavier_a(shape), call=_xu_call(shape), point=XU_POINT)


@pytest.mark.weight(2)
def test_xavier_uniform_receptive_field(sub, rng):
    """xavier_uniform_ on 3-D, 4-D and 5-D kernels multiplies both fans by the receptive field"""
    shapes = [[_int(rng, 32, 48), _int(rng, 16, 24), 5, 5],
              [_int(rng, 64, 96), _int(rng, 32, 48), _int(rng, 5, 9)],
              [8, 4, 3, 3, 3]]
    for shape in shapes:
        got = sub.xavier(shape)
        # Each bound fails a correct implementation with probability 1e-12 (see _expect_xavier_bound).
        _expect_xavier_bound(got["values"], _xavier_a(shape), call=_xu_call(shape), point=XU_POINT)


@pytest.mark.weight(1.5)
def test_xavier_uniform_gain(sub, rng):
    """xavier_uniform_(tensor, gain) scales the bound by gain"""
    for gain in (1.5 + 1.5 * float(torch.rand(1, generator=rng)), 0.5):
        shape = [_int(rng, 40, 80), _int(rng, 300, 500)]
        # gain = 0.5 by position: the signature xavier_uniform_(tensor, gain=1.0) allows both.
        positional = gain == 0.5
        got = sub.xavier(shape, gain, positional=positional)
        call = _xu_call(shape, gain).replace("gain=", "") if positional else _xu_call(shape, gain)
        # Failure probability 1e-12 per bound (see _expect_xavier_bound).
        _expect_xavier_bound(got["values"], _xavier_a(shape, gain), call=call,
                             point=XU_POINT + ("; gain is the second argument: it may be passed by position"
                                               if positional else ""))


@pytest.mark.weight(1)
def test_xavier_uniform_moments(sub, rng):
    """xavier_uniform_ draws are centred with standard deviation a / sqrt(3)"""
    shape = [_int(rng, 60, 80), _int(rng, 500, 700)]
    got = sub.xavier(shape)
    a = _xavier_a(shape)
    w = got["values"].double() / a
    # w.numel() >= 30000: the n of the bounds below.
    call = _xu_call(shape)
    # Hoeffding, (w/a)^2 in [0, 1]: P(|mean - 1/3| >= 0.02) <= 2 exp(-2 n 0.02^2) = 7.6e-11.
    m2 = float(w.pow(2).mean())
    expect(abs(m2 - 1 / 3) < 0.02, call=call, point="a uniform on [-a, a]: standard deviation a / sqrt(3)",
           expected=f"std {a / math.sqrt(3):.5g}", got=f"std {math.sqrt(max(m2, 0)) * a:.5g} (root mean square)")
    # Hoeffding, w/a in [-1, 1]: P(|mean| >= 0.04) <= 2 exp(-n 0.04^2 / 2) = 7.6e-11.
    m1 = float(w.mean())
    expect(abs(m1) < 0.04, call=call, point="a uniform on [-a, a]: mean 0",
           expected="mean about 0", got=f"mean {m1 * a:.5g} (a = {a:.5g})")
    # DKW, n >= 30000: P(KS distance > 0.017) <= 2 exp(-2 n 0.017^2) = 5.9e-8. Another law with the
    # same bound, mean and standard deviation is not the uniform one.
    d = _ks(w, _uniform_cdf(-1.0, 1.0))
    expect(d <= 0.017, call=call, point="every element is an independent draw from U(-a, a)",
           expected="tensor / a uniform on [-1, 1] (Kolmogorov-Smirnov distance <= 0.017)",
           got=f"KS distance {d:.4f}")


@pytest.mark.weight(1)
def test_xavier_uniform_independent(sub, rng):
    """xavier_uniform_ overwrites every element by an independent draw (no element copies or mirrors another)"""
    shape = [_int(rng, 60, 80), _int(rng, 500, 700)]
    got = sub.xavier(shape)
    a = _xavier_a(shape)
    call = _xu_call(shape)
    expect(bool((got["values"].abs() <= a * (1 + 1e-6)).all()), call=call,
           point=f"xavier_uniform_ fills the tensor from U(-a, a) {GATE}",
           expected=f"every |w| <= {a:.5g}", got=describe(got["values"]))
    # >= 14500 pairs per arrangement; failure probability below 1e-9 (see _expect_independent).
    # The median of |U(-a, a)| is a / 2.
    _expect_independent(got["values"], a / 2, call=call,
                        point="every element is overwritten by an independent draw from U(-a, a)")


@pytest.mark.weight(1)
def test_xavier_uniform_calls_independent(sub, rng):
    """two calls of xavier_uniform_ on tensors of one shape give independent draws, not the same values"""
    shape = [_int(rng, 20, 30), _int(rng, 20, 30)]
    a = _xavier_a(shape)
    w1, w2 = sub.xavier_twice(shape)
    call = f"xavier_uniform_(torch.zeros({shape[0]}, {shape[1]})) twice, on two tensors"
    for w in (w1, w2):
        expect(bool((w.abs() <= a * (1 + 1e-6)).all()) and int((w != 0).sum()) >= 0.9 * w.numel(), call=call,
               point=f"xavier_uniform_ fills the tensor from U(-a, a) {GATE}",
               expected=f"every |w| <= {a:.5g}, (almost) none left 0", got=describe(w))
    # Two independent continuous draws are equal with probability about 2^-24 or less (a float32 grid):
    # more than max(2, 1%) of >= 400 elements equal is beyond chance. A fixed-seed generator gives the
    # very same values.
    same = int((w1 == w2).sum())
    expect(same <= max(2, 0.01 * w1.numel()), call=call,
           point="every element is an independent draw: two calls give different values (no fixed-seed generator, "
                 "no reseeding)", expected="two different tensors", got=f"{same} of {w1.numel()} elements equal")


@pytest.mark.weight(1.5)
def test_xavier_uniform_in_place(sub, rng):
    """xavier_uniform_ fills the tensor in place and returns the same object (shape and dtype kept)"""
    # The last tensor is not contiguous (the transposed view of a (fan_in, fan_out) tensor, as
    # torch.full((o, i), 1e6).t()): the sheet's tensor is any tensor, and its own elements get the draws.
    for shape, dtype, transposed in (([_int(rng, 5, 12), _int(rng, 5, 12)], "float32", False),
                                     ([6, 3, 3, 3], "float32", False),
                                     ([_int(rng, 5, 12), _int(rng, 5, 12)], "float64", False),
                                     ([_int(rng, 5, 12), _int(rng, 13, 20)], "float32", True)):
        # The tensor starts full of 1e6: any element left over shows.
        got = sub.xavier(shape, None, dtype, False, 1e6, transposed)
        call = _xu_call(shape, dtype=dtype)
        if transposed:
            call = (f"xavier_uniform_(torch.full(({shape[1]}, {shape[0]}), 1e6).t()) "
                    f"(a non-contiguous tensor of shape {tuple(shape)})")
        expect(got["same"] is True, call=call, point="returns the tensor it was given (xavier_uniform_(t) is t)",
               expected="the input tensor object", got=got["returned"])
        expect(got["shape"] == shape and got["dtype"] == dtype, call=call, point="in place: shape and dtype unchanged",
               expected=f"{dtype} {tuple(shape)}", got=f"{got['dtype']} {tuple(got['shape'])}")
        a = _xavier_a(shape)
        v = got["values"].double()
        bad = int((~(v.abs() <= a * (1 + 1e-6))).sum())
        expect(bad == 0, call=call, point="every element of the tensor itself is overwritten by a draw from U(-a, a)",
               expected=f"all {v.numel()} elements in [-a, a], a = {a:.5g}",
               got=f"{bad} elements outside (the tensor started full of 1e6)")


@pytest.mark.weight(1)
def test_xavier_uniform_rejects_low_dim(sub, rng):
    """xavier_uniform_ raises ValueError for a tensor with fewer than 2 dimensions"""
    for shape in ([_int(rng, 2, 20)], []):
        expect_raises("ValueError", sub.xavier, shape, call=_xu_call(shape),
                      point="a tensor with fewer than 2 dimensions raises ValueError")


@pytest.mark.weight(1.5)
def test_xavier_uniform_parameter(sub, rng):
    """xavier_uniform_ works on a Parameter with requires_grad=True without recording autograd history"""
    shape = [_int(rng, 20, 40), _int(rng, 20, 40)]
    got = sub.xavier(shape, None, "float32", True, 1e6)
    call = _xu_call(shape, parameter=True)
    want = {"type": "Parameter", "requires_grad": True, "is_leaf": True, "grad_fn": None}
    expect(got["autograd"] == want, call=call,
           point="on a Parameter: still a leaf with requires_grad=True, no autograd history (grad_fn None)",
           expected=str(want), got=str(got["autograd"]))
    a = _xavier_a(shape)
    m = float(got["values"].double().abs().max())
    expect(got["same"] is True and m <= a * (1 + 1e-6), call=call,
           point="the Parameter itself is filled from U(-a, a) and returned",
           expected=f"the same object, every |w| <= {a:.5g}", got=f"same object: {got['same']}, max |w| = {m:.5g}")


@pytest.mark.weight(1)
def test_xavier_uniform_source_avoids_nn_init(sub, source):
    """xavier_uniform_'s code refers to no torch.nn.init function, under any name"""
    got = sub.xavier([3, 4])  # only an implemented xavier_uniform_ earns this point
    a = _xavier_a([3, 4])
    expect(bool((got["values"].abs() <= a * (1 + 1e-6)).all()), call=_xu_call([3, 4]),
           point=f"xavier_uniform_ fills the tensor from U(-a, a) {GATE}",
           expected=f"every |w| <= {a:.5g}", got=describe(got["values"]))
    found = _scoped_nn_init_uses(source)
    expect(not found, call="the source of xavier_uniform_ (and the helpers it uses)",
           point="xavier_uniform_ must not use any torch.nn.init function (write the formula yourself)",
           expected="no reference to torch.nn.init", got=", ".join(found))


@pytest.mark.weight(1.5)
def test_xavier_uniform_calls_no_nn_init(sub, rng):
    """xavier_uniform_ calls no torch.nn.init function while it runs"""
    for shape, parameter in (([_int(rng, 5, 30), _int(rng, 5, 30)], False),
                             ([_int(rng, 4, 8), _int(rng, 2, 4), 3, 3], False),
                             ([_int(rng, 5, 30), _int(rng, 5, 30)], True)):
        got = sub.xavier(shape, None, "float32", parameter)
        expect(got["nn_init_calls"] == [], call=_xu_call(shape, parameter=parameter),
               point="xavier_uniform_ must not use any torch.nn.init function, under any name",
               expected="no call into torch.nn.init", got=f"called {', '.join(got['nn_init_calls'])}")


# ----------------------------------------------------------------- CUDA

@pytest.mark.cuda
@pytest.mark.weight(1.5)
def test_cuda_modules(sub, rng):
    """on CUDA, the four functions initialise an nn.Linear in place on the GPU and xavier_uniform_ fills a CUDA tensor"""
    for fn in INITS:
        i, o = _int(rng, 20, 40), _int(rng, 20, 40)
        got = sub.on_device(fn, "cuda", i, o)
        call = _device_call(fn, i, o, "cuda")
        expect(all(d.startswith("cuda") for d in got["devices"].values()) and got["same"] is True, call=call,
               point="in place on the GPU: the same Parameter objects, still on CUDA",
               expected="weight and bias the same objects, on cuda", got=f"same objects: {got['same']}; "
               f"devices: {got['devices']}")
        ok, want, saw = _fingerprint(fn, got, i, o)
        expect(ok, call=call, point=f"{fn} initialises the weight of a CUDA nn.Linear", expected=want, got=saw)
        expect(got["bias"] is not None and bool((got["bias"] == 0).all()), call=call,
               point="the bias of a CUDA nn.Linear is set to zero", expected=f"bias = zeros({o})",
               got=f"bias {got['bias']}")
    i, o = _int(rng, 40, 80), _int(rng, 40, 80)
    got = sub.on_device("xavier_uniform_", "cuda", i, o)
    call = _device_call("xavier_uniform_", i, o, "cuda")
    expect(got["devices"]["tensor"].startswith("cuda") and got["same"] is True, call=call,
           point="fills the CUDA tensor itself and returns it", expected="the same object, on cuda",
           got=f"same object: {got['same']}; device: {got['devices']['tensor']}")
    # n >= 1600 values; the bound fails a correct implementation with probability 1e-12.
    _expect_xavier_bound(got["values"], _xavier_a([o, i]), call=call, point=XU_POINT)
