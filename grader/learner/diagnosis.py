"""The likely mistake behind a wrong value, in words: shared by the learner tests and the grader's
checks, so that both name the same mistake for the same output."""
from __future__ import annotations


def why_scale(ratio: float, p: float, rel: float) -> str:
    """Why a dropout survivor is ``ratio`` times its input, not ``1 / (1 - p)`` (``rel``: how far off,
    relative)."""
    for factor, why in ((1.0, "the survivors are not scaled: divide them by (1 - p)"),
                        (1 / p if p else None, "scaled by 1 / p: p is the probability of dropping, so divide by (1 - p)"),
                        (1 - p, "multiplied by (1 - p): divide by it instead")):
        if factor and abs(ratio - factor) <= 1e-3 * factor:
            return why
    if rel < 1e-3:
        return "a scale or mask computed in a lower precision than x's dtype?"
    return "a wrong scale: survivors are x / (1 - p)"
