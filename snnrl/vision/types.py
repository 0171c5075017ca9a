"""The types of the Diehl & Cook model (:mod:`snnrl.vision.models`): its parameters, and what one
run produced (:class:`Activity`, the core's :class:`snnrl.fused.Activity`: the model runs
through the core's fused path for competitive networks).

``snnrl.vision.models`` and ``snnrl.vision`` re-export them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from snnrl import _checks as checks
from snnrl.fused import Activity

__all__ = ["INHIBITION", "REDUCTIONS", "Activity", "DiehlCookConfig"]

INHIBITION = ("layer", "direct")
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class DiehlCookConfig:
    """Parameters of a Diehl & Cook network (time in ms, voltages in mV, rates in Hz).

    Attributes:
        n_input: input neurons (784 for MNIST).
        n_neurons: excitatory neurons (and inhibitory ones with ``inhibition="layer"``).
        inhibition: ``"layer"`` (Ae <-> Ai) or ``"direct"`` (Ae -> Ae).
        exc: weight of ``Ae -> Ai`` (one to one).
        inh: strength of the inhibition (``Ai -> Ae`` or ``Ae -> Ae`` weights are ``-inh``).
        thresh, rest, reset, refrac, tc_decay: excitatory LIF parameters.
        theta_plus: threshold increase per spike; tc_theta_decay: its decay time constant.
        one_spike: at most one excitatory spike per step and image (BindsNET's
            ``DiehlAndCookNodes``; chosen uniformly among the neurons above threshold).
        inh_thresh, inh_rest, inh_reset, inh_refrac, inh_tc_decay: inhibitory LIF parameters.
        nu_pre, nu_post: STDP rates (depression on input spikes, potentiation on output spikes).
        tc_pre, tc_post: STDP trace time constants.
        wmin, wmax: weight bounds.
        norm: every excitatory neuron's input weights are scaled to sum to this before each
            image (None: no normalisation).
        init_scale: initial weights are ``U(0, init_scale)`` (then normalised).
        dt: time step.
        reduction: how weight and threshold changes of the images of one mini-batch combine:
            ``"sum"`` (each image counts as if presented alone) or ``"mean"``.
    """

    n_input: int = 784
    n_neurons: int = 100
    inhibition: str = "layer"
    exc: float = 22.5
    inh: float = 120.0
    thresh: float = -52.0
    rest: float = -65.0
    reset: float = -60.0
    refrac: float = 5.0
    tc_decay: float = 100.0
    theta_plus: float = 0.05
    tc_theta_decay: float = 1e7
    one_spike: bool = True
    inh_thresh: float = -40.0
    inh_rest: float = -60.0
    inh_reset: float = -45.0
    inh_refrac: float = 2.0
    inh_tc_decay: float = 10.0
    nu_pre: float = 1e-4
    nu_post: float = 1e-2
    tc_pre: float = 20.0
    tc_post: float = 20.0
    wmin: float = 0.0
    wmax: float = 1.0
    norm: float | None = 78.4
    init_scale: float = 0.3
    dt: float = 1.0
    reduction: str = "sum"

    def __post_init__(self) -> None:
        for name in ("n_input", "n_neurons"):
            checks.integer(name, getattr(self, name), 1, what="a positive int")
        checks.choice("inhibition", self.inhibition, INHIBITION)
        checks.choice("reduction", self.reduction, REDUCTIONS)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.type in ("float", "float | None") and v is not None:
                checks.finite(f.name, v)
        for name in ("tc_decay", "tc_theta_decay", "inh_tc_decay", "tc_pre", "tc_post", "dt", "init_scale"):
            checks.positive(name, getattr(self, name))
        for name in ("refrac", "inh_refrac", "theta_plus", "nu_pre", "nu_post", "inh"):
            checks.positive(name, getattr(self, name), strict=False)
        if self.norm is not None and not self.norm > 0:
            raise ValueError(f"norm must be > 0 or None, got {self.norm!r}")
        if not self.wmin <= self.wmax:
            raise ValueError(f"wmin={self.wmin} must be <= wmax={self.wmax}")
        if not (self.inh_rest < self.inh_thresh and self.inh_reset < self.inh_thresh):
            raise ValueError("inh_rest and inh_reset must lie below inh_thresh (inhibitory neurons only fire "
                             "when driven)")

    def replace(self, **changes: Any) -> DiehlCookConfig:
        """A copy with some fields changed (unknown names are an error)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown DiehlCookConfig fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and logs)."""
        return dataclasses.asdict(self)
