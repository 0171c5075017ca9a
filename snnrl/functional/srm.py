r"""Spike-response model SRM0 with escape noise, as a pure step function.

.. math::
    v_t = v_{rest} + e^{-dt/\tau}(v_{t-1} - v_{rest}) + \epsilon_0 x_t [\text{not refractory}],
    \qquad \rho_t = \rho_0 \exp\big((v_t - \vartheta) / \Delta_\vartheta\big)

and the neuron spikes with probability ``1 - exp(-rho * dt)`` (an inhomogeneous Poisson
process). ``rho`` (1/ms) is kept in the state: reward-maximising rules (Rmax) need it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.functional._common import Scalar, decay_factor

__all__ = ["SRM0Parameters", "SRM0State", "srm0_step"]


class SRM0Parameters(NamedTuple):
    """SRM0 parameters (BindsNET defaults).

    Attributes:
        thresh: soft threshold ``vartheta`` (mV).
        rest: resting potential (mV).
        reset: post-spike voltage (mV).
        refrac: refractory period (ms); refractory neurons cannot fire.
        tc_decay: membrane time constant (ms).
        eps_0: input scale.
        rho_0: firing intensity at threshold (1/ms).
        d_thresh: softness of the threshold (mV).
    """

    thresh: Scalar = -50.0
    rest: Scalar = -70.0
    reset: Scalar = -70.0
    refrac: Scalar = 5.0
    tc_decay: Scalar = 10.0
    eps_0: Scalar = 1.0
    rho_0: Scalar = 1.0
    d_thresh: Scalar = 5.0


class SRM0State(NamedTuple):
    """``v``, ``refrac_count`` and the firing intensity ``rho`` (1/ms), each ``(B, *shape)``."""

    v: Tensor
    refrac_count: Tensor
    rho: Tensor


def srm0_step(
    x: Tensor | None,
    state: SRM0State,
    p: SRM0Parameters,
    dt: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, SRM0State]:
    """One SRM0 step with stochastic (escape-noise) firing.

    Args:
        x: input of this step, or None.
        state: previous state.
        p: parameters.
        dt: step length in ms.
        generator: random source for the spikes.

    Returns:
        ``(spikes, new_state)``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    decay = decay_factor(p.tc_decay, dt)
    v = p.rest + decay * (state.v - p.rest)
    refractory = state.refrac_count > 0
    if x is not None:
        v = v + (p.eps_0 * x).masked_fill(refractory, 0.0)
    rho = p.rho_0 * torch.exp((v - p.thresh) / p.d_thresh)
    prob = -torch.expm1(-rho * dt)
    s = (torch.rand(v.shape, generator=generator, device=v.device, dtype=v.dtype) < prob) & ~refractory
    v = torch.where(s, torch.as_tensor(p.reset, dtype=v.dtype, device=v.device), v)
    rc = torch.where(s, torch.as_tensor(p.refrac, dtype=v.dtype, device=v.device), state.refrac_count - dt)
    return s, SRM0State(v, rc, rho)
