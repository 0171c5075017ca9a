r"""Integrate-and-fire family as pure step functions.

Units: time in ms, voltages in mV. Synaptic input ``x`` is a direct voltage increment per step
(as in BindsNET), not a current through a membrane resistance.

A step of the leaky integrate-and-fire model (exact exponential decay, so the discrete solution
is exact for piecewise-constant input):

.. math::
    v_{t} = v_{rest} + e^{-dt/\tau}(v_{t-1} - v_{rest}) + x_t \cdot [\text{not refractory}]

then ``s = v >= thresh``; spiking neurons are set to ``reset`` and stay refractory for ``refrac``
ms (their input is ignored, their voltage still decays). ``refrac_count <= 0`` means "not
refractory" (the counter is not clamped at zero).

Every function returns new tensors and never modifies its inputs.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnrl.functional._common import Scalar, decay_factor

__all__ = [
    "AdaptiveLIFParameters",
    "CurrentLIFParameters",
    "CurrentLIFState",
    "IFParameters",
    "IFState",
    "LIFParameters",
    "LIFState",
    "McCullochPittsParameters",
    "adaptive_lif_step",
    "current_lif_step",
    "if_step",
    "lif_step",
    "mcculloch_pitts_step",
    "subtractive_if_step",
]


class McCullochPittsParameters(NamedTuple):
    """Threshold unit parameters. ``thresh``: firing threshold (same units as the input)."""

    thresh: Scalar = 1.0


class IFParameters(NamedTuple):
    """Integrate-and-fire parameters (BindsNET defaults).

    Attributes:
        thresh: firing threshold (mV).
        reset: post-spike and initial voltage (mV).
        refrac: refractory period (ms).
        lbound: lower bound on the voltage, or None.
    """

    thresh: Scalar = -52.0
    reset: Scalar = -65.0
    refrac: Scalar = 5.0
    lbound: Scalar | None = None


class IFState(NamedTuple):
    """State of IF-like neurons. Shapes ``(B, *shape)``."""

    v: Tensor
    refrac_count: Tensor


class LIFParameters(NamedTuple):
    """Leaky integrate-and-fire parameters (BindsNET defaults).

    Attributes:
        thresh: firing threshold (mV).
        rest: resting potential the voltage decays to (mV).
        reset: post-spike voltage (mV).
        refrac: refractory period (ms).
        tc_decay: membrane time constant (ms).
        lbound: lower bound on the voltage, or None.
    """

    thresh: Scalar = -52.0
    rest: Scalar = -65.0
    reset: Scalar = -65.0
    refrac: Scalar = 5.0
    tc_decay: Scalar = 100.0
    lbound: Scalar | None = None


LIFState = IFState
"""LIF state: ``v`` and ``refrac_count``, each ``(B, *shape)``."""


class CurrentLIFParameters(NamedTuple):
    """LIF with an exponentially decaying synaptic current (``tc_i_decay`` in ms)."""

    thresh: Scalar = -52.0
    rest: Scalar = -65.0
    reset: Scalar = -65.0
    refrac: Scalar = 5.0
    tc_decay: Scalar = 100.0
    tc_i_decay: Scalar = 2.0
    lbound: Scalar | None = None


class CurrentLIFState(NamedTuple):
    """State of current-based LIF neurons. Shapes ``(B, *shape)``."""

    v: Tensor
    i: Tensor
    refrac_count: Tensor


class AdaptiveLIFParameters(NamedTuple):
    """LIF with an adaptive threshold ``theta`` (BindsNET / Diehl & Cook defaults).

    Each spike raises its neuron's ``theta`` by ``theta_plus`` (mV); ``theta`` decays with
    ``tc_theta_decay`` (ms). Both only happen while learning.
    """

    thresh: Scalar = -52.0
    rest: Scalar = -65.0
    reset: Scalar = -65.0
    refrac: Scalar = 5.0
    tc_decay: Scalar = 100.0
    theta_plus: Scalar = 0.05
    tc_theta_decay: Scalar = 1e7
    lbound: Scalar | None = None


def _fire_and_reset(
    v: Tensor,
    refrac_count: Tensor,
    thresh: Scalar,
    reset: Scalar,
    refrac: Scalar,
    lbound: Scalar | None,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Threshold, reset and refractory bookkeeping; ``v`` is a fresh tensor owned by the caller."""
    s = v >= thresh
    if isinstance(reset, Tensor):
        v = torch.where(s, reset.to(v.dtype), v)
    else:
        v = v.masked_fill_(s, reset)
    if lbound is not None:
        v = torch.maximum(v, torch.as_tensor(lbound, dtype=v.dtype, device=v.device))
    if isinstance(refrac, Tensor) or refrac > 0:
        refrac_count = refrac_count - dt
        if isinstance(refrac, Tensor):
            refrac_count = torch.where(s, refrac.to(v.dtype), refrac_count)
        else:
            refrac_count = refrac_count.masked_fill_(s, refrac)
    return s, v, refrac_count


def _gate_input(x: Tensor, refrac_count: Tensor, refrac: Scalar) -> Tensor:
    """Zero the input of refractory neurons (on a copy)."""
    if isinstance(refrac, Tensor) or refrac > 0:
        return x.masked_fill(refrac_count > 0, 0.0)
    return x


def mcculloch_pitts_step(
    x: Tensor | None, state: Tensor, p: McCullochPittsParameters, dt: float = 1.0
) -> tuple[Tensor, Tensor]:
    """McCulloch-Pitts threshold unit: ``v = x``, ``s = v >= thresh``.

    Args:
        x: input of this step, or None (zero input).
        state: ``v`` of the previous step (only its shape/dtype are used).
        p: parameters.
        dt: step length in ms (unused; kept for a uniform signature).

    Returns:
        ``(spikes, v)``.

    Shape:
        ``x``, ``state``, outputs: ``(B, *shape)``; spikes are bool.
    """
    v = torch.zeros_like(state) if x is None else x
    return v >= p.thresh, v


def if_step(x: Tensor | None, state: IFState, p: IFParameters, dt: float = 1.0) -> tuple[Tensor, IFState]:
    """Integrate-and-fire (no leak): ``v += x`` unless refractory, then threshold and reset.

    Args:
        x: input (mV increment) of this step, or None.
        state: previous state.
        p: parameters.
        dt: step length in ms.

    Returns:
        ``(spikes, new_state)``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    v = state.v.clone() if x is None else state.v + _gate_input(x, state.refrac_count, p.refrac)
    s, v, rc = _fire_and_reset(v, state.refrac_count, p.thresh, p.reset, p.refrac, p.lbound, dt)
    return s, IFState(v, rc)


def subtractive_if_step(
    x: Tensor | None, state: IFState, p: IFParameters, dt: float = 1.0
) -> tuple[Tensor, IFState]:
    """Integrate-and-fire with reset by subtraction (``v -= thresh`` on a spike).

    Used for ANN-to-SNN conversion, where subtraction keeps the residual charge so that rates
    approximate ReLU activations. ``p.reset`` is only the initial voltage.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    v = state.v.clone() if x is None else state.v + _gate_input(x, state.refrac_count, p.refrac)
    s = v >= p.thresh
    v = v - s.to(v.dtype) * p.thresh
    if p.lbound is not None:
        v = torch.maximum(v, torch.as_tensor(p.lbound, dtype=v.dtype, device=v.device))
    rc = state.refrac_count
    if isinstance(p.refrac, Tensor) or p.refrac > 0:
        rc = torch.where(s, torch.as_tensor(p.refrac, dtype=v.dtype, device=v.device), rc - dt)
    return s, IFState(v, rc)


def _leak(v: Tensor, rest: Scalar, tc_decay: Scalar, dt: float) -> Tensor:
    """``rest + exp(-dt/tc) * (v - rest)`` as a fresh tensor."""
    decay = decay_factor(tc_decay, dt)
    if isinstance(decay, Tensor) or isinstance(rest, Tensor):
        return rest + decay * (v - rest)
    return v.mul(decay).add_(rest * (1.0 - decay))


def lif_step(x: Tensor | None, state: LIFState, p: LIFParameters, dt: float = 1.0) -> tuple[Tensor, LIFState]:
    """Leaky integrate-and-fire step (see the module docstring for the equation).

    Args:
        x: input (mV increment) of this step, or None.
        state: previous state.
        p: parameters.
        dt: step length in ms.

    Returns:
        ``(spikes, new_state)``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    v = _leak(state.v, p.rest, p.tc_decay, dt)
    if x is not None:
        v = v.add_(_gate_input(x, state.refrac_count, p.refrac))
    s, v, rc = _fire_and_reset(v, state.refrac_count, p.thresh, p.reset, p.refrac, p.lbound, dt)
    return s, LIFState(v, rc)


def current_lif_step(
    x: Tensor | None, state: CurrentLIFState, p: CurrentLIFParameters, dt: float = 1.0
) -> tuple[Tensor, CurrentLIFState]:
    """Current-based LIF: ``i <- i * exp(-dt/tc_i) + x``; ``v`` leaks and integrates ``i``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    v = _leak(state.v, p.rest, p.tc_decay, dt)
    i = state.i * decay_factor(p.tc_i_decay, dt)
    if x is not None:
        i = i.add_(x)
    v = v.add_(_gate_input(i, state.refrac_count, p.refrac))
    s, v, rc = _fire_and_reset(v, state.refrac_count, p.thresh, p.reset, p.refrac, p.lbound, dt)
    return s, CurrentLIFState(v, i, rc)


def _one_spike(candidates: Tensor, generator: torch.Generator | None) -> Tensor:
    """Keep one uniformly chosen ``True`` per batch element. ``(B, *shape)`` -> same."""
    flat = candidates.reshape(candidates.shape[0], -1)
    scores = torch.rand(flat.shape, generator=generator, device=flat.device).masked_fill_(~flat, -1.0)
    winner = scores.argmax(dim=1, keepdim=True)
    keep = torch.zeros_like(flat).scatter_(1, winner, True) & flat
    return keep.view_as(candidates)


def adaptive_lif_step(
    x: Tensor | None,
    state: LIFState,
    theta: Tensor,
    p: AdaptiveLIFParameters,
    dt: float = 1.0,
    learning: bool = True,
    one_spike: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, LIFState, Tensor]:
    """LIF with a per-neuron adaptive threshold ``thresh + theta``.

    While ``learning``: ``theta`` decays by ``exp(-dt/tc_theta_decay)`` and every spike adds
    ``theta_plus`` to its neuron's ``theta``. ``theta`` is per neuron (shared by the batch); its
    increment is the batch *mean* of the spikes, so it grows at the same rate per sample whatever
    the batch size (with ``B = 1`` this is exactly Diehl & Cook's rule).

    With ``one_spike`` (Diehl & Cook nodes) at most one neuron per batch element fires per step,
    chosen uniformly among those above threshold; only the winner is reset, made refractory and
    has its threshold raised (BindsNET resets and adapts all the losers too).

    Args:
        x: input of this step, or None.
        state: previous ``v`` / ``refrac_count``.
        theta: adaptive threshold of each neuron.
        p: parameters.
        dt: step length in ms.
        learning: adapt ``theta`` this step.
        one_spike: at most one spike per batch element.
        generator: random source for the ``one_spike`` choice.

    Returns:
        ``(spikes, new_state, new_theta)``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``; ``theta``: ``(*shape)``.
    """
    v = _leak(state.v, p.rest, p.tc_decay, dt)
    if x is not None:
        v = v.add_(_gate_input(x, state.refrac_count, p.refrac))
    if learning:
        theta = theta * decay_factor(p.tc_theta_decay, dt)
    s = v >= p.thresh + theta
    if one_spike:
        s = _one_spike(s, generator)
    v = torch.where(s, torch.as_tensor(p.reset, dtype=v.dtype, device=v.device), v)
    if p.lbound is not None:
        v = torch.maximum(v, torch.as_tensor(p.lbound, dtype=v.dtype, device=v.device))
    rc = torch.where(s, torch.as_tensor(p.refrac, dtype=v.dtype, device=v.device), state.refrac_count - dt)
    if learning:
        theta = theta + p.theta_plus * s.to(theta.dtype).mean(0)
    return s, LIFState(v, rc), theta
