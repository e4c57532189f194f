"""Probes for the capstone: the submission's glue and its own other modules, trained on the digits.

The check process loads the digits and splits them; the probes write the
images as PNG files into the worker's scratch directory, build everything
through the submission's functions, train, and return the predictions on the
held-out images (whose labels never reach the worker: their CSV says 0).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from grader.learner import digits
from grader.learner.simulation import redirected

# The pieces the capstone must use, watched while it runs. The wrapper replaces
# the name in its module and under any name the capstone imported it by.
TRAIN_TARGETS = ["training.fit", "cross_entropy.cross_entropy", "devices.pick_device", "devices.to_device"]
INIT_TARGETS = ["weight_init.init_xavier", "weight_init.init_normal", "weight_init.init_constant",
                "weight_init.my_init"]

COUNT_ONLY = {"cross_entropy.cross_entropy"}
# Targets during whose calls the code-object tracer is off (training would run several times slower).
UNTRACED = {"training.fit"}

_STATE: dict[str, Any] = {}


class _Calls(dict):
    """The records per target, and the tracer that also finds the calls no wrapper saw.

    A reference the submission took before the names were wrapped (at import: a dict
    entry, a ``functools.partial``, a default argument) escapes the wrapper. The tracer
    (``sys.settrace``: Python calls only) recognises the target's code object, and records
    such a call with its arguments as positional ``args`` (no hook or stub applies to it).
    """

    def __init__(self, targets: list[str]) -> None:
        super().__init__({t: [] for t in targets})
        self.codes: dict[Any, str] = {}
        self.wrapper_code: Any = None
        self._pending: dict[int, tuple[str, tuple]] = {}

    def trace(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "call":
            target = self.codes.get(frame.f_code)
            # A call made by the wrapper is the wrapper's to record.
            if target is None or (frame.f_back is not None and frame.f_back.f_code is self.wrapper_code):
                return None
            code, local = frame.f_code, frame.f_locals
            self._pending[id(frame)] = (target, tuple(local.get(n) for n in code.co_varnames[:code.co_argcount]))
            return self.trace  # follow this frame alone, to see it return
        if event == "return":
            entry = self._pending.pop(id(frame), None)
            if entry is not None:
                target, args = entry
                self[target].append(None if target in COUNT_ONLY else (args, {}, arg))
        return self.trace

    @contextlib.contextmanager
    def tracing(self, on: bool = True) -> Iterator[None]:
        """Turn the tracer on (or off) for the block."""
        previous = sys.gettrace()
        sys.settrace(self.trace if on and self.codes else None)
        try:
            yield
        finally:
            sys.settrace(previous)


@contextlib.contextmanager
def _watching(capstone: Any, targets: list[str],
              hooks: dict[str, Callable[[tuple, dict], tuple[tuple, dict]]] | None = None,
              stubs: dict[str, Callable[..., Any]] | None = None,
              ) -> Iterator[_Calls]:
    """Record the calls of ``module.function`` for each target, still calling through.

    Each record is ``(args, kwargs, result)``; ``hooks[target]`` may rewrite the
    arguments on the way in; ``stubs[target]`` is called instead of the original.
    Calls through a reference taken before the wrapping are recorded too (see ``_Calls``),
    except inside the calls of an ``UNTRACED`` target.
    """
    calls = _Calls(targets)
    saved: list[tuple[Any, str, Any]] = []
    stack = contextlib.ExitStack()
    try:
        for target in targets:
            module_name, attr = target.rsplit(".", 1)
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            original = getattr(module, attr, None)
            if not callable(original):
                continue

            through = {"call": original}

            def wrapper(*args: Any, __through=through, __target=target, **kwargs: Any) -> Any:
                hook = (hooks or {}).get(__target)
                if hook is not None:
                    args, kwargs = hook(args, kwargs)
                if __target in UNTRACED:
                    with calls.tracing(False):
                        result = (stubs or {}).get(__target, __through["call"])(*args, **kwargs)
                else:
                    result = (stubs or {}).get(__target, __through["call"])(*args, **kwargs)
                # Only a count for the loss: its arguments and results would keep every batch's graph alive.
                calls[__target].append(None if __target in COUNT_ONLY else (args, kwargs, result))
                return result

            calls.wrapper_code = wrapper.__code__
            code = getattr(original, "__code__", None)
            if code is not None and target not in (stubs or {}):
                calls.codes[code] = target
            with contextlib.suppress(Exception):
                functools.update_wrapper(wrapper, original)
            # Every call of the function goes through the wrapper, however the submission reached
            # it (a partial, a namespace, a closure made at import), so hooks and stubs apply.
            copy = stack.enter_context(redirected(original, wrapper))
            if copy is not None:
                through["call"] = copy
            for holder in (module, capstone):
                for name, value in list(vars(holder).items()):
                    if value is original:
                        saved.append((holder, name, original))
                        setattr(holder, name, wrapper)
        with calls.tracing():
            yield calls
    finally:
        for holder, name, original in reversed(saved):
            setattr(holder, name, original)
        stack.close()


def _plain(value: Any, depth: int = 0) -> Any:
    """The submission's values as plain data (numbers, strings, lists, dicts), never failing."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else f"tensor of shape {tuple(value.shape)}"
    if depth < 3 and isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if depth < 3 and isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    try:
        return float(value)  # numpy scalars and the like
    except (TypeError, ValueError):
        return f"a {type(value).__name__}"


def _scratch() -> Path:
    # The worker's working directory is its private scratch directory (the shared temp
    # directory is a tiny tmpfs inside the sandbox). Removed at exit where a process gets
    # one (in-process grading); a sandboxed worker's scratch directory goes as a whole.
    path = Path(tempfile.mkdtemp(prefix="capstone-", dir=os.getcwd()))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def dataset_items(mod, images, labels):
    """Write ``images`` as PNGs, read them back through ``digits_dataset``; also ``to_features`` directly."""
    annotations, img_dir = digits.export(_scratch(), "items", images, labels)
    ds = mod.digits_dataset(str(annotations), str(img_dir))
    datasets = importlib.import_module("datasets")
    items = [ds[i] for i in range(len(ds))]
    direct, unchanged = [], True
    for image in images:
        image = image.reshape(1, *image.shape[-2:]).clone()
        before = image.clone()
        direct.append(mod.to_features(image))
        unchanged = unchanged and bool(torch.equal(image, before))
    return {
        "is_custom": isinstance(ds, datasets.CustomImageDataset),
        "type": type(ds).__name__,
        "len": len(ds),
        "x": [x if isinstance(x, torch.Tensor) else _plain(x) for x, _ in items],
        "y": [_plain(y) for _, y in items],
        "y_types": [type(y).__name__ for _, y in items],
        "direct": [x if isinstance(x, torch.Tensor) else _plain(x) for x in direct],
        "unchanged": unchanged,
    }


def model_info(mod, batch):
    """Build the model with its defaults: its classes, layers, initialisation and output."""
    with _watching(mod, INIT_TARGETS) as calls:
        model = mod.build_model()
    sequential = importlib.import_module("sequential")
    dropout = importlib.import_module("dropout")
    modules = list(model.modules()) if isinstance(model, nn.Module) else []
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    init_calls = {t.split(".")[-1]: len(c) for t, c in calls.items()}
    init_linears = sum(1 for c in calls.values() for args, kw, _ in c if isinstance(_arg(args, kw, "m", 0), nn.Linear))
    info = {
        "type": type(model).__name__,
        "is_mysequential": isinstance(model, sequential.MySequential),
        "is_torch_sequential": isinstance(model, (nn.Sequential, nn.ModuleList, nn.ModuleDict)),
        "layers": [type(m).__name__ for m in getattr(model, "_modules", {}).values()],
        "epoch_dropouts": sum(isinstance(m, dropout.EpochDropout) for m in modules),
        "torch_dropouts": sum(isinstance(m, nn.modules.dropout._DropoutNd) for m in modules),
        "linears": [[m.in_features, m.out_features] for m in linears],
        "init_calls": init_calls,
        "init_linears": init_linears,
        "biases_zero": all(m.bias is None or bool((m.bias == 0).all()) for m in linears),
    }
    if isinstance(model, nn.Module):
        model.eval()
        with torch.no_grad():
            out = model(batch)
        info["out"] = out if isinstance(out, torch.Tensor) else _plain(out)
    return info


def model_layers(mod, hidden, p):
    """``build_model(hidden=hidden, p=p)``'s layers in order, and the fraction of features its
    EpochDropout keeps on a fresh mask (``p`` read from what the layer does, not an attribute)."""
    torch.manual_seed(0)
    model = mod.build_model(hidden=hidden, p=p)
    dropout = importlib.import_module("dropout")
    layers: list[str] = []
    kept: list[float] = []
    for m in getattr(model, "_modules", {}).values():
        if isinstance(m, nn.Linear):
            layers.append(f"Linear({m.in_features}, {m.out_features})")
        elif isinstance(m, dropout.EpochDropout):
            layers.append("EpochDropout")
            m.train()
            if callable(getattr(m, "reset_mask", None)):
                m.reset_mask()
            with torch.no_grad():
                kept.append(float((m(torch.ones(1, KEEP_FEATURES)) != 0).double().mean()))
        else:
            layers.append(type(m).__name__)
    return {"layers": layers, "kept": kept}


# The kept fraction of 20000 features is Binomial(20000, 1 - p) / 20000: for p = 0.3 its standard
# deviation is 0.0032, so a tolerance of 0.03 (9 standard deviations) fails a correct model less
# than once in 1e18 gradings, and tells p = 0.3 from the default 0.1 (or 0.2) at once.
KEEP_FEATURES = 20000


def loaders(mod, n_train, n_val, batch_size):
    """``make_loaders`` on small in-memory datasets: batch sizes and which loader shuffles."""
    train_set = torch.utils.data.TensorDataset(torch.arange(n_train, dtype=torch.float32).reshape(-1, 1),
                                               torch.arange(n_train))
    val_set = torch.utils.data.TensorDataset(torch.arange(n_val, dtype=torch.float32).reshape(-1, 1),
                                             torch.arange(n_val))
    result = mod.make_loaders(train_set, val_set, batch_size=batch_size)
    train_loader, val_loader = result

    def orders(loader, times=3):
        return [torch.cat([y for _, y in loader]).tolist() for _ in range(times)]

    return {"train_orders": orders(train_loader), "val_orders": orders(val_loader),
            "train_batch": [len(y) for _, y in train_loader], "val_batch": [len(y) for _, y in val_loader]}


def prepare(mod, train_x, train_y, val_x, val_y, test_x):
    """Write the three splits as PNG files (the held-out one with every label 0); cached per data."""
    digest = hashlib.sha256()
    for t in (train_x, train_y, val_x, val_y, test_x):
        digest.update(t.contiguous().numpy().tobytes())
    key = digest.hexdigest()[:16]
    if _STATE.get("key") != key:
        root = _scratch()
        files = {"train": digits.export(root, "train", train_x, train_y),
                 "val": digits.export(root, "val", val_x, val_y),
                 "test": digits.export(root, "test", test_x, [0] * len(test_x))}
        _STATE.clear()
        _STATE.update(key=key, files={k: (str(a), str(d)) for k, (a, d) in files.items()})
    return key


@contextlib.contextmanager
def _loading_in_process() -> Iterator[None]:
    """DataLoaders built in the block load in this process (``num_workers=0``).

    Worker processes yield the same batches in the same order (the shuffle's seed is drawn here
    either way), but starting them every epoch costs seconds on a busy machine: the score would
    depend on the load (a fairness round lost points to the 10 s limit with ``num_workers=2``)."""
    import inspect

    cls = torch.utils.data.DataLoader
    original = cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)  # let DataLoader say what is wrong
        if bound.arguments.get("num_workers"):
            # The options that only make sense with workers go with them (DataLoader refuses them).
            for name, value in (("num_workers", 0), ("persistent_workers", False), ("prefetch_factor", None),
                                ("multiprocessing_context", None), ("timeout", 0)):
                if name in signature.parameters:
                    bound.arguments[name] = value
        return original(*bound.args, **bound.kwargs)

    cls.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        cls.__init__ = original  # type: ignore[method-assign]


def run(mod, key, epochs):
    """Train through the submission's glue; predictions on the held-out images and how it trained.

    Cached: the checks that read the same run share one training.
    """
    if _STATE.get("key") != key:
        raise RuntimeError("grader: prepare() must come first in the same worker")
    if _STATE.get("result_for") == epochs:
        return _STATE["result"]
    files = _STATE["files"]
    loss_stats = {"calls": 0, "with_cross_entropy": 0, "names": []}
    calls = _Calls([])

    def count_loss(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """fit's loss: count its calls, and those that went through the submission's cross_entropy."""
        args = list(args)
        in_args = "loss_fn" not in kwargs and len(args) > 2
        loss_fn = args[2] if in_args else kwargs.get("loss_fn")
        if not callable(loss_fn):
            return tuple(args), kwargs
        loss_stats["names"].append(getattr(loss_fn, "__qualname__", type(loss_fn).__name__))

        def counted(*a: Any, **k: Any) -> Any:
            before = len(calls["cross_entropy.cross_entropy"])
            with calls.tracing():  # fit runs untraced; the loss is looked at
                out = loss_fn(*a, **k)
            loss_stats["calls"] += 1
            loss_stats["with_cross_entropy"] += len(calls["cross_entropy.cross_entropy"]) > before
            return out

        if in_args:
            args[2] = counted
        else:
            kwargs = {**kwargs, "loss_fn": counted}
        return tuple(args), kwargs

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and fair on a busy machine
    try:
        with _watching(mod, TRAIN_TARGETS, {"training.fit": count_loss}) as watched, _loading_in_process():
            calls = watched
            train_set = mod.digits_dataset(*files["train"])
            val_set = mod.digits_dataset(*files["val"])
            model = mod.build_model()
            train_loader, val_loader = mod.make_loaders(train_set, val_set)
            history = mod.train(model, train_loader, val_loader, epochs=epochs)
        test_set = mod.digits_dataset(*files["test"])
        X = torch.stack([test_set[i][0] for i in range(len(test_set))])
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            predictions = model(X.to(device)).argmax(dim=1).cpu()
    finally:
        torch.set_num_threads(threads)

    fits = calls["training.fit"]
    result = {
        "predictions": predictions,
        "history": _plain(history),
        "history_is_fits": bool(fits) and any(history is r for _, _, r in fits),
        "fit_calls": len(fits),
        "fit_epochs": [_plain(kw.get("epochs", a[4] if len(a) > 4 else None)) for a, kw, _ in fits],
        "loss_calls": loss_stats["calls"],
        "loss_calls_with_cross_entropy": loss_stats["with_cross_entropy"],
        "loss_names": loss_stats["names"],
        "pick_device_calls": len(calls["devices.pick_device"]),
        "to_device_model_calls": sum(1 for a, kw, _ in calls["devices.to_device"]
                                     if isinstance(_arg(a, kw, "obj", 0), nn.Module)),
        "device": str(device),
    }
    _STATE.update(result_for=epochs, result=result)
    return result


def _arg(args: tuple, kwargs: dict, name: str, index: int) -> Any:
    return kwargs[name] if name in kwargs else args[index] if len(args) > index else None


def _device_name(value: Any) -> str | None:
    """A device argument as a string ('meta'), whatever form it came in; None when there is none."""
    if value is None:
        return None
    try:
        return str(torch.device(value))
    except (RuntimeError, TypeError, ValueError):
        return f"a {type(value).__name__}"


def train_setup(mod, lr, device, as_object=False, picks=None):
    """``train`` on a small linear model with ``training.fit`` replaced by a recorder (no training).

    Reports what ``train`` handed to fit: the optimizer's class, learning rate and
    parameters, fit's ``device`` and ``val_loader``; and where the model's parameters are
    afterwards. ``device`` may be 'meta': nothing runs on it, since fit does not run.
    ``picks``: ``devices.pick_device`` answers this device (with ``device=None``).
    """
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    X, y = torch.rand(8, 64), torch.randint(0, 10, (8,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=4)
    val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X[:4], y[:4]), batch_size=4)
    history = [{"epoch": 0, "train_loss": 1.0, "val_loss": 1.0, "val_acc": 0.5}]

    def fit(*args: Any, **kwargs: Any) -> list[dict]:
        return history

    stubs: dict[str, Callable[..., Any]] = {"training.fit": fit}
    targets = ["training.fit"]
    if picks is not None:
        stubs["devices.pick_device"] = lambda *a, **k: torch.device(picks)
        targets.append("devices.pick_device")
    with _watching(mod, targets, stubs=stubs) as calls:
        mod.train(model, loader, val_loader, epochs=1, lr=lr, device=torch.device(device) if as_object else device)
    fits = calls["training.fit"]
    info: dict[str, Any] = {"fit_calls": len(fits),
                            "model_devices": sorted({str(p.device) for p in model.parameters()})}
    if fits:
        args, kwargs, _ = fits[0]
        opt = _arg(args, kwargs, "optimizer", 3)
        info["fit_device"] = _device_name(_arg(args, kwargs, "device", 6))
        given = _arg(args, kwargs, "val_loader", 5)
        info["fit_val_loader"] = ("val_loader" if given is val_loader else "train_loader" if given is loader
                                  else repr(given)[:80])
        info["optimizer"] = type(opt).__name__
        info["is_adam"] = type(opt) is torch.optim.Adam  # AdamW subclasses Adam (torch >= 2.8): the exact class
        if isinstance(opt, torch.optim.Optimizer):
            groups = opt.param_groups
            held = {id(p) for g in groups for p in g["params"]}
            info.update(lr=[_plain(g.get("lr")) for g in groups],
                        same_params=held == {id(p) for p in model.parameters()})
    return info
