# kills: test_epoch_invalid_p_raises_at_construction, test_epoch_one_scaled_mask_per_feature, test_epoch_mask_attribute, test_epoch_keep_fraction, test_epoch_mask_reused_for_every_batch_size, test_epoch_reset_mask, test_epoch_new_mask_when_feature_shape_changes, test_epoch_eval_identity_mask_untouched, test_epoch_gradient_and_input_untouched, test_epoch_follows_dtype, test_epoch_follows_device, test_epoch_source_does_not_use_torch_dropout
# learner tests miss it: evasion: EpochDropout's mask drawn by torch's dropout taken at import and called under DisableTorchFunction, blinding the learner tests' spy; the grader's watch catches the draw
# EpochDropout draws its mask with torch's dropout (fetched at import under a built-up name) with torch function handling switched off. Caught by its random draw, made under no torch function.
"""Reference solution: inverted dropout and an epoch-level dropout mask."""
from __future__ import annotations

import torch
from torch import nn

_DROP = getattr(torch._C._VariableFunctions, "drop" + "out")


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
    return x * keep / (1.0 - p)


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
            with torch._C.DisableTorchFunction():  # the torch function watch is blind in here
                kept = _DROP(torch.ones(shape, device=x.device), self.p, True) if self.p < 1.0 else None
            keep = kept > 0 if kept is not None else torch.zeros(shape, dtype=torch.bool, device=x.device)
            self.mask = keep.to(x.dtype)  # 0/1: exact in every dtype
        # Follow the input if it moved to another device or dtype mid-epoch;
        # converting a 0/1 mask keeps the same pattern.
        self.mask = self.mask.to(device=x.device, dtype=x.dtype)
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0  # p == 1: zeros, not NaN
        return x * self.mask * scale
