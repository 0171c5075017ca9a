r"""Plasticity maths as functions on plain tensors: traces, eligibilities, pseudo-derivatives.

The rules of :mod:`snnrl.learning` and the fast paths of the adapters call these; each one is
tested against its equation (``tests/functional/test_plasticity.py``). Functions whose name ends
in ``_`` update their first argument in place (the rules' buffers, on the hot path) and return
it; the others return new tensors. Time in ms, voltages in mV.

* :func:`trace_update_`: a spike trace, nearest-spike or all-spike (additive).
* :func:`decay_add_`: ``x <- x d + a y`` (an exponentially decaying accumulator).
* :func:`pseudo_derivative`: e-prop's surrogate ``psi = d z / d v`` of a spiking neuron.
* :func:`eprop_lif_traces_` / :func:`eprop_alif_traces_`: the presynaptic factors of e-prop's
  eligibility trace for LIF and adaptive-threshold (ALIF) neurons (Bellec et al. 2020).
"""

from __future__ import annotations

from torch import Tensor

from snnrl.functional._common import Scalar, decay_factor, trace_step

__all__ = [
    "decay_add_",
    "decay_factor",
    "eprop_alif_traces_",
    "eprop_lif_traces_",
    "pseudo_derivative",
    "trace_step",
    "trace_update_",
]


def trace_update_(x: Tensor, s: Tensor, decay: float, scale: float = 1.0, additive: bool = False) -> Tensor:
    """In place: ``x <- x decay``, then ``x <- scale`` where ``s`` (nearest spike) or
    ``x <- x + scale s`` (``additive``). Real-valued ``s`` (not bool) sets ``x <- s`` where
    ``s != 0`` in the nearest-spike form. The in-place twin of :func:`trace_step`.

    Shape:
        ``x``, ``s``: ``(B, *shape)``.
    """
    x.mul_(decay)
    if additive:
        x.add_(s.to(x.dtype), alpha=scale)
    elif s.dtype.is_floating_point:
        x.copy_(x.where(s == 0, s.to(x.dtype) * scale))
    else:
        x.masked_fill_(s.bool(), scale)
    return x


def decay_add_(x: Tensor, decay: float, y: Tensor, alpha: float = 1.0) -> Tensor:
    """In place: ``x <- x decay + alpha y`` (``y`` may be bool spikes). Shape: broadcastable."""
    return x.mul_(decay).add_(y.to(x.dtype), alpha=alpha)


def pseudo_derivative(v: Tensor, thresh: Scalar, width: float, gamma: float = 0.3) -> Tensor:
    r"""e-prop's pseudo-derivative of a spike with respect to the membrane voltage:

    .. math:: \psi = \frac{\gamma}{w} \max\!\Big(0,\; 1 - \frac{|v - \vartheta|}{w}\Big)

    a triangle of half-width ``w`` (mV) centred on the threshold ``ϑ`` (Bellec et al. 2020 use
    ``gamma = 0.3`` and ``w`` the distance from reset to threshold). Units: 1/mV.

    Shape:
        ``v``: ``(B, *shape)``; ``thresh`` a number or broadcastable; output ``(B, *shape)``.
    """
    return (1.0 - (v - thresh).abs() / width).clamp_(min=0.0).mul_(gamma / width)


def eprop_lif_traces_(zbar: Tensor, s_pre: Tensor, alpha: float) -> Tensor:
    r"""In place: the filtered presynaptic spike train of e-prop for LIF targets,

    .. math:: \bar z_i \leftarrow \alpha\, \bar z_i + z_i, \qquad \alpha = e^{-dt/\tau_m}

    (``τ_m`` of the target). The eligibility trace is then ``e_ji = psi_j zbar_i``.

    Shape:
        ``zbar``, ``s_pre``: ``(B, *source.shape)``.
    """
    return zbar.mul_(alpha).add_(s_pre.to(zbar.dtype))


def eprop_alif_traces_(eps_a: Tensor, zbar: Tensor, psi: Tensor, rho: float, beta: float) -> Tensor:
    r"""In place: the threshold-adaptation factor of e-prop for ALIF targets (per synapse),

    .. math:: \epsilon^a_{ji} \leftarrow \psi_j \bar z_i + (\rho - \psi_j \beta)\, \epsilon^a_{ji}

    with ``rho = exp(-dt / tau_a)`` and ``beta`` the adaptation strength (threshold increase per unit of
    ``a``). The eligibility trace is ``e_ji = psi_j (zbar_i - beta eps_a_ji)``. ``zbar`` and
    ``psi`` are this step's values (before ``zbar`` takes this step's spikes).

    Shape:
        ``eps_a``: ``(B, n_pre, n_post)``; ``zbar``: ``(B, n_pre)``; ``psi``: ``(B, n_post)``.
    """
    eps_a.mul_((rho - beta * psi).unsqueeze(1))
    return eps_a.addcmul_(zbar.unsqueeze(2), psi.unsqueeze(1))
