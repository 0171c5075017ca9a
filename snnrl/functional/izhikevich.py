r"""Izhikevich (2003) neurons as a pure step function.

.. math::
    \dot v = 0.04 v^2 + 5 v + 140 - u + I, \qquad \dot u = a (b v - u)

with ``v >= thresh`` -> spike, ``v <- c``, ``u <- u + d``. ``v`` is integrated with two Euler
half-steps of ``dt / 2`` (as in Izhikevich's reference code), ``u`` with one step of ``dt``.
Time in ms, voltages in mV; ``I`` is the input of the step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.functional._common import Scalar

__all__ = [
    "FAST_SPIKING",
    "REGULAR_SPIKING",
    "IzhikevichParameters",
    "IzhikevichState",
    "izhikevich_step",
]


class IzhikevichParameters(NamedTuple):
    """Izhikevich parameters; defaults are the regular-spiking (RS) cortical neuron.

    Attributes:
        a: recovery time scale (1/ms).
        b: recovery sensitivity to ``v``.
        c: post-spike reset voltage (mV).
        d: post-spike recovery increment.
        thresh: spike cut-off (mV); 30 mV as in the paper (BindsNET uses 45 mV).
    """

    a: Scalar = 0.02
    b: Scalar = 0.2
    c: Scalar = -65.0
    d: Scalar = 8.0
    thresh: Scalar = 30.0


REGULAR_SPIKING = IzhikevichParameters(a=0.02, b=0.2, c=-65.0, d=8.0)
"""Regular spiking (RS) excitatory cortical neuron: tonic spiking with adaptation."""
FAST_SPIKING = IzhikevichParameters(a=0.1, b=0.2, c=-65.0, d=2.0)
"""Fast spiking (FS) inhibitory interneuron: high-frequency tonic spiking without adaptation."""


class IzhikevichState(NamedTuple):
    """``v`` (mV) and recovery ``u``, each ``(B, *shape)``."""

    v: Tensor
    u: Tensor


def izhikevich_step(
    x: Tensor | None, state: IzhikevichState, p: IzhikevichParameters, dt: float = 1.0
) -> tuple[Tensor, IzhikevichState]:
    """One Izhikevich step.

    Args:
        x: input current of this step, or None.
        state: previous ``(v, u)``.
        p: parameters.
        dt: step length in ms.

    Returns:
        ``(spikes, new_state)``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    v, u = state.v, state.u
    drive = -u + 140.0 if x is None else x - u + 140.0
    half = 0.5 * dt
    v = v + half * (0.04 * v * v + 5.0 * v + drive)
    # The first half-step may already cross the cut-off; keep the second from blowing up.
    v = torch.minimum(v, torch.as_tensor(p.thresh, dtype=v.dtype, device=v.device))
    v = v + half * (0.04 * v * v + 5.0 * v + drive)
    u = u + dt * p.a * (p.b * state.v - u)
    s = v >= p.thresh
    v = torch.where(s, torch.as_tensor(p.c, dtype=v.dtype, device=v.device), v)
    u = u + s.to(u.dtype) * p.d
    return s, IzhikevichState(v, u)
