"""Hidden checks for ``sequential``: MySequential behaves like nn.Sequential.

Every probe builds its layers from a spec after seeding torch with a seed the
check chooses, so the submission's answers are compared with the reference's
on identical layers.
"""
from __future__ import annotations

import pytest
import torch

from grader.checking import expect, expect_close, expect_equal

MLP_CALL = "MySequential(Linear, ReLU, BatchNorm1d, Linear, Tanh)"


def _mlp(rng: torch.Generator) -> tuple[list, int]:
    """A spec with parameters and buffers, random sizes; returns (spec, in_features)."""
    a, b, c = (int(v) for v in torch.randint(2, 7, (3,), generator=rng))
    return [["Linear", a, b], ["ReLU"], ["BatchNorm1d", b], ["Linear", b, c], ["Tanh"]], a


def _seed(rng: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=rng))


def _x(rng: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=rng)


# -- what it is ----------------------------------------------------------------

@pytest.mark.weight(2)
def test_not_a_builtin_container(sub, rng):
    """MySequential is an nn.Module: it does not subclass, wrap or borrow from nn.Sequential, ModuleList, ModuleDict"""
    spec, n_in = _mlp(rng)
    got = sub.containers(spec, _seed(rng), _x(rng, 4, n_in))
    call = f"{MLP_CALL}, then forward, len, [0], [-1], repr, state_dict"
    expect(got["is_module"] is True, call=call, point="MySequential subclasses nn.Module",
           expected="an nn.Module", got="not an nn.Module")
    expect(got["bad_bases"] == [], call=call,
           point="MySequential must not subclass nn.Sequential, nn.ModuleList or nn.ModuleDict",
           expected="no such base class", got=f"subclasses {got['bad_bases']}")
    expect(got["built"] == [] and got["inside"] == [], call=call,
           point="MySequential must not wrap an nn.Sequential, nn.ModuleList or nn.ModuleDict",
           expected="none of them created or kept inside",
           got=f"created: {got['built']}, kept inside: {got['inside']}")
    expect(got["borrowed"] == [], call=call,
           point="no shortcut through nn.Sequential, nn.ModuleList or nn.ModuleDict: "
                 "forward, __len__ and __getitem__ are your own, not their methods borrowed or called",
           expected="none of their methods in MySequential or called on it", got=f"{got['borrowed']}")


# -- registration ------------------------------------------------------------------

@pytest.mark.weight(2)
def test_children_named_in_order(sub, ref, rng):
    """each module is registered as a child named "0", "1", ... in order (a repeated module under each name)"""
    spec, _ = _mlp(rng)
    seed = _seed(rng)
    for pattern in (None, [0, 1, 3, 1, 0]):
        call = MLP_CALL if pattern is None else f"MySequential(*[layers[i] for i in {pattern}])"
        expect_equal(sub.child_names(spec, pattern, seed), ref.child_names(spec, pattern, seed),
                     call=call + ".named_modules(remove_duplicate=False), direct children",
                     point='each module is registered as a child named "0", "1", ... in order')
    # More than ten modules: "10" comes after "9" (not after "1"), and is "10" (not "010", not ":").
    n = int(torch.randint(11, 16, (1,), generator=rng))
    steps = [["Affine", 1.0, float(k)] for k in range(n)]
    call = f"MySequential(step0, step1, ..., step{n - 1})"
    point = 'each module is registered as a child named "0", "1", ..., str(k), in the order passed'
    expect_equal(sub.child_names(steps, None, seed), ref.child_names(steps, None, seed),
                 call=call + ".named_modules(remove_duplicate=False), direct children", point=point)
    expect_equal(sub.named_children(steps, None, seed), [str(k) for k in range(n)],
                 call=call + ".named_children(): the names", point=point + " (named_children() as for nn.Sequential)")


@pytest.mark.weight(2)
def test_children_are_the_objects_passed_in(sub, rng):
    """the children are the very objects passed in, not copies"""
    spec, _ = _mlp(rng)
    for pattern in (None, [3, 3, 0, 2]):
        want = list(range(len(spec))) if pattern is None else pattern
        call = MLP_CALL if pattern is None else f"MySequential(*[layers[i] for i in {pattern}])"
        expect_equal(sub.child_identity(spec, pattern, _seed(rng)), want,
                     call=call + ": net.get_submodule(str(i)) is layers[?]",
                     point="the children are the very objects passed in (not copies)")


@pytest.mark.weight(1)
def test_named_parameters_like_sequential(sub, ref, rng):
    """named_parameters() gives the same names and values as nn.Sequential"""
    spec, _ = _mlp(rng)
    seed = _seed(rng)
    expect_equal(sub.named_parameters(spec, seed), ref.named_parameters(spec, seed),
                 call=MLP_CALL + ".named_parameters()",
                 point="named_parameters() is the same as for nn.Sequential of the same modules")


@pytest.mark.weight(1)
def test_state_dict_like_sequential(sub, ref, rng):
    """state_dict() has the same keys (parameters and buffers) and values as nn.Sequential"""
    spec, _ = _mlp(rng)
    seed = _seed(rng)
    expect_equal(sub.state_dict(spec, seed), ref.state_dict(spec, seed),
                 call=MLP_CALL + ".state_dict()",
                 point="state_dict() keys and values (parameters and buffers) are those of nn.Sequential")


@pytest.mark.weight(2)
def test_load_state_dict_from_sequential(sub, ref, rng):
    """load_state_dict() takes the state_dict of an nn.Sequential of the same modules"""
    spec, n_in = _mlp(rng)
    seed, x = _seed(rng), _x(rng, 5, n_in)
    got = sub.load_from_sequential(spec, seed, x)
    want = ref.load_from_sequential(spec, seed, x)
    call = "net.load_state_dict(nn.Sequential(...).state_dict())"
    expect_equal(got["loaded"], want["loaded"], call=call,
                 point="load_state_dict() from an nn.Sequential sets every parameter and buffer of every layer")
    expect_close(got["output"], want["output"], call=call + "; then the layers in eval mode on x",
                 point="load_state_dict() from an nn.Sequential sets every parameter and buffer of every layer")


@pytest.mark.weight(2)
def test_to_converts_every_child(sub, ref, rng):
    """.to(dtype) and .to(device) return the module itself and convert every parameter and buffer"""
    spec, _ = _mlp(rng)
    seed = _seed(rng)
    got, want = sub.convert(spec, seed), ref.convert(spec, seed)
    expect_equal(got["returns_self"], want["returns_self"], call="[net.to(torch.float64) is net, net.to('meta') is net]",
                 point=".to() returns the module itself, as for nn.Sequential")
    expect_equal(got["float64"], want["float64"], call=MLP_CALL + ".to(torch.float64): (name, dtype, device)",
                 point=".to(dtype) converts every floating parameter and buffer of every child")
    expect_equal(got["meta"], want["meta"], call=MLP_CALL + ".to('meta'): (name, dtype, device)",
                 point=".to(device) moves every parameter and buffer of every child")


@pytest.mark.weight(1)
def test_train_eval_reach_children(sub, rng):
    """.eval() and .train() switch the mode of every child"""
    spec, _ = _mlp(rng)
    got = sub.modes(spec, _seed(rng))
    n = len(spec)
    expect_equal(got, {"eval": [False] * n, "train": [True] * n},
                 call=MLP_CALL + ".eval(), then .train(): [layer.training for layer in layers]",
                 point=".train()/.eval() reach every child, as for nn.Sequential")


@pytest.mark.weight(1)
def test_train_eval_reach_nested_modules(sub, ref, rng):
    """.eval() and .train() switch the mode of every module at any depth and return the net, as for nn.Sequential"""
    n = int(torch.randint(2, 7, (1,), generator=rng))
    got, want = sub.modes_nested(n), ref.modes_nested(n)
    call = (f"net = MySequential(Linear, nn.Sequential(Linear, BatchNorm1d), MySequential(Dropout, ReLU), "
            f"a module with children bn and drop), width {n}")
    expect_equal(got["returns_self"], want["returns_self"], call=call + "; net.eval() is net, net.train() is net, ...",
                 point=".train()/.eval() return the module itself, as for nn.Sequential")
    for step in ("eval()", "train()", "train(False)", "train(True)"):
        expect_equal(got[step], want[step], call=f"{call}; net.{step} in turn: .training of each module",
                     point=".train()/.eval() set the mode of every module inside, at any depth, as for nn.Sequential")


@pytest.mark.weight(1)
def test_apply_like_sequential(sub, ref, rng):
    """.apply(fn) visits the same modules in the same order as nn.Sequential"""
    spec, _ = _mlp(rng)
    seed = _seed(rng)
    for pattern in (None, [1, 0, 1, 4]):
        call = MLP_CALL if pattern is None else f"MySequential(*[layers[i] for i in {pattern}])"
        expect_equal(sub.apply_order(spec, pattern, seed), ref.apply_order(spec, pattern, seed),
                     call=call + ".apply(fn): the layers fn saw (index into layers, or 'self')",
                     point=".apply(fn) visits the same modules in the same order as for nn.Sequential")


@pytest.mark.weight(1)
def test_print_like_sequential(sub, ref, rng):
    """print(net) shows the same text as nn.Sequential, apart from the class name"""
    spec, _ = _mlp(rng)
    spec = spec + [["Affine", 2.0, 1.0]]
    seed = _seed(rng)
    got, want = sub.text(spec, seed), ref.text(spec, seed)
    expect(got == want, call=f"repr({MLP_CALL[:-1]}, Affine))",
           point="print(net) shows the same text as nn.Sequential, apart from the class name",
           expected="\n" + want, got="\n" + str(got))


@pytest.mark.weight(1)
def test_print_nested_and_empty_like_sequential(sub, ref, rng):
    """print(net) matches nn.Sequential for nested containers (indented) and for an empty net"""
    a, b = (int(v) for v in torch.randint(2, 7, (2,), generator=rng))
    got, want = sub.text_nested(a, b), ref.text_nested(a, b)
    point = "print(net) shows the same text as nn.Sequential, apart from the class name"
    expect(got["nested"] == want["nested"],
           call=f"repr(MySequential(Linear({a}, {b}), nn.Sequential(BatchNorm1d({b}), ReLU()), "
                f"MySequential(Affine, Tanh), MySequential(), Linear({b}, {a})))",
           point=point + " (a child's own lines indented under it, as nn.Sequential does)",
           expected="\n" + want["nested"], got="\n" + str(got["nested"]))
    expect(got["empty"] == want["empty"], call="repr(MySequential())",
           point=point + " (an empty one prints as nn.Sequential() does)",
           expected=repr(want["empty"]), got=repr(got["empty"]))


# -- forward ---------------------------------------------------------------------

@pytest.mark.weight(3)
def test_forward_applies_modules_in_order(sub, ref, rng):
    """forward(x) applies the modules in order and returns the last output"""
    spec, n_in = _mlp(rng)
    seed, x = _seed(rng), _x(rng, 6, n_in)
    expect_close(sub.forward(spec, None, seed, x), ref.forward(spec, None, seed, x),
                 call=MLP_CALL + "(x)", point="forward(x) applies the modules in order and returns the last output")
    # Same-shaped, parameter-free steps: only the order tells them apart.
    steps = [["Affine", 2.0, 0.0], ["Affine", 1.0, 1.0], ["Affine", -1.0, 0.5], ["Tanh"], ["Affine", 3.0, -1.0]]
    x = _x(rng, 3, 4)
    want = ref.forward(steps, None, 0, x)
    expect_close(sub.forward(steps, None, 0, x), want,
                 call="MySequential(2x, x+1, -x+0.5, tanh, 3x-1)(x)",
                 point="forward(x) applies the modules in order and returns the last output")


@pytest.mark.weight(1)
def test_forward_order_with_many_modules(sub, ref, rng):
    """forward(x) runs the modules in the order passed also with more than ten of them ("10" after "9")"""
    n = int(torch.randint(11, 16, (1,), generator=rng))
    x = _x(rng, 3, 2)
    got, want = sub.forward_order(n, x), ref.forward_order(n, x)
    call = f"MySequential(step0, step1, ..., step{n - 1})(x), each step an affine map that logs its number"
    point = "forward(x) applies the modules in the order they were passed (position 10 comes after 9, not after 1)"
    expect_equal(got["order"], want["order"], call=call + ": the steps in the order they ran", point=point)
    expect_close(got["out"], want["out"], call=call, point=point)


@pytest.mark.weight(1)
def test_forward_repeated_module_applied_each_time(sub, ref, rng):
    """a module passed twice is applied twice"""
    steps = [["Affine", 2.0, 0.0], ["Affine", 1.0, 1.0], ["Linear", 3, 3]]
    seed, x = _seed(rng), _x(rng, 4, 3)
    for pattern in ([0, 1, 0], [2, 1, 2, 0, 2]):
        expect_close(sub.forward(steps, pattern, seed, x), ref.forward(steps, pattern, seed, x),
                     call=f"MySequential(*[layers[i] for i in {pattern}])(x), layers = [2x, x+1, Linear(3, 3)]",
                     point="forward applies every module passed, in order: a module passed twice is applied twice")


@pytest.mark.weight(1)
def test_forward_keeps_autograd_graph(sub, ref, rng):
    """forward calls the modules normally, so the gradients reach their parameters"""
    spec, n_in = _mlp(rng)
    seed, x = _seed(rng), _x(rng, 5, n_in)
    got, want = sub.grads(spec, seed, x), ref.grads(spec, seed, x)
    call = MLP_CALL + "(x).sum().backward()"
    point = "forward calls the modules, so autograd records the graph through them"
    expect(got["graph"] is True, call=call, point=point,
           expected="an output that requires grad", got="an output cut from the graph (no grad_fn)")
    expect_equal(got["names"], want["names"], call=call + ": parameters of the layers", point=point)
    missing = [n for n, g in zip(got["names"], got["grads"]) if g is None]
    expect(not missing, call=call, point=point, expected="a gradient for every parameter",
           got=f"no gradient for {missing}")
    expect_close(got["grads"], want["grads"], call=call + ": gradients of the layers' parameters", point=point)


@pytest.mark.weight(1)
def test_forward_runs_hooks(sub, ref, rng):
    """forward calls each module (module(x), not module.forward(x)), so its hooks run"""
    spec, n_in = _mlp(rng)
    spec = spec + [["Identity"]]  # module 5: an nn.Identity is called too (its hooks run)
    seed, x = _seed(rng), _x(rng, 5, n_in)
    pattern = [0, 1, 5, 3, 1, 4]  # ReLU (module 1) twice; the BatchNorm left out
    got, want = sub.hooks(spec, pattern, seed, x), ref.hooks(spec, pattern, seed, x)
    call = ("forward hooks on every module of MySequential(m0, m1, m5, m3, m1, m4), m5 an nn.Identity, "
            "m0's hook doubling its output; net(x)")
    point = "each module is called as module(x), so its forward hooks run (once per use)"
    expect_equal(got["ran"], want["ran"], call=call + ": hook calls per module", point=point)
    expect_close(got["out"], want["out"], call=call, point=point + ", and a hook's output is what the next module gets")


@pytest.mark.weight(1)
def test_forward_passes_tuples_whole(sub, ref, rng):
    """a module's output is passed to the next module as one argument, a tuple too (as nn.Sequential does)"""
    x = _x(rng, 3, 4)
    got, want = sub.forward_tuple(x), ref.forward_tuple(x)
    expect_close(got["out"], want["out"],
                 call="MySequential(split, merge)(x), split(x) returning the tuple (x, 2x - 1), "
                      "merge(pair) taking that tuple as its one argument",
                 point="net(x) is m1(m0(x)): each output is the next module's one argument, a tuple is not unpacked")


@pytest.mark.weight(1)
def test_forward_with_no_modules_returns_input(sub, rng):
    """with no modules, forward(x) returns x"""
    x = _x(rng, 2, 3)
    got = sub.empty(x)
    expect(got["same_object"] is True, call="MySequential()(x)", point="with no modules forward(x) returns x itself",
           expected="x itself", got=f"{got['value']!r}"[:200])


# -- len and indexing ------------------------------------------------------------

@pytest.mark.weight(1)
def test_len_counts_modules(sub, rng):
    """len(net) is the number of modules passed (a repeated module counts each time)"""
    spec, _ = _mlp(rng)
    patterns = [None, [], [0], [0, 0, 0], [3, 1, 3, 2]]
    want = [len(spec), 0, 1, 3, 4]
    expect_equal(sub.length(spec, patterns), want,
                 call=f"[len(MySequential(*[layers[i] for i in p])) for p in {patterns}] (None: all 5 layers)",
                 point="len(net) is the number of modules")


@pytest.mark.weight(1)
def test_getitem_non_negative(sub, rng):
    """net[i] returns the i-th module passed in"""
    spec, _ = _mlp(rng)
    pattern = [4, 0, 3, 0, 1]
    idx = list(range(len(pattern)))
    expect_equal(sub.getitem(spec, pattern, idx), pattern,
                 call=f"[net[i] for i in {idx}], net = MySequential(*[layers[i] for i in {pattern}]): index into layers",
                 point="net[i] returns the i-th module (the very object passed in)")


@pytest.mark.weight(1)
def test_getitem_negative(sub, rng):
    """net[-i] counts from the end"""
    spec, _ = _mlp(rng)
    pattern = [4, 0, 3, 2, 1]
    idx = [-1, -2, -3, -4, -5]
    expect_equal(sub.getitem(spec, pattern, idx), [1, 2, 3, 0, 4],
                 call=f"[net[i] for i in {idx}], net = MySequential(*[layers[i] for i in {pattern}]): index into layers",
                 point="net[i] with a negative i counts from the end, as for a list")


@pytest.mark.weight(1)
def test_getitem_with_many_modules(sub, rng):
    """net[i] is the i-th module passed also with more than ten modules (net[2] is not the module named "10")"""
    n = int(torch.randint(11, 16, (1,), generator=rng))
    steps = [["Affine", 1.0, float(k)] for k in range(n)]
    idx = list(range(n)) + list(range(-1, -n - 1, -1))
    want = list(range(n)) + list(range(n - 1, -1, -1))
    expect_equal(sub.getitem(steps, None, idx), want,
                 call=f"[net[i] for i in [0, 1, ..., {n - 1}, -1, -2, ..., -{n}]], net = MySequential(*layers) "
                      f"with {n} layers: index into layers",
                 point="net[i] returns the i-th module passed (negative i counting from the end), "
                       "in the order passed, however many there are")


@pytest.mark.weight(2)
def test_getitem_out_of_range_raises_index_error(sub, rng):
    """an index out of range raises IndexError"""
    spec, _ = _mlp(rng)
    for pattern, idx in (([0, 1, 2], [3, 4, 100, -4, -5, -100]), ([], [0, -1])):
        got = sub.getitem(spec, pattern, idx)
        for i, g in zip(idx, got):
            ok = isinstance(g, dict) and "IndexError" in g["raised"]
            shown = (f"{g['raised'][0]}: {g['message']}" if isinstance(g, dict)
                     else f"no exception, it returned layers[{g}]" if isinstance(g, int) else f"no exception, {g}")
            expect(ok, call=f"net[{i}] with len(net) == {len(pattern)}",
                   point="an index out of range raises IndexError",
                   expected="IndexError", got=shown)


# -- CUDA ------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.weight(1)
def test_to_cuda_and_forward_there(sub, ref, rng):
    """.to('cuda') moves every child, and forward on CUDA matches the CPU"""
    spec, n_in = _mlp(rng)
    seed, x = _seed(rng), _x(rng, 8, n_in)
    got = sub.on_cuda(spec, seed, x)
    expect(got["returns_self"] is True, call=MLP_CALL + ".to('cuda')", point=".to() returns the module itself",
           expected="net", got="another object")
    bad = [(k, d) for k, d in got["devices"] if not d.startswith("cuda")]
    expect(not bad, call=MLP_CALL + ".to('cuda')", point=".to(device) moves every parameter and buffer of every child",
           expected="every parameter and buffer on cuda", got=f"left behind: {bad}")
    expect(got["out_device"].startswith("cuda"), call="net(x.cuda())", point="forward runs on the module's device",
           expected="a CUDA tensor", got=got["out_device"])
    expect_close(got["output"], ref.eval_forward(spec, seed, x), rtol=1e-4, atol=1e-5,
                 call="net.eval(); net(x.cuda()).cpu()", point="forward on CUDA gives the same result as on the CPU")
