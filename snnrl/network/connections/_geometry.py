"""Shape helpers shared by the convolutional, locally connected and pooling connections."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from snnrl import _checks as checks

__all__ = ["check_source", "ntuple", "output_shape", "patches", "window_args"]


def ntuple(name: str, value: int | Sequence[int], n: int, minimum: int) -> tuple[int, ...]:
    """``value`` as ``n`` ints ``>= minimum`` (an int is repeated ``n`` times)."""
    if checks.is_int(value):
        values: tuple[int, ...] = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(checks.is_int(v) for v in value):
        values = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be >= {minimum} in every dimension, got {value!r}")
    return values


def check_source(cls: str, shape: tuple[int, ...], dims: int) -> None:
    """The source of a ``dims``-D spatial connection must have shape ``(C, *spatial)``."""
    if len(shape) != dims + 1:
        names = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}[dims]
        raise ValueError(f"{cls} needs a source of shape {names}, got a population of shape {shape}")


def window_args(
    cls: str,
    shape: tuple[int, ...],
    dims: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int],
    padding: int | Sequence[int],
    dilation: int | Sequence[int],
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Check a ``dims``-D source of shape ``shape`` and the sliding-window arguments.

    Returns ``(kernel_size, stride, padding, dilation)`` as ``dims`` ints each (``padding >= 0``,
    the others ``>= 1``).
    """
    check_source(cls, shape, dims)
    return (
        ntuple("kernel_size", kernel_size, dims, 1),
        ntuple("stride", stride, dims, 1),
        ntuple("padding", padding, dims, 0),
        ntuple("dilation", dilation, dims, 1),
    )


def output_shape(
    cls: str,
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """Spatial output size of a sliding window (as ``torch.nn.functional.conv*``)."""
    out = []
    for size, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True):
        span = d * (k - 1) + 1
        if size + 2 * p < span:
            raise ValueError(
                f"{cls}: the kernel spans {span} positions (kernel_size={tuple(kernel)}, dilation="
                f"{tuple(dilation)}) but the padded input has only {size + 2 * p} along a dimension"
            )
        out.append((size + 2 * p - span) // s + 1)
    return tuple(out)


def patches(
    x: Tensor,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    pad_value: float = 0.0,
) -> Tensor:
    """N-d im2col as a strided view: every output position's receptive field.

    Shape:
        ``x``: ``(B, C, *spatial)`` (floating point); output ``(B, C, *out_spatial, *kernel)``.
    """
    if any(padding):
        x = F.pad(x, [p for p in reversed(padding) for _ in range(2)], value=pad_value)
    for d, (k, s, dil) in enumerate(zip(kernel, stride, dilation, strict=True)):
        x = x.unfold(2 + d, dil * (k - 1) + 1, s)  # appends the window as the last dimension
        if dil > 1:
            x = x[..., ::dil]
    return x
