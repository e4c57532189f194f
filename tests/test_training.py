"""Learner tests for the ``training`` exercise: train_epoch, evaluate, fit.

Expected values come from hand-computed gradient steps on a one-weight model
(written out in the comments) or from torch's own losses on the whole data set.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from grader.learner.simulation import Elsewhere
from kata import KataCrash, describe, expect, expect_close, run


def call_str(fn: str, *parts: str, **kwargs: object) -> str:
    """Like kata.call_str, but the positional parts are descriptions, printed without quotes."""
    return f"{fn}({', '.join([*parts, *(f'{k}={v!r}' for k, v in kwargs.items())])})"


# --------------------------------------------------------------------------- helpers

class Spy(nn.Module):
    """Identity layer that records (training flag, grad mode) at every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled()))
        return x


class MaskLike(nn.Module):
    """Identity layer with a reset_mask() that logs when it is called."""

    def __init__(self, log: list[str], name: str) -> None:
        super().__init__()
        self.log, self.name = log, name

    def reset_mask(self) -> None:
        self.log.append(f"reset {self.name}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.log.append("train forward")
        return x


class CountingSGD(torch.optim.SGD):
    """SGD that counts its steps."""

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def one_weight_model() -> nn.Linear:
    """y = w * x with w = 0, in float64 so hand-computed numbers match closely."""
    model = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    return model


def line_loader() -> DataLoader:
    """x = [1, 2, 3], y = 2x, batch size 2: batches hold 2 and then 1 sample."""
    x = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    return DataLoader(TensorDataset(x, 2 * x), batch_size=2, shuffle=False)


def classification_data(n: int = 10, features: int = 4, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=g), torch.randint(0, classes, (n,), generator=g)


def number(value: object) -> float:
    """``float(value)``; a tensor returned by mistake (the return-type tests fail it) is detached first,
    so that torch does not warn from this file about a tensor that requires grad."""
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)  # type: ignore[arg-type]


def weight(model: nn.Linear) -> float:
    return model.weight.detach().cpu().item()


# The hand computation used below (MSE loss, SGD lr=0.1, w starts at 0):
# epoch 0: batch [1, 2] -> errors w*x - y = [-2, -4], loss (4 + 16)/2 = 10,
#          grad 2*mean(x*err) = 2*(-2 - 8)/2 = -10, w = 0 + 1 = 1
#          batch [3]    -> error 3 - 6 = -3, loss 9, grad 2*3*(-3) = -18, w = 1 + 1.8 = 2.8
#          mean loss per sample = (2*10 + 1*9)/3 = 29/3   (batch means averaged: 9.5)
# epoch 1: batch [1, 2] -> errors [0.8, 1.6], loss (0.64 + 2.56)/2 = 1.6,
#          grad 2*(0.8 + 3.2)/2 = 4, w = 2.8 - 0.4 = 2.4
#          batch [3]    -> error 7.2 - 6 = 1.2, loss 1.44, grad 2*3*1.2 = 7.2, w = 2.4 - 0.72 = 1.68
#          mean loss per sample = (2*1.6 + 1*1.44)/3 = 4.64/3
EPOCH0_LOSS, EPOCH0_W = 29 / 3, 2.8
EPOCH1_LOSS, EPOCH1_W = 4.64 / 3, 1.68


# --------------------------------------------------------------------------- train_epoch

def test_train_epoch_returns_python_float(ex):
    model = one_weight_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("train_epoch", "model", "loader", "MSELoss()", "SGD(lr=0.1)")
    point = "returns the epoch's mean loss per sample as a Python float (not a tensor)"
    got = run(ex.train_epoch, model, line_loader(), nn.MSELoss(), opt, call=call, point=point)
    expect(type(got) is float, call=call, point=point, expected="a float", got=f"{type(got).__name__}: {describe(got)}")


def test_train_epoch_hand_computed_steps(ex):
    model = one_weight_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("train_epoch", "Linear(1, 1, bias=False) with w=0", "x=[1,2,3], y=2x, batch_size=2",
                    "MSELoss()", "SGD(lr=0.1)")
    point = ("for each batch: zero the gradients, loss_fn(model(X), y), backward, one optimizer step "
             "(by hand: w goes 0 -> 1 -> 2.8; 3.8 means the gradients were not zeroed)")
    got = run(ex.train_epoch, model, line_loader(), nn.MSELoss(), opt, call=call, point=point)
    expect_close(weight(model), EPOCH0_W, call=call, point=point)
    expect_close(number(got), EPOCH0_LOSS, call=call,
                 point="returns the mean loss per sample: batch losses 10 (2 samples) and 9 (1 sample) "
                       "give (2*10 + 9)/3 = 9.667, not (10 + 9)/2 = 9.5")


def test_train_epoch_weights_a_short_last_batch(ex):
    # lr=0 keeps the model fixed, so the per-sample mean is the loss of the whole data set at once.
    X, y = classification_data(n=10)
    torch.manual_seed(1)
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(TensorDataset(X, y), batch_size=4)  # batches of 4, 4 and 2
    call = call_str("train_epoch", "Linear(4, 3)", "10 samples, batch_size=4", "CrossEntropyLoss()", "SGD(lr=0)")
    point = ("each batch's loss is weighted by its number of samples (batches of 4, 4, 2): "
             "with lr=0 that equals the loss over all 10 samples")
    inputs = {"X": X, "y": y}
    got = run(ex.train_epoch, model, loader, nn.CrossEntropyLoss(), opt, call=call, point=point, inputs=inputs)
    with torch.no_grad():
        want = nn.functional.cross_entropy(model(X), y).item()
    expect_close(number(got), want, call=call, point=point, inputs=inputs)


def test_train_epoch_one_step_per_batch(ex):
    X, y = classification_data(n=10)
    model = nn.Linear(4, 3)
    opt = CountingSGD(model.parameters(), lr=0.1)
    call = call_str("train_epoch", "Linear(4, 3)", "10 samples, batch_size=4", "CrossEntropyLoss()", "SGD(lr=0.1)")
    point = "exactly one optimizer.step() per batch"
    run(ex.train_epoch, model, DataLoader(TensorDataset(X, y), batch_size=4), nn.CrossEntropyLoss(), opt,
        call=call, point=point)
    expect(opt.steps == 3, call=call, point=point, expected="3 steps (3 batches)", got=f"{opt.steps} steps")


def test_train_epoch_switches_to_training_mode(ex):
    spy = Spy()
    model = nn.Sequential(nn.Linear(4, 3), spy)
    model.eval()  # as evaluate() would leave it
    X, y = classification_data(n=6)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("train_epoch", "a model left in eval mode", "2 batches", "CrossEntropyLoss()", "SGD")
    point = "train_epoch first puts the model in training mode (model.train()) and builds graphs"
    run(ex.train_epoch, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(), opt,
        call=call, point=point)
    expect(spy.seen == [(True, True)] * 2, call=call, point=point,
           expected="(training, grad enabled) = (True, True) at both forwards", got=str(spy.seen))


def test_train_epoch_trains_every_layer(ex):
    spy = Spy()
    model = nn.Sequential(nn.Linear(4, 3), spy)
    model.train()
    spy.eval()  # one layer left in eval mode, as a partial .eval() leaves it
    X, y = classification_data(n=6)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("train_epoch", "a model in training mode with one layer left in eval mode", "2 batches",
                    "CrossEntropyLoss()", "SGD")
    point = "model.train() whatever mode the model was in: it sets every layer, even when the model itself is training"
    run(ex.train_epoch, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(), opt,
        call=call, point=point)
    expect(spy.seen == [(True, True)] * 2, call=call, point=point,
           expected="(training, grad enabled) = (True, True) at both forwards in that layer", got=str(spy.seen))


def test_train_epoch_counts_the_samples_it_sees(ex):
    # drop_last=True: 10 samples in batches of 4 give two batches; the last 2 samples are never seen.
    X, y = classification_data(n=10)
    torch.manual_seed(1)
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True)
    call = call_str("train_epoch", "Linear(4, 3)", "10 samples, batch_size=4, drop_last=True", "CrossEntropyLoss()",
                    "SGD(lr=0)")
    point = ("the mean loss per sample of the samples the batches held (8 here, not len(dataset) = 10): "
             "with lr=0, the loss over the first 8 samples")
    inputs = {"X": X, "y": y}
    got = run(ex.train_epoch, model, loader, nn.CrossEntropyLoss(), opt, call=call, point=point, inputs=inputs)
    with torch.no_grad():
        want = nn.functional.cross_entropy(model(X[:8]), y[:8]).item()
    expect_close(number(got), want, call=call, point=point, inputs=inputs)


class InputSpy(nn.Module):
    """Identity layer that records the device of every input it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.devices.append(str(x.device))
        return x


def test_train_epoch_without_device_leaves_batches_alone(ex):
    # The model sits on meta (another device), the batches on the CPU: with device=None the batch
    # goes to the model as it is, so the first forward pass fails; what reached the model counts.
    # The same for evaluate, and for fit, which passes device=None on (not the model's device).
    X, y = classification_data(n=4)
    for name in ("train_epoch", "evaluate", "fit"):
        spy = InputSpy()
        model = nn.Sequential(spy, nn.Linear(4, 3)).to("meta")
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = DataLoader(TensorDataset(X, y), batch_size=2)
        args = {"train_epoch": (model, loader, nn.CrossEntropyLoss(), opt),
                "evaluate": (model, loader, nn.CrossEntropyLoss()),
                "fit": (model, loader, nn.CrossEntropyLoss(), opt, 1)}[name]
        try:
            getattr(ex, name)(*args)
        except NotImplementedError:
            if not spy.devices:
                raise  # an unwritten stub
        except Exception:  # noqa: BLE001 - expected: CPU batches cannot meet meta weights
            pass
        parts = ["model on meta", "CPU loader", "CrossEntropyLoss()"] + \
            {"train_epoch": ["SGD"], "evaluate": [], "fit": ["SGD", "epochs=1"]}[name]
        expect(spy.devices != [] and all(d == "cpu" for d in spy.devices), call=call_str(name, *parts),
               point="with device=None the batch is used where it is (not moved, not even to the model's device)"
                     + ("; fit passes None on, not the model's device" if name == "fit" else ""),
               expected="the model's input on the CPU",
               got=f"inputs on {spy.devices}" if spy.devices else "the model was never called")


def test_train_epoch_does_not_move_model(ex):
    # The model stays on the CPU while the batches go to meta (another device): the forward pass
    # fails there, and only where the parameters end up is judged.
    spy = InputSpy()
    model = nn.Sequential(spy, nn.Linear(4, 3))
    X, y = classification_data(n=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        ex.train_epoch(model, DataLoader(TensorDataset(X, y), batch_size=2), nn.CrossEntropyLoss(), opt,
                       device="meta")
    except NotImplementedError:
        if not spy.devices:
            raise  # an unwritten stub
    except Exception:  # noqa: BLE001 - expected: meta batches cannot meet CPU weights
        pass
    places = sorted({str(p.device) for p in model.parameters()})
    expect(places == ["cpu"], call=call_str("train_epoch", "model on the CPU", "CPU loader", "CrossEntropyLoss()",
                                            "SGD", device="meta"),
           point="train_epoch moves the batches, not the model (fit moves the model)",
           expected="the model's parameters still on the CPU", got=f"parameters on {places}")


class Batches(list):
    """A loader's batches that remember how many were handed out (those after a crash never were)."""

    reached = 0

    def __iter__(self):
        for i, batch in enumerate(list.__iter__(self)):
            self.reached = max(self.reached, i + 1)
            yield batch


def batches_elsewhere(elsewhere: Elsewhere, n: int = 4, seed: int = 0) -> Batches:
    """Batches of 2 that start on another device (meta, holding no values): their data appears
    only when they are moved to the CPU (see ``elsewhere.recording_moves()``), so a batch that is
    not moved fails for real, and code that skips a move when a batch is already on the device
    is fine. The grader's batches behave the same."""
    X, y = classification_data(n=n, seed=seed)
    return Batches((elsewhere.stand_in(X[i:i + 2].clone()), elsewhere.stand_in(y[i:i + 2].clone()))
                   for i in range(0, n, 2))


def run_moving(moves: list, loaders: list[Batches], fn, *args, call: str, point: str, **kwargs) -> str:
    """Call fn; an error after a batch was left on meta is part of the verdict, not a crash.

    An error when every batch it had reached was moved has nothing to do with devices: that is
    reported as the crash it is, not as batches "never moved" that it never got to.
    """
    try:
        fn(*args, **kwargs)
    except NotImplementedError:
        # An unwritten stub: this function, or one it calls (fit's evaluate) after moving every
        # batch it reached. Only a batch left unmoved makes it part of the verdict.
        if not moves or not any(unmoved(b[:b.reached], moves) for b in loaders):
            raise
        return ""
    except Exception as err:  # noqa: BLE001 - reported with the batches that were not moved
        if not any(unmoved(b[:b.reached], moves) for b in loaders):
            raise KataCrash(call, point) from err
        return f"; then it raised {type(err).__name__}: {str(err)[:120]}"
    return ""


def unmoved(batches, moves, label="") -> list[str]:
    """The batch tensors never moved to the CPU, among ``moves`` (batch tensor, target device)."""
    return [f"{label}{name} of batch {i}" for i, (bx, by) in enumerate(batches)
            for name, t in (("X", bx), ("y", by))
            if not any(t is m and d is not None and torch.device(d).type == "cpu" for m, d in moves)]


@pytest.mark.parametrize("by_position", [False, True], ids=["keyword", "by-position"])
def test_train_epoch_moves_batches_to_device(ex, by_position):
    elsewhere = Elsewhere()
    batches = batches_elsewhere(elsewhere)
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    args, kwargs = (("cpu",), {}) if by_position else ((), {"device": "cpu"})
    parts = ["model", "2 batches on the meta device", "CrossEntropyLoss()", "SGD"] + (["'cpu'"] if by_position else [])
    call = call_str("train_epoch", *parts, **kwargs)
    point = "when device is given, both X and y of every batch are moved to it (X.to(device))" + \
        ("; device is train_epoch's fifth argument, so it may be passed by position" if by_position else "")
    with elsewhere.recording_moves() as moves:
        then = run_moving(moves, [batches], ex.train_epoch, model, batches, nn.CrossEntropyLoss(), opt, *args,
                          call=call, point=point, **kwargs)
    missing = unmoved(batches, moves)
    expect(not missing, call=call, point=point,
           expected="X.to('cpu') and y.to('cpu') for every batch", got=f"never moved: {', '.join(missing)}{then}")


# --------------------------------------------------------------------------- evaluate

def fixed_classifier() -> nn.Linear:
    """Linear(2, 3) whose outputs are [a, b, a + b]: class 2 wins when a, b > 0."""
    model = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    return model


def test_evaluate_returns_tuple_of_floats(ex):
    X, y = classification_data(n=5, features=2)
    call = call_str("evaluate", "model", "loader", "CrossEntropyLoss()")
    point = "evaluate returns a tuple (mean loss per sample, accuracy) of two Python floats"
    got = run(ex.evaluate, fixed_classifier(), DataLoader(TensorDataset(X, y), batch_size=2), nn.CrossEntropyLoss(),
              call=call, point=point)
    ok = isinstance(got, tuple) and len(got) == 2 and all(type(v) is float for v in got)
    expect(ok, call=call, point=point, expected="(float, float)",
           got=f"{type(got).__name__}: " + (", ".join(f"{type(v).__name__} {describe(v)}" for v in got)
                                             if isinstance(got, (tuple, list)) else describe(got)))


def test_evaluate_accuracy_by_hand(ex):
    # outputs [a, b, a+b]; predictions: [1, -1] -> class 0, [-1, 1] -> class 1, [1, 1] -> class 2,
    # [2, -3] -> class 0, [-2, -1] -> class 1 (scores -2, -1, -3)
    X = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [2.0, -3.0], [-2.0, -1.0]])
    y = torch.tensor([0, 1, 0, 0, 2])  # right, right, wrong, right, wrong -> 3/5
    loader = DataLoader(TensorDataset(X, y), batch_size=2)  # batches of 2, 2, 1
    call = call_str("evaluate", "Linear(2, 3) giving scores [a, b, a+b]", "5 samples, batch_size=2",
                    "CrossEntropyLoss()")
    point = ("accuracy = fraction of all samples whose argmax over dim 1 equals the label "
             "(predicted classes [0, 1, 2, 0, 1]: 3 of 5 right)")
    inputs = {"X": X, "y": y}
    got = run(ex.evaluate, fixed_classifier(), loader, nn.CrossEntropyLoss(), call=call, point=point, inputs=inputs)
    expect_close(number(got[1]), 0.6, call=call, inputs=inputs, point=point)
    with torch.no_grad():
        want = nn.functional.cross_entropy(fixed_classifier()(X), y).item()
    expect_close(number(got[0]), want, call=call, inputs=inputs,
                 point="the loss is the mean per sample: batch losses weighted by their sizes 2, 2, 1")


class Stream(IterableDataset):
    """The samples of (X, y), one by one, without len() (a stream, as from a file or a socket)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X, self.y = X, y

    def __iter__(self):
        return zip(self.X, self.y)


def test_train_epoch_and_evaluate_take_any_iterable(ex):
    # A generator of (X, y) batches has no len() and no .dataset: count the samples the batches hold.
    X, y = classification_data(n=10)
    torch.manual_seed(1)
    model = nn.Linear(4, 3)
    with torch.no_grad():
        want = nn.functional.cross_entropy(model(X), y).item()
    inputs = {"X": X, "y": y}
    batches = [(X[i:i + 4], y[i:i + 4]) for i in range(0, 10, 4)]  # 4, 4 and 2 samples
    point = ("the loader is a DataLoader or any iterable of (X, y) pairs: a generator has no len() and no "
             ".dataset, so count the samples of the batches it hands out")
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    call = call_str("train_epoch", "Linear(4, 3)", "(b for b in batches of 4, 4, 2)", "CrossEntropyLoss()",
                    "SGD(lr=0)")
    got = run(ex.train_epoch, model, (b for b in batches), nn.CrossEntropyLoss(), opt, call=call, point=point,
              inputs=inputs)
    expect_close(number(got), want, call=call, point=point, inputs=inputs)
    call = call_str("evaluate", "Linear(4, 3)", "(b for b in batches of 4, 4, 2)", "CrossEntropyLoss()")
    got = run(ex.evaluate, model, (b for b in batches), nn.CrossEntropyLoss(), call=call, point=point,
              inputs=inputs)
    expect_close(number(got[0]), want, call=call, point=point, inputs=inputs)
    # A DataLoader over an IterableDataset has no len() either: bool(loader) raises TypeError on it.
    stream = DataLoader(Stream(X, y), batch_size=4)
    call = call_str("fit", "Linear(4, 3)", "DataLoader(<IterableDataset>)", "CrossEntropyLoss()", "SGD(lr=0)",
                    "epochs=1", "val_loader=DataLoader(<IterableDataset>)")
    point = ("fit's loaders are DataLoaders or any iterables of (X, y) pairs: a DataLoader over an IterableDataset "
             "has no len() (test val_loader with `is not None`, not its truthiness)")
    history = run(ex.fit, model, stream, nn.CrossEntropyLoss(), opt, epochs=1, val_loader=stream, call=call,
                  point=point, inputs=inputs)
    keys = [sorted(h) for h in history] if isinstance(history, list) else history
    expect(keys == [["epoch", "train_loss", "val_acc", "val_loss"]], call=call, point=point,
           expected="[['epoch', 'train_loss', 'val_acc', 'val_loss']]", got=str(keys), inputs=inputs)
    expect_close([number(history[0]["train_loss"]), number(history[0]["val_loss"])], [want, want], call=call,
                 point=point + " (lr=0: both losses are the loss over all 10 samples)", inputs=inputs)


def test_evaluate_eval_mode_without_graphs(ex):
    spy = Spy()
    model = nn.Sequential(nn.Linear(4, 3), spy)
    model.train()  # as train_epoch would leave it
    X, y = classification_data(n=6)
    call = call_str("evaluate", "a model left in training mode", "2 batches", "CrossEntropyLoss()")
    point = "evaluate puts the model in eval mode and runs under torch.no_grad() (or inference_mode)"
    run(ex.evaluate, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(),
        call=call, point=point)
    expect(spy.seen == [(False, False)] * 2, call=call, point=point,
           expected="(training, grad enabled) = (False, False) at both forwards", got=str(spy.seen))


def test_evaluate_evaluates_every_layer(ex):
    spy = Spy()
    model = nn.Sequential(nn.Linear(4, 3), spy)
    model.eval()
    spy.train()  # one layer left in training mode
    X, y = classification_data(n=6)
    call = call_str("evaluate", "a model in eval mode with one layer left in training mode", "2 batches",
                    "CrossEntropyLoss()")
    point = ("model.eval() whatever mode the model was in: it sets every layer, even when the model itself "
             "is in eval mode")
    run(ex.evaluate, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(),
        call=call, point=point)
    expect(spy.seen == [(False, False)] * 2, call=call, point=point,
           expected="(training, grad enabled) = (False, False) at both forwards in that layer", got=str(spy.seen))


def test_evaluate_leaves_parameters_alone(ex):
    X, y = classification_data(n=6)
    model = nn.Linear(4, 3)
    for p in model.parameters():  # stale gradients, as after a training epoch
        p.grad = torch.ones_like(p)
    before = [p.detach().clone() for p in model.parameters()]
    call = call_str("evaluate", "Linear(4, 3)", "loader", "CrossEntropyLoss()")
    point = "evaluate does not change the parameters"
    run(ex.evaluate, model, DataLoader(TensorDataset(X, y), batch_size=4), nn.CrossEntropyLoss(),
        call=call, point=point)
    for name, (p, old) in zip(("weight", "bias"), zip(model.parameters(), before)):
        expect_close(p.detach(), old, rtol=0, atol=0, call=call, point=f"{point} ({name} changed)")


@pytest.mark.parametrize("by_position", [False, True], ids=["keyword", "by-position"])
def test_evaluate_moves_batches_to_device(ex, by_position):
    elsewhere = Elsewhere()
    batches = batches_elsewhere(elsewhere)
    args, kwargs = (("cpu",), {}) if by_position else ((), {"device": "cpu"})
    parts = ["model", "2 batches on the meta device", "CrossEntropyLoss()"] + (["'cpu'"] if by_position else [])
    call = call_str("evaluate", *parts, **kwargs)
    point = "when device is given, both X and y of every batch are moved to it" + \
        ("; device is evaluate's fourth argument, so it may be passed by position" if by_position else "")
    with elsewhere.recording_moves() as moves:
        then = run_moving(moves, [batches], ex.evaluate, nn.Linear(4, 3), batches, nn.CrossEntropyLoss(), *args,
                          call=call, point=point, **kwargs)
    missing = unmoved(batches, moves)
    expect(not missing, call=call, point=point,
           expected="X.to('cpu') and y.to('cpu') for every batch", got=f"never moved: {', '.join(missing)}{then}")


# --------------------------------------------------------------------------- fit

def test_fit_history_without_val(ex):
    model = one_weight_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("fit", "model", "loader", "MSELoss()", "SGD(lr=0.1)", epochs=2)
    point = "fit returns a list with one dict per epoch"
    history = run(ex.fit, model, line_loader(), nn.MSELoss(), opt, epochs=2, call=call, point=point)
    expect(isinstance(history, list) and len(history) == 2 and all(isinstance(h, dict) for h in history),
           call=call, point=point, expected="a list of 2 dicts", got=describe(history))
    keys = [sorted(h) for h in history]
    expect(keys == [["epoch", "train_loss"]] * 2, call=call,
           point="without val_loader each dict has exactly the keys 'epoch' and 'train_loss'",
           expected="[['epoch', 'train_loss'], ['epoch', 'train_loss']]", got=str(keys))
    epochs = [h["epoch"] for h in history]
    expect(epochs == [0, 1] and all(type(e) is int for e in epochs), call=call,
           point="'epoch' is an int counting from 0", expected="[0, 1]", got=repr(epochs))
    losses = [h["train_loss"] for h in history]
    expect(all(type(v) is float for v in losses), call=call, point="'train_loss' is a Python float",
           expected="floats", got=", ".join(type(v).__name__ for v in losses))
    expect_close(losses, [EPOCH0_LOSS, EPOCH1_LOSS], call=call,
                 point="'train_loss' is train_epoch's mean loss per sample for that epoch "
                       "(by hand: 29/3 then 4.64/3; if train_epoch's own tests fail too, fix it first)")
    expect_close(weight(model), EPOCH1_W, call=call,
                 point="fit trains `epochs` epochs with the given optimizer (by hand: w = 2.8, then 1.68)")


def test_fit_history_with_val(ex):
    X, y = classification_data(n=10)
    Xv, yv = classification_data(n=7, seed=1)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr=0: every epoch sees the same model
    train_dl = DataLoader(TensorDataset(X, y), batch_size=4)
    val_dl = DataLoader(TensorDataset(Xv, yv), batch_size=3)
    call = call_str("fit", "Linear(4, 3)", "train: 10 samples", "CrossEntropyLoss()", "SGD(lr=0)",
                    "epochs=2", "val_loader=<7 samples, batch_size=3>")
    point = "with val_loader each dict has exactly 'epoch', 'train_loss', 'val_loss', 'val_acc'"
    history = run(ex.fit, model, train_dl, nn.CrossEntropyLoss(), opt, epochs=2, val_loader=val_dl,
                  call=call, point=point)
    keys = [sorted(h) for h in history] if isinstance(history, list) else history
    want_keys = ["epoch", "train_loss", "val_acc", "val_loss"]
    expect(keys == [want_keys] * 2, call=call, point=point, expected=str([want_keys] * 2), got=str(keys))
    with torch.no_grad():
        out = model(Xv)
        want_loss = nn.functional.cross_entropy(out, yv).item()
        want_acc = (out.argmax(1) == yv).double().mean().item()
    for h in history:
        expect_close([h["val_loss"], h["val_acc"]], [want_loss, want_acc], call=call,
                     point="'val_loss' and 'val_acc' are what evaluate(model, val_loader, loss_fn) returns "
                           "(if evaluate's own tests fail too, fix it first)",
                     inputs={"Xv": Xv, "yv": yv})


def test_fit_resets_masks_every_epoch(ex):
    log: list[str] = []
    model = nn.Sequential(nn.Linear(4, 4), MaskLike(log, "a"),
                          nn.Sequential(nn.ReLU(), MaskLike(log, "b")), nn.Linear(4, 3))
    X, y = classification_data(n=6)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("fit", "model with reset_mask() on a nested submodule", "2 batches", "CrossEntropyLoss()", "SGD",
                    epochs=2)
    point = ("at the start of every epoch fit calls reset_mask() on every submodule that has one "
             "(nested ones too), before training")
    run(ex.fit, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(), opt, epochs=2,
        call=call, point=point)
    # Summarise the log as blocks: (resets seen, training forwards that follow them).
    blocks: list[list] = []
    for event in log:
        if event == "train forward":
            if not blocks:
                blocks.append([set(), 0])
            blocks[-1][1] += 1
        else:
            if not blocks or blocks[-1][1] > 0:
                blocks.append([set(), 0])
            blocks[-1][0].add(event)
    got = [(sorted(resets), n) for resets, n in blocks]
    # per epoch: both resets (any order), then 2 batches x 2 logging layers = 4 training forwards
    want = [(["reset a", "reset b"], 4)] * 2
    expect(got == want, call=call, point=point,
           expected=f"(resets, training forwards after them) per epoch: {want}", got=str(got))


@pytest.mark.parametrize("device", ["meta", torch.device("meta")], ids=["str", "torch.device"])
def test_fit_moves_model_to_device(ex, device):
    # The model starts on the CPU and fit is asked for meta, another device: training cannot run
    # there (meta tensors hold no values), but where the parameters end up is what counts. A
    # spy records where the weights were at the first forward pass: fit moves the model first.
    model = nn.Sequential(nn.Linear(4, 3))
    seen: list[str] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(str(module[0].weight.device)))
    X, y = classification_data(n=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        ex.fit(model, DataLoader(TensorDataset(X, y), batch_size=2), nn.CrossEntropyLoss(), opt, epochs=1,
               device=device)
    except NotImplementedError:
        if model[0].weight.device.type != "meta":
            raise  # an unwritten stub
    except Exception:  # noqa: BLE001 - expected on meta; only the parameters' device is judged
        pass
    call = call_str("fit", "model on the CPU", "loader", "CrossEntropyLoss()", "SGD", epochs=1, device=device)
    places = sorted({str(p.device) for p in model.parameters()})
    expect(places == ["meta"], call=call,
           point="when device is given (a str or a torch.device), fit moves the model there (model.to(device))",
           expected="every parameter on meta", got=f"parameters on {places}")
    expect(seen[:1] == ["meta"], call=call, point="fit moves the model first, before training",
           expected="the weights on meta at the first forward pass",
           got=f"weights on {seen[0]} at the first forward pass" if seen else "no forward pass")


class MaskedModel(nn.Module):
    """A model with a reset_mask() of its own, holding a layer whose reset_mask() is inherited."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self.body = nn.Sequential(nn.Linear(4, 3), InheritedMask(log, "inherited"))

    def reset_mask(self) -> None:
        self.log.append("reset model")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class InheritedMask(MaskLike):
    """MaskLike under another name: its reset_mask() comes from the base class."""


def test_fit_resets_the_model_itself_and_inherited_masks(ex):
    log: list[str] = []
    model = MaskedModel(log)
    X, y = classification_data(n=6)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("fit", "a model with a reset_mask() of its own, holding a layer that inherits one", "2 batches",
                    "CrossEntropyLoss()", "SGD", epochs=2)
    point = ("every module of model.modules() that has reset_mask() gets the call at the start of each epoch: "
             "the model itself included, an inherited method too")
    run(ex.fit, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(), opt, epochs=2,
        call=call, point=point)
    resets = [e for e in log if e.startswith("reset")]
    expect(sorted(resets) == ["reset inherited"] * 2 + ["reset model"] * 2, call=call, point=point,
           expected="'reset model' and 'reset inherited' once per epoch", got=str(resets))


def test_fit_with_device_keeps_the_given_optimizer(ex):
    X, y = classification_data(n=6)
    model = nn.Linear(4, 3)
    opt = CountingSGD(model.parameters(), lr=0.1)
    call = call_str("fit", "Linear(4, 3)", "2 batches", "CrossEntropyLoss()", "SGD(lr=0.1)", epochs=2, device="cpu")
    point = "fit does not create an optimizer: the one it is given makes every step, with a device too"
    run(ex.fit, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(), opt, epochs=2,
        device="cpu", call=call, point=point)
    expect(opt.steps == 4, call=call, point=point, expected="4 steps of the given optimizer (2 epochs x 2 batches)",
           got=f"{opt.steps} steps")


@pytest.mark.parametrize("by_position", [False, True], ids=["keyword", "by-position"])
def test_fit_passes_device_on(ex, by_position):
    elsewhere = Elsewhere()
    train, val = batches_elsewhere(elsewhere, seed=0), batches_elsewhere(elsewhere, seed=1)
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if by_position:  # the sheet's order: fit(model, train_loader, loss_fn, optimizer, epochs, val_loader, device)
        args, kwargs = (1, val, "cpu"), {}
        call = call_str("fit", "model", "2 batches", "CrossEntropyLoss()", "SGD", "1", "<2 batches>", "'cpu'")
    else:
        args, kwargs = (), {"epochs": 1, "val_loader": val, "device": "cpu"}
        call = call_str("fit", "model", "2 batches", "CrossEntropyLoss()", "SGD", "epochs=1", "val_loader=<2 batches>",
                        "device='cpu'")
    point = "fit passes device on: every training and validation batch is moved to it" + \
        ("; epochs, val_loader and device are fit's 5th to 7th arguments, in this order, so they may be passed "
         "by position" if by_position else "")
    with elsewhere.recording_moves() as moves:
        then = run_moving(moves, [train, val], ex.fit, model, train, nn.CrossEntropyLoss(), opt, *args,
                          call=call, point=point, **kwargs)
    missing = unmoved(train, moves, "train ") + unmoved(val, moves, "val ")
    expect(not missing, call=call, point=point,
           expected="every X and y moved with .to('cpu')", got=f"never moved: {', '.join(missing)}{then}")


def test_fit_trains_then_evaluates(ex):
    spy = Spy()
    model = nn.Sequential(nn.Linear(4, 3), spy)
    X, y = classification_data(n=6)
    Xv, yv = classification_data(n=4, seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("fit", "model", "2 training batches", "CrossEntropyLoss()", "SGD", "epochs=2",
                    "val_loader=<2 batches>")
    point = "each epoch trains (training mode, grad on) and then evaluates (eval mode, no grad)"
    run(ex.fit, model, DataLoader(TensorDataset(X, y), batch_size=3), nn.CrossEntropyLoss(), opt, epochs=2,
        val_loader=DataLoader(TensorDataset(Xv, yv), batch_size=2), call=call, point=point)
    want = ([(True, True)] * 2 + [(False, False)] * 2) * 2
    expect(spy.seen == want, call=call, point=point,
           expected=f"(training, grad enabled) at each forward: {want}", got=str(spy.seen))


def test_model_is_called_not_its_forward(ex):
    # model(X) runs the module's hooks (pruning, weight norm, feature probes); model.forward(X) skips them.
    X, y = classification_data(n=6)
    point = "compute loss_fn(model(X), y): calling the model runs its hooks, model.forward(X) skips them"
    for name in ("train_epoch", "evaluate", "fit"):
        spy = Spy()
        model = nn.Sequential(nn.Linear(4, 3), spy)
        hooks: list[int] = []
        model.register_forward_hook(lambda module, args, out: hooks.append(1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loader = DataLoader(TensorDataset(X, y), batch_size=3)
        args = {"train_epoch": (model, loader, nn.CrossEntropyLoss(), opt),
                "evaluate": (model, loader, nn.CrossEntropyLoss()),
                "fit": (model, loader, nn.CrossEntropyLoss(), opt, 1, loader)}[name]
        parts = ["model with a forward hook", "2 batches", "CrossEntropyLoss()"] + \
            {"train_epoch": ["SGD"], "evaluate": [], "fit": ["SGD", "epochs=1", "val_loader=<2 batches>"]}[name]
        call = call_str(name, *parts)
        run(getattr(ex, name), *args, call=call, point=point)
        expect(len(spy.seen) > 0 and len(hooks) == len(spy.seen), call=call, point=point,
               expected=f"the model's hook run at each of its {len(spy.seen)} forward passes" if spy.seen
               else "at least one forward pass through the model, its hook run each time",
               got=f"it ran {len(hooks)} times" if spy.seen else "the model was never called")


def test_fit_zero_epochs(ex):
    model = one_weight_model()
    opt = CountingSGD(model.parameters(), lr=0.1)
    call = call_str("fit", "model", "loader", "MSELoss()", "SGD(lr=0.1)", epochs=0)
    point = "one dict per epoch i = 0, ..., epochs - 1: none, and no optimizer step, for epochs=0"
    history = run(ex.fit, model, line_loader(), nn.MSELoss(), opt, epochs=0, call=call, point=point)
    expect(history == [] and opt.steps == 0, call=call, point=point, expected="[] and 0 optimizer steps",
           got=f"{describe(history)} and {opt.steps} optimizer step(s)")
    # With no epoch to fail on meta, fit returns: where the parameters end is seen after it.
    model = nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X, y = classification_data(n=4)
    call = call_str("fit", "model on the CPU", "loader", "CrossEntropyLoss()", "SGD", epochs=0, device="meta")
    point = "when device is given, fit moves the model there and its parameters end on that device (epochs=0 too)"
    history = run(ex.fit, model, DataLoader(TensorDataset(X, y), batch_size=2), nn.CrossEntropyLoss(), opt,
                  epochs=0, device="meta", call=call, point=point)
    places = sorted({str(p.device) for p in model.parameters()})
    expect(history == [] and places == ["meta"], call=call, point=point, expected="[], every parameter on meta",
           got=f"{describe(history)}, parameters on {places}")


@pytest.mark.cuda
def test_fit_trains_on_cuda(ex):
    X, y = classification_data(n=10)
    runs = {}
    for device in ("cpu", "cuda"):  # the last one, cuda, leaves its `call` for the checks below
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        train_dl = DataLoader(TensorDataset(X.double(), y), batch_size=4)
        call = call_str("fit", "MLP in float64 on the CPU", "CPU loader", "CrossEntropyLoss()", "SGD",
                        epochs=2, device=device)
        history = run(ex.fit, model, train_dl, nn.CrossEntropyLoss(), opt, epochs=2, val_loader=train_dl,
                      device=device, call=call,
                      point="fit(..., device=device) moves the model and every batch there and trains on it")
        runs[device] = (model, history)
    places = sorted({str(p.device) for p in runs["cuda"][0].parameters()})
    expect(all(p.startswith("cuda") for p in places), call=call,
           point="fit(..., device='cuda') ends with every parameter on the GPU",
           expected="cuda:0", got=", ".join(places))
    for key in ("train_loss", "val_loss", "val_acc"):
        expect_close([h[key] for h in runs["cuda"][1]], [h[key] for h in runs["cpu"][1]], call=call,
                     rtol=1e-6, atol=1e-8,
                     point=f"training on the GPU gives the same history as on the CPU ({key!r})")


@pytest.mark.cuda
def test_train_epoch_batches_on_cuda(ex):
    X, y = classification_data(n=6)
    model = nn.Linear(4, 3).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    call = call_str("train_epoch", "model on cuda", "CPU loader", "CrossEntropyLoss()", "SGD", device="cuda")
    point = "batches are moved to the model's device and a Python float comes back"
    got = run(ex.train_epoch, model, DataLoader(TensorDataset(X, y), batch_size=4), nn.CrossEntropyLoss(), opt,
              device="cuda", call=call, point=point)
    expect(type(got) is float, call=call, point=point, expected="a float", got=describe(got))
