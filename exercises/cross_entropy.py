"""Cross-entropy from scratch: ``gather`` and the LogSumExp trick.

Follows d2l chapter 3.6 "Implementation of Softmax Regression from Scratch"
and 3.7 "Concise Implementation of Softmax Regression" (the section on
"Softmax Revisited", where the max-shift/LogSumExp trick appears), and
the PyTorch documentation of ``torch.gather`` (picking elements by index).

A classifier outputs a row of raw scores (logits) ``o`` per sample. The
softmax turns them into probabilities, and the cross-entropy loss of a
sample whose true class is ``y`` is ``-log softmax(o)_y``. Written naively,
``exp(o) / exp(o).sum()`` overflows for large logits (``exp(1000)`` is
``inf``) and underflows to ``log(0) = -inf`` for very unlikely classes. The
fix is algebra, not clipping:

    -log softmax(o)_y = log(sum_j exp(o_j)) - o_y = logsumexp(o) - o_y

and ``logsumexp`` is computed stably by shifting by the maximum:
``logsumexp(o) = m + log(sum_j exp(o_j - m))`` with ``m = max_j o_j``.

Picking ``o_y`` for every row at once is what ``torch.gather`` is for:
``scores.gather(1, target.view(-1, 1))`` takes, in row ``i``, the column
``target[i]``.

Pitfalls the grader catches: using advanced indexing instead of gather,
calling PyTorch's own loss functions, clipping probabilities (``log(p +
1e-9)``) instead of computing the loss exactly, changing the dtype, and
modifying the inputs in place. The points for *how* a function computes
(gather used, no forbidden call, inputs left alone) count only when its
values are right. The grader watches the call itself: work handed to
another thread or process cannot be watched and earns none of them.
"""
from __future__ import annotations

import torch


def gather_target(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return ``scores[i, target[i]]`` for every row ``i``, using ``torch.gather``.

    Args:
        scores: floating tensor of shape ``(N, C)``.
        target: int64 tensor of shape ``(N,)`` with class indices in ``[0, C)``.

    Returns:
        A tensor of shape ``(N,)``, same dtype and device as ``scores``.

    Contract:
        - Must use ``torch.gather`` / ``Tensor.gather`` (the point of the
          exercise; ``torch.take_along_dim``, the same operation, counts
          too): advanced indexing such as ``scores[torch.arange(N),
          target]`` does not count.
        - Gradients flow back to ``scores``.
        - ``scores`` and ``target`` are not modified.

    Example:
        >>> gather_target(torch.tensor([[1., 2.], [3., 4.]]), torch.tensor([1, 0]))
        tensor([2., 3.])
    """
    raise NotImplementedError


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Softmax cross-entropy computed from raw logits.

    Args:
        logits: floating tensor ``(N, C)`` of raw scores (float32 or float64).
        target: int64 tensor ``(N,)`` of class indices.
        reduction: ``"mean"`` (a 0-dim tensor, the mean over samples),
            ``"sum"`` (a 0-dim tensor, the sum) or ``"none"`` (shape ``(N,)``,
            one loss per sample).

    Returns:
        The loss, with the dtype and device of ``logits``.

    Raises:
        ValueError: for any other ``reduction``; the message names the bad value.

    Contract:
        - Select the target entries with ``gather`` (use your ``gather_target``).
        - Do not call ``torch.nn.functional.cross_entropy``, ``nll_loss``,
          ``log_softmax``, ``torch.log_softmax``, ``Tensor.log_softmax``,
          ``nn.CrossEntropyLoss`` or ``nn.NLLLoss``, under any name
          (``torch.ops.aten.*`` included): writing this loss is the exercise,
          so a ``cross_entropy`` that calls them scores zero (``gather_target``
          keeps its points). ``torch.logsumexp``, ``exp``, ``log`` and ``max``
          are fine.
        - Numerically stable: finite and accurate for logits as large as
          ±1e4 in float32, and exact when the target is very unlikely
          (logits ``[[7., -43.]]`` with target ``[1]`` give 50, not a
          clipped value like 20.7).
        - Gradients with respect to ``logits`` are the true gradients
          (``softmax(o) - onehot(y)``, divided by N for ``"mean"``).
        - Never modifies ``logits`` or ``target``.

    Example:
        >>> cross_entropy(torch.tensor([[0., 0.]]), torch.tensor([0]))
        tensor(0.6931)
    """
    raise NotImplementedError
