"""Hidden checks for training: train_epoch, evaluate and fit against the reference.

The probes build identical float64 models (from a seed sent here), loaders and
optimizers for the submission and the reference, so parameter trajectories and
losses can be compared tightly. Nothing here is random in the submission's
hands (no shuffling, no dropout): there are no statistical checks.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch

from grader.checking import expect, expect_close
from grader.results import GATE

TIGHT = {"rtol": 1e-9, "atol": 1e-12}  # float64 parameters, same operations: only rounding may differ
# Returned losses and accuracies: a correct submission may accumulate them in float32 (a tensor
# total), so allow float32 rounding; every wrong weighting we know of is off by far more.
NUMBER = {"rtol": 1e-6, "atol": 1e-8}
GPU = {"rtol": 1e-6, "atol": 1e-9}  # float64 on CUDA vs CPU: other kernels, same maths


# The move checks hand out batches on the meta device whose data appears only when they are
# moved to the CPU: judged by what reaches the model, so `if X.device != device` is fine.
ELSEWHERE = " with every batch starting on another device (meta)"


# `device` is typed `str | torch.device | None`: the device checks hand it over in both forms.
FORMS = (False, True)  # as_object: the string 'cpu', then torch.device('cpu')
# (as_object, positional): device='cpu', device=torch.device('cpu'), then 'cpu' by position
CALL_FORMS = ((False, False), (True, False), (False, True))


def _dev(name: str, as_object: bool) -> str:
    """How a device appears in a call: device='cpu' or device=torch.device('cpu')."""
    return f"torch.device({name!r})" if as_object else repr(name)


def _never_moved(got: dict) -> str:
    raised = f"; then it raised {got['raised']}" if got.get("raised") else ""
    if not got.get("batches"):
        return "no batch was drawn from the loader" + raised
    return "never moved: " + ", ".join(got["unmoved"]) + raised


def _all_moved(got: dict) -> bool:
    return bool(got.get("batches")) and got["unmoved"] == []


# --------------------------------------------------------------------------- inputs

def _device_arg(name: str, as_object: bool, positional: bool) -> str:
    return f", ..., {_dev(name, as_object)} (device by position)" if positional else f", device={_dev(name, as_object)}"


def _spec(rng, d_in=4, d_out=3, hidden=8):
    return {"in": d_in, "out": d_out, "hidden": hidden,
            "seed": int(torch.randint(0, 2**31 - 1, (1,), generator=rng))}


def _classes(rng, n, d_in=4, classes=3):
    return (torch.randn(n, d_in, generator=rng, dtype=torch.float64),
            torch.randint(0, classes, (n,), generator=rng))


def _uneven(rng):
    """(n, batch_size) with a short last batch: n = k*bs + r, 0 < r < bs."""
    bs = int(torch.randint(3, 6, (1,), generator=rng))
    k = int(torch.randint(2, 4, (1,), generator=rng))
    r = int(torch.randint(1, bs, (1,), generator=rng))
    return k * bs + r, bs


def _sizes(n, bs):
    return [bs] * (n // bs) + ([n % bs] if n % bs else [])


def _call(fn, n, bs, extra=""):
    return f"{fn}(model, loader of {n} samples in batches {_sizes(n, bs)}{extra})"


def _num(info, *, call, point):
    """The number a probe described, failing with the type when there is none."""
    expect(info["value"] is not None, call=call, point=point,
           expected="a number", got=f"a {info['type']}")
    return info["value"]


# --------------------------------------------------------------------------- train_epoch

def test_train_epoch_returns_float(sub, rng):
    """train_epoch returns a Python float, not a tensor"""
    for loss in ("ce", "mse"):
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        if loss == "mse":
            y = torch.randn(n, 3, generator=rng, dtype=torch.float64)
        got = sub.train_epoch(_spec(rng), X, y, bs, loss=loss)["result"]
        expect(got["is_float"], call=_call("train_epoch", n, bs, f", loss={loss!r}"),
               point="returns the epoch's mean loss per sample as a Python float (loss.item(), not the tensor)",
               expected="float", got=got["type"])


@pytest.mark.weight(3)
def test_train_epoch_per_sample_mean(sub, ref, rng):
    """train_epoch weights each batch's loss by its number of samples (short last batch)"""
    # lr=0: the model never changes, so the right answer is the loss over the whole data set;
    # averaging batch means gives another number whenever the last batch is short.
    for loss in ("ce", "ce_fn", "mse"):
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        if loss == "mse":
            y = torch.randn(n, 3, generator=rng, dtype=torch.float64)
        args = (_spec(rng), X, y, bs)
        call = _call("train_epoch", n, bs, f", loss={loss!r}, SGD(lr=0)")
        point = "returns sum(batch loss * len(y)) / total samples, not the mean of the batch means"
        got = _num(sub.train_epoch(*args, loss=loss, opt="sgd0")["result"], call=call, point=point)
        want = ref.train_epoch(*args, loss=loss, opt="sgd0")["result"]["value"]
        expect_close(got, want, call=call, point=point, **NUMBER)


@pytest.mark.parametrize("opt", [pytest.param("sgd", marks=pytest.mark.weight(2)), "momentum", "adam"])
def test_train_epoch_trajectory(sub, ref, rng, opt):
    """train_epoch: zero_grad, forward, backward, one step per batch (same parameters as the reference)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    args = (_spec(rng), X, y, bs)
    got, want = sub.train_epoch(*args, opt=opt), ref.train_epoch(*args, opt=opt)
    call = _call("train_epoch", n, bs, f", optimizer={opt!r}")
    for i, (g, w) in enumerate(zip(got["params"], want["params"])):
        expect_close(g, w, call=call, **TIGHT,
                     point=f"parameter {i} after one epoch differs from the reference: each batch must zero "
                           "the gradients, compute loss_fn(model(X), y), backward, then step exactly once")
    point = "returns the mean loss per sample, each batch's loss taken before its step"
    expect_close(_num(got["result"], call=call, point=point), want["result"]["value"],
                 call=call, point=point, **NUMBER)


def test_train_epoch_one_step_per_batch(sub, rng):
    """train_epoch calls optimizer.step() exactly once per batch"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    got = sub.train_epoch(_spec(rng), X, y, bs)
    expect(got["steps"] == got["batches"], call=_call("train_epoch", n, bs),
           point="exactly one optimizer.step() per batch, no extra step",
           expected=f"{got['batches']} steps", got=f"{got['steps']} steps")


@pytest.mark.weight(2)
def test_train_epoch_training_mode(sub, rng):
    """train_epoch puts the model in training mode (model.train()) and builds graphs"""
    # Second case: the model itself in training mode but a layer of it left in eval mode (a partial
    # .eval()); model.train() sets every submodule, so "whatever mode it was in before" covers it.
    for mode, state in (("eval", "a model left in eval mode"),
                        ("train-child-eval", "a model in training mode with one layer left in eval mode")):
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        got = sub.train_epoch(_spec(rng), X, y, bs, mode=mode)
        seen = [e[4:] for e in got["log"]]
        expect(len(seen) > 0 and all(e == "train:grad" for e in seen),
               call=_call("train_epoch", n, bs) + " on " + state,
               point="every forward pass of train_epoch runs in training mode (model.train(), whatever mode "
                     "the model or its layers were in before) with grad enabled",
               expected="train:grad at every forward (in the layer left in eval mode too)", got=f"{seen}")


def test_train_epoch_moves_batches(sub, rng):
    """train_epoch moves X and y of every batch to `device` (given as a str or a torch.device, by keyword or
    by position)"""
    for as_object, positional in CALL_FORMS:
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        got = sub.train_epoch(_spec(rng), X, y, bs, device="cpu", elsewhere=True, as_object=as_object,
                              positional=positional)
        expect(_all_moved(got), call=_call("train_epoch", n, bs, _device_arg("cpu", as_object, positional)) + ELSEWHERE,
               point="when device is given (a str or a torch.device), both X and y of every batch are moved "
                     "to it (X.to(device))",
               expected="every batch moved", got=_never_moved(got))


def test_train_epoch_device_none_uses_batches_where_they_are(sub, rng):
    """with device=None, train_epoch feeds the model each batch where the loader made it (no move)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    # The model sits on meta, the batches on the CPU: training cannot run (the first forward pass
    # fails), but what reached the model is judged: the batch as the loader gave it, on the CPU.
    got = sub.train_epoch(_spec(rng), X, y, bs, model_on="meta")
    _expect_inputs_where_made(
        got, _call("train_epoch", n, bs) + " (device=None) with the model on meta and the batches on the CPU",
        "with device=None the batch is used where it is: X is not moved (not even to the model's device)")


def _expect_inputs_where_made(got: dict, call: str, point: str) -> None:
    inputs = [f["input"] for f in got["forwards"]]
    raised = f"; it raised {got['raised']}" if got["raised"] and not inputs else ""
    expect(inputs != [] and all(d == "cpu" for d in inputs), call=call, point=point,
           expected="the model's input on the CPU at every forward", got=f"inputs on {inputs}{raised}")


def test_evaluate_device_none_uses_batches_where_they_are(sub, rng):
    """with device=None, evaluate feeds the model each batch where the loader made it (no move)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    # As for train_epoch: the model on meta, the batches on the CPU; what reached the model is judged.
    got = sub.evaluate(_spec(rng), X, y, bs, model_on="meta")
    _expect_inputs_where_made(
        got, _call("evaluate", n, bs) + " (device=None) with the model on meta and the batches on the CPU",
        "with device=None the batch is used where it is: X is not moved (not even to the model's device)")


def test_evaluate_counts_samples_seen(sub, ref, rng):
    """evaluate divides by the samples its batches held (a loader with drop_last=True)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    args = (_spec(rng), X, y, bs)
    call = (f"evaluate(model, DataLoader of {n} samples, batch_size={bs}, drop_last=True: batches "
            f"{[bs] * (n // bs)}, the last {n % bs} samples dropped)")
    point = ("the loss is sum(batch loss * len(y)) / the number of samples in the batches the loader handed "
             "out, and so is the accuracy's denominator (not len(loader.dataset))")
    _expect_evaluate_as_ref(sub, ref, args, call, point, drop_last=True)


def _expect_evaluate_as_ref(sub, ref, args: tuple, call: str, point: str, **probe: Any) -> None:
    """evaluate's (loss, accuracy) on the probe's batches equal the reference's."""
    got = sub.evaluate(*args, **probe)["items"]
    want = ref.evaluate(*args, **probe)["items"]
    expect(len(got) == 2, call=call, point=point, expected="(loss, accuracy)", got=f"{len(got)} values")
    for i in (0, 1):
        expect_close(_num(got[i], call=call, point=point), want[i]["value"], call=call, point=point, **NUMBER)


def test_any_iterable_of_batches(sub, ref, rng):
    """train_epoch and evaluate take any iterable of (X, y) pairs: a generator has no len and no .dataset"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    args = (_spec(rng), X, y, bs)
    point = ("the loader is a DataLoader or any iterable of (inputs, targets) pairs: count the samples of the "
             "batches it hands out (a generator has no len() and no .dataset)")
    call = f"train_epoch(model, (b for b in loader), ...) with a loader of {n} samples in batches {_sizes(n, bs)}"
    got = sub.train_epoch(*args, generator=True)["result"]
    want = ref.train_epoch(*args, generator=True)["result"]["value"]
    expect_close(_num(got, call=call, point=point), want, call=call, point=point, **NUMBER)
    call = f"evaluate(model, (b for b in loader), ...) with a loader of {n} samples in batches {_sizes(n, bs)}"
    _expect_evaluate_as_ref(sub, ref, args, call, point, generator=True)
    # A DataLoader over an IterableDataset has no len() either: `if val_loader:` raises TypeError on it.
    fit_args, kwargs, call = _fit_args(rng, epochs=1, val=True)
    call = call.replace("train loader", "DataLoader(<IterableDataset>), ").replace(
        "val_loader in", "val_loader=DataLoader(<IterableDataset>), ")
    point = ("fit's loaders are DataLoaders or any iterables of (inputs, targets) pairs: a DataLoader over an "
             "IterableDataset has no len() (test val_loader with `is not None`, not its truthiness)")
    got, want = sub.fit(*fit_args, stream=True, **kwargs), ref.fit(*fit_args, stream=True, **kwargs)
    h = _history(got, call, point)
    expect(len(h) == 1 and sorted(h[0]["keys"]) == ["epoch", "train_loss", "val_acc", "val_loss"], call=call,
           point=point, expected="[{'epoch', 'train_loss', 'val_acc', 'val_loss'}]", got=f"{[e['keys'] for e in h]}")
    for key in ("train_loss", "val_loss", "val_acc"):
        expect_close(_num(h[0]["values"][key], call=call, point=point),
                     want["history"][0]["values"][key]["value"], call=call + f"[0][{key!r}]", point=point, **NUMBER)


@pytest.mark.weight(1)
def test_model_is_called_not_its_forward(sub, rng):
    """train_epoch, evaluate and fit compute model(X), which runs the model's hooks (model.forward(X) skips them)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    point = ("compute model(X): calling the module runs its hooks (pruning, weight norm, feature probes); "
             "model.forward(X) skips them")
    fit_args, kwargs, fit_call = _fit_args(rng, epochs=1, val=True)
    for call, got in ((_call("train_epoch", n, bs), sub.train_epoch(_spec(rng), X, y, bs)),
                      (_call("evaluate", n, bs), sub.evaluate(_spec(rng), X, y, bs)),
                      (fit_call, sub.fit(*fit_args, **kwargs))):
        forwards = len(got["forwards"])
        expect(forwards > 0 and got["called"] == forwards, call=call + " with a model that counts its hooks' runs",
               point=point, expected=f"the model's hooks run at each of its {forwards} forward passes",
               got=f"they ran {got['called']} times")


def test_train_epoch_counts_samples_seen(sub, ref, rng):
    """train_epoch divides by the samples its batches held (a loader with drop_last=True)"""
    # lr=0: the model never changes; the loader drops its short last batch, so the right answer is
    # the loss over the samples of the full batches, not their sum divided by the data set's size.
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    args = (_spec(rng), X, y, bs)
    call = (f"train_epoch(model, DataLoader of {n} samples, batch_size={bs}, drop_last=True: batches "
            f"{[bs] * (n // bs)}, the last {n % bs} samples dropped, SGD(lr=0))")
    point = ("returns sum(batch loss * len(y)) / the number of samples in the batches the loader handed out "
             "(not len(loader.dataset))")
    got = _num(sub.train_epoch(*args, opt="sgd0", drop_last=True)["result"], call=call, point=point)
    want = ref.train_epoch(*args, opt="sgd0", drop_last=True)["result"]["value"]
    expect_close(got, want, call=call, point=point, **NUMBER)


@pytest.mark.weight(0.5)
def test_train_epoch_does_not_move_model(sub, rng):
    """train_epoch does not move the model (fit does that)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    got = sub.train_epoch(_spec(rng), X, y, bs, device="meta")
    # The model stays on the CPU while the batches go to meta: the forward pass fails there,
    # and only where the parameters end up is judged.
    moved = sorted({d for d in got["devices"] if d != "cpu"})
    expect(got["batches"] > 0, call=_call("train_epoch", n, bs, ", device='meta'") + " with the model on the CPU",
           point=f"train_epoch draws the batches {GATE}",
           expected="at least one batch drawn from the loader", got=f"none; it raised {got['raised']}")
    expect(not moved, call=_call("train_epoch", n, bs, ", device='meta'") + " with the model on the CPU",
           point="train_epoch moves the batches, not the model (fit moves the model)",
           expected="the model's parameters still on the CPU", got=f"parameters moved to {moved}")


# --------------------------------------------------------------------------- evaluate

def test_evaluate_returns_tuple_of_floats(sub, rng):
    """evaluate returns a tuple of two Python floats"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    got = sub.evaluate(_spec(rng), X, y, bs)
    kinds = [i["type"] for i in got["items"]]
    ok = got["type"] == "tuple" and len(got["items"]) == 2 and all(i["is_float"] for i in got["items"])
    expect(ok, call=_call("evaluate", n, bs),
           point="returns (mean loss per sample, accuracy) as a tuple of two Python floats",
           expected="tuple (float, float)", got=f"{got['type']} ({', '.join(kinds)})")


@pytest.mark.weight(2)
def test_evaluate_loss_per_sample(sub, ref, rng):
    """evaluate's loss is the mean per sample (batch losses weighted by batch size)"""
    for loss in ("ce", "ce_fn"):
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        args = (_spec(rng), X, y, bs)
        call = _call("evaluate", n, bs, f", loss={loss!r}")
        point = "the loss is sum(batch loss * len(y)) / total samples, not the mean of the batch means"
        got = sub.evaluate(*args, loss=loss)["items"]
        expect(len(got) == 2, call=call, point=point, expected="(loss, accuracy)", got=f"{len(got)} values")
        want = ref.evaluate(*args, loss=loss)["items"]
        expect_close(_num(got[0], call=call, point=point), want[0]["value"], call=call, point=point, **NUMBER)


@pytest.mark.weight(2)
def test_evaluate_accuracy(sub, ref, rng):
    """evaluate's accuracy is the fraction of samples whose argmax over dim 1 equals the label"""
    point = "accuracy = (number of samples with output.argmax(dim=1) == y) / number of samples"
    # Hand-picked: a linear model with known weights; every label right except those of the short
    # last batch, so the true accuracy (n - r)/n differs from the mean of batch accuracies.
    n, bs = _uneven(rng)
    r = n % bs
    X = torch.randn(n, 4, generator=rng, dtype=torch.float64)
    W = torch.randn(3, 4, generator=rng, dtype=torch.float64)
    spec = {"in": 4, "out": 3, "hidden": 0, "seed": 0, "weight": W}
    pred = (X @ W.T).argmax(dim=1)
    y = pred.clone()
    y[-r:] = (pred[-r:] + 1) % 3
    call = _call("evaluate", n, bs) + f" where all but the last {r} predictions are right"
    got = sub.evaluate(spec, X, y, bs)["items"]
    expect(len(got) == 2, call=call, point=point, expected="(loss, accuracy)", got=f"{len(got)} values")
    expect_close(_num(got[1], call=call, point=point), (n - r) / n, call=call, point=point, **NUMBER)
    # Random models and labels, against the reference.
    for _ in range(2):
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        args = (_spec(rng), X, y, bs)
        got, want = sub.evaluate(*args)["items"], ref.evaluate(*args)["items"]
        call = _call("evaluate", n, bs)
        expect(len(got) == 2, call=call, point=point, expected="(loss, accuracy)", got=f"{len(got)} values")
        expect_close(_num(got[1], call=call, point=point), want[1]["value"], call=call, point=point, **NUMBER)


@pytest.mark.weight(2)
def test_evaluate_eval_mode(sub, rng):
    """evaluate puts the model in evaluation mode (model.eval())"""
    # Second case: the model itself in eval mode but a layer of it left in training mode.
    for mode, state in (("train", "a model left in training mode"),
                        ("eval-child-train", "a model in eval mode with one layer left in training mode")):
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        got = sub.evaluate(_spec(rng), X, y, bs, mode=mode)
        modes = [e.split(":")[1] for e in got["log"]]
        expect(len(modes) > 0 and all(m == "eval" for m in modes),
               call=_call("evaluate", n, bs) + " on " + state,
               point="every forward pass of evaluate runs in eval mode (model.eval(), whatever mode the model "
                     "or its layers were in before)",
               expected="eval at every forward (in the layer left in training mode too)", got=f"{modes}")


@pytest.mark.weight(2)
def test_evaluate_no_grad(sub, rng):
    """evaluate runs without building autograd graphs (no_grad or inference_mode)"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    got = sub.evaluate(_spec(rng), X, y, bs)
    grads = [e.split(":")[2] for e in got["log"]]
    expect(len(grads) > 0 and all(g == "nograd" for g in grads), call=_call("evaluate", n, bs),
           point="every forward pass of evaluate runs under torch.no_grad() or torch.inference_mode()",
           expected="grad disabled at every forward", got=f"{grads}")


@pytest.mark.weight(2)
def test_evaluate_keeps_parameters(sub, rng):
    """evaluate does not change the parameters"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    got = sub.evaluate(_spec(rng), X, y, bs)
    expect(got["params_same"], call=_call("evaluate", n, bs) + " with gradients left from training",
           point="evaluate never changes the parameters (no step, no in-place update)",
           expected="parameters unchanged", got=f"a parameter changed by up to {got['params_change']:.3g}")


def test_evaluate_moves_batches(sub, rng):
    """evaluate moves X and y of every batch to `device` (given as a str or a torch.device, by keyword or
    by position)"""
    for as_object, positional in CALL_FORMS:
        n, bs = _uneven(rng)
        X, y = _classes(rng, n)
        got = sub.evaluate(_spec(rng), X, y, bs, device="cpu", elsewhere=True, as_object=as_object,
                           positional=positional)
        expect(_all_moved(got), call=_call("evaluate", n, bs, _device_arg("cpu", as_object, positional)) + ELSEWHERE,
               point="when device is given (a str or a torch.device), both X and y of every batch are moved to it",
               expected="every batch moved", got=_never_moved(got))


# --------------------------------------------------------------------------- fit

def _fit_args(rng, epochs=2, val=True):
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    kwargs = {}
    if val:
        nv, vbs = _uneven(rng)
        Xv, yv = _classes(rng, nv)
        kwargs.update(Xv=Xv, yv=yv, val_batch_size=vbs)
    call = f"fit(model, train loader in batches {_sizes(n, bs)}, epochs={epochs}" + (
        f", val_loader in batches {_sizes(len(kwargs['yv']), kwargs['val_batch_size'])})" if val else ")")
    return (_spec(rng), X, y, bs, epochs), kwargs, call


def _history(got, call, point):
    h = got["history"]
    expect(isinstance(h, list), call=call, point=point, expected="a list of dicts",
           got=f"a {h.get('type') if isinstance(h, dict) else type(h).__name__}")
    expect(all("keys" in e for e in h), call=call, point=point, expected="a list of dicts",
           got="a list of " + ", ".join(e.get("type", "dict") for e in h))
    return h


def _check_keys(sub, rng, val):
    args, kwargs, call = _fit_args(rng, epochs=3, val=val)
    want = ["epoch", "train_loss"] + (["val_acc", "val_loss"] if val else [])
    point = ("one dict per epoch with keys 'epoch', 'train_loss'"
             + (", 'val_loss', 'val_acc'" if val else " only (no 'val_...' keys without a val_loader)"))
    h = _history(sub.fit(*args, **kwargs), call, point)
    keys = [sorted(e["keys"]) for e in h]
    expect(keys == [want] * 3, call=call, point=point, expected=f"{[want] * 3}", got=f"{keys}")


def test_fit_history_keys_without_val(sub, rng):
    """without val_loader, fit returns one dict per epoch with exactly 'epoch' and 'train_loss'"""
    _check_keys(sub, rng, val=False)


def test_fit_history_keys_with_val(sub, rng):
    """with val_loader, each epoch's dict has exactly 'epoch', 'train_loss', 'val_loss', 'val_acc'"""
    _check_keys(sub, rng, val=True)


def test_fit_history_types(sub, rng):
    """fit's history holds an int epoch and Python float losses and accuracy"""
    args, kwargs, call = _fit_args(rng, epochs=2)
    point = "'epoch' is an int; 'train_loss', 'val_loss', 'val_acc' are Python floats"
    h = _history(sub.fit(*args, **kwargs), call, point)
    for e in h:
        for k, info in e["values"].items():
            ok = info["is_int"] if k == "epoch" else info["is_float"]
            expect(ok, call=call, point=point, expected="int" if k == "epoch" else "float",
                   got=f"{k!r} is a {info['type']}")


def test_fit_epoch_numbers(sub, rng):
    """fit numbers the epochs 0, 1, 2, ... (epochs given by keyword or by position)"""
    for positional in (False, True):
        args, kwargs, call = _fit_args(rng, epochs=3)
        if positional:  # the signature fit(model, train_loader, loss_fn, optimizer, epochs, ...)
            call = call.replace("epochs=3", "3")
        point = "'epoch' counts from 0" + (
            "; epochs is fit's fifth argument, so it may be passed by position" if positional else "")
        h = _history(sub.fit(*args, positional=positional, **kwargs), call, point)
        got = [e["values"].get("epoch", {}).get("value") for e in h]
        expect(got == [0, 1, 2], call=call, point=point, expected="[0, 1, 2]", got=f"{got}")


def test_fit_zero_epochs(sub, rng):
    """fit with epochs=0 trains nothing and returns an empty history"""
    args, kwargs, call = _fit_args(rng, epochs=0)
    point = "one dict per epoch i = 0, ..., epochs - 1: none, and no optimizer step, for epochs=0"
    got = sub.fit(*args, **kwargs)
    h = _history(got, call, point)
    expect(h == [] and got["steps"] == 0, call=call, point=point, expected="[] and 0 optimizer steps",
           got=f"{len(h)} epoch record(s), {got['steps']} optimizer step(s)")
    # With no epoch to fail on meta, fit returns: where the parameters end is seen after it.
    got = sub.fit(*args, device="meta", **kwargs)
    call = call[:-1] + ", device='meta') with the model on the CPU"
    point = "when device is given, fit moves the model there and its parameters end on that device (epochs=0 too)"
    expect(got["raised"] is None and _history(got, call, point) == [], call=call, point=point,
           expected="[] returned", got=f"it raised {got['raised']}" if got["raised"] else f"{got['history']}")
    expect(all(d == "meta" for d in got["devices"]), call=call, point=point, expected="every parameter on meta",
           got=f"{sorted(set(got['devices']))} (model moves: {got['model_moves']})")


def _check_trajectory(sub, ref, rng, val):
    args, kwargs, call = _fit_args(rng, epochs=3, val=val)
    got, want = sub.fit(*args, opt="momentum", **kwargs), ref.fit(*args, opt="momentum", **kwargs)
    point = ("each epoch trains once over train_loader" + (" (then evaluates on val_loader)" if val else "")
             + ": same parameters as the reference")
    for i, (g, w) in enumerate(zip(got["params"], want["params"])):
        expect_close(g, w, call=call, point=f"{point} (parameter {i})", **TIGHT)
    point = "history values are train_epoch's" + (" and evaluate's" if val else "") + " results for each epoch"
    h, hw = _history(got, call, point), want["history"]
    expect(len(h) == len(hw), call=call, point=point, expected=f"{len(hw)} entries", got=f"{len(h)}")
    for e, ew in zip(h, hw):
        for k, info in ew["values"].items():
            if k == "epoch":  # numbering has its own check
                continue
            expect(k in e["values"], call=call, point=point, expected=f"key {k!r}", got=f"keys {e['keys']}")
            v = _num(e["values"][k], call=call, point=f"{point} ({k!r})")
            expect_close(v, info["value"], call=call, point=f"{point} ({k!r})", **NUMBER)


@pytest.mark.weight(3)
def test_fit_trajectory(sub, ref, rng):
    """fit with val_loader trains and evaluates epoch after epoch like the reference"""
    _check_trajectory(sub, ref, rng, val=True)


def test_fit_trajectory_without_val(sub, ref, rng):
    """fit without val_loader trains epoch after epoch like the reference"""
    _check_trajectory(sub, ref, rng, val=False)


def _reset_blocks(log: list[str]) -> list[tuple[list[str], int]]:
    """(modules reset, training batches drawn after them), block by block.

    Resets during evaluation are harmless and fold into the next epoch's block; a trailing block
    without training is ignored.
    """
    blocks: list[list] = []
    for e in log:
        if e.startswith("reset:"):
            if not blocks or blocks[-1][1] > 0:
                blocks.append([set(), 0])
            blocks[-1][0].add(e[6:])
        elif e == "load:train":
            if not blocks:
                blocks.append([set(), 0])
            blocks[-1][1] += 1
    if blocks and blocks[-1][1] == 0 and len(blocks) > 1:
        blocks.pop()
    return [(sorted(r), k) for r, k in blocks]


@pytest.mark.weight(2)
def test_fit_resets_masks_every_epoch(sub, rng):
    """fit calls reset_mask() on every submodule that has one, at the start of every epoch"""
    args, kwargs, call = _fit_args(rng, epochs=3, val=True)
    got = sub.fit(*args, **kwargs)
    n_batches = len(_sizes(len(args[2]), args[3]))
    summary = _reset_blocks(got["log"])
    want = [(["a", "b"], n_batches)] * 3
    expect(summary == want, call=call + " on a model with reset_mask() in submodules 'a' and 'b' "
                                        "(b nested, its class inheriting reset_mask from a base class)",
           point="before each epoch's training, reset_mask() is called on every submodule that has it "
                 "(nested ones too, inherited methods too), and never during training",
           expected=f"(modules reset, training batches after) per epoch: {want}", got=f"{summary}")


def test_fit_resets_mask_of_model_itself(sub, rng):
    """fit calls reset_mask() on the model itself too when it has one (model.modules() includes it)"""
    args, kwargs, call = _fit_args(rng, epochs=2, val=False)
    got = sub.fit(*args, root_mask=True, **kwargs)
    n_batches = len(_sizes(len(args[2]), args[3]))
    summary = _reset_blocks(got["log"])
    want = [(["a", "b", "root"], n_batches)] * 2
    expect(summary == want, call=call + " on a model that has a reset_mask() of its own ('root') "
                                        "and in submodules 'a' and 'b'",
           point="every module of model.modules() that has reset_mask() gets the call, the model itself "
                 "included, at the start of every epoch",
           expected=f"(modules reset, training batches after) per epoch: {want}", got=f"{summary}")


def test_fit_modes_and_order(sub, rng):
    """fit trains (training mode, grad on) then evaluates (eval mode, no grad) in each epoch"""
    args, kwargs, call = _fit_args(rng, epochs=2, val=True)
    got = sub.fit(*args, **kwargs)
    nt = len(_sizes(len(args[2]), args[3]))
    nv = len(_sizes(len(kwargs["yv"]), kwargs["val_batch_size"]))
    forwards = [e[4:] for e in got["log"] if e.startswith("fwd:")]
    want = (["train:grad"] * nt + ["eval:nograd"] * nv) * 2
    expect(forwards == want, call=call,
           point="per epoch: train_epoch over train_loader, then evaluate over val_loader",
           expected=f"{want}", got=f"{forwards}")


def test_fit_moves_model(sub, rng):
    """fit moves the model to `device` (a str or a torch.device) and its parameters end there"""
    for as_object in FORMS:
        args, kwargs, call = _fit_args(rng, epochs=1, val=False)
        # The model starts on the CPU and is sent to meta, another device: training cannot run
        # there (no values), but where the parameters end up is what this point is about.
        got = sub.fit(*args, device="meta", as_object=as_object, **kwargs)
        call = call[:-1] + f", device={_dev('meta', as_object)}) with the model on the CPU"
        expect(all(d == "meta" for d in got["devices"]), call=call,
               point="when device is given (a str or a torch.device), fit moves the model there: its parameters "
                     "end on that device",
               expected="every parameter on meta",
               got=f"{sorted(set(got['devices']))} (model moves: {got['model_moves']})")


def test_fit_device_none_uses_batches_where_they_are(sub, rng):
    """with device=None, fit neither moves the model nor the batches: each is used where it is"""
    args, kwargs, call = _fit_args(rng, epochs=1, val=False)
    got = sub.fit(*args, model_on="meta", **kwargs)
    _expect_inputs_where_made(
        got, call + " (device=None) with the model on meta and the batches on the CPU",
        "with device=None fit passes device=None on: the batch is used where it is (not moved to the model's "
        "device)")


def test_fit_moves_model_first(sub, rng):
    """fit moves the model to `device` before training: the first forward pass runs there"""
    args, kwargs, call = _fit_args(rng, epochs=1, val=False)
    # As above, training on meta fails after the first forward pass; where the weights were then counts.
    got = sub.fit(*args, device="meta", **kwargs)
    call = call[:-1] + ", device='meta') with the model on the CPU"
    first = got["forwards"][0]["params"] if got["forwards"] else None
    raised = f"; it raised {got['raised']}" if got["raised"] else ""
    expect(first == "meta", call=call,
           point="when device is given, fit first moves the model there, then trains: the parameters are on "
                 "that device at the first forward pass",
           expected="parameters on meta at the first forward pass",
           got=(f"parameters on {first} at the first forward pass" if first else "no forward pass") + raised)


def test_fit_moves_batches(sub, rng):
    """fit passes `device` (a str or a torch.device, by keyword or by position) on: every training and
    validation batch is moved"""
    for as_object, positional in CALL_FORMS:
        args, kwargs, call = _fit_args(rng, epochs=1, val=True)
        got = sub.fit(*args, device="cpu", elsewhere=True, as_object=as_object, all_positional=positional, **kwargs)
        if positional:  # the sheet's signature: fit(model, train_loader, loss_fn, optimizer, epochs, val_loader, device)
            call = call.replace("epochs=1, val_loader", "1, val_loader")[:-1] + ", 'cpu') (all by position)"
        else:
            call = call[:-1] + f", device={_dev('cpu', as_object)})"
        expect(_all_moved(got), call=call + ELSEWHERE,
               point="with device given (a str or a torch.device), X and y of every training and validation "
                     "batch are moved to it",
               expected="every batch moved", got=_never_moved(got))


def test_fit_with_device_uses_given_optimizer(sub, ref, rng):
    """fit with a device trains with the optimizer it is given (Adam: same parameters as the reference)"""
    args, kwargs, call = _fit_args(rng, epochs=2, val=True)
    call = call[:-1] + ", device='cpu') with an Adam optimizer"
    # Everything is on the CPU already, so the moves change nothing: the run must match the reference's
    # run without a device. Adam's steps differ from any other optimizer's (a fresh SGD, for instance).
    got, want = sub.fit(*args, opt="adam", device="cpu", **kwargs), ref.fit(*args, opt="adam", **kwargs)
    n_steps = want["steps"]
    expect(got["steps"] == n_steps, call=call,
           point="fit does not build an optimizer of its own: the one it is given takes every step",
           expected=f"{n_steps} steps of the given optimizer (one per training batch)", got=f"{got['steps']} steps")
    for i, (g, w) in enumerate(zip(got["params"], want["params"])):
        expect_close(g, w, call=call, **TIGHT,
                     point=f"trains with the given optimizer: same parameters as the reference (parameter {i})")


# --------------------------------------------------------------------------- CUDA

@pytest.mark.cuda
@pytest.mark.weight(3)
def test_fit_on_cuda(sub, ref, rng):
    """fit(..., device='cuda') trains on the GPU: parameters end on CUDA, history as on the CPU"""
    args, kwargs, call = _fit_args(rng, epochs=2, val=True)
    call = call[:-1] + ", device='cuda')"
    got, want = sub.fit(*args, device="cuda", **kwargs), ref.fit(*args, **kwargs)
    expect(all(d.startswith("cuda") for d in got["devices"]), call=call,
           point="fit(..., device='cuda') ends with every parameter on the GPU",
           expected="cuda:0", got=f"{got['devices']}")
    point = "training on the GPU gives the same parameters as on the CPU"
    for i, (g, w) in enumerate(zip(got["params"], want["params"])):
        expect_close(g, w, call=call, point=f"{point} (parameter {i})", **GPU)
    point = "training on the GPU gives the same history as on the CPU"
    h = _history(got, call, point)
    expect(len(h) == len(want["history"]), call=call, point=point,
           expected=f"{len(want['history'])} entries", got=f"{len(h)}")
    for e, ew in zip(h, want["history"]):
        for k, info in ew["values"].items():
            if k == "epoch":
                continue
            expect(k in e["values"], call=call, point=point, expected=f"key {k!r}", got=f"keys {e['keys']}")
            expect_close(_num(e["values"][k], call=call, point=point), info["value"], call=call,
                         point=f"{point} ({k!r})", **GPU)


@pytest.mark.cuda
def test_train_epoch_on_cuda(sub, ref, rng):
    """train_epoch with a CUDA model and device='cuda' moves CPU batches and trains as on the CPU"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    args = (_spec(rng), X, y, bs)
    got, want = sub.train_epoch(*args, device="cuda", model_on="cuda"), ref.train_epoch(*args)
    call = _call("train_epoch", n, bs, ", device='cuda'") + " with the model on the GPU"
    expect(got["unmoved"] == [], call=call, point="every batch is moved to the GPU",
           expected="every batch moved", got="never moved: " + ", ".join(got["unmoved"]))
    point = "returns a Python float equal to the CPU run's"
    expect(got["result"]["is_float"], call=call, point=point, expected="float", got=got["result"]["type"])
    expect_close(got["result"]["value"], want["result"]["value"], call=call, point=point, **GPU)
    for i, (g, w) in enumerate(zip(got["params"], want["params"])):
        expect_close(g, w, call=call, point=f"same parameters as on the CPU (parameter {i})", **GPU)


@pytest.mark.cuda
def test_evaluate_on_cuda(sub, ref, rng):
    """evaluate with a CUDA model and device='cuda' gives the CPU run's loss and accuracy"""
    n, bs = _uneven(rng)
    X, y = _classes(rng, n)
    args = (_spec(rng), X, y, bs)
    got, want = sub.evaluate(*args, device="cuda", model_on="cuda"), ref.evaluate(*args)
    call = _call("evaluate", n, bs, ", device='cuda'") + " with the model on the GPU"
    point = "returns (loss, accuracy) as Python floats equal to the CPU run's"
    expect(got["type"] == "tuple" and len(got["items"]) == 2 and all(i["is_float"] for i in got["items"]),
           call=call, point=point, expected="tuple (float, float)",
           got=f"{got['type']} ({', '.join(i['type'] for i in got['items'])})")
    expect_close([i["value"] for i in got["items"]], [i["value"] for i in want["items"]],
                 call=call, point=point, **GPU)
