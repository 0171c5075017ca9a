"""Small helpers shared by the functional neuron models."""

from __future__ import annotations

import math

import torch
from torch import Tensor

Scalar = float | Tensor
"""A model parameter: a Python float, or a tensor broadcastable to the population shape."""


def decay_factor(tc: Scalar, dt: float) -> Scalar:
    """Exact exponential decay over one step, ``exp(-dt / tc)``.

    Args:
        tc: time constant in ms (float or per-neuron tensor), > 0.
        dt: step length in ms.

    Returns:
        A float when ``tc`` is a float (no tensor op on the hot path), else a tensor.

    Shape:
        same as ``tc``.
    """
    if isinstance(tc, Tensor):
        return torch.exp(-dt / tc)
    return math.exp(-dt / tc)


def trace_step(trace: Tensor, spikes: Tensor, decay: Scalar, scale: Scalar, additive: bool) -> Tensor:
    """One step of a spike trace.

    ``x <- x * decay`` then, where a spike occurred, ``x <- scale`` (nearest-spike, the default)
    or ``x <- x + scale`` (``additive=True``).

    Args:
        trace: trace before the step.
        spikes: boolean spikes of this step.
        decay: ``exp(-dt / tc_trace)``.
        scale: value a spike sets (or adds).
        additive: all-spike (additive) instead of nearest-spike trace.

    Returns:
        The new trace (a new tensor; the inputs are not modified).

    Shape:
        ``trace``, ``spikes``: ``(B, *shape)``; output ``(B, *shape)``.
    """
    decayed = trace * decay
    if additive:
        return decayed + spikes.to(trace.dtype) * scale
    if isinstance(scale, Tensor):
        return torch.where(spikes, scale.to(trace.dtype), decayed)
    return decayed.masked_fill(spikes, scale)
