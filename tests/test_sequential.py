"""Learner tests for ``sequential.py``: MySequential, a container of your own.

Each test builds the same modules into ``nn.Sequential`` and into your
``MySequential`` and expects them to behave alike.
"""
from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from kata import call_str, describe, expect, expect_close, expect_raises, run


def _layers():
    torch.manual_seed(0)
    return [nn.Linear(4, 5), nn.ReLU(), nn.BatchNorm1d(5), nn.Linear(5, 3)]


def _build(ex, *mods):
    return run(ex.MySequential, *mods, call=f"MySequential({', '.join(type(m).__name__ for m in mods)})",
               point="MySequential(*modules) takes the modules as positional arguments")


CALL3 = "MySequential(Linear(4, 5), ReLU(), BatchNorm1d(5), Linear(5, 3))"


def test_is_a_module_not_a_builtin_container(ex, monkeypatch):
    banned = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    built, called = [], []
    for cls in banned:
        def spy(self, *args, __cls=cls, __init=cls.__init__, **kwargs):
            built.append(__cls.__name__)
            __init(self, *args, **kwargs)
        monkeypatch.setattr(cls, "__init__", spy)
        # Their other methods too: nn.Sequential.forward(self, x) called on your module is borrowing.
        for name, f in list(vars(cls).items()):
            if isinstance(f, types.FunctionType) and name != "__init__":
                def method_spy(*args, __f=f, __label=f"{cls.__name__}.{name}", **kwargs):
                    called.append(__label)
                    return __f(*args, **kwargs)
                monkeypatch.setattr(cls, name, method_spy)
    net = _build(ex, nn.Linear(2, 2))
    # Used once each, in case a container is made lazily. A crash there is left to the test of that
    # method, which names its contract point (here it would be blamed on containers).
    for use in (lambda: net(torch.zeros(1, 2)), lambda: len(net), lambda: net[0]):
        try:
            use()
        except Exception:  # noqa: BLE001, S110
            pass
    monkeypatch.undo()
    expect(not built, call="MySequential(Linear(2, 2)), then forward, len and net[0]",
           point="MySequential must not create an nn.Sequential, nn.ModuleList or nn.ModuleDict (no wrapping)",
           expected="none of them created", got=f"created {built}")
    expect(not called, call="MySequential(Linear(2, 2)), then forward, len and net[0]",
           point="MySequential must not call the methods of nn.Sequential, nn.ModuleList or nn.ModuleDict",
           expected="forward, __len__ and __getitem__ of your own, calling none of theirs",
           got=f"called {sorted(set(called))}")
    expect(isinstance(net, nn.Module), call="MySequential(Linear(2, 2))",
           point="MySequential subclasses nn.Module",
           expected="an nn.Module", got=f"{type(net).__mro__}")
    expect(not isinstance(net, banned), call="MySequential(Linear(2, 2))",
           point="MySequential must not subclass nn.Sequential, nn.ModuleList or nn.ModuleDict",
           expected="a plain nn.Module subclass", got=f"MRO {[c.__name__ for c in type(net).__mro__]}")
    inside = [type(m).__name__ for m in net.modules() if isinstance(m, banned)]
    expect(not inside, call="MySequential(Linear(2, 2))",
           point="MySequential must not keep an nn.Sequential, nn.ModuleList or nn.ModuleDict inside",
           expected="no built-in container among net.modules()", got=f"{inside}")
    theirs = {id(f): f"{c.__name__}.{name}" for c in banned for name, f in vars(c).items() if callable(f)}
    borrowed = [f"{name} = {theirs[id(f)]}" for name, f in vars(type(net)).items() if id(f) in theirs]
    expect(not borrowed, call="MySequential(Linear(2, 2))",
           point="MySequential must not borrow the methods of nn.Sequential, nn.ModuleList or nn.ModuleDict",
           expected="forward, __len__ and __getitem__ of your own", got=f"{borrowed}")


def test_children_are_named_0_1_2_in_order(ex):
    mods = _layers()
    net = _build(ex, *mods)
    got = [(name, type(m).__name__) for name, m in net.named_children()]
    want = [(str(i), type(m).__name__) for i, m in enumerate(mods)]
    expect(got == want, call=CALL3,
           point="each module is registered as a child named '0', '1', ... in order",
           expected=f"named_children() = {want}", got=f"{got}")
    # Past nine: the names are str(i) ('10', not ':' or '010'), registered in the order passed
    # ('10' after '9', not after '1' as a sorted list of names would put it).
    steps = [nn.Identity() for _ in range(12)]
    net = _build(ex, *steps)
    got = [name for name, _ in net.named_children()]
    want = [str(i) for i in range(12)]
    expect(got == want, call="MySequential(m0, ..., m11)",
           point="the children are named str(i): '0', '1', ..., '9', '10', '11', in the order passed",
           expected=f"names in named_children() = {want}", got=f"{got}")


def test_children_are_the_objects_passed_in(ex):
    mods = _layers()
    net = _build(ex, *mods)
    same = [a is b for (_, a), b in zip(net.named_children(), mods)]
    expect(len(same) == len(mods) and all(same), call=CALL3,
           point="the children are the very objects passed in (not copies)",
           expected=f"every child `is` its argument: {[True] * len(mods)}", got=f"{same}")


def test_named_parameters_and_state_dict_match_sequential(ex):
    mods = _layers()
    net, seq = _build(ex, *mods), nn.Sequential(*mods)
    got = [n for n, _ in net.named_parameters()]
    want = [n for n, _ in seq.named_parameters()]
    expect(got == want, call=CALL3, point="named_parameters() is the same as for nn.Sequential",
           expected=f"{want}", got=f"{got}")
    got = list(net.state_dict().keys())
    want = list(seq.state_dict().keys())
    expect(got == want, call=CALL3,
           point="state_dict() keys (parameters and buffers) are the same as for nn.Sequential",
           expected=f"{want}", got=f"{got}")


def test_load_state_dict_from_sequential(ex):
    torch.manual_seed(1)
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    torch.manual_seed(2)
    net = _build(ex, nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    call = "net.load_state_dict(seq.state_dict())"
    point = "load_state_dict() accepts the state_dict of an nn.Sequential of the same modules"
    run(net.load_state_dict, seq.state_dict(), call=call, point=point)
    x = torch.randn(6, 3)
    expect_close(run(net, x, call=call + "; net(x)", point=point), seq(x), call=call + "; net(x)", point=point,
                 inputs={"x": x})


def test_to_dtype_converts_every_child(ex):
    mods = _layers()
    net = _build(ex, *mods)
    out = run(net.to, torch.float64, call=f"{CALL3}.to(torch.float64)", point=".to() converts every child")
    expect(out is net, call=f"{CALL3}.to(torch.float64)", point=".to() returns the module itself",
           expected="net", got=describe(out))
    dtypes = {n: str(t.dtype) for n, t in net.state_dict().items() if t.is_floating_point()}
    bad = {n: d for n, d in dtypes.items() if d != "torch.float64"}
    expect(not bad and len(dtypes) == 8, call=f"{CALL3}.to(torch.float64)",
           point=".to() converts every parameter and buffer of every child",
           expected="8 floating tensors in state_dict(), all float64", got=f"{dtypes}")


def test_train_eval_reach_the_children(ex):
    mods = _layers()
    net = _build(ex, *mods)
    run(net.eval, call=f"{CALL3}.eval()", point=".eval() switches every child to eval mode")
    got = [m.training for m in mods]
    expect(not any(got), call=f"{CALL3}.eval()", point=".eval() switches every child to eval mode",
           expected=f"{[False] * len(mods)}", got=f"{got}")


def test_apply_visits_like_sequential(ex):
    mods = _layers()
    seen_net, seen_seq = [], []
    _build(ex, *mods).apply(lambda m: seen_net.append(type(m).__name__))
    nn.Sequential(*mods).apply(lambda m: seen_seq.append(type(m).__name__))
    want = seen_seq[:-1] + ["MySequential"]
    expect(seen_net == want, call=f"{CALL3}.apply(fn)",
           point=".apply(fn) visits the same modules in the same order as for nn.Sequential",
           expected=f"{want}", got=f"{seen_net}")


def test_print_looks_like_sequential(ex):
    mods = _layers()
    got = repr(_build(ex, *mods))
    want = "My" + repr(nn.Sequential(*mods))
    expect(got == want, call=f"print({CALL3})",
           point="print(net) shows the same text as nn.Sequential, apart from the class name",
           expected="\n" + want, got="\n" + got)


def test_print_nested_and_empty_look_like_sequential(ex):
    inner = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    got = repr(_build(ex, inner, nn.Linear(3, 1)))
    want = "My" + repr(nn.Sequential(inner, nn.Linear(3, 1)))
    expect(got == want, call="print(MySequential(nn.Sequential(Linear(2, 3), ReLU()), Linear(3, 1)))",
           point="print(net) shows the same text as nn.Sequential (a nested child's lines indented)",
           expected="\n" + want, got="\n" + got)
    got = repr(_build(ex))
    expect(got == "MySequential()", call="print(MySequential())",
           point="print(net) shows the same text as nn.Sequential (an empty one: no lines inside)",
           expected=repr("MySequential()"), got=repr(got))


def test_eval_reaches_nested_modules(ex):
    bn = nn.BatchNorm1d(3)
    net = _build(ex, nn.Linear(2, 3), nn.Sequential(bn, nn.ReLU()))
    call = "MySequential(Linear(2, 3), nn.Sequential(bn, ReLU())).eval()"
    out = run(net.eval, call=call, point=".eval() switches every module inside to eval mode")
    expect(out is net, call=call, point=".eval() returns the module itself, as for nn.Sequential",
           expected="net", got=describe(out))
    expect(not bn.training, call=call + "; bn.training",
           point=".eval() switches every module at any depth to eval mode, as for nn.Sequential",
           expected="False", got=repr(bn.training))


def test_forward_and_getitem_with_many_modules(ex):
    steps = [_Affine(2.0, 0.0) if k == 10 else _Affine(1.0, 1.0) for k in range(12)]
    net = _build(ex, *steps)
    for i in [2, 10, 11, -1, -10]:
        call = f"net[{i}] with net = MySequential(step0, ..., step11)"
        got = run(lambda: net[i], call=call, point="net[i] is the i-th module passed, however many there are")
        expect(got is steps[i], call=call, point="net[i] is the i-th module passed, however many there are",
               expected=f"step{i % 12}", got=f"step{steps.index(got)}" if got in steps else describe(got))
    x = torch.tensor([1.0, -1.0])
    want = 2 * (x + 10) + 1
    call = call_str("MySequential(x+1, x+1, ... (ten times), 2x, x+1)", x)
    point = "forward applies the modules in the order passed (position 10 comes after 9, not after 1)"
    expect_close(run(net, x, call=call, point=point, inputs={"x": x}), want, call=call, point=point,
                 inputs={"x": x})


def test_forward_applies_modules_in_order(ex):
    mods = _layers()
    net, seq = _build(ex, *mods), nn.Sequential(*mods)
    torch.manual_seed(3)
    x = torch.randn(7, 4)
    call = call_str(CALL3 + ".forward", x)
    point = "forward(x) applies the modules in order and returns the last output"
    expect_close(run(net, x, call=call, point=point, inputs={"x": x}), seq(x), call=call, point=point,
                 inputs={"x": x})


class _Affine(nn.Module):
    """x -> a * x + b: order matters (double then add 1 != add 1 then double)."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a * x + self.b


def test_forward_order_and_shared_module(ex):
    double, inc = _Affine(2.0, 0.0), _Affine(1.0, 1.0)
    net = _build(ex, double, inc, double)
    x = torch.tensor([1.0, -2.0, 0.5])
    # ((2x) + 1) * 2
    want = torch.tensor([6.0, -6.0, 4.0])
    call = call_str("MySequential(double, inc, double)", x)
    point = "forward applies the modules in order; a module passed twice is applied twice"
    expect_close(run(net, x, call=call, point=point, inputs={"x": x}), want, call=call, point=point,
                 inputs={"x": x})


def test_forward_calls_each_module_so_its_hooks_run(ex):
    double, inc, skip = _Affine(2.0, 0.0), _Affine(1.0, 1.0), nn.Identity()
    ran = {"double": 0, "inc": 0, "identity": 0}
    for name, m in (("double", double), ("inc", inc), ("identity", skip)):
        m.register_forward_hook(lambda mod, args, out, _n=name: ran.__setitem__(_n, ran[_n] + 1))
    net = _build(ex, double, skip, inc, double)
    x = torch.tensor([1.0, -2.0])
    call = call_str("MySequential(double, identity, inc, double)", x) + ", a forward hook on each module"
    point = ("forward calls each module as module(x), not module.forward(x), so its hooks run, once per use "
             "(an nn.Identity too)")
    out = run(net, x, call=call, point=point, inputs={"x": x})
    expect_close(out, 2 * (2 * x + 1), call=call, point=point, inputs={"x": x})
    want = {"double": 2, "inc": 1, "identity": 1}
    expect(ran == want, call=call, point=point, expected=f"hook calls {want}", got=f"hook calls {ran}")


class _Split(nn.Module):
    """x -> (x, 2x - 1): a tuple output."""

    def forward(self, x):
        return x, 2 * x - 1


class _Merge(nn.Module):
    """pair -> pair[0] * pair[1]: one argument, a tuple."""

    def forward(self, pair):
        a, b = pair
        return a * b


def test_forward_passes_a_tuple_output_whole(ex):
    net = _build(ex, _Split(), _Merge())
    x = torch.tensor([1.0, 3.0])
    call = call_str("MySequential(split, merge)", x) + ", split(x) returning (x, 2x - 1), merge(pair) taking one tuple"
    point = "net(x) is m1(m0(x)): each output is the next module's one argument, a tuple is not unpacked"
    out = run(net, x, call=call, point=point, inputs={"x": x})
    expect_close(out, x * (2 * x - 1), call=call, point=point, inputs={"x": x})


def test_forward_keeps_autograd_graph(ex):
    torch.manual_seed(4)
    lin = nn.Linear(3, 1)
    net = _build(ex, lin, nn.Sigmoid())
    x = torch.randn(5, 3)
    run(lambda: net(x).sum().backward(), call="MySequential(Linear(3, 1), Sigmoid())(x).sum().backward()",
        point="forward calls the modules normally, so gradients reach their parameters", inputs={"x": x})
    # The same computation by hand, on a fresh leaf copy of the weight.
    w = lin.weight.detach().clone().requires_grad_()
    torch.sigmoid(x @ w.T + lin.bias.detach()).sum().backward()
    expect_close(lin.weight.grad, w.grad, call="MySequential(Linear(3, 1), Sigmoid())(x).sum().backward()",
                 point="forward calls the modules normally, so gradients reach their parameters",
                 inputs={"x": x})


def test_empty_returns_input(ex):
    net = _build(ex)
    x = torch.randn(2, 3)
    out = run(net, x, call="MySequential()(x)", point="with no modules forward(x) returns x", inputs={"x": x})
    expect(out is x, call="MySequential()(x)", point="with no modules forward(x) returns x",
           expected="x itself", got=describe(out), inputs={"x": x})
    n = run(len, net, call="len(MySequential())", point="len(net) is the number of modules")
    expect(n == 0, call="len(MySequential())", point="len(net) is the number of modules",
           expected="0", got=repr(n))


def test_len_counts_modules(ex):
    lin = nn.Linear(2, 2)
    net = _build(ex, lin, nn.ReLU(), lin)
    call = "len(MySequential(lin, ReLU(), lin))"
    point = "len(net) is the number of modules (a module passed twice counts twice)"
    n = run(len, net, call=call, point=point)
    expect(n == 3, call=call, point=point, expected="3", got=repr(n))


def test_getitem_positive_and_negative(ex):
    mods = _layers()
    net = _build(ex, *mods)
    for i in [0, 1, 3, -1, -2, -4]:
        call = f"net[{i}] with net = {CALL3}"
        point = "net[i] returns the i-th module, negative i counting from the end"
        got = run(lambda: net[i], call=call, point=point)
        expect(got is mods[i], call=call, point=point,
               expected=f"the {type(mods[i]).__name__} passed at position {i % len(mods)}",
               got=describe(got))


@pytest.mark.parametrize("i", [4, 10, -5])
def test_getitem_out_of_range_raises_index_error(ex, i):
    net = _build(ex, *_layers())
    expect_raises(IndexError, lambda: net[i], call=f"net[{i}] with net = {CALL3} (length 4)",
                  point="an index out of range raises IndexError")


@pytest.mark.cuda
def test_to_cuda_moves_every_child_and_forward_runs_there(ex):
    mods = _layers()
    net, seq = _build(ex, *mods), nn.Sequential(*[m for m in _layers()])
    seq.load_state_dict(net.state_dict())
    net.to("cuda")
    devs = sorted({str(t.device) for t in net.state_dict().values()})
    expect(devs == ["cuda:0"], call=f"{CALL3}.to('cuda')",
           point=".to(device) moves every parameter and buffer of every child",
           expected="['cuda:0']", got=f"{devs}")
    x = torch.randn(6, 4)
    out = net(x.cuda())
    expect(out.device.type == "cuda", call="net(x.cuda())", point="forward runs on the module's device",
           expected="a CUDA tensor", got=describe(out))
    expect_close(out.cpu(), seq(x), call="net(x.cuda()).cpu()", rtol=1e-4, atol=1e-5,
                 point="forward on CUDA gives the same result as on the CPU", inputs={"x": x})
