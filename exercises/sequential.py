"""MySequential: a container of your own.

Follows d2l, chapter 5.1 "Layers and Blocks" (Chinese edition: 5.1 层和块,
section 顺序块), where ``nn.Sequential`` is rebuilt by hand.

An ``nn.Module`` is more than a function with weights. Every module keeps an
ordered registry of its *children*, ``self._modules``, a dict from a name to a
sub-module. Almost everything the framework does to a model walks that
registry recursively:

* ``parameters()`` / ``named_parameters()`` list the parameters of the module
  and of all its children, named by path (``"0.weight"``, ``"2.bias"``);
* ``state_dict()`` / ``load_state_dict()`` save and restore parameters *and
  buffers* (e.g. the running mean of a ``BatchNorm1d``) under those names;
* ``.to(device_or_dtype)``, ``.float()``, ``.cuda()`` convert every parameter
  and buffer of every child;
* ``.train()`` / ``.eval()`` switch the mode of every child;
* ``.apply(fn)`` calls ``fn`` on every child (depth first), then on the module;
* ``print(net)`` shows the tree of children.

A child gets into the registry when you assign a module to an attribute
(``self.linear = nn.Linear(2, 3)``; ``nn.Module.__setattr__`` notices it) or
when you call ``self.add_module(name, module)``. A module kept in a plain
Python list or dict is invisible to all of the above: its parameters are not
trained, not saved, not moved to the GPU.

``nn.Sequential(m0, m1, m2)`` registers its arguments as children named
``"0"``, ``"1"``, ``"2"`` and its ``forward`` feeds the input through them in
that order. In this exercise you write that class yourself.

d2l's ``MySequential`` has only ``__init__`` and ``forward``. The
contract adds what makes ``nn.Sequential`` pleasant to use: ``len(net)`` and
``net[i]`` (``net[0].weight``, ``net[-1]``), with the semantics of a Python
list.

Pitfalls:

* Call ``super().__init__()`` first: it creates ``_modules``. Without it,
  registering a child raises ``AttributeError: cannot assign module before
  Module.__init__() call``.
* d2l iterates with ``for block in self._modules.values()``. That is
  right. Iterating over ``self.children()`` instead looks the same but is
  not: ``children()`` skips a module it has already seen, so in
  ``MySequential(layer, act, layer)`` the shared ``layer`` would run once, not
  twice.
* Register the objects you were given, not copies (no ``copy.deepcopy``):
  whoever built the layers expects to see them trained.
* ``self._modules[str(i)]`` is not the same as ``net[i]``: it raises
  ``KeyError`` for ``-1``. Python sequences count negative indices from the
  end and raise ``IndexError`` when out of range (a ``for`` loop over
  ``net[i]`` relies on that to stop).
* Do not take a shortcut through ``nn.Sequential``, ``nn.ModuleList`` or
  ``nn.ModuleDict`` (neither subclassing them, nor keeping one inside, nor
  borrowing or calling their methods such as ``nn.Sequential.forward``): the
  point is to see how little they do.

Allowed: the standard library and ``torch``.
"""
from __future__ import annotations

from typing import Any

from torch import nn


class MySequential(nn.Module):
    """A chain of modules, as ``nn.Sequential`` is.

    ``MySequential(m0, m1, ..., mk)`` registers each argument as a child of
    the new module, named ``"0"``, ``"1"``, ..., ``str(k)``, in that order.

    Contract:
        * ``MySequential`` subclasses ``nn.Module``; it must NOT subclass
          ``nn.Sequential``, ``nn.ModuleList`` or ``nn.ModuleDict``, must
          not create or keep one of them inside (no wrapping), and must not
          borrow or call their methods (no ``forward = nn.Sequential.forward``).
        * The children are the very objects passed in (``net[0] is m0``), not
          copies. A module passed twice is a child under both names.
        * Because the children are registered, these behave exactly as for
          ``nn.Sequential(m0, ..., mk)`` built from the same modules:
          ``named_children()`` (names ``"0"``, ``"1"``, ... in order),
          ``named_parameters()``, ``state_dict()`` keys (parameters and
          buffers), ``load_state_dict(seq.state_dict())`` from an
          ``nn.Sequential`` of the same kinds of modules, ``.to(dtype)`` /
          ``.to(device)`` (returns the module itself, every parameter and
          buffer converted), ``.train()`` / ``.eval()``, ``.apply(fn)`` (same
          modules visited in the same order) and ``print(net)`` (the same
          text as ``nn.Sequential`` apart from the class name, e.g.
          ``MySequential(\\n  (0): Linear(in_features=2, out_features=3,
          bias=True)\\n)``).
        * ``MySequential()`` with no modules is allowed.

    Example:
        >>> lin = nn.Linear(2, 3)
        >>> net = MySequential(lin, nn.ReLU())
        >>> net[0] is lin, len(net)
        (True, 2)
        >>> [name for name, _ in net.named_parameters()]
        ['0.weight', '0.bias']
    """

    def __init__(self, *modules: nn.Module) -> None:
        """Register ``modules[i]`` as the child named ``str(i)``, in order."""
        raise NotImplementedError

    def forward(self, x: Any) -> Any:
        """Feed ``x`` through the modules in order and return the last output.

        ``net(x)`` is ``mk(...m1(m0(x))...)``: each module is called (so its
        hooks run and autograd records the graph) on the output of the one
        before. A module that appears twice is applied twice. With no modules,
        ``forward(x)`` returns ``x`` itself.

        Example:
            >>> net = MySequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
            >>> net(torch.randn(5, 4)).shape
            torch.Size([5, 2])
        """
        raise NotImplementedError

    def __len__(self) -> int:
        """The number of modules passed in (a module passed twice counts twice); 0 for none."""
        raise NotImplementedError

    def __getitem__(self, idx: int) -> nn.Module:
        """The ``idx``-th module (the very object passed in), for an integer ``idx``.

        Negative ``idx`` counts from the end (``net[-1]`` is the last module),
        as for a list. An ``idx`` out of range (``idx >= len(net)`` or
        ``idx < -len(net)``) raises ``IndexError`` (not ``KeyError``). Slices
        are not required.

        Example:
            >>> net = MySequential(nn.Linear(2, 3), nn.ReLU())
            >>> type(net[-1]).__name__
            'ReLU'
            >>> net[2]
            Traceback (most recent call last):
            ...
            IndexError: ...
        """
        raise NotImplementedError
