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
    "DiscreteLIF",
    "adaptive_lif_discrete",
    "adaptive_lif_step",
    "current_lif_discrete",
    "discretize",
    "lif_discrete",
    "subtractive_if_discrete",
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


class DiscreteLIF(NamedTuple):
    """IF/LIF parameters discretised for one step length, as tensors on the state's device.

    Pure functions take :class:`LIFParameters` and ``dt``; populations compute this once per
    ``dt`` and device (:func:`discretize`) and call the ``*_discrete`` kernels, which saves the
    per-step cost of turning Python floats into tensors.

    Attributes:
        decay: ``exp(-dt / tc_decay)``, or None for no leak (IF).
        rest_term: ``rest * (1 - decay)``, or None for no leak.
        thresh, reset: threshold and reset voltage.
        refrac: refractory period in ms, or None when it is zero.
        neg_dt: minus the step length (the refractory countdown per step).
        zero: 0, as a tensor.
        lbound: lower voltage bound, or None.
    """

    decay: Tensor | None
    rest_term: Tensor | None
    thresh: Tensor
    reset: Tensor
    refrac: Tensor | None
    neg_dt: Tensor
    zero: Tensor
    lbound: Tensor | None


def _as_tensor(value: Scalar, like: Tensor) -> Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def discretize(
    p: IFParameters | LIFParameters | CurrentLIFParameters | AdaptiveLIFParameters, dt: float, like: Tensor
) -> DiscreteLIF:
    """Discretise IF/LIF-family parameters for step ``dt`` on ``like``'s device and dtype."""
    tc = getattr(p, "tc_decay", None)
    decay = rest_term = None
    if tc is not None:
        decay = _as_tensor(decay_factor(tc, dt), like)
        rest_term = _as_tensor(p.rest, like) * (1.0 - decay)
    refrac = p.refrac
    no_refrac = bool((refrac == 0).all()) if isinstance(refrac, Tensor) else refrac == 0
    return DiscreteLIF(
        decay=decay,
        rest_term=rest_term,
        thresh=_as_tensor(p.thresh, like),
        reset=_as_tensor(p.reset, like),
        refrac=None if no_refrac else _as_tensor(refrac, like),
        neg_dt=_as_tensor(-dt, like),
        zero=_as_tensor(0.0, like),
        lbound=None if p.lbound is None else _as_tensor(p.lbound, like),
    )


def _fill(v: Tensor, s: Tensor, value: Tensor) -> Tensor:
    """``v[s] = value`` in place on a tensor the caller owns (scalar or per-neuron value)."""
    return v.masked_fill_(s, value) if value.dim() == 0 else torch.where(s, value, v)


def _integrate(x: Tensor | None, v: Tensor, refrac_count: Tensor, k: DiscreteLIF) -> Tensor:
    """Leak (if any) and add the input of non-refractory neurons; returns a fresh tensor."""
    if x is not None and k.refrac is not None:
        x = x.masked_fill(refrac_count > k.zero, k.zero)
    if k.decay is None:
        return v.clone() if x is None else v + x
    v = torch.addcmul(k.rest_term, v, k.decay)
    return v if x is None else v.add_(x)


def _fire(
    v: Tensor, refrac_count: Tensor, k: DiscreteLIF, thresh: Tensor, spikes: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Threshold (or the given spikes), reset, lower bound and refractory bookkeeping."""
    s = v >= thresh if spikes is None else spikes
    v = _fill(v, s, k.reset)
    if k.lbound is not None:
        v = torch.maximum(v, k.lbound)
    if k.refrac is not None:
        refrac_count = _fill(refrac_count + k.neg_dt, s, k.refrac)
    return s, v, refrac_count


def lif_discrete(x: Tensor | None, state: LIFState, k: DiscreteLIF) -> tuple[Tensor, LIFState]:
    """IF/LIF step with discretised parameters (see :func:`lif_step`).

    This is the simulator's hottest function, so :func:`_integrate` and :func:`_fire` are
    written out inline here (same operations).
    """
    v, rc = state
    refrac = k.refrac
    if x is not None and refrac is not None:
        x = x.masked_fill(rc > k.zero, k.zero)
    if k.decay is None:
        v = v.clone() if x is None else v + x
    else:
        v = torch.addcmul(k.rest_term, v, k.decay)
        if x is not None:
            v = v.add_(x)
    s = v >= k.thresh
    reset = k.reset
    v = v.masked_fill_(s, reset) if reset.dim() == 0 else torch.where(s, reset, v)
    if k.lbound is not None:
        v = torch.maximum(v, k.lbound)
    if refrac is not None:
        rc = rc + k.neg_dt
        rc = rc.masked_fill_(s, refrac) if refrac.dim() == 0 else torch.where(s, refrac, rc)
    return s, LIFState(v, rc)


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
    return lif_discrete(x, state, discretize(p, dt, state.v))


def subtractive_if_discrete(x: Tensor | None, state: IFState, k: DiscreteLIF) -> tuple[Tensor, IFState]:
    """Subtractive-reset IF step with discretised parameters (see :func:`subtractive_if_step`)."""
    v = _integrate(x, state.v, state.refrac_count, k)
    s = v >= k.thresh
    v = v.sub_(s.to(v.dtype) * k.thresh)
    if k.lbound is not None:
        v = torch.maximum(v, k.lbound)
    rc = state.refrac_count
    if k.refrac is not None:
        rc = _fill(rc + k.neg_dt, s, k.refrac)
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
    return subtractive_if_discrete(x, state, discretize(p, dt, state.v))


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
    return lif_discrete(x, state, discretize(p, dt, state.v))


def current_lif_discrete(
    x: Tensor | None, state: CurrentLIFState, k: DiscreteLIF, i_decay: Tensor
) -> tuple[Tensor, CurrentLIFState]:
    """Current-based LIF step with discretised parameters (see :func:`current_lif_step`)."""
    i = state.i * i_decay
    if x is not None:
        i = i.add_(x)
    v = _integrate(i, state.v, state.refrac_count, k)
    s, v, rc = _fire(v, state.refrac_count, k, k.thresh)
    return s, CurrentLIFState(v, i, rc)


def current_lif_step(
    x: Tensor | None, state: CurrentLIFState, p: CurrentLIFParameters, dt: float = 1.0
) -> tuple[Tensor, CurrentLIFState]:
    """Current-based LIF: ``i <- i * exp(-dt/tc_i) + x``; ``v`` leaks and integrates ``i``.

    Shape:
        ``x``, state tensors, spikes: ``(B, *shape)``.
    """
    k = discretize(p, dt, state.v)
    return current_lif_discrete(x, state, k, _as_tensor(decay_factor(p.tc_i_decay, dt), state.v))


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
    k = discretize(p, dt, state.v)
    theta_decay = _as_tensor(decay_factor(p.tc_theta_decay, dt), state.v) if learning else None
    theta_plus = _as_tensor(p.theta_plus, state.v)
    return adaptive_lif_discrete(x, state, theta, k, theta_decay, theta_plus, one_spike, generator)


def adaptive_lif_discrete(
    x: Tensor | None,
    state: LIFState,
    theta: Tensor,
    k: DiscreteLIF,
    theta_decay: Tensor | None,
    theta_plus: Tensor,
    one_spike: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, LIFState, Tensor]:
    """Adaptive-threshold LIF step with discretised parameters (see :func:`adaptive_lif_step`).

    ``theta_decay`` is ``exp(-dt / tc_theta_decay)`` while learning, None when not learning.
    """
    v = _integrate(x, state.v, state.refrac_count, k)
    learning = theta_decay is not None
    if learning:
        theta = theta * theta_decay
    spikes = v >= k.thresh + theta
    if one_spike:
        spikes = _one_spike(spikes, generator)
    s, v, rc = _fire(v, state.refrac_count, k, k.thresh, spikes)
    if learning:
        theta = theta + theta_plus * s.to(theta.dtype).mean(0)
    return s, LIFState(v, rc), theta
