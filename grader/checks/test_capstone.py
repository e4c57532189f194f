"""Hidden checks for the capstone: what the submission's pieces achieve together on the digits.

The digits come from scikit-learn (bundled with the package, no download) in
this trusted process. The held-out split's labels never leave it: the worker
gets the held-out images with every label set to 0, returns predictions, and
the accuracy is computed here.

Accuracy thresholds and false failures. The reference glue with the reference
pieces, trained for 10 epochs on this split (Adam, lr 0.002, batches of 32,
256 hidden units, EpochDropout(0.1)), was run with 200 different seeds: held-out
accuracy mean 0.967, standard deviation 0.007, minimum 0.947, maximum 0.981.
The highest threshold, 0.90, lies 9.5 standard deviations below the mean and
0.047 below the worst run seen (a normal tail that far is below 1e-20; the
runs show no heavier tail), so a correct submission does not fail it; 0.80
and 0.50 are further away still. 0.95 would have failed 2.5% of the reference's
runs, which is why it is not a threshold. Broken pieces (no scaling in
dropout, no zero_grad, a wrong loss, raw 0..255 inputs, an untrained model)
land far below 0.90 or raise.
"""
from __future__ import annotations

import functools

import pytest
import torch

from grader.checking import expect, expect_close, expect_equal
from grader.plugin import GraderError

SPLIT_SEED = 2024
EPOCHS = 10
VAL_EVERY = 8  # fit's validation set: every 8th training image (its labels are known to training anyway)


@functools.lru_cache(maxsize=1)
def _data() -> dict[str, torch.Tensor]:
    try:
        from grader.learner import digits
        images, labels = digits.load()
    except ImportError as err:
        raise GraderError(f"the capstone checks need scikit-learn in the grader's environment ({err})") from None
    train, test = digits.split(len(labels), (0.8, 0.2), SPLIT_SEED)
    val = train[::VAL_EVERY]
    return {"train_x": images[train], "train_y": labels[train], "val_x": images[val], "val_y": labels[val],
            "test_x": images[test], "test_y": labels[test]}


def _run(sub) -> dict:
    d = _data()
    key = sub.prepare(d["train_x"], d["train_y"], d["val_x"], d["val_y"], d["test_x"])
    return sub.run(key, EPOCHS)


TRAIN_CALL = "train(build_model(), *make_loaders(digits_dataset(train), digits_dataset(val)), epochs=10)"


def _accuracy(sub) -> float:
    got = _run(sub)
    pred, want = got["predictions"], _data()["test_y"]
    expect(isinstance(pred, torch.Tensor) and pred.shape == want.shape, call=TRAIN_CALL,
           point="the trained model gives one prediction per held-out digit",
           expected=f"{len(want)} predictions", got=str(getattr(pred, "shape", pred)))
    return float((pred == want).double().mean())


def _check_accuracy(sub, threshold: float) -> None:
    acc = _accuracy(sub)
    expect(acc >= threshold, call=TRAIN_CALL + ", then the held-out digits",
           point=f"the trained model classifies held-out digits with accuracy >= {threshold:.0%} "
                 "(the reference reaches about 96%)",
           expected=f">= {threshold:.1%}", got=f"{acc:.1%}")


def test_dataset_items(sub, rng):
    """digits_dataset is your CustomImageDataset giving (float32 (64,) pixels / 255, int label)"""
    images = torch.randint(0, 256, (6, 8, 8), generator=rng, dtype=torch.int64).to(torch.uint8)
    images[0] = 0
    images[1] = 255
    labels = torch.randint(0, 10, (6,), generator=rng)
    got = sub.dataset_items(images, labels)
    call = "digits_dataset(annotations_file, img_dir)"
    expect(got["is_custom"] is True, call=call, point="returns your datasets.CustomImageDataset",
           expected="a CustomImageDataset", got=f"a {got['type']}")
    expect_equal(got["len"], 6, call=f"len({call})", point="one item per row of the CSV")
    want = images.reshape(6, 64).to(torch.float32) / 255
    for i in range(6):
        expect_close(got["x"][i], want[i], call=f"{call}[{i}][0]",
                     point="the image becomes a float32 vector of 64 values: pixels / 255, in [0, 1]")
        expect_equal(got["y"][i], int(labels[i]), call=f"{call}[{i}][1]",
                     point="the label is the row's int label (no target transform)")
        expect_equal(got["y_types"][i], "int", call=f"{call}[{i}][1]",
                     point="the label is a Python int (the default collation makes the int64 batch)")
        expect_close(got["direct"][i], want[i], call="to_features(image uint8 (1, 8, 8))",
                     point="to_features returns float32 (64,): pixels / 255")
    expect(got["unchanged"] is True, call="to_features(image)", point="to_features does not modify the image",
           expected="image unchanged", got="modified in place")


def test_model_is_your_pieces(sub, rng):
    """build_model() is your MySequential: Linear(64, h), ReLU, your EpochDropout, Linear(h, 10), init_xavier applied"""
    batch = torch.rand(5, 64, generator=rng)
    got = sub.model_info(batch)
    call = "build_model()"
    expect(got["is_mysequential"] is True and got["is_torch_sequential"] is False, call=call,
           point="the model is your sequential.MySequential", expected="a MySequential", got=f"a {got['type']}")
    expect(got["epoch_dropouts"] >= 1 and got["torch_dropouts"] == 0, call=call,
           point="the hidden layer is regularised by your dropout.EpochDropout (not nn.Dropout)",
           expected="an EpochDropout and no torch dropout",
           got=f"{got['epoch_dropouts']} EpochDropout, {got['torch_dropouts']} torch dropout layers; layers {got['layers']}")
    lin = got["linears"]
    expect(len(lin) >= 2 and lin[0][0] == 64 and lin[-1][1] == 10, call=call,
           point="the first linear layer takes the 64 pixels, the last gives 10 logits",
           expected="Linear(64, ...) ... Linear(..., 10)", got=f"linear layers {lin}")
    expect(got["init_calls"].get("init_xavier", 0) >= len(lin) and got["init_linears"] >= len(lin)
           and got["biases_zero"] is True, call=call,
           point="initialised with model.apply(weight_init.init_xavier): Xavier weights, zero biases",
           expected=f"init_xavier applied to the {len(lin)} linear layers",
           got=f"calls {got['init_calls']}, biases zero: {got['biases_zero']}")
    out = got.get("out")
    expect(isinstance(out, torch.Tensor) and tuple(out.shape) == (5, 10), call=f"{call}(x of shape (5, 64))",
           point="maps a batch (N, 64) to logits (N, 10)", expected="shape (5, 10)",
           got=str(tuple(out.shape)) if isinstance(out, torch.Tensor) else repr(out))


def test_model_uses_hidden_and_p(sub):
    """build_model(hidden, p): Linear(64, hidden), ReLU, EpochDropout(p), Linear(hidden, 10), in this order"""
    got = sub.model_layers(17, 0.3)
    call = "build_model(hidden=17, p=0.3)"
    want = ["Linear(64, 17)", "ReLU", "EpochDropout", "Linear(17, 10)"]
    expect(got["layers"] == want, call=call,
           point="the layers, in this order: Linear(64, hidden), ReLU, your EpochDropout(p), Linear(hidden, 10)",
           expected=f"{want}", got=f"{got['layers']}")
    # KEEP_FEATURES in grader/probes/capstone.py: 0.03 is 9 standard deviations (< 1e-18 for a correct model).
    expect(len(got["kept"]) == 1 and abs(got["kept"][0] - 0.7) < 0.03, call=call,
           point="the hidden layer's dropout probability is p", expected="about 70% of features kept (p=0.3)",
           got=f"kept fractions {[round(k, 3) for k in got['kept']]}")


def test_loaders(sub):
    """make_loaders batches both sets; the training loader shuffles every epoch, the validation loader does not"""
    got = sub.loaders(20, 10, 4)
    call = "make_loaders(train_set of 20, val_set of 10, batch_size=4)"
    expect_equal(got["train_batch"], [4] * 5, call=call, point="the training loader uses batch_size")
    expect_equal(got["val_batch"], [4, 4, 2], call=call, point="the validation loader uses batch_size")
    orders = got["train_orders"]
    # A shuffle of 20 samples equals another (or the identity) with probability 1/20! < 1e-18.
    expect(all(sorted(o) == list(range(20)) for o in orders) and len({tuple(o) for o in orders}) == 3
           and list(range(20)) not in orders, call=call,
           point="the training loader shuffles: each pass over it is a new order of all the samples",
           expected="three different orders", got=str(orders)[:200])
    expect(all(o == list(range(10)) for o in got["val_orders"]), call=call,
           point="the validation loader keeps the order", expected=str(list(range(10))), got=str(got["val_orders"][0]))


def test_training_uses_your_pieces(sub):
    """train() runs your training.fit with your cross_entropy, device from pick_device, model moved with to_device"""
    got = _run(sub)
    call = TRAIN_CALL
    expect(got["fit_calls"] == 1, call=call, point="trains with one call of your training.fit",
           expected="1 call of training.fit", got=f"{got['fit_calls']} calls")
    expect(got["fit_epochs"] == [EPOCHS], call=call, point="passes epochs on to fit",
           expected=f"epochs={EPOCHS}", got=f"epochs={got['fit_epochs']}")
    expect(got["loss_calls"] > 0 and got["loss_calls_with_cross_entropy"] == got["loss_calls"], call=call,
           point="the loss is your cross_entropy.cross_entropy (every loss evaluation goes through it)",
           expected="every call of the loss runs your cross_entropy",
           got=f"loss {got['loss_names']}: {got['loss_calls_with_cross_entropy']} of {got['loss_calls']} "
               "calls ran your cross_entropy")
    expect(got["pick_device_calls"] >= 1, call=call + " with device=None",
           point="device=None means devices.pick_device()", expected="a call of pick_device", got="none")
    expect(got["to_device_model_calls"] >= 1, call=call, point="the model is moved with devices.to_device",
           expected="to_device(model, device)", got="no call of to_device with the model")


def _setup(sub, lr: float, device: str | None, as_object: bool = False,
           picks: str | None = None) -> tuple[dict, str]:
    """``train`` on a small linear model with fit replaced by a recorder: what it handed to fit."""
    shown = f"torch.device({device!r})" if as_object else repr(device)
    call = f"train(model, train_loader, val_loader, epochs=1, lr={lr}, device={shown}) with fit recorded, not run"
    if picks is not None:
        call += f", and pick_device() answering {picks!r}"
    got = sub.train_setup(lr, device, as_object, picks)
    expect(got["fit_calls"] == 1, call=call, point="trains with one call of your training.fit",
           expected="1 call of training.fit", got=f"{got['fit_calls']} calls")
    return got, call


def test_train_optimizer(sub, rng):
    """train() builds a torch.optim.Adam optimiser over model.parameters() with learning rate lr"""
    lr = round(0.003 + 0.027 * float(torch.rand((), generator=rng)), 6)  # never the default 0.002
    got, call = _setup(sub, lr, "cpu")
    expect("lr" in got, call=call, point="fit gets a torch.optim optimiser",
           expected="a torch.optim.Optimizer", got=f"a {got.get('optimizer')}")
    expect(got["same_params"] is True, call=call, point="the optimiser is built over model.parameters()",
           expected="an optimiser holding the model's parameters", got="other parameters")
    expect(all(v == lr for v in got["lr"]), call=call, point="the optimiser's learning rate is train's lr",
           expected=f"lr={lr}", got=f"lr={got['lr']}")
    expect(got["is_adam"] is True, call=call, point="the optimiser is a torch.optim.Adam",
           expected="torch.optim.Adam", got=got["optimizer"])


def test_train_given_device(sub):
    """train(..., device=d) moves the model to d and passes d on to fit (d a str or a torch.device)"""
    # meta: neither the CPU nor what pick_device() could answer; nothing runs there, fit is not run.
    for as_object in (False, True):
        got, call = _setup(sub, 0.002, "meta", as_object)
        expect(got["model_devices"] == ["meta"], call=call,
               point="a given device is used (pick_device only when device is None): the model is moved there",
               expected="every parameter on meta", got=f"parameters on {got['model_devices']}")
        expect(got["fit_device"] == "meta", call=call, point="fit gets the device, to move every batch there",
               expected="fit(..., device=meta)", got=f"fit(..., device={got['fit_device']})")


def test_train_picked_device(sub):
    """train(..., device=None) uses what devices.pick_device() answers: the model goes there and fit gets it"""
    # pick_device() answers meta here: neither the CPU nor None, so using either instead shows.
    got, call = _setup(sub, 0.002, None, picks="meta")
    expect(got["model_devices"] == ["meta"], call=call,
           point="device=None means devices.pick_device(): the model is moved to the device it answers",
           expected="every parameter on meta", got=f"parameters on {got['model_devices']}")
    expect(got["fit_device"] == "meta", call=call,
           point="fit gets the picked device (not None), to move every batch there",
           expected="fit(..., device=meta)", got=f"fit(..., device={got['fit_device']})")


def test_train_passes_val_loader(sub):
    """train() hands fit its val_loader (not the training loader)"""
    got, call = _setup(sub, 0.002, "cpu")
    expect(got.get("fit_val_loader") == "val_loader", call=call,
           point="fit gets val_loader as its val_loader, so the history's val_loss and val_acc are measured on it",
           expected="fit(..., val_loader=val_loader)", got=f"fit(..., val_loader={got.get('fit_val_loader')})")


def test_history(sub):
    """train() returns fit's history: one dict per epoch with train_loss, val_loss and val_acc"""
    got = _run(sub)
    history = got["history"]
    call = TRAIN_CALL
    expect(isinstance(history, list) and len(history) == EPOCHS, call=call,
           point="returns the history: one dict per epoch", expected=f"a list of {EPOCHS} dicts",
           got=str(history)[:200])
    expect(got["history_is_fits"] is True, call=call, point="returns the very history fit returned",
           expected="fit's return value", got="something else")
    for record in history:
        expect(isinstance(record, dict) and {"train_loss", "val_loss", "val_acc"} <= set(record), call=call,
               point="each epoch's record has train_loss, val_loss and val_acc (fit was given val_loader)",
               expected="those keys", got=str(record)[:200])
        expect(all(isinstance(record[k], float) and record[k] == record[k] for k in ("train_loss", "val_loss", "val_acc")),
               call=call, point="losses and accuracy are finite numbers", expected="floats", got=str(record)[:200])


def test_accuracy_50(sub):
    """the trained model classifies at least 50% of the held-out digits correctly"""
    _check_accuracy(sub, 0.50)


@pytest.mark.weight(2)
def test_accuracy_80(sub):
    """the trained model classifies at least 80% of the held-out digits correctly"""
    _check_accuracy(sub, 0.80)


@pytest.mark.weight(2)
def test_accuracy_90(sub):
    """the trained model classifies at least 90% of the held-out digits correctly"""
    _check_accuracy(sub, 0.90)
