"""What the network asks of a learning rule: the :class:`Plasticity` protocol.

The network and its connections call a rule only through these methods, so :mod:`snnrl.network`
needs nothing from :mod:`snnrl.learning` (which imports the network, never the reverse).
:class:`snnrl.learning.LearningRule` is the base class that implements them; see
:mod:`snnrl.learning.base` for what each one means and when the network calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from torch import Tensor

if TYPE_CHECKING:
    from snnrl.network.connections.base import AbstractConnection
    from snnrl.network.modulator import Modulator

__all__ = ["Plasticity"]


@runtime_checkable
class Plasticity(Protocol):
    """A learning rule as the network sees it (``isinstance`` checks that the methods exist)."""

    def bind(self, connection: AbstractConnection) -> None:
        """Called once when the rule is attached to ``connection``."""

    def step(self, connection: AbstractConnection, reward: Modulator | None) -> None:
        """Update the weights for the step that just happened."""

    def deliver(self, connection: AbstractConnection, modulator: Modulator, signal: Tensor | None = None) -> None:
        """Apply a modulator delivered once, now, to the eligibility built so far (with a
        neuron-specific learning signal ``(B, *target.shape)``, or None)."""

    def changes_weights(self, connection: AbstractConnection, reward: Modulator | None) -> bool:
        """Whether :meth:`step` with this ``reward`` may change the weights."""

    def accepts_sequence(self, connection: AbstractConnection, reward: Modulator | None) -> bool:
        """Whether this run's per-step calls may be replaced by one :meth:`step_sequence` call."""

    def step_sequence(self, connection: AbstractConnection, s_pre: Tensor, s_post: Tensor,
                      reward: Modulator | None) -> None:
        """:meth:`step` for every step of a whole run at once. A rule may also define
        ``sequence_state(connection)``, the names of target state variables it needs at every
        step (e.g. ``("v",)``); the network then records them and passes them as a fifth
        argument, ``states`` (see :meth:`snnrl.learning.LearningRule.sequence_state`)."""

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Clear traces and eligibility (all batch elements, or those where ``mask`` is True)."""
