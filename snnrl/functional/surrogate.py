r"""Spikes with surrogate gradients, for training spiking networks by backpropagation.

The forward pass is the Heaviside step ``s = [u >= 0]`` (``u = v - thresh``); the backward pass
replaces its derivative (zero almost everywhere) by a smooth pseudo-derivative:

* ``"fast_sigmoid"`` (SuperSpike, Zenke & Ganguli 2018): :math:`1 / (1 + \alpha |u|)^2`;
* ``"atan"`` (Fang et al. 2021): :math:`\frac{\alpha / 2}{1 + (\pi \alpha u / 2)^2}`;
* ``"sigmoid"``: :math:`\alpha\,\sigma(\alpha u)(1 - \sigma(\alpha u))`.

``alpha`` sets the sharpness (larger: closer to the true step, smaller gradients away from the
threshold). Both functions are pure: they allocate new tensors and keep no state.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = ["SURROGATES", "lif_surrogate_step", "spike"]

SURROGATES = ("fast_sigmoid", "atan", "sigmoid")


def _pseudo_derivative(u: Tensor, kind: str, alpha: float) -> Tensor:
    if kind == "fast_sigmoid":
        return 1.0 / (1.0 + alpha * u.abs()).square()
    if kind == "atan":
        return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * u).square())
    sig = torch.sigmoid(alpha * u)
    return alpha * sig * (1.0 - sig)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: Tensor, kind: str, alpha: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.kind = kind
        ctx.alpha = alpha
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (u,) = ctx.saved_tensors
        return grad * _pseudo_derivative(u, ctx.kind, ctx.alpha), None, None


def spike(u: Tensor, kind: str = "fast_sigmoid", alpha: float = 5.0) -> Tensor:
    """Heaviside spikes of ``u = v - thresh`` with a surrogate gradient.

    Args:
        u: membrane potential minus threshold.
        kind: surrogate shape, one of :data:`SURROGATES`.
        alpha: sharpness of the surrogate (> 0).

    Returns:
        Spikes as floats (0 or 1), same dtype as ``u``.

    Shape:
        any; output like ``u``.
    """
    if kind not in SURROGATES:
        raise ValueError(f"unknown surrogate {kind!r}; expected one of {SURROGATES}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    return _Spike.apply(u, kind, float(alpha))


def lif_surrogate_step(
    x: Tensor, v: Tensor, beta: float | Tensor, thresh: float = 1.0, kind: str = "fast_sigmoid",
    alpha: float = 5.0, detach_reset: bool = True,
) -> tuple[Tensor, Tensor]:
    """One step of a differentiable LIF neuron (dimensionless units, reset by subtraction).

    ``v <- beta * v + x``; ``s = H(v - thresh)`` (surrogate gradient); ``v <- v - s * thresh``.
    With ``detach_reset`` the reset carries no gradient (the usual choice: it stabilises training).

    Args:
        x: input of this step.
        v: membrane potential before the step.
        beta: decay per step in ``[0, 1]`` (``exp(-dt / tau)``; 1 is a non-leaky IF neuron).
        thresh: firing threshold (> 0).
        kind, alpha: surrogate, see :func:`spike`.
        detach_reset: stop the gradient through the reset term.

    Returns:
        ``(spikes, new_v)``.

    Shape:
        ``x``, ``v``, outputs: ``(B, *shape)``.
    """
    v = beta * v + x
    s = spike(v - thresh, kind, alpha)
    reset = s.detach() if detach_reset else s
    return s, v - reset * thresh
