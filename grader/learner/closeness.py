"""What a failed comparison of two tensors of different dtypes says beyond the dtype.

``torch.testing.assert_close`` stops at the first attribute that differs: a float64 loss that is
also wrong is reported as a dtype mismatch alone, the learner fixes the dtype, and only then learns
the values were wrong too. The learner tests (``tests/kata.py``) and the grader's checks
(``grader/checking.py``) both add this line, so that both say the same.
"""
from __future__ import annotations

from typing import Any

import torch


def beyond_the_dtype(got: Any, want: Any, *, rtol: float | None = None, atol: float | None = None,
                     equal_nan: bool = False) -> str | None:
    """For tensors of the same shape and different dtypes, whether the values agree once ``got`` is
    converted to ``want``'s dtype (compared with that dtype's tolerances unless given); None when
    there is nothing to add (not two tensors, the same dtype, another shape, no values)."""
    if not (isinstance(got, torch.Tensor) and isinstance(want, torch.Tensor)):
        return None
    if got.dtype == want.dtype or got.shape != want.shape or "meta" in (got.device.type, want.device.type):
        return None
    got, want = got.detach().cpu(), want.detach().cpu()
    try:
        if want.is_floating_point() or want.is_complex() or not (got.is_floating_point() or got.is_complex()):
            torch.testing.assert_close(got.to(want.dtype), want, rtol=rtol, atol=atol, equal_nan=equal_nan)
        else:  # floats where integers are due: converting would truncate 0.7 to 0, so compare exactly
            torch.testing.assert_close(got, want.to(got.dtype), rtol=0, atol=0, equal_nan=equal_nan)
    except AssertionError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if ln.startswith("Greatest absolute difference")), lines[0] if lines else "")
        return f"the values differ too, beyond the dtype ({detail})" if detail else "the values differ too, beyond the dtype"
    except (RuntimeError, TypeError, ValueError):
        return None  # no conversion between these dtypes: the dtype line says it all
    return f"the values agree once converted to {str(want.dtype).replace('torch.', '')}: only the dtype is wrong"
