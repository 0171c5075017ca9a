r"""Plasticity rules: two-factor (STDP, Hebbian) and three-factor (MSTDP, MSTDPET, Rmax).

Every rule is written once against the connection interface through an adapter
(:mod:`snnrl.learning.adapters`), so it works on every connection type. Notation: ``s_pre``
``(B, *source.shape)`` and ``s_post`` ``(B, *target.shape)`` are the spikes of the step that
just happened (the network calls ``rule.step(connection, reward)`` after all populations
advanced), ``⊗`` is the connection's ``correlate`` (the outer product for dense connections),
``R_b`` the batch reduction (``"mean"``: ``(1/B) sum_b``, the default, so the learning rate
does not depend on the batch size; ``"sum"``: ``sum_b``, BindsNET's behaviour), ``dt`` the
step in ms.

Options every rule honours:

* ``nu``: learning rate(s), a number or ``(nu_pre, nu_post)``: ``nu_pre`` scales the term
  triggered by a presynaptic spike, ``nu_post`` the one triggered by a postsynaptic spike;
* ``reduction``: ``"mean"`` or ``"sum"`` over the batch;
* ``normalize``: call ``connection.normalize()`` after every weight change (the connection
  needs ``norm``);
* weight bounds (``wmin``, ``wmax``), masks and ``weight_decay`` are properties of the
  connection; every rule applies them through the connection after each step's change
  (``apply_update``: add, then decay, then constraints). Weight decay is applied on every
  learning step, also when the rule's own change is zero (a three-factor rule with reward 0
  still lets weights decay, as in BindsNET);
* learning is on while the network is in training mode (``network.train(False)`` stops it).

Delayed reward (:meth:`~snnrl.learning.base.LearningRule.deliver`, called by
``Network.deliver_reward(m)``): the three-factor rules apply a modulator ``m`` (a number or a
``(B,)`` tensor) once, as an impulse, to the eligibility they hold at that moment:
``Δw = R_b(m_b e_b)`` with ``e`` = MSTDP's last ``ζ``, MSTDPET's ``z`` or R-max's ``nu e``
(see each rule). It is what holding ``reward = m / dt`` for one more step would do, without
advancing the traces. A window run with ``reward=0.0`` followed by ``deliver(m)`` is how an
agent gives the reward of an action to the spikes that chose it. Two-factor rules and
:class:`NoOp` ignore deliveries (they learn without a modulator).

State (traces, eligibility) is held by the rule in buffers with a batch dimension, sized in
``bind`` from the source population's batch size and re-allocated, zeroed, when a step sees a
different batch size; ``reset_state_variables(mask)`` clears it for all batch elements or the
masked ones (the pipeline calls it at episode boundaries). Rules keep their own traces and do
not need ``traces=True`` on the populations.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype
from snnrl.functional.plasticity import decay_add_, trace_update_
from snnrl.learning.adapters import STDPEligibility, STDPParameters
from snnrl.learning.base import ModulatedRule, Rule
from snnrl.registry import register

if TYPE_CHECKING:
    from snnrl.network.connections.base import AbstractConnection

__all__ = ["MSTDP", "MSTDPET", "Hebbian", "NoOp", "PostPre", "Rmax", "WeightDependentPostPre"]

# ---------------------------------------------------------------------------- NoOp
@register("rule")
class NoOp(Rule):
    """No plasticity: the weights change only by the connection's weight decay (if any).

    Args:
        normalize: normalise after the decay (see the module docstring).
    """

    def __init__(self, *, normalize: bool = False) -> None:
        super().__init__(nu=0.0, reduction="mean", normalize=normalize)

    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: float | Tensor | None) -> None:
        self._idle()

    def changes_weights(self, connection: AbstractConnection, reward: float | Tensor | None) -> bool:
        return bool(connection.weight_decay)


# ---------------------------------------------------------------------------- two-factor
class _TwoFactorRule(Rule):
    r"""Base of two-factor rules: own pre/post spike traces and two correlation terms.

    Traces (updated with this step's spikes before the correlations):
    ``x_pre <- x_pre e^{-dt/tc_pre}``, then ``x_pre <- 1`` where ``s_pre`` (nearest spike, the
    default) or ``x_pre += s_pre`` (``traces_additive=True``); the same for ``x_post``.
    The rule's reward argument is ignored.
    """

    def __init__(self, *, nu: float | tuple[float, float], reduction: str, normalize: bool,
                 tc_pre: float, tc_post: float, traces_additive: bool) -> None:
        super().__init__(nu=nu, reduction=reduction, normalize=normalize)
        self.tc_pre = checks.positive("tc_pre", tc_pre)
        self.tc_post = checks.positive("tc_post", tc_post)
        self.traces_additive = checks.boolean("traces_additive", traces_additive)
        self.register_buffer("x_pre", torch.zeros(0))
        self.register_buffer("x_post", torch.zeros(0))

    def _set_dt(self, dt: float) -> None:
        self._decay_pre = math.exp(-dt / self.tc_pre)
        self._decay_post = math.exp(-dt / self.tc_post)

    def _allocate(self, batch_size: int) -> None:
        super()._allocate(batch_size)
        self.x_pre, self.x_post = self._pre_post_zeros(batch_size)

    def _state(self) -> list[Tensor]:
        return [self.x_pre, self.x_post]

    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: float | Tensor | None) -> None:
        trace_update_(self.x_pre, s_pre, self._decay_pre, additive=self.traces_additive)
        trace_update_(self.x_post, s_post, self._decay_post, additive=self.traces_additive)
        if s_pre.is_cpu and not (bool(s_pre.any()) or bool(s_post.any())):
            self._idle()  # no spike, no pair: only decay
            return
        dtype = self.x_pre.dtype
        self._update(self._weight_change(as_dtype(s_pre, dtype), as_dtype(s_post, dtype)))

    @abstractmethod
    def _weight_change(self, s_pre: Tensor, s_post: Tensor) -> Tensor:
        """The weight change of one step. Shape: ``(B, *source.shape)``, ``(B, *target.shape)`` -> ``weight.shape``."""

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, tc_pre={self.tc_pre}, tc_post={self.tc_post}, "
                f"traces_additive={self.traces_additive}")


@register("rule")
class PostPre(_TwoFactorRule):
    r"""Pair-based STDP: depression on presynaptic spikes, potentiation on postsynaptic spikes.

    .. math::
        \Delta w = -\nu_{pre}\, R_b(s_{pre} \otimes x_{post}) + \nu_{post}\, R_b(x_{pre} \otimes s_{post})

    For one pair with ``Δt = t_post - t_pre``: ``Δw = nu_post e^{-Δt/tc_pre}`` if ``Δt > 0``,
    ``-nu_pre e^{Δt/tc_post}`` if ``Δt < 0``, ``nu_post - nu_pre`` if ``Δt = 0``.

    Args:
        nu: ``(nu_pre, nu_post)`` or one rate for both (BindsNET's Diehl & Cook values by default).
        reduction: ``"mean"`` or ``"sum"`` over the batch.
        normalize: call ``connection.normalize()`` after every change.
        tc_pre, tc_post: trace time constants (ms).
        traces_additive: all-spike instead of nearest-spike traces.
    """

    def __init__(self, *, nu: float | tuple[float, float] = (1e-4, 1e-2), reduction: str = "mean",
                 normalize: bool = False, tc_pre: float = 20.0, tc_post: float = 20.0,
                 traces_additive: bool = False) -> None:
        super().__init__(nu=nu, reduction=reduction, normalize=normalize, tc_pre=tc_pre, tc_post=tc_post,
                         traces_additive=traces_additive)

    def _weight_change(self, s_pre: Tensor, s_post: Tensor) -> Tensor:
        k = self._batch_scale()
        return self.adapter.correlation([(s_pre, self.x_post, -self.nu_pre * k),
                                         (self.x_pre, s_post, self.nu_post * k)])


@register("rule")
class Hebbian(_TwoFactorRule):
    r"""Hebbian learning: potentiation on both pre- and postsynaptic spikes.

    .. math::
        \Delta w = \nu_{pre}\, R_b(s_{pre} \otimes x_{post}) + \nu_{post}\, R_b(x_{pre} \otimes s_{post})

    Args: as :class:`PostPre`.
    """

    def __init__(self, *, nu: float | tuple[float, float] = (1e-4, 1e-2), reduction: str = "mean",
                 normalize: bool = False, tc_pre: float = 20.0, tc_post: float = 20.0,
                 traces_additive: bool = False) -> None:
        super().__init__(nu=nu, reduction=reduction, normalize=normalize, tc_pre=tc_pre, tc_post=tc_post,
                         traces_additive=traces_additive)

    def _weight_change(self, s_pre: Tensor, s_post: Tensor) -> Tensor:
        k = self._batch_scale()
        return self.adapter.correlation([(s_pre, self.x_post, self.nu_pre * k),
                                         (self.x_pre, s_post, self.nu_post * k)])


@register("rule")
class WeightDependentPostPre(_TwoFactorRule):
    r"""STDP with soft bounds: changes shrink as the weight approaches its bound.

    .. math::
        \Delta w = -\nu_{pre}\, R_b(s_{pre} \otimes x_{post})\,(w - w_{min})
                   + \nu_{post}\, R_b(x_{pre} \otimes s_{post})\,(w_{max} - w)

    The connection must have finite ``wmin`` and ``wmax``.

    Args: as :class:`PostPre`.
    """

    def __init__(self, *, nu: float | tuple[float, float] = (1e-4, 1e-2), reduction: str = "mean",
                 normalize: bool = False, tc_pre: float = 20.0, tc_post: float = 20.0,
                 traces_additive: bool = False) -> None:
        super().__init__(nu=nu, reduction=reduction, normalize=normalize, tc_pre=tc_pre, tc_post=tc_post,
                         traces_additive=traces_additive)

    def _check_connection(self, connection: AbstractConnection) -> None:
        for name in ("wmin", "wmax"):
            bound = getattr(connection, name)
            finite = bool(torch.isfinite(bound).all()) if isinstance(bound, Tensor) else math.isfinite(bound)
            if not finite:
                raise ValueError(f"WeightDependentPostPre needs finite weight bounds; the connection has "
                                 f"{name}={bound!r}")

    def _weight_change(self, s_pre: Tensor, s_post: Tensor) -> Tensor:
        k = self._batch_scale()
        conn = self.__dict__["_connection"]
        w = conn.weight.data
        dep = self.adapter.correlation([(s_pre, self.x_post, -self.nu_pre * k)])
        pot = self.adapter.correlation([(self.x_pre, s_post, self.nu_post * k)])
        return dep.mul_(w - conn.wmin).add_(pot.mul_(conn.wmax - w))


# --------------------------------------------------------------------------- three-factor
@register("rule")
class MSTDP(ModulatedRule):
    r"""Reward-modulated STDP without eligibility trace (Florian 2007, "MSTDP").

    Florian's continuous-time rule is ``dw/dt = gamma r(t) ζ(t)`` with
    ``ζ = P+ Φ_post + P- Φ_pre`` (spike trains ``Φ`` as sums of Dirac deltas) and traces
    ``dP+/dt = -P+/τ+ + A+ Φ_pre``, ``dP-/dt = -P-/τ- + A- Φ_post``. Integrated over one step
    (the traces decay exactly, a spike's delta integrates to 1), per batch element:

    .. math::
        P^+ &\leftarrow P^+ e^{-dt/\tau_+} + A_+ s_{pre}, \qquad
        P^- \leftarrow P^- e^{-dt/\tau_-} + A_- s_{post}, \\
        \zeta &= \nu_{post}\, P^+ \otimes s_{post} + \nu_{pre}\, s_{pre} \otimes P^-, \qquad
        \Delta w = R_b(r_b\, \zeta_b)

    The traces include this step's spikes, and this step's reward multiplies this step's
    ``ζ`` (BindsNET used the previous step's ``ζ``). So for one pair with ``Δt = t_post -
    t_pre`` and reward ``r``: ``Δw = nu_post r A+ e^{-Δt/τ+}`` (``Δt > 0``),
    ``nu_pre r A- e^{Δt/τ-}`` (``Δt < 0``), ``r (nu_post A+ + nu_pre A-)`` (``Δt = 0``).
    With reward 0 the weights do not change (apart from the connection's weight decay).

    Args:
        nu: the learning rate ``gamma``, or ``(nu_pre, nu_post)`` for the two terms of ``ζ``.
        a_plus: ``A+`` (> 0 for potentiation of pre-before-post pairs).
        a_minus: ``A-`` (< 0 for depression of post-before-pre pairs).
        tc_plus, tc_minus: ``τ+``, ``τ-`` (ms).
        reduction, normalize: see the module docstring.
    """

    def __init__(self, *, nu: float | tuple[float, float] = 1e-2, a_plus: float = 1.0, a_minus: float = -1.0,
                 tc_plus: float = 20.0, tc_minus: float = 20.0, reduction: str = "mean",
                 normalize: bool = False) -> None:
        super().__init__(nu=nu, reduction=reduction, normalize=normalize)
        self.a_plus = checks.finite("a_plus", a_plus)
        self.a_minus = checks.finite("a_minus", a_minus)
        self.tc_plus = checks.positive("tc_plus", tc_plus)
        self.tc_minus = checks.positive("tc_minus", tc_minus)
        self.register_buffer("p_plus", torch.zeros(0))
        self.register_buffer("p_minus", torch.zeros(0))

    def _set_dt(self, dt: float) -> None:
        self._decay_plus = math.exp(-dt / self.tc_plus)
        self._decay_minus = math.exp(-dt / self.tc_minus)

    def _allocate(self, batch_size: int) -> None:
        super()._allocate(batch_size)
        self.p_plus, self.p_minus = self._pre_post_zeros(batch_size)

    def _state(self) -> list[Tensor]:
        return [self.p_plus, self.p_minus]

    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: float | Tensor | None) -> None:
        decay_add_(self.p_plus, self._decay_plus, s_pre, self.a_plus)
        decay_add_(self.p_minus, self._decay_minus, s_post, self.a_minus)
        g = self._modulation(reward)
        if g is None:
            self._idle()
            return
        self._update(self._zeta(s_pre, s_post, g))

    def _zeta(self, s_pre: Tensor, s_post: Tensor, g: float | Tensor) -> Tensor:
        """``R_b(g_b ζ_b)``: this step's STDP correlation weighted by ``g``."""
        dtype = self.p_plus.dtype
        return self.adapter.correlation([(self.p_plus, as_dtype(s_post, dtype), g * self.nu_post),
                                         (as_dtype(s_pre, dtype), self.p_minus, g * self.nu_pre)])

    def _deliver(self, connection: AbstractConnection, g: float | Tensor) -> None:
        r"""``Δw = R_b(m_b ζ_b)`` with ``ζ`` of the last step (its spikes, still held by the
        populations, and the current traces). MSTDP has no eligibility trace, so only
        coincidences in the last step of the window are rewarded; prefer :class:`MSTDPET` for
        delayed rewards."""
        s_pre, s_post = connection.source.s, connection.target.s
        if s_pre.shape[0] != self.batch_size:
            raise ValueError(f"MSTDP.deliver: the populations hold a batch of {s_pre.shape[0]} but the rule's "
                             f"state has {self.batch_size}; run the network before delivering a reward")
        self._update(self._zeta(s_pre, s_post, g))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, a_plus={self.a_plus}, a_minus={self.a_minus}, "
                f"tc_plus={self.tc_plus}, tc_minus={self.tc_minus}")


@register("rule")
class MSTDPET(ModulatedRule):
    r"""Reward-modulated STDP with eligibility trace (Florian 2007, "MSTDPET").

    Florian's rule is ``dw/dt = gamma r(t) z(t)``, ``τ_z dz/dt = -z + ζ(t)`` with ``ζ`` as in
    :class:`MSTDP`. Per step and batch element (``ζ`` and the traces exactly as MSTDP; ``z``
    decays exactly and a spike's delta adds ``ζ/τ_z``; the weight integral uses the step's end
    value of ``z``):

    .. math::
        z &\leftarrow z\, e^{-dt/\tau_z} + \zeta / \tau_z, \qquad
        \Delta w = dt\; R_b(r_b\, z_b)

    A reward ``r`` held for a long time after one pair changes the weight by
    ``r ζ dt / (τ_z (1 - e^{-dt/τ_z})) ≈ r ζ``: the same STDP window as MSTDP, but a reward
    arriving up to a few ``τ_z`` after the spikes still reaches them. With reward 0 the
    weights do not change (apart from the connection's weight decay) and only the
    eligibility evolves. On dense connections the decays are kept as global scales and, for
    large weights on CPU, the eligibility is stored factorised so that a step only touches the
    rows of presynaptic neurons that spiked; the full matrix is touched only on steps with a
    non-zero reward (:class:`snnrl.learning.adapters.ScaledSTDPEligibility`,
    :class:`snnrl.learning.adapters.FactorizedSTDPEligibility`; tests check both against the
    plain equations).

    Args:
        nu: the learning rate ``gamma``, or ``(nu_pre, nu_post)`` for the two terms of ``ζ``.
        a_plus, a_minus, tc_plus, tc_minus: as :class:`MSTDP`.
        tc_e_trace: eligibility time constant ``τ_z`` (ms).
        reduction, normalize: see the module docstring.

    Attributes:
        eligibility: the :class:`snnrl.learning.adapters.STDPEligibility` holding ``P+``,
            ``P-`` and ``z`` (``eligibility.value()`` is ``z``, ``(B, *weight.shape)``).
    """

    def __init__(self, *, nu: float | tuple[float, float] = 1e-2, a_plus: float = 1.0, a_minus: float = -1.0,
                 tc_plus: float = 20.0, tc_minus: float = 20.0, tc_e_trace: float = 25.0,
                 reduction: str = "mean", normalize: bool = False) -> None:
        super().__init__(nu=nu, reduction=reduction, normalize=normalize)
        self.a_plus = checks.finite("a_plus", a_plus)
        self.a_minus = checks.finite("a_minus", a_minus)
        self.tc_plus = checks.positive("tc_plus", tc_plus)
        self.tc_minus = checks.positive("tc_minus", tc_minus)
        self.tc_e_trace = checks.positive("tc_e_trace", tc_e_trace)
        self.eligibility: STDPEligibility | None = None

    def _params(self, dt: float) -> STDPParameters:
        return STDPParameters(tc_plus=self.tc_plus, tc_minus=self.tc_minus, tc_e=self.tc_e_trace,
                              a_plus=self.a_plus, a_minus=self.a_minus, nu_pre=self.nu_pre,
                              nu_post=self.nu_post, dt=dt)

    def _set_dt(self, dt: float) -> None:
        if self.eligibility is not None:
            self.eligibility.params = self._params(dt)

    def _allocate(self, batch_size: int) -> None:
        super()._allocate(batch_size)
        if self.eligibility is None:
            self.eligibility = self.adapter.stdp_eligibility(self._params(self.dt), batch_size)
        else:
            self.eligibility.resize(batch_size)

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        super().reset_state_variables(mask)
        if self.eligibility is not None:
            self.eligibility.reset(mask)

    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: float | Tensor | None) -> None:
        elig = self.eligibility
        elig.step(s_pre, s_post)
        g = self._modulation(reward)
        if g is None:
            self._idle()
            return
        elig.apply(g * self.dt)
        if self.normalize:
            connection.normalize()

    def accepts_sequence(self, connection: AbstractConnection, reward: float | Tensor | None) -> bool:
        """True for a run whose reward is zero (on a connection without weight decay): the run
        then only builds eligibility, which :meth:`step_sequence` does for all its steps at once."""
        return reward is not None and not self.changes_weights(connection, reward)

    def step_sequence(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
                      reward: float | Tensor | None, states: Mapping[str, Tensor] | None = None) -> None:
        if not self.accepts_sequence(connection, reward):
            raise ValueError(f"{type(self).__name__}.step_sequence needs a run that leaves the weights alone "
                             f"(reward 0, no weight decay), got reward {reward!r}")
        self._sync(connection, s_pre.shape[1])
        self.eligibility.step_sequence(s_pre, s_post)

    def _deliver(self, connection: AbstractConnection, g: float | Tensor) -> None:
        r"""``Δw = R_b(m_b z_b)``: the modulator times the eligibility ``z`` as it is now
        (``eligibility.value()``), then the connection's decay, bounds and normalisation."""
        self.eligibility.apply(g)
        if self.normalize:
            connection.normalize()

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, a_plus={self.a_plus}, a_minus={self.a_minus}, "
                f"tc_plus={self.tc_plus}, tc_minus={self.tc_minus}, tc_e_trace={self.tc_e_trace}")


@register("rule")
class Rmax(ModulatedRule):
    r"""Reward-maximising rule for stochastic neurons (R-max: Pfister et al. 2006, Frémaux et al. 2010).

    For escape-noise neurons that fire in a step with probability ``p = 1 - e^{-rho dt}``
    (``rho``, 1/ms, read from the target population's state ``rho``, e.g.
    :class:`~snnrl.network.SRM0Nodes`), the eligibility follows the gradient of the spike
    train's log-likelihood, ``(s_post - p)`` times the postsynaptic-potential trace ``ε`` of
    the presynaptic spikes; the weight follows reward times eligibility:

    .. math::
        \xi &= \varepsilon \otimes (s_{post} - p), \qquad
        e \leftarrow e\, e^{-dt/\tau_e} + \xi / \tau_e, \qquad
        \Delta w = \nu\, dt\; R_b(r_b\, e_b), \\
        \varepsilon &\leftarrow \varepsilon\, e^{-dt/\tau_\varepsilon} + s_{pre} \quad
        \text{(after } \xi\text{: with synchronous propagation, this step's presynaptic spikes act next step)}

    ``E[s_post - p] = 0``, so without reward-activity correlation the expected drift is zero.
    Approximations: the factor ``rho' dt / p`` of the exact gradient is folded into ``nu``,
    refractory periods are ignored.

    Args:
        nu: learning rate (one number: the rule has a single term).
        tc_psp: ``τ_ε`` (ms), ideally the target's membrane time constant (SRM0Nodes: 10 ms).
        tc_e_trace: ``τ_e`` (ms).
        reduction, normalize: see the module docstring.
    """

    def __init__(self, *, nu: float = 1e-2, tc_psp: float = 10.0, tc_e_trace: float = 25.0,
                 reduction: str = "mean", normalize: bool = False) -> None:
        if isinstance(nu, (tuple, list)):
            raise ValueError(f"Rmax takes one learning rate nu, got {nu!r}")
        super().__init__(nu=nu, reduction=reduction, normalize=normalize)
        self.tc_psp = checks.positive("tc_psp", tc_psp)
        self.tc_e_trace = checks.positive("tc_e_trace", tc_e_trace)
        self.register_buffer("psp", torch.zeros(0))
        self.register_buffer("e", torch.zeros(0))

    def _check_connection(self, connection: AbstractConnection) -> None:
        names = getattr(connection.target, "state_names", ())
        if "rho" not in names:
            raise ValueError(f"Rmax reads the firing intensity 'rho' of the target population; "
                             f"{type(connection.target).__name__} has none (its state: {list(names)}). "
                             "Use a stochastic population such as SRM0Nodes.")

    def _set_dt(self, dt: float) -> None:
        self._decay_psp = math.exp(-dt / self.tc_psp)
        self._decay_e = math.exp(-dt / self.tc_e_trace)

    def _allocate(self, batch_size: int) -> None:
        super()._allocate(batch_size)
        conn = self.__dict__["_connection"]
        w = conn.weight
        self.psp = w.new_zeros((batch_size, *conn.source.shape))
        self.e = w.new_zeros((batch_size, *w.shape))

    def _state(self) -> list[Tensor]:
        return [self.psp, self.e]

    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: float | Tensor | None) -> None:
        dtype = self.e.dtype
        rho = connection.target.rho
        p = -torch.expm1(-rho.to(dtype) * self.dt)
        self.e.mul_(self._decay_e)
        self.adapter.accumulate(self.e, self.psp, s_post.to(dtype) - p, 1.0 / self.tc_e_trace)
        decay_add_(self.psp, self._decay_psp, s_pre)
        g = self._modulation(reward)
        if g is None:
            self._idle()
            return
        self.adapter.add_batch_weighted(self.e, g * (self.nu_post * self.dt))
        if self.normalize:
            connection.normalize()

    def _deliver(self, connection: AbstractConnection, g: float | Tensor) -> None:
        r"""``Δw = nu R_b(m_b e_b)`` with the eligibility ``e`` as it is now."""
        self.adapter.add_batch_weighted(self.e, g * self.nu_post)
        if self.normalize:
            connection.normalize()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tc_psp={self.tc_psp}, tc_e_trace={self.tc_e_trace}"
