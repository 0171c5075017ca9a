r"""Learning-rate schedules of the actor: a factor on the modulator, a function of the episode.

A three-factor rule changes a weight by ``nu * m * z`` (learning rate, modulator, eligibility),
so scaling the modulator that the trainer delivers to the network scales the actor's learning
rate of every rule at once, without touching the rules. :class:`LearningRateSchedule` gives
that factor for training episode ``k`` (counted over the whole run, so a resumed run continues
the schedule where it stopped):

* ``"constant"``: 1;
* ``"linear"``: from 1 at episode ``start`` to ``final`` at episode ``start + episodes``;
* ``"exponential"``: ``final ** ((k - start) / episodes)`` over the same span (geometric decay);

1 before ``start``, ``final`` after the span. The critic (:class:`~snnrl.pipeline.LinearCritic`)
keeps its own rate: the schedule only changes what the network's rules receive.

In an agent preset: ``[training] lr_schedule = { type = "linear", final = 0.1, episodes = 800 }``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from snnrl import _checks as checks

__all__ = ["LearningRateSchedule"]

_KINDS = ("constant", "linear", "exponential")


@dataclasses.dataclass(frozen=True)
class LearningRateSchedule:
    """A factor on the actor's learning rate per training episode (see the module docstring).

    Args:
        type: ``"constant"``, ``"linear"`` or ``"exponential"``.
        final: the factor at the end of the span (>= 0; > 0 for ``"exponential"``).
        episodes: length of the span in episodes (>= 1 unless ``type = "constant"``).
        start: the episode where the decay starts (>= 0).
    """

    type: str = "constant"
    final: float = 1.0
    episodes: int = 0
    start: int = 0

    def __post_init__(self) -> None:
        checks.choice("lr_schedule type", self.type, list(_KINDS))
        checks.positive("lr_schedule final", self.final, strict=False, what="a number >= 0")
        if self.type == "exponential" and self.final <= 0:
            raise ValueError(f"an exponential lr_schedule needs final > 0, got {self.final!r}")
        for name, low in (("episodes", 0 if self.type == "constant" else 1), ("start", 0)):
            checks.integer(f"lr_schedule {name}", getattr(self, name), low)

    def __call__(self, episode: int) -> float:
        """The factor for training episode ``episode`` (0-based)."""
        if self.type == "constant":
            return 1.0
        progress = min(1.0, max(0.0, (episode - self.start) / self.episodes))
        if self.type == "linear":
            return 1.0 + (self.final - 1.0) * progress
        return float(self.final ** progress)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> LearningRateSchedule:
        """From a preset's ``lr_schedule`` table (keys ``type``, ``final``, ``episodes``, ``start``)."""
        unknown = set(table) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown lr_schedule key(s) {sorted(unknown)}; valid: "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        return cls(**dict(table))
