# kills: test_dropout_expectation_equals_x, test_dropout_count_is_random, test_dropout_follows_device, test_dropout_does_not_modify_x, test_dropout_source_does_not_use_torch_dropout, test_epoch_count_is_random, test_epoch_follows_device, test_epoch_source_does_not_use_torch_dropout
# Drops nothing (returns x), so it has no mask: it must not earn the device, no-side-effect and own-mask points. From the red-team.
import torch
from torch import nn
BAD = None
def dropout(x, p, training=True):
    if not 0 <= p <= 1:
        raise ValueError(f"bad p {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return x if BAD is None else BAD(x)

class EpochDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"bad p {p}")
        self.p, self.mask = p, None
    def reset_mask(self):
        self.mask = None
    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        return x if BAD is None else BAD(x)
