"""Parameter initialisation and Xavier.

Follows d2l, chapter 5.2 "Parameter Management" (Chinese edition: 5.2 参数管理,
section 参数初始化: built-in and custom initialisation) and chapter 4.8
"Numerical Stability and Initialization" (4.8 数值稳定性和模型初始化, section
Xavier 初始化).

Why initialisation matters
--------------------------
Training starts from the numbers a layer holds before the first step. If all
the weights of a hidden layer start equal (say all 1), every hidden unit
computes the same thing and receives the same gradient, so they stay equal for
ever: the layer behaves as if it had a single unit (the *symmetry* problem).
Random initial weights break that symmetry. Their *scale* matters too: too
large and the activations and gradients blow up from layer to layer, too small
and they vanish.

Xavier (Glorot) initialisation picks the scale so that, for a linear layer,
the variance of the outputs does not depend on the number of inputs and the
variance of the gradients does not depend on the number of outputs. With
``fan_in`` inputs and ``fan_out`` outputs this asks for
``Var[w] = 2 / (fan_in + fan_out)``. The uniform version draws
``w ~ U(-a, a)``, and since ``Var[U(-a, a)] = a**2 / 3``::

    a = gain * sqrt(6 / (fan_in + fan_out))

where ``gain`` corrects for the activation function that follows (1 for none,
``sqrt(2)`` for ReLU, see ``torch.nn.init.calculate_gain``). For a weight of
shape ``(out, in)`` the fans are ``in`` and ``out``. A convolution kernel of
shape ``(out_channels, in_channels, k1, k2, ...)`` connects each output to
``in_channels * k1 * k2 * ...`` inputs, so both fans are multiplied by the
*receptive field* ``r = k1 * k2 * ...``: ``fan_in = size(1) * r`` and
``fan_out = size(0) * r``.

Initialising a whole network
----------------------------
``net.apply(fn)`` calls ``fn(m)`` on every sub-module ``m`` of ``net`` (and on
``net`` itself). An init function therefore looks at the module it is given,
acts if it is a kind it knows (here: a linear layer) and does nothing
otherwise::

    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    net.apply(init_normal)

Initialisation changes the parameters *in place*: the network, an optimiser
that was already given ``net.parameters()``, anyone holding a reference, all
keep the very same ``nn.Parameter`` objects, which get new values. Writing
into a leaf tensor that requires grad is an autograd error, so do it under
``torch.no_grad()`` (or through ``.data``): it is not a computation to
differentiate, and must not appear in any graph.

Pitfalls (where d2l's examples differ from this one)
----------------------------------------------------
* d2l's examples test ``type(m) == nn.Linear``. That misses every subclass of
  ``nn.Linear`` (your own ``class MyLinear(nn.Linear)``, or the output
  projection inside ``nn.MultiheadAttention``). Use ``isinstance``.
* d2l's ``init_xavier`` and ``my_init`` leave the bias as it was; here
  every init function sets the bias to zero, and d2l's ``nn.init.zeros_(
  m.bias)`` crashes on ``nn.Linear(..., bias=False)``, whose ``bias`` is
  ``None``.
* ``m.weight = nn.Parameter(...)`` "works" for a fresh network but replaces the
  Parameter object: an optimiser built before still updates the old one.
* ``std`` means standard deviation: N(0, 0.01**2) has standard deviation 0.01
  (its variance is 0.0001).
* d2l's ``my_init`` prints a line per layer; yours must print nothing.
* ``m.weight.data = torch.randn(...)`` makes the new values on the CPU: for a
  layer on a GPU PyTorch refuses to swap them in. Fill the tensor in place.

Allowed: the standard library and ``torch``. ``init_normal``,
``init_constant``, ``init_xavier`` and ``my_init`` may use ``torch.nn.init``;
``xavier_uniform_`` may not (that one you write yourself).
"""
from __future__ import annotations

import torch
from torch import nn


def init_normal(m: nn.Module) -> None:
    """Weights from N(0, 0.01**2), bias 0, for linear layers; meant for ``net.apply``.

    Contract (shared by ``init_normal``, ``init_constant``, ``init_xavier``
    and ``my_init``):
        * Acts on ``nn.Linear`` modules, subclasses of ``nn.Linear`` included
          (test with ``isinstance``, not ``type(m) == nn.Linear``).
        * Leaves every other module untouched: called on an ``nn.Conv2d``, an
          ``nn.Bilinear``, an ``nn.LayerNorm``, an ``nn.Embedding``, ... it
          changes nothing, even though these have a ``weight`` too.
          (``net.apply(fn)`` reaches the linear layers inside containers by
          itself, one call each.)
        * Changes the parameters in place: ``m.weight`` (and ``m.bias``) are
          the same ``nn.Parameter`` objects afterwards, with the same shape,
          dtype and device; they are still leaves with ``requires_grad=True``,
          and no autograd history is recorded (``grad_fn`` stays ``None``).
        * Works on a layer on any device, a GPU included: draw in place
          (``Tensor.normal_``, ``uniform_``) or make any new tensor on
          ``m.weight.device``; assigning a CPU tensor to ``m.weight.data``
          fails for a CUDA layer.
        * Sets the bias to zero when there is one; works on
          ``nn.Linear(..., bias=False)`` (``m.bias is None``: nothing to do).
        * Returns ``None``.

    Specific to ``init_normal``: every weight is drawn independently from the
    normal distribution with mean 0 and standard deviation 0.01 (variance
    0.0001). ``torch.nn.init.normal_`` is allowed.

    Example::

        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        >>> net.apply(init_normal)  # doctest: +ELLIPSIS
        Sequential(...)
        >>> net[0].bias
        Parameter containing:
        tensor([0., 0., 0., 0., 0., 0., 0., 0.], requires_grad=True)
    """
    raise NotImplementedError


def init_constant(m: nn.Module) -> None:
    """Weights all 1, bias 0, for linear layers; meant for ``net.apply``.

    Same shared contract as ``init_normal`` (linear layers and their
    subclasses only, everything else untouched, in place on the same
    Parameters, still leaves requiring grad, no autograd history, bias set to
    zero when there is one, works with ``bias=False``, returns ``None``).

    Specific to ``init_constant``: every weight becomes exactly 1.
    ``torch.nn.init.constant_`` / ``ones_`` are allowed.

    Note that a constant initialisation is a bad idea for training (see the
    symmetry problem above); it is handy for checking a network by hand.

    Example::

        >>> lin = nn.Linear(3, 2)
        >>> init_constant(lin)
        >>> lin.weight
        Parameter containing:
        tensor([[1., 1., 1.],
                [1., 1., 1.]], requires_grad=True)
    """
    raise NotImplementedError


def init_xavier(m: nn.Module) -> None:
    """Xavier-uniform weights, bias 0, for linear layers; meant for ``net.apply``.

    Same shared contract as ``init_normal`` (linear layers and their
    subclasses only, everything else untouched, in place on the same
    Parameters, still leaves requiring grad, no autograd history, bias set to
    zero when there is one, works with ``bias=False``, returns ``None``).

    Specific to ``init_xavier``: the weight of shape ``(out_features,
    in_features)`` is drawn from U(-a, a) with
    ``a = sqrt(6 / (in_features + out_features))`` (gain 1). Unlike d2l's,
    the bias is set to zero. ``torch.nn.init.xavier_uniform_`` is allowed here
    (so is your own ``xavier_uniform_`` below). Not the normal version
    (``xavier_normal_``): its values are not bounded by ``a``.
    """
    raise NotImplementedError


def my_init(m: nn.Module) -> None:
    """d2l's custom distribution for the weights, bias 0, for linear layers.

    Same shared contract as ``init_normal`` (linear layers and their
    subclasses only, everything else untouched, in place on the same
    Parameters, still leaves requiring grad, no autograd history, bias set to
    zero when there is one, works with ``bias=False``, returns ``None``).

    Specific to ``my_init``: each weight, independently, is

        * drawn from U(5, 10)    with probability 1/4,
        * exactly 0              with probability 1/2,
        * drawn from U(-10, -5)  with probability 1/4.

    So every weight is 0 or has ``5 <= |w| <= 10``. (Hint: what does U(-10, 10)
    look like once every value with ``|w| < 5`` is set to zero?) It prints
    nothing: d2l's ``print("Init", ...)`` is not part of the contract.
    """
    raise NotImplementedError


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Fill ``tensor`` in place from the Xavier uniform distribution; return it.

    Your own version of ``torch.nn.init.xavier_uniform_``.

    Args:
        tensor: a floating-point tensor with at least 2 dimensions, shape
            ``(size0, size1, *rest)``: a linear weight ``(out, in)`` or a
            convolution kernel ``(out_channels, in_channels, k1, k2, ...)``.
            It may be an ``nn.Parameter`` with ``requires_grad=True``.
        gain: the scaling factor (a positive number), default 1.0.

    Returns:
        ``tensor`` itself (the same object, ``xavier_uniform_(t) is t``), now
        holding the new values; its shape, dtype and device are unchanged.

    Contract:
        * ``r`` = the product of the sizes beyond dimension 1 (the receptive
          field; 1 for a 2-D tensor), ``fan_in = size(1) * r``,
          ``fan_out = size(0) * r``.
        * Every element is overwritten by an independent draw from U(-a, a)
          with ``a = gain * sqrt(6 / (fan_in + fan_out))``. So ``|w| <= a``,
          the mean is 0 and the standard deviation is ``a / sqrt(3)``.
        * In place: the values land in ``tensor`` itself; returning a new
          tensor (even one with the right values) is wrong.
        * Works on a tensor on any device, a GPU included (the tests use the
          ``meta`` device as a stand-in, and CUDA when there is one).
        * On an ``nn.Parameter`` (a leaf with ``requires_grad=True``) no
          autograd history is recorded: afterwards it is still a leaf with
          ``requires_grad=True`` and ``grad_fn is None``.
        * A tensor with fewer than 2 dimensions (a 1-D tensor, a scalar) has
          no fan in and fan out: raise ``ValueError``.
        * Do NOT use any ``torch.nn.init`` function (not ``uniform_``, not
          ``xavier_uniform_``, not the private helpers such as
          ``_calculate_fan_in_and_fan_out``), under any name: the grader
          scans your source and watches the calls. Tensor methods such as
          ``Tensor.uniform_`` and functions such as ``torch.rand`` are fine.

    Example::

        >>> w = torch.empty(3, 5)
        >>> xavier_uniform_(w) is w
        True
        >>> bool(w.abs().max() <= (6 / (5 + 3)) ** 0.5)
        True
        >>> k = torch.empty(16, 8, 3, 3)      # fan_in 72, fan_out 144
        >>> bool(xavier_uniform_(k, gain=2.0).abs().max() <= 2 * (6 / 216) ** 0.5)
        True
        >>> xavier_uniform_(torch.empty(4))
        Traceback (most recent call last):
            ...
        ValueError: ...
    """
    raise NotImplementedError
