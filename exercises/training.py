"""The training loop: one epoch, an evaluation pass, and a whole run.

Follows d2l section 3.6 (``train_epoch_ch3`` / ``train_ch3`` in "softmax
regression from scratch") and the PyTorch tutorial "Optimizing Model
Parameters" (the sections "Optimization Loop" and "Full Implementation").

Every model in this kata is trained by the same few lines, repeated for each
mini-batch ``(X, y)`` the data loader hands out:

1. ``optimizer.zero_grad()``: gradients *accumulate* in ``p.grad`` every time
   ``backward()`` runs, so the previous batch's gradient must be cleared first;
2. ``loss = loss_fn(model(X), y)``: the forward pass builds an autograd graph;
3. ``loss.backward()``: fills ``p.grad`` for every parameter;
4. ``optimizer.step()``: updates the parameters from those gradients.

One pass over the whole training set is an *epoch*. After each epoch we
usually measure the model on held-out data (the validation set). That
evaluation is a different situation: the model must be in *evaluation mode*
(``model.eval()``: dropout keeps every unit, batch norm uses its running
statistics) and no autograd graph is needed (``torch.no_grad()`` or
``torch.inference_mode()``), which saves memory and time. Training must switch
the model back with ``model.train()``: the mode is a flag stored on every
module, it does not reset itself.

Reporting a loss for an epoch needs care. A loss such as
``nn.CrossEntropyLoss()`` returns the *mean* over the batch. If the data set
has 10 samples and the batch size is 4, the batches hold 4, 4 and 2 samples;
the mean loss per sample over the epoch is ``(4*l1 + 4*l2 + 2*l3) / 10``, not
``(l1 + l2 + l3) / 3``. The tutorial's ``test_loop`` divides the sum of batch
means by the number of batches, so its last, short batch weighs as much as a
full one: that is wrong whenever the data set size is not a multiple of the
batch size, and this exercise asks for the per-sample mean instead (d2l's
``Accumulator`` gets it right by summing ``l.sum()`` and counting samples).

Pitfalls:

* Forgetting ``zero_grad()`` silently sums the gradients of all batches so far.
* Calling ``optimizer.step()`` before ``loss.backward()`` updates with the
  previous batch's (or no) gradient.
* Returning ``loss`` (a tensor still attached to the graph) instead of a Python
  number keeps every batch's graph alive: use ``loss.item()`` (``float(loss)``
  works too, but warns about a tensor that requires grad).
* ``(pred.argmax(1) == y)`` compares the predicted class of each sample
  (``dim=1`` is the class dimension of an ``(N, C)`` output) with its label;
  ``argmax(0)`` would compare something else entirely.
* ``fit`` resets epoch-level state: a layer such as the ``EpochDropout`` of the
  ``dropout`` exercise keeps one mask for a whole epoch and draws a new one only
  after ``reset_mask()``, so ``fit`` calls ``reset_mask()`` on every submodule
  that has that method at the start of every epoch.

Everything here must work on any device: when ``device`` is given, the model
and every batch are moved there (``.to(device)``), because a model on the GPU
cannot take a batch that is still on the CPU.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

Loader = Iterable[tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Device = str | torch.device | None


def train_epoch(model: nn.Module, loader: Loader, loss_fn: LossFn,
                optimizer: torch.optim.Optimizer, device: Device = None) -> float:
    """Train ``model`` for one epoch over ``loader`` and return the mean loss per sample.

    Contract:

    * First puts the model in training mode (``model.train()``), whatever mode
      it was in before.
    * For each batch ``(X, y)`` of ``loader`` (a ``DataLoader`` or any iterable
      of ``(inputs, targets)`` pairs, at least one batch), in this order:
      - when ``device`` is not ``None``, moves both ``X`` and ``y`` to it
        (``X.to(device)``, ``y.to(device)``); with ``device=None`` the batch is
        used where it is;
      - zeroes the gradients (``optimizer.zero_grad()``);
      - computes ``loss = loss_fn(model(X), y)``, a mean-reduced scalar loss
        (predictions first, targets second);
      - back-propagates (``loss.backward()``) and then calls
        ``optimizer.step()`` exactly once.
    * Exactly one optimizer step per batch: no extra step, no step before the
      backward pass, no gradient left over from an earlier batch.
    * Returns the epoch's **mean loss per sample** as a Python ``float`` (not a
      tensor): each batch's loss (the value computed for that batch, before its
      step) weighted by the batch's number of samples ``len(y)``, divided by the
      total number of samples in those batches. A short last batch counts for
      what it holds::

          batches of 4, 4 and 2 samples with losses l1, l2, l3
          -> (4*l1 + 4*l2 + 2*l3) / 10        (not (l1 + l2 + l3) / 3)

    * Does not move the model (``fit`` does that) and does not create the
      optimizer: it uses the one it is given.

    Example::

        model = nn.Linear(4, 3)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = train_epoch(model, loader, nn.CrossEntropyLoss(), opt)
        type(loss)  # float
    """
    raise NotImplementedError


def evaluate(model: nn.Module, loader: Loader, loss_fn: LossFn,
             device: Device = None) -> tuple[float, float]:
    """Measure ``model`` on ``loader``: return ``(mean loss per sample, accuracy)``.

    Contract:

    * Puts the model in evaluation mode (``model.eval()``) before the first
      forward pass, whatever mode it was in before.
    * Runs without building autograd graphs: every forward pass happens inside
      ``torch.no_grad()`` (or ``torch.inference_mode()``).
    * ``loader`` is, as for ``train_epoch``, a ``DataLoader`` or any iterable
      of ``(X, y)`` pairs.
    * When ``device`` is not ``None``, moves each ``X`` and ``y`` to it; with
      ``device=None`` each batch is used where it is.
    * The model outputs class scores of shape ``(N, C)`` and ``y`` holds ``N``
      integer class labels; ``loss_fn(model(X), y)`` is a mean-reduced loss.
    * Returns a ``tuple`` of two Python ``float``\\ s:
      - the mean loss per sample, each batch's loss weighted by ``len(y)``
        exactly as in ``train_epoch``;
      - the accuracy: the fraction (between 0 and 1, not a percentage) of all
        samples whose ``argmax`` over the class dimension (``dim=1``) equals
        their label. Count correct samples over the whole loader and divide by
        the number of samples (averaging per-batch accuracies is wrong with a
        short last batch).
    * Does not change the parameters (no optimizer step, no in-place update).

    Example: with outputs ``[[2., 1.], [0., 3.], [5., 4.]]`` and labels
    ``[0, 0, 0]`` the predicted classes are ``[0, 1, 0]`` and the accuracy is
    ``2/3``.
    """
    raise NotImplementedError


def fit(model: nn.Module, train_loader: Loader, loss_fn: LossFn,
        optimizer: torch.optim.Optimizer, epochs: int, val_loader: Loader | None = None,
        device: Device = None) -> list[dict]:
    """Train for ``epochs`` epochs and return the history, one dict per epoch.

    Contract:

    * When ``device`` is not ``None``, first moves the model there
      (``model.to(device)``); the model's parameters end on that device. The
      optimizer was built on the same ``Parameter`` objects, which
      ``Module.to`` keeps, so it does not need rebuilding. Every batch is moved
      too (pass ``device`` on to ``train_epoch`` and ``evaluate``). With
      ``device=None`` nothing is moved: pass ``None`` on, not the model's
      device.
    * For each epoch ``i = 0, 1, ..., epochs - 1``, in this order:
      1. calls ``reset_mask()`` on every submodule that has such a method, at
         any depth of nesting (``model.modules()`` walks them all, the model
         itself included), so that an ``EpochDropout`` draws a fresh mask for
         the new epoch; modules without ``reset_mask`` are left alone;
      2. trains one epoch with ``train_epoch`` on ``train_loader``;
      3. when ``val_loader`` is given, evaluates on it with ``evaluate``.
    * Returns a list with one dict per epoch, in order::

          {"epoch": i, "train_loss": <float>}                      # no val_loader
          {"epoch": i, "train_loss": <float>,
           "val_loss": <float>, "val_acc": <float>}                # with val_loader

      ``"epoch"`` is an ``int`` counting from 0; ``"train_loss"`` is what
      ``train_epoch`` returned for that epoch; ``"val_loss"`` and ``"val_acc"``
      are what ``evaluate`` returned. No other keys, and no ``"val_..."`` keys
      at all without a ``val_loader``.

    Example::

        history = fit(model, train_dl, nn.CrossEntropyLoss(), opt, epochs=2,
                      val_loader=val_dl)
        # [{"epoch": 0, "train_loss": 1.02, "val_loss": 0.97, "val_acc": 0.61},
        #  {"epoch": 1, "train_loss": 0.88, "val_loss": 0.85, "val_acc": 0.66}]
    """
    raise NotImplementedError
