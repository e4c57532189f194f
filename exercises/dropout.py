"""Inverted dropout, and a dropout layer whose mask lasts a whole epoch.

Follows d2l, chapter 4.6 "Dropout" (Chinese edition: 4.6 暂退法 (Dropout)).

A network with many parameters can memorise its training set: single hidden
units learn to rely on very particular other units. Dropout breaks those
co-adaptations by injecting noise while training. At every forward pass each
activation ``h`` is replaced by a random variable ``h'``:

    h' = 0             with probability p        (the unit is "dropped")
    h' = h / (1 - p)   with probability 1 - p    (the unit survives, scaled up)

The scaling is what makes the noise *unbiased*: E[h'] = (1 - p) * h / (1 - p)
= h, so the next layer sees, on average, the same input as without dropout.
This variant, which scales while training, is called *inverted* dropout; it
lets the network run untouched at test time: in evaluation the layer is the
identity, no mask and no scaling. (The original paper scaled at test time
instead; every framework does it the inverted way.) ``p`` is the probability
of DROPPING a unit; the probability of keeping it is ``1 - p``.

In PyTorch a layer knows whether it is training through ``self.training``,
which ``model.train()`` and ``model.eval()`` switch for a module and all its
children. Forgetting ``model.eval()`` before testing is a classic bug: the
predictions become random.

The second half of this exercise is ``EpochDropout``, not from d2l: a
dropout layer that draws its mask once and keeps it for a whole epoch, until
the training loop calls ``reset_mask()``. The obvious version draws the mask
with the shape of the whole batch, ``x.shape``. That has two flaws, and this
exercise's contract fixes both:

* the last batch of an epoch is usually shorter (60000 samples in batches of
  256 leave 96 at the end), so its shape differs and that layer silently
  draws a NEW mask for it: the mask does not last the epoch after all;
* a per-position mask over a *shuffled* batch means nothing: row 3 of the
  batch is a different sample every time, so "the same mask for the epoch" is
  not the same mask for any sample.

Here the mask has shape ``(1, *x.shape[1:])``: one keep/drop decision per
*feature*, shared by every sample of the batch, and broadcast over whatever
batch size comes in.

Pitfalls:

* Keep with probability ``1 - p``, not ``p``: ``torch.rand(shape) > p`` keeps
  with probability 1 - p; ``torch.rand(shape) < p`` keeps with probability p.
* Do not forget to scale the survivors by ``1 / (1 - p)``, and do not scale
  by ``1 / p``.
* ``p == 1`` drops everything: ``mask / (1 - p)`` is then ``0 / 0 = NaN``.
  Handle it on its own and return zeros that stay connected to ``x``
  (``x * 0``, not ``torch.zeros_like(x)``), so gradients still flow (as zeros).
* Create the mask on ``x.device`` (``torch.rand(shape, device=x.device)``);
  a CPU mask times a GPU tensor raises an error.
* Mind the dtype: a ``float64`` mask times a ``float32`` input gives a
  ``float64`` output. A ``bool`` mask, or one made in ``x.dtype``, keeps it.
* Never modify ``x`` in place (``x.mul_(mask)``, ``x[mask] = 0``): the caller
  still owns ``x``, and autograd may need its values.
* Do not call torch's own dropout: ``torch.nn.functional.dropout`` (and
  ``dropout1d/2d/3d``, ``alpha_dropout``, ``feature_alpha_dropout``),
  ``torch.dropout``, ``nn.Dropout`` and friends. Using one of them scores zero
  for the function or class that uses it. Draw the mask yourself with
  ``torch.rand``, ``torch.bernoulli`` or ``Tensor.bernoulli_``.

Allowed: the standard library and ``torch``.
"""
from __future__ import annotations

import torch
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Apply inverted dropout to ``x``.

    Args:
        x: a floating-point tensor of any shape, dtype (``float16``,
            ``bfloat16``, ``float32``, ``float64``) and device.
        p: the probability of dropping (zeroing) each element, in [0, 1].
        training: dropout only acts while training; ``False`` is evaluation.

    Returns:
        A tensor with ``x``'s shape, dtype and device.

    Contract:
        * ``p`` outside ``[0, 1]`` raises ``ValueError``, whatever ``training``
          is (a bad ``p`` is a bug even in evaluation).
        * ``training=False`` or ``p == 0``: returns ``x`` unchanged (``x``
          itself or an equal tensor).
        * ``p == 1``: returns all zeros (for finite ``x``), never NaN or inf.
        * Otherwise each element is zeroed independently with probability
          ``p``; every element that survives is ``x / (1 - p)``, computed in
          ``x``'s precision (a ``float64`` ``x`` is not scaled by a ``float32``
          factor). So the expectation of the result equals ``x``. Every call
          draws a fresh mask.
        * The result has ``x``'s shape, dtype and device (the mask is made on
          ``x.device``; it must not change the dtype).
        * ``x`` itself is never modified (no in-place operations on it).
        * Gradients flow to ``x``: for a kept element the gradient is
          multiplied by ``1 / (1 - p)``, for a dropped one it is 0 (so at
          ``p == 1`` the gradient is all zeros, not missing).
        * Forbidden: ``torch.nn.functional.dropout`` and its variants
          (``dropout1d/2d/3d``, ``alpha_dropout``, ``feature_alpha_dropout``),
          ``torch.dropout``, ``nn.Dropout``, under any name and in any thread.
          Using them scores zero for this function. Draw the mask yourself
          (``torch.rand``, ``torch.bernoulli``, ...), in the calling thread:
          the grader watches the call itself, so work handed to another
          thread or process cannot be watched and earns no points.
        * The points for the mask's device, for leaving ``x`` alone and for
          drawing your own mask count only for a dropout that drops.

    Examples:
        >>> x = torch.ones(2, 4)
        >>> dropout(x, 0.5)                  # doctest: +SKIP (random)
        tensor([[2., 0., 0., 2.],
                [0., 2., 2., 2.]])
        >>> torch.equal(dropout(x, 0.5, training=False), x)
        True
        >>> dropout(x, 1.0)
        tensor([[0., 0., 0., 0.],
                [0., 0., 0., 0.]])
        >>> dropout(x, 1.5)
        Traceback (most recent call last):
        ValueError: ...
    """
    raise NotImplementedError


class EpochDropout(nn.Module):
    """Dropout whose mask stays fixed for a whole epoch: one decision per feature.

    Usage in a training loop::

        drop = EpochDropout(p=0.3)
        for epoch in range(num_epochs):
            drop.reset_mask()            # a new mask for every epoch
            for X, y in train_iter:      # the same mask for every batch
                ... drop(hidden) ...

    Contract:
        * ``EpochDropout(p=0.5)``: ``p`` is the probability of dropping a
          feature. ``p`` outside ``[0, 1]`` raises ``ValueError`` at
          construction.
        * It is an ``nn.Module``; ``train()`` / ``eval()`` switch its mode.
        * Training mode, ``forward(x)`` with ``x`` of shape ``(B, *F)``: the
          first forward after construction or after ``reset_mask()`` draws
          ONE mask of shape ``(1, *F)``: one keep/drop decision per feature,
          shared by every sample of the batch; each feature is kept with
          probability ``1 - p``, and kept features are scaled by
          ``1 / (1 - p)`` (so the output is 0 or ``x / (1 - p)``).
        * Every later training forward reuses that mask, whatever its batch
          size ``B`` (the short last batch of an epoch included), until
          ``reset_mask()`` is called. If the per-sample shape ``F`` changes,
          a new mask is drawn for the new shape.
        * ``reset_mask()`` sets the attribute ``mask`` to ``None``. Otherwise
          ``self.mask`` holds the current mask, a tensor of shape ``(1, *F)``
          that is 0 (or False) exactly where features are dropped: store a
          0/1 mask, a bool mask or the already scaled one, as you like. ``mask`` is neither a parameter nor
          part of ``state_dict()`` (a plain attribute, or a buffer registered
          with ``persistent=False``).
        * Eval mode: ``forward(x)`` returns ``x`` unchanged and leaves the
          mask alone (no drawing, no resetting, no changes).
        * ``p == 0`` is the identity; ``p == 1`` gives zeros (never NaN). A
          training forward stores a mask at these two as well (all kept, all
          dropped): ``self.mask`` is ``None`` only before the first forward and
          after ``reset_mask()``.
        * The mask follows the input's device and dtype: the output has
          ``x``'s shape, dtype and device, and if the module and its inputs
          move to another device (or dtype) mid-epoch, the same keep/drop
          pattern is used there.
        * Inputs are never modified in place; gradients flow to ``x``.
        * Forbidden, as for ``dropout``: torch's own dropout functions and
          ``nn.Dropout``. Using them scores zero for this class. (Calling your
          own ``dropout`` above is fine, but it draws a per-element mask,
          which is not what this class needs.)

    Example:
        >>> drop = EpochDropout(0.5)
        >>> a = drop(torch.ones(3, 4))       # doctest: +SKIP (random)
        >>> a
        tensor([[2., 0., 2., 0.],
                [2., 0., 2., 0.],
                [2., 0., 2., 0.]])
        >>> drop(torch.ones(1, 4))           # doctest: +SKIP (same mask)
        tensor([[2., 0., 2., 0.]])
        >>> drop.mask.shape
        torch.Size([1, 4])
        >>> drop.reset_mask(); drop.mask is None
        True
    """

    def __init__(self, p: float = 0.5) -> None:
        """Check ``p`` (``ValueError`` outside [0, 1]) and start without a mask."""
        super().__init__()
        raise NotImplementedError

    def reset_mask(self) -> None:
        """Set ``self.mask`` to ``None``: the next training forward draws a new mask."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the epoch's mask in training mode; the identity in eval mode."""
        raise NotImplementedError
