"""Tensor helpers shared across the package."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["as_dtype"]

_VIA_BYTES = 512
"""From this many elements, bool tensors convert through a uint8 view (see :func:`as_dtype`)."""


def as_dtype(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x.to(dtype)``, the same values; a bool tensor of ``_VIA_BYTES`` elements or more goes
    through a uint8 view first.

    PyTorch's CPU conversion from bool to float has no vectorised path: 31 us for 8 x 6400
    spikes against 6 us from uint8 (torch 2.13, one thread). Both give exactly 0 and 1. Below
    the threshold the extra view costs more than it saves.
    """
    if x.dtype is torch.bool and x.numel() >= _VIA_BYTES:
        return x.view(torch.uint8).to(dtype)
    return x.to(dtype)
