"""Helpers for probes (the trusted functions that run inside a worker)."""
from __future__ import annotations

import contextlib
import functools
import importlib
import re
import traceback
from typing import Any, Iterator


_MISSING = object()

# Threads and processes started since count_spawns(); see there. [count, installed]
_SPAWNS = [0, 0]
SPAWNED = "another thread or process ran beside the call (what runs there cannot be watched)"


def raised_by_stub(err: BaseException, theirs: str | None) -> bool:
    """Is ``err`` an exercise's own ``raise NotImplementedError`` (an unwritten stub)?

    torch raises NotImplementedError too (no data in a meta tensor, an op with no kernel for a
    device). Raised in C, it has no frame of its own: its innermost frame is the learner's line
    too, but that line is no ``raise``. ``theirs``: the submission's file, or its folder.
    """
    if not isinstance(err, NotImplementedError) or not theirs:
        return False
    frames = traceback.extract_tb(err.__traceback__)
    last = frames[-1] if frames else None
    return bool(last and (last.filename == theirs or last.filename.startswith(theirs.rstrip("/") + "/"))
                and (last.line or "").lstrip().startswith("raise"))


def _resolve(dotted: str) -> tuple[Any, str]:
    """Split ``torch.nn.functional.dropout`` into (owner object, attribute name)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1]
    raise ValueError(f"cannot resolve {dotted}")


@contextlib.contextmanager
def recording(targets: list[str]) -> Iterator[list[str]]:
    """Record calls to the named callables (still calling through) while inside the block.

    Yields a list that receives the dotted name of each call, in order.
    """
    calls: list[str] = []
    saved: list[tuple[Any, str, Any]] = []
    try:
        for dotted in targets:
            try:
                owner, name = _resolve(dotted)
                if isinstance(owner, type):
                    # Methods may live on a base class (Tensor.gather is on TensorBase).
                    holder = next(k for k in owner.__mro__ if name in k.__dict__)
                    original = holder.__dict__[name]
                    own = holder is owner
                else:
                    original, own = getattr(owner, name), True
            except (ValueError, AttributeError, StopIteration):
                continue
            saved.append((owner, name, original if own else _MISSING))
            func = original.__func__ if isinstance(original, (staticmethod, classmethod)) else original

            def wrapper(*args: Any, __f=func, __n=dotted, **kwargs: Any) -> Any:
                calls.append(__n)
                return __f(*args, **kwargs)

            with contextlib.suppress(Exception):
                functools.update_wrapper(wrapper, func)
            new: Any = wrapper
            if isinstance(original, staticmethod):
                new = staticmethod(wrapper)
            elif isinstance(original, classmethod):
                new = classmethod(wrapper)
            setattr(owner, name, new)
        yield calls
    finally:
        for owner, name, original in reversed(saved):
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def count_spawns() -> None:
    """From now on, count every thread and process this process starts.

    Called in a worker before the submission is imported. The watchers (``recording``, torch
    function modes, profile hooks) see only the calling thread of this process: work handed to
    another thread or process escapes them. So a watcher that sees :func:`spawns` change during a
    call reports :data:`SPAWNED` among the forbidden calls (it cannot vouch for the call), and the
    point fails closed. Correct code for these exercises starts neither.
    """
    import _thread
    import os
    import threading

    try:
        import _posixsubprocess  # subprocess, multiprocessing's spawn
    except ImportError:
        _posixsubprocess = None
    # threading keeps its own reference to _thread's starter, so both names are wrapped.
    for owner, name in ((_thread, "start_new_thread"), (_thread, "start_joinable_thread"),
                        (threading, "_start_new_thread"), (threading, "_start_joinable_thread"),
                        (os, "fork"), (os, "forkpty"), (os, "posix_spawn"), (os, "posix_spawnp"),
                        (os, "system"), (_posixsubprocess, "fork_exec")):
        func = getattr(owner, name, None) if owner is not None else None
        if func is None or getattr(func, "_kata_counted", False):
            continue

        def counted(*args: Any, __f=func, **kwargs: Any) -> Any:
            _SPAWNS[0] += 1
            return __f(*args, **kwargs)

        counted._kata_counted = True  # type: ignore[attr-defined]
        setattr(owner, name, counted)
    _SPAWNS[1] = 1


def spawns() -> int:
    """How many threads and processes were started since :func:`count_spawns`."""
    return _SPAWNS[0]


def helpers_alive() -> bool:
    """Is another Python thread, or a process this worker started, alive now?

    A thread or process started at import time, before any watched call, could do a call's
    work while the call waits: counting starts during the call does not see it, this does.
    Only in a worker (after :func:`count_spawns`): the grader's own process has other threads.
    """
    if not _SPAWNS[1]:
        return False
    import os
    import sys

    if len(sys._current_frames()) > 1:
        return True
    try:
        if os.getpid() == 2 and os.getppid() == 1:
            # The sandbox's PID namespace: its init is 1, the worker 2, anything else is the submission's.
            return any(n.isdigit() and n not in ("1", "2") for n in os.listdir("/proc"))
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                if f.read().strip():
                    return True
    except OSError:
        pass
    return False


@contextlib.contextmanager
def concurrency_watch() -> Iterator[list[str]]:
    """Yields a list that, after the block, holds :data:`SPAWNED` when another thread or process
    started during the block, or was alive at its start or end: the watchers could not see
    what it ran, so they cannot vouch for the call."""
    notes: list[str] = []
    started, busy = spawns(), helpers_alive()
    try:
        yield notes
    finally:
        if busy or spawns() != started or helpers_alive():
            notes.append(SPAWNED)


def torch_name_spy(words: tuple[str, ...], subclasses: bool = False) -> Any:
    """A torch function mode that records (in ``.calls``) every torch function whose name
    contains one of ``words``, however it was reached: an alias, ``torch.ops.aten.*``, a
    ``torch._C`` binding fetched before the call. It watches the calling thread only (see
    :func:`concurrency_watch`).

    ``.current`` is the torch function running now (for :func:`random_draw_spy`). With
    ``subclasses``, a tensor subclass with a ``__torch_function__`` of its own is recorded too:
    what it runs in there is out of the mode's sight (the mode is off while it handles a call)."""
    from torch.overrides import TorchFunctionMode

    class NameSpy(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []
            self.current: str | None = None

        def __torch_function__(self, func, types, args=(), kwargs=None):
            try:
                name = str(getattr(func, "__name__", "") or "").lower()
            except Exception:  # noqa: BLE001 - never let the spy break the call
                name = ""
            if any(w in name for w in words):
                self.calls.append(f"torch function {name}")
            if subclasses:
                import torch

                # nn.Parameter's handler is the disabled one: it runs nothing of its own.
                odd = sorted({getattr(t, "__name__", "?") for t in types if t is not torch.Tensor
                              and getattr(t, "__torch_function__", None) is not torch._C._disabled_torch_function_impl})
                if odd:
                    self.calls.append(f"a tensor subclass with its own __torch_function__ ({', '.join(odd)}) "
                                      f"in torch function {name}")
            before, self.current = self.current, name
            try:
                return func(*args, **(kwargs or {}))
            finally:
                self.current = before

    return NameSpy()


def scripts_calling(words: tuple[str, ...]) -> list[str]:
    """TorchScript functions and modules within reach of the running Python frames (their locals
    and globals, and one level into the objects there) whose graph calls an ATen operator whose
    name contains one of ``words``. TorchScript runs its operators under no Python torch function:
    its graph is where they can be seen."""
    import sys

    import torch

    def graph_of(obj: Any) -> str:
        try:
            if isinstance(obj, (torch.jit.ScriptFunction, torch.jit.ScriptModule)):
                return str(obj.inlined_graph)
        except Exception:  # noqa: BLE001 - a module without forward, a half-built script
            pass
        return ""

    found: dict[str, None] = {}
    seen: set[int] = set()
    frame = sys._getframe(1)
    while frame is not None:
        values = [*frame.f_locals.values(), *frame.f_globals.values()]
        for value in list(values):
            with contextlib.suppress(Exception):
                if not isinstance(value, type(sys)):  # one level into objects and classes, not modules
                    values.extend(vars(value).values())
        for value in values:
            if id(value) in seen:
                continue
            seen.add(id(value))
            for op in re.findall(r"aten::(\w+)", graph_of(value)):
                if any(w in op.lower() for w in words):
                    found[f"a TorchScript function calling aten.{op}"] = None
        frame = frame.f_back
    return list(found)


# Kernels that draw random numbers, and torch functions that may: a draw is fair only inside one.
RANDOM_WORDS = ("bernoulli", "rand", "uniform", "normal", "multinomial", "exponential", "geometric",
                "cauchy", "poisson", "binomial", "_standard_gamma", "_sample_dirichlet")
# Torch functions that draw under other names: F.gumbel_softmax (Gumbel noise, exponential_) and
# F.rrelu / torch.rrelu(_) (random slopes, rrelu_with_noise). No dropout's name contains any of these words.
RANDOM_FUNCTION_WORDS = RANDOM_WORDS + ("gumbel_softmax", "rrelu")


def random_draw_spy(name_spy: Any, script_words: tuple[str, ...]) -> Any:
    """A dispatch mode that records (in ``.calls``) every random draw made outside a random torch
    function (a TorchScript one counts when its graph calls an operator named by ``script_words``).

    A hand-written dropout draws its mask with a random function (``rand_like``, ``bernoulli_``,
    ``randperm``, ``nn.init.uniform_``, a ``torch.distributions`` sample): ``name_spy`` (a
    :func:`torch_name_spy`, entered inside this mode) sees that function, and its kernels run under
    it. Torch's dropout makes the same kernels (``bernoulli_``, ``mul``), so watching kernels alone
    cannot tell them apart; but reached out of the name spy's sight it draws with torch function
    handling switched off (``torch._C.DisableTorchFunction()``), under a torch function that draws
    nothing (a tensor subclass's ``__torch_function__`` running inside ``mul``), or under another
    op's own dropout (``scaled_dot_product_attention(dropout_p=...)``)."""
    from torch._C import _is_torch_function_enabled as torch_function_enabled
    from torch.utils._python_dispatch import TorchDispatchMode

    class DrawSpy(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []
            self.scanned = False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(getattr(func, "__name__", "") or "")
            if any(w in name.lower() for w in RANDOM_WORDS):
                under = name_spy.current
                if not under:
                    # Under no torch function with the handling on is TorchScript running its own ops:
                    # fair for a scripted mask, so what is looked at there is the script itself (once
                    # per watched call: the running script is within reach from its first draw).
                    if not torch_function_enabled():
                        self.calls.append(f"torch kernel aten.{name}, a random draw with torch function "
                                          f"handling switched off")
                    elif not self.scanned:
                        self.scanned = True
                        self.calls.extend(scripts_calling(script_words))
                elif not any(w in under for w in RANDOM_FUNCTION_WORDS):
                    self.calls.append(f"torch kernel aten.{name}, a random draw inside torch function {under}")
            return func(*args, **(kwargs or {}))

    return DrawSpy()


def kernel_spy(words: tuple[str, ...]) -> Any:
    """A dispatch mode that records (in ``.calls``) every ATen operator whose name contains one
    of ``words``. It sits below the torch-function level, so it also sees a function reached
    with torch function handling switched off (``torch._C.DisableTorchFunction()``, a tensor
    subclass's ``__torch_function__``), where :func:`torch_name_spy` is blind. Composite
    functions arrive decomposed: ``F.cross_entropy`` shows as ``_log_softmax`` and
    ``nll_loss_forward``. Calling thread only, like the name spy."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class KernelSpy(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(getattr(func, "__name__", "") or "")
            if any(w in name.lower() for w in words):
                self.calls.append(f"torch kernel aten.{name}")
            return func(*args, **(kwargs or {}))

    return KernelSpy()


def function_codes(words: tuple[str, ...], modules: tuple[str, ...]) -> dict[Any, str]:
    """{code object: dotted name} of the Python functions in ``modules`` (and of the ``forward``
    of their classes) whose name contains one of ``words``, unwrapped to the innermost function:
    the code that runs whatever the function is called through."""
    import inspect

    codes: dict[Any, str] = {}
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, value in list(vars(module).items()):
            if not any(w in attr.lower() for w in words):
                continue
            if isinstance(value, type):
                value = vars(value).get("forward")
            try:
                code = inspect.unwrap(value).__code__
            except (AttributeError, ValueError, TypeError):
                continue
            codes.setdefault(code, f"{name}.{attr}")
    return codes


def class_codes(classes: tuple[type, ...]) -> dict[Any, str]:
    """{code object: Class.method} of the functions and properties defined by each class itself."""
    codes: dict[Any, str] = {}
    for cls in classes:
        for attr, value in vars(cls).items():
            for f in (value, getattr(value, "__func__", None), getattr(value, "fget", None),
                      getattr(value, "fset", None)):
                code = getattr(f, "__code__", None)
                if code is not None:
                    codes.setdefault(code, f"{cls.__name__}.{attr}")
    return codes


@contextlib.contextmanager
def call_watch(codes: dict[Any, str], words: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Record the calls made in the block (calling thread) of the Python functions whose code is in
    ``codes``, and of torch's C functions whose name contains one of ``words``.

    It follows the code that runs, not names: an alias taken at import, a function rebuilt from the
    same code, a method called through a hidden object, a call made with torch function handling and
    the dispatch modes switched off (where the name spies are blind): all run the same code or C
    function. Python's profiler hook sees every call; a submission that replaces or removes it
    (``sys.setprofile``) is recorded as having switched the watch off."""
    import sys

    import torch

    seen: list[str] = []
    state = {"closing": False}
    previous = sys.getprofile()

    def torch_builtin(fn: Any) -> bool:
        owner = getattr(fn, "__self__", None)
        module = getattr(fn, "__module__", None) or getattr(owner, "__name__", None) or ""
        return isinstance(owner, torch.Tensor) or (isinstance(module, str) and module.startswith("torch"))

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            name = codes.get(frame.f_code)
            if name is not None:
                seen.append(name)
        elif event == "c_call":
            if arg is sys.setprofile:
                if not state["closing"]:
                    seen.append("sys.setprofile (it switches off the watch of calls)")
            elif words:
                name = getattr(arg, "__name__", None)
                if isinstance(name, str) and any(w in name.lower() for w in words) and torch_builtin(arg):
                    seen.append(f"torch's C function {name}")
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield seen
    finally:
        if sys.getprofile() is not profile:
            seen.append("sys.setprofile (the watch of calls was switched off)")
        state["closing"] = True
        sys.setprofile(previous)
