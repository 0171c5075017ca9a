"""The learning-rule interface.

A rule is attached to one connection (``Connection(..., rule=PostPre(...))``) and is called by the
network once per time step while the network is in training mode::

    rule.step(connection, reward)

It reads what it needs through the connection interface only (``connection.source.s``,
``connection.target.s``, ``connection.correlate(pre, post)``, ``connection.apply_update(dw)``), so
one rule works on every connection type. Its state (traces, eligibility) lives in buffers (so it
is in ``state_dict`` and moves with ``.to()``), has a batch dimension, and is cleared by
``reset_state_variables()``, for all batch elements or only those selected by a mask.

Delayed reward. An agent chooses an action from a window of ``T`` steps and learns the reward
only after the environment has stepped. It runs the window with ``reward=0.0`` (three-factor
rules then only build their eligibility) and then delivers the modulator once::

    rule.deliver(connection, modulator)      # usually through Network.deliver_reward

so that the reward reaches the eligibility built by the spikes that chose the action (and not
the next observation's). A delivery is an impulse: it changes the weights by the modulator times
the rule's current eligibility (see each rule's ``deliver``). Two-factor rules ignore it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl._tensors import all_finite
from snnrl.learning.adapters import ConnectionAdapter, adapter_for
from snnrl.network.modulator import Modulator, with_signal

if TYPE_CHECKING:
    from snnrl.network.connections.base import AbstractConnection

__all__ = ["LearningRule", "ModulatedRule", "Rule"]


class LearningRule(nn.Module, ABC):
    """Base class of plasticity rules (see the module docstring)."""

    def bind(self, connection: AbstractConnection) -> None:
        """Called once when the rule is attached; validate the connection, size the state."""

    @abstractmethod
    def step(self, connection: AbstractConnection, reward: float | Tensor | None) -> None:
        """Update ``connection``'s weights for the step that just happened.

        Args:
            connection: the connection this rule is attached to.
            reward: the network's modulator for this step: None, a number, or a ``(B,)`` tensor.
        """

    def deliver(self, connection: AbstractConnection, modulator: float | Tensor,
                signal: Tensor | None = None) -> None:
        """Apply a modulator delivered once, now, to the eligibility built so far.

        The default does nothing (two-factor rules have no eligibility to modulate);
        three-factor rules override it.

        Args:
            connection: the connection this rule is attached to.
            modulator: a number or a ``(B,)`` tensor (one value per batch element).
            signal: a neuron-specific learning signal ``L`` ``(B, *target.shape)`` of this
                delivery, or None. Most rules receive ``m_b L_b`` (the network multiplies them);
                a rule that keeps a trace of the signals (:attr:`ModulatedRule.keeps_signal`)
                receives them apart.
        """

    def changes_weights(self, connection: AbstractConnection, reward: float | Tensor | None) -> bool:
        """Whether :meth:`step` with this ``reward`` may change ``connection``'s weights.

        The network asks once per run: when every step of a run leaves the weights alone (a
        three-factor rule with ``reward=0.0`` only builds eligibility), the input currents of a
        connection fed by an ``Input`` layer are computed for the whole run in one batched call.
        The default, True, is always safe.
        """
        return True

    def accepts_sequence(self, connection: AbstractConnection, reward: float | Tensor | None) -> bool:
        """Whether this run's per-step calls may be replaced by one :meth:`step_sequence` call.

        When every plastic connection of a run accepts, the network records the spikes of their
        source and target layers and calls :meth:`step_sequence` once after the run instead of
        :meth:`step` after every step. Only valid when the run leaves the weights alone (see
        :meth:`changes_weights`). The default is False.
        """
        return False

    def sequence_state(self, connection: AbstractConnection) -> tuple[str, ...]:
        """Target state variables (e.g. ``"v"``) that :meth:`step_sequence` needs at every step.

        The network records each of them after every step of a whole run, as it records the
        spikes, and passes them as ``states``. The default, none, keeps the call with spikes only.
        """
        return ()

    def step_sequence(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
                      reward: float | Tensor | None, states: Mapping[str, Tensor] | None = None) -> None:
        """Advance over a whole run at once: the same as :meth:`step` once per step ``t`` with
        source spikes ``s_pre[t]`` and target spikes ``s_post[t]``.

        Called only for a run for which :meth:`accepts_sequence` returned True.

        Args:
            states: the target's state variables named by :meth:`sequence_state`, each as it was
                after every step (only for rules that name some).

        Shape:
            ``s_pre``: ``(T, B, *source.shape)``; ``s_post``: ``(T, B, *target.shape)``;
            ``states[name]``: ``(T, *shape of that variable)``.
        """
        raise TypeError(f"{type(self).__name__} does not process whole runs: its accepts_sequence() is False")

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Clear traces/eligibility: all batch elements, or those where ``mask`` ``(B,)`` is True."""

    def reset_neuron_state(self) -> None:
        """The populations were put at rest while learning carries on (a policy with
        ``carry_state=false`` does it before every decision): clear the state that mirrors the
        neurons' own (e-prop's filtered presynaptic spikes, the derivative of a voltage that was
        just reset), keep the eligibility. The default keeps everything."""


REDUCTIONS = ("mean", "sum")


# ----------------------------------------------------------------------------- validation
def _learning_rates(nu: object) -> tuple[float, float]:
    if isinstance(nu, (tuple, list)):
        if len(nu) != 2:
            raise ValueError(f"nu must be a number or a pair (nu_pre, nu_post), got {nu!r}")
        return checks.finite("nu[0] (nu_pre)", nu[0]), checks.finite("nu[1] (nu_post)", nu[1])
    v = checks.finite("nu", nu)
    return v, v


def _reduction(reduction: object) -> str:
    return str(checks.choice("reduction", reduction, REDUCTIONS))


# ------------------------------------------------------------------------------ base class
class Rule(LearningRule):
    """The base of snnrl's rules: the bookkeeping once, the maths in one hook.

    :meth:`step` (a template method) checks the binding, follows the batch size and the step
    length ``dt`` of the populations, and calls :meth:`_step` with this step's spikes; a rule
    implements :meth:`_step` (and, for state, :meth:`_allocate`, :meth:`_state`,
    :meth:`_set_dt`). Weight changes go through :meth:`_update` (the adapter's
    ``apply_update``, then ``normalize`` if asked). :meth:`_batch_scale` is the reduction's
    factor: ``1/B`` for ``"mean"``, 1 for ``"sum"``.

    Args:
        nu: learning rate(s), a number or ``(nu_pre, nu_post)``.
        reduction: ``"mean"`` or ``"sum"`` over the batch.
        normalize: call ``connection.normalize()`` after every weight change.
    """

    def __init__(self, *, nu: float | tuple[float, float], reduction: str, normalize: bool) -> None:
        super().__init__()
        self.nu_pre, self.nu_post = _learning_rates(nu)
        self.reduction = _reduction(reduction)
        self.normalize = checks.boolean("normalize", normalize)
        self.batch_size = 0
        self.dt = 0.0
        # Plain attributes (not submodules): the connection owns the rule, not the reverse.
        self.__dict__["_connection"] = None
        self.__dict__["_adapter"] = None

    # -- binding and state
    @property
    def connection(self) -> AbstractConnection | None:
        """The connection this rule is bound to (None before ``bind``)."""
        return self.__dict__["_connection"]

    @property
    def adapter(self) -> ConnectionAdapter:
        """The connection adapter (see :func:`snnrl.learning.adapters.adapter_for`)."""
        adapter = self.__dict__["_adapter"]
        if adapter is None:
            raise RuntimeError(f"{type(self).__name__} is not bound to a connection")
        return adapter

    def bind(self, connection: AbstractConnection) -> None:
        bound = self.__dict__["_connection"]
        if bound is not None and bound is not connection:
            raise ValueError(f"this {type(self).__name__} is already bound to another connection; "
                             "create one rule per connection")
        if self.normalize and connection.norm is None:
            raise ValueError(f"{type(self).__name__}(normalize=True) needs a connection with norm=<total>")
        self._check_connection(connection)
        self.__dict__["_connection"] = connection
        self.__dict__["_adapter"] = adapter_for(connection)
        self.dt = float(connection.source.dt)
        self._set_dt(self.dt)
        self._allocate(max(1, int(connection.source.batch_size)))

    def _check_connection(self, connection: AbstractConnection) -> None:
        """Reject connections the rule cannot work with (a clear error at bind time)."""

    def _set_dt(self, dt: float) -> None:
        """Recompute step constants for step length ``dt`` (ms)."""

    def _allocate(self, batch_size: int) -> None:
        """(Re)allocate zeroed state for ``batch_size`` batch elements."""
        self.batch_size = batch_size

    def _state(self) -> list[Tensor]:
        """The state buffers with a leading batch dimension (cleared by ``reset_state_variables``)."""
        return []

    def _pre_post_zeros(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """Zeroed per-neuron traces ``(batch_size, *source.shape)`` and ``(batch_size, *target.shape)``,
        in the dtype and on the device of the bound connection's weight."""
        conn = self.__dict__["_connection"]
        w = conn.weight
        return w.new_zeros((batch_size, *conn.source.shape)), w.new_zeros((batch_size, *conn.target.shape))

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Clear traces and eligibility: all batch elements, or those where ``mask`` ``(B,)`` is True."""
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (self.batch_size,):
                got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
                raise ValueError(f"mask must be a bool tensor of shape ({self.batch_size},), got {got}")
        for buf in self._state():
            if mask is None:
                buf.zero_()
            else:
                buf[mask] = 0.0

    def _sync(self, connection: AbstractConnection, batch_size: int) -> None:
        """Check the binding; follow the batch size and the step length of the populations."""
        if connection is not self.__dict__["_connection"]:
            raise ValueError(f"{type(self).__name__} is bound to another connection (or not bound)")
        if batch_size != self.batch_size:
            self._allocate(int(batch_size))
        dt = connection.source.dt
        if dt != self.dt:
            self.dt = float(dt)
            self._set_dt(self.dt)

    def step(self, connection: AbstractConnection, reward: Modulator | None) -> None:
        """Bookkeeping (binding, batch size, ``dt``), then :meth:`_step` with this step's spikes."""
        s_pre = connection.source.s
        self._sync(connection, s_pre.shape[0])
        self._step(connection, s_pre, connection.target.s, reward)

    @abstractmethod
    def _step(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
              reward: Modulator | None) -> None:
        """The rule's work for one step.

        Shape:
            ``s_pre``: ``(B, *source.shape)``; ``s_post``: ``(B, *target.shape)``; ``reward``:
            as :data:`snnrl.network.modulator.Modulator`.
        """

    def changes_weights(self, connection: AbstractConnection, reward: Modulator | None) -> bool:
        return True

    def _batch_scale(self) -> float:
        return 1.0 / self.batch_size if self.reduction == "mean" else 1.0

    # -- weight changes
    def _update(self, dw: Tensor) -> None:
        self.adapter.apply_update(dw)
        if self.normalize:
            self.__dict__["_connection"].normalize()

    def _idle(self) -> None:
        """A step without weight change: only the connection's weight decay (if any) acts."""
        conn = self.__dict__["_connection"]
        if conn.weight_decay:
            self._update(torch.zeros_like(conn.weight))

    def extra_repr(self) -> str:
        return f"nu=({self.nu_pre}, {self.nu_post}), reduction={self.reduction!r}, normalize={self.normalize}"


class ModulatedRule(Rule):
    """The base of three-factor rules: the modulator is required and scales the change.

    A modulator is a number, a ``(B,)`` tensor or a neuron-specific ``(B, *target.shape)``
    tensor (:mod:`snnrl.network.modulator`). :meth:`_modulation` turns it into the factor
    ``g`` a rule multiplies its eligibility by (the reduction's weight included), or None when
    it is zero; :meth:`deliver` checks it and calls :meth:`_deliver`.
    """

    def _modulation(self, reward: Modulator | None, name: str = "reward") -> Modulator | None:
        """Per-batch-element factor ``R_b``-weights times the reward, or None when it is zero.

        The one check of every modulator a rule receives (``step`` and ``deliver`` both come
        here): a number or a tensor of a valid shape, finite. A tensor is checked once while it
        is unchanged (the network passes the same one at every step of a run), so a run on a
        GPU does not wait for the check at every step.
        """
        if reward is None:
            raise ValueError(f"{type(self).__name__} needs a reward (modulator) every learning step: "
                             "pass network.run(..., reward=r), 0.0 for none")
        if isinstance(reward, Tensor):
            if reward.dim() == 0:
                reward = float(reward)
            else:
                if tuple(reward.shape) != (self.batch_size,) and tuple(reward.shape) != self._neuron_shape():
                    raise ValueError(f"{name} must be a number, a ({self.batch_size},) tensor or a per-neuron "
                                     f"{self._neuron_shape()} tensor, got shape {tuple(reward.shape)}")
                self._check_finite(reward, name)
                if reward.is_cpu and not bool(reward.any()):
                    return None
                return reward.to(self.__dict__["_connection"].weight.dtype) * self._batch_scale()
        elif not checks.is_real(reward):
            raise checks.invalid(name, "a number or a tensor", reward, checks.InvalidType)
        if not math.isfinite(reward):
            raise checks.invalid(f"{type(self).__name__}: {name}", "finite (no NaN/inf)", reward)
        if reward == 0:
            return None
        return float(reward) * self._batch_scale()

    def _check_finite(self, modulator: Tensor, name: str) -> None:
        """Refuse a modulator tensor with NaN or infinite values (skipped for the tensor checked last
        while it has not been modified: ``Tensor._version`` counts in-place changes; an inference
        tensor has no such count and is checked every time)."""
        try:
            version: int | None = modulator._version
        except RuntimeError:  # created under torch.inference_mode()
            version = None
        last = self.__dict__.get("_finite_modulator")
        if version is not None and last is not None and last[0] is modulator and last[1] == version:
            return
        if not all_finite(modulator):
            raise checks.InvalidParameter(f"{type(self).__name__}: {name} contains NaN or infinite values",
                                          name=name, value=modulator)
        self.__dict__["_finite_modulator"] = (modulator, version)

    def _neuron_shape(self) -> tuple[int, ...]:
        """The shape of a neuron-specific modulator: ``(B, *target.shape)``."""
        conn = self.__dict__["_connection"]
        return (self.batch_size, *conn.target.shape) if conn is not None else (self.batch_size,)

    def changes_weights(self, connection: AbstractConnection, reward: Modulator | None) -> bool:
        """False for a zero reward (scalar, or an all-zero CPU tensor) on a connection without weight
        decay: the steps then only build traces and eligibility."""
        if reward is None or connection.weight_decay:
            return True
        if isinstance(reward, Tensor):
            return not reward.is_cpu or bool(reward.any())
        return reward != 0

    #: Whether :meth:`deliver` takes a learning signal apart from the modulator (and folds it into
    #: a trace of its own, :meth:`_deliver_signal`) instead of receiving their product.
    keeps_signal: bool = False

    def deliver(self, connection: AbstractConnection, modulator: Modulator, signal: Tensor | None = None) -> None:
        """Apply ``modulator`` (a number or a ``(B,)`` tensor) once to the current eligibility.

        See the module docstring; each rule documents its equation. A zero modulator changes
        nothing (not even the connection's weight decay). With a learning ``signal``
        ``(B, *target.shape)`` the modulator is ``m_b L_b`` per neuron, unless the rule
        :attr:`keeps_signal` (then it receives both, see :meth:`_deliver_signal`).
        """
        if connection is not self.__dict__["_connection"]:
            raise ValueError(f"{type(self).__name__} is bound to another connection (or not bound)")
        if modulator is None:
            raise ValueError(f"{type(self).__name__}.deliver needs a modulator (a number or a "
                             f"({self.batch_size},) tensor), got None")
        if signal is not None and self.keeps_signal:
            if tuple(signal.shape) != self._neuron_shape():
                raise ValueError(f"signal must have shape {self._neuron_shape()}, got {tuple(signal.shape)}")
            self._check_finite(signal, "the learning signal")
            self._deliver_signal(connection, self._modulation(modulator, "the delivered modulator"), signal)
            return
        if signal is not None:
            modulator = with_signal(modulator, signal)
        g = self._modulation(modulator, "the delivered modulator")
        if g is not None:
            self._deliver(connection, g)

    def prepare(self, connection: AbstractConnection, signal: Tensor | None = None) -> None:
        """Do now the part of the next :meth:`deliver` that does not depend on the modulator.

        A pipeline calls it after sending the actions and before the environments answer, so that
        this work overlaps with theirs. It must change no result, not even in the last bit: it may
        only do what every ``deliver`` does whatever its modulator. So with a learning ``signal``
        and a rule that :attr:`keeps_signal` it folds the signal into the rule's trace, the effect
        of ``deliver(connection, 0.0, signal)`` (a ``deliver`` with the same signal and no step in
        between then only applies the modulator). The default does nothing.
        """
        if connection is not self.__dict__["_connection"]:
            raise ValueError(f"{type(self).__name__} is bound to another connection (or not bound)")

    def _deliver_signal(self, connection: AbstractConnection, g: Modulator | None, signal: Tensor) -> None:
        """Fold ``signal`` into the rule's trace and apply the batch-weighted global modulator
        ``g`` (None: zero) to it; only rules with :attr:`keeps_signal` implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not keep learning signals apart")

    @abstractmethod
    def _deliver(self, connection: AbstractConnection, g: Modulator) -> None:
        """Apply the batch-weighted modulator ``g`` (``R_b`` weights included)."""
