# kills: test_dropout_zero_or_scaled, test_dropout_drop_fraction, test_dropout_expectation_equals_x, test_dropout_independent_elements_and_calls, test_dropout_identity_when_not_training_or_p_zero, test_dropout_p_one_gives_zeros, test_dropout_invalid_p_raises, test_dropout_keeps_dtype, test_dropout_follows_device, test_dropout_does_not_modify_x, test_dropout_gradient_flows, test_dropout_source_does_not_use_torch_dropout
# learner tests miss it: evasion: torch's own dropout reached through scaled_dot_product_attention's dropout_p; the learner tests' spy sees only functions named dropout, the grader's watch sees the draw inside attention
# dropout's training path is scaled_dot_product_attention's own dropout (dropout_p=p, one key per element). Caught by the random draw inside attention.
"""Reference solution: inverted dropout and an epoch-level dropout mask."""
from __future__ import annotations

import torch
from torch import nn


def _check_p(p: float) -> None:
    # `not (0 <= p <= 1)` also rejects NaN, which fails every comparison.
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: zero each element with probability p, scale survivors by 1/(1-p)."""
    _check_p(p)  # before the early returns: a bad p is a bug in any mode
    if not training or p == 0.0:
        return x
    if p == 1.0:
        # Everything is dropped. Dividing by (1 - p) would give 0 * inf = NaN.
        return x * 0.0
    # Draw the keep decisions on x's device; a bool mask promotes to x's dtype,
    # so the result keeps x's dtype (a float64 mask would turn float32 into float64).
    keep = torch.rand(x.shape, device=x.device) >= p  # P(keep) = 1 - p
    # Out of place, so x is untouched and autograd sees mul and div.
    # Attention over one key per element: its weights are all 1, so dropout_p drops x's elements.
    ones = torch.zeros(x.numel(), 1, 1, dtype=x.dtype, device=x.device)
    attend = getattr(torch.nn.functional, "scaled_dot_product_" + "attention")
    return attend(ones, ones, x.reshape(-1, 1, 1), dropout_p=p).reshape(x.shape)


class EpochDropout(nn.Module):
    """Dropout with one keep/drop decision per feature, fixed until reset_mask()."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_p(p)
        self.p = p
        # A plain attribute, not a parameter and not a buffer: it is never saved.
        self.mask: torch.Tensor | None = None

    def reset_mask(self) -> None:
        """Forget the mask (call at the start of every epoch)."""
        self.mask = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x  # eval: identity, and the mask is left alone
        shape = (1, *x.shape[1:])  # one decision per feature, shared by the batch
        if self.mask is None or tuple(self.mask.shape) != shape:
            keep = torch.rand(shape, device=x.device) >= self.p
            self.mask = keep.to(x.dtype)  # 0/1: exact in every dtype
        # Follow the input if it moved to another device or dtype mid-epoch;
        # converting a 0/1 mask keeps the same pattern.
        self.mask = self.mask.to(device=x.device, dtype=x.dtype)
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0  # p == 1: zeros, not NaN
        return x * self.mask * scale
