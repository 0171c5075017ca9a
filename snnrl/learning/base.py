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

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:
    from snnrl.network.connections.base import AbstractConnection

__all__ = ["LearningRule"]


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

    def deliver(self, connection: AbstractConnection, modulator: float | Tensor) -> None:
        """Apply a modulator delivered once, now, to the eligibility built so far.

        The default does nothing (two-factor rules have no eligibility to modulate);
        three-factor rules override it.

        Args:
            connection: the connection this rule is attached to.
            modulator: a number or a ``(B,)`` tensor (one value per batch element).
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

    def step_sequence(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
                      reward: float | Tensor | None) -> None:
        """Advance over a whole run at once: the same as :meth:`step` once per step ``t`` with
        source spikes ``s_pre[t]`` and target spikes ``s_post[t]``.

        Called only for a run for which :meth:`accepts_sequence` returned True.

        Shape:
            ``s_pre``: ``(T, B, *source.shape)``; ``s_post``: ``(T, B, *target.shape)``.
        """
        raise TypeError(f"{type(self).__name__} does not process whole runs: its accepts_sequence() is False")

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Clear traces/eligibility: all batch elements, or those where ``mask`` ``(B,)`` is True."""
