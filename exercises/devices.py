"""Devices: choosing a GPU and moving data.

Follows d2l, chapter 5.6 "GPUs" (Chinese edition: 5.6 GPU, with its helpers
``try_gpu`` and ``try_all_gpus``) and the PyTorch tutorial "Build the Neural
Network", section "Get Device for Training".

Every tensor lives on a *device*: ``torch.device("cpu")`` (main memory, all
CPU cores), ``torch.device("cuda:0")``, ``torch.device("cuda:1")``, ... (the
memory of one NVIDIA GPU each; plain ``"cuda"`` means the current GPU), or
``torch.device("mps")`` (Apple GPUs, through Metal Performance Shaders). An
operation runs where its operands are, and they must all be on the same
device: ``torch.ones(2, device="cuda") + torch.ones(2)`` fails with
"Expected all tensors to be on the same device". A model is on a device when
its parameters and buffers are: ``model.to(device)`` moves them, in place.

Code that should run everywhere therefore (1) asks which devices exist, and
(2) moves the model and every batch to the chosen one. You write both parts:

* ``pick_device()``: the tutorial's choice: CUDA, else MPS, else CPU.
* ``try_gpu(i)`` and ``try_all_gpus()``: d2l's helpers, which fall back to the
  CPU so the same notebook runs on a laptop.
* ``to_device(obj, device)``: move a whole batch, whatever its shape: a
  tensor, a tuple ``(X, y)``, a dict of named tensors, a namedtuple, nested
  in each other, or a model.

Copies between devices are slow compared with computing. ``non_blocking=True``
lets a copy from pinned (page-locked) CPU memory to a GPU overlap with the
computation already queued; ``to_device`` passes the flag on to
``Tensor.to``.

Pitfalls:

* The tutorial's version builds a *string* (``device = "cuda" if ... else
  "cpu"``). Strings work with ``.to()``, but the contract here asks for
  ``torch.device`` objects: they compare reliably (``d.type == "cuda"``),
  carry an index, and are what ``tensor.device`` gives back.
* MPS is not NVIDIA's "Multi-Process Service" here; it is Apple's Metal
  Performance Shaders backend. ``torch.backends.mps.is_built()`` only says
  that PyTorch was compiled with MPS support; ``is_available()`` says there is
  a usable device. Choose MPS on ``is_available()``.
* ``torch.device("cuda")`` and ``torch.device("cuda:0")`` are not equal as
  objects: ``try_gpu`` and ``try_all_gpus`` return explicit indices.
* A namedtuple is a tuple, but ``type(t)(generator)`` does not rebuild it
  (its constructor takes the fields as separate arguments), and
  ``tuple(...)`` loses its class and field names.
* ``nn.Module.to`` works in place and returns the module itself; do not copy
  the model (whoever holds a reference to it, e.g. an optimizer, must see the
  moved parameters).
* Strings are sequences too: do not recurse into them.
* Build new containers; do not fill the caller's in place (``obj[k] =
  to_device(...)``, ``obj[:] = [...]``) nor move a tensor in place
  (``t.data = t.data.to(device)``): the caller may still need the batch where
  it was, e.g. a CPU copy to log or to compare with.

Ask torch what exists through ``torch.cuda.is_available()``,
``torch.cuda.device_count()`` and ``torch.backends.mps.is_available()`` (or
their ``torch.accelerator`` / ``torch.mps`` equivalents), at call time: the
grader simulates machines with zero, one or several GPUs, or with MPS, by
replacing these functions while your code runs, so do not cache the answers
when the module is imported.

Allowed: the standard library and ``torch``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def pick_device() -> torch.device:
    """The best device for training: ``cuda`` if available, else ``mps`` if available, else ``cpu``.

    Returns:
        ``torch.device("cuda")`` when ``torch.cuda.is_available()``;
        otherwise ``torch.device("mps")`` when
        ``torch.backends.mps.is_available()``; otherwise
        ``torch.device("cpu")``. Always a ``torch.device``, never a string.
        (``cuda:0`` is accepted for ``cuda``.)

    Example:
        >>> pick_device()          # on a machine without any GPU
        device(type='cpu')
    """
    raise NotImplementedError


def try_gpu(i: int = 0) -> torch.device:
    """GPU number ``i`` if it exists, else the CPU.

    Returns:
        ``torch.device(f"cuda:{i}")`` if there are at least ``i + 1`` GPUs
        (``torch.cuda.device_count() >= i + 1``), else
        ``torch.device("cpu")``. Always a ``torch.device`` with an explicit
        index for CUDA.

    Example:
        >>> try_gpu(), try_gpu(10)   # on a machine with one GPU
        (device(type='cuda', index=0), device(type='cpu'))
    """
    raise NotImplementedError


def try_all_gpus() -> list[torch.device]:
    """Every GPU, or the CPU alone when there is none.

    Returns:
        A ``list`` ``[torch.device("cuda:0"), ..., torch.device(f"cuda:{n-1}")]``
        for the ``n = torch.cuda.device_count()`` GPUs, in order; the list
        ``[torch.device("cpu")]`` when ``n == 0`` (never an empty list).

    Example:
        >>> try_all_gpus()          # on a machine with two GPUs
        [device(type='cuda', index=0), device(type='cuda', index=1)]
    """
    raise NotImplementedError


def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move every tensor inside ``obj`` to ``device``, keeping the structure around it.

    Args:
        obj: a tensor, an ``nn.Module``, a container (``dict``, ``list``,
            ``tuple``, namedtuple) holding any of these, nested to any depth,
            or anything else.
        device: a ``torch.device`` or a string such as ``"cuda:0"``.
        non_blocking: passed on to ``Tensor.to`` for every tensor moved.

    Returns:
        * a tensor: ``tensor.to(device, non_blocking=non_blocking)``: same
          values, dtype and shape, on ``device``;
        * an ``nn.Module``: the module is moved in place (``module.to``) and
          the *same object* is returned;
        * a ``dict``: a dict with the same keys, in the same order, each
          value converted;
        * a ``list`` / ``tuple``: a list / tuple (the same type) of the
          converted items, in order;
        * a namedtuple: an instance of the same namedtuple class, each field
          converted;
        * anything else (``str``, ``int``, ``float``, ``bool``, ``None``, other
          objects): returned unchanged (the same object).

        ``obj`` itself is left as it was: the caller's dicts and lists still
        hold what they held, and its tensors stay where they were (return new
        containers). The one thing moved in place is an ``nn.Module``.

        The grader uses plain ``dict``/``list``/``tuple`` and namedtuples;
        what you do with other subclasses of them is up to you.

    Example:
        >>> Batch = collections.namedtuple("Batch", "X y")
        >>> out = to_device({"batch": Batch(torch.ones(2, 3), torch.tensor([0, 1])),
        ...                  "names": ["a", "b"], "step": 3}, "meta")
        >>> type(out["batch"]).__name__, out["batch"].X.device, out["names"], out["step"]
        ('Batch', device(type='meta'), ['a', 'b'], 3)
    """
    raise NotImplementedError
