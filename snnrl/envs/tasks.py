"""Small spiking-friendly tasks with a known optimal policy, for fast tests of learning agents.

``snnrl/CueBandit-v0`` (:class:`CueBandit`): a contextual bandit. At every step the agent sees
one of ``n_cues`` cues, one-hot, and picks one of ``n_cues`` actions; the right action for cue
``c`` is ``mapping[c]`` (by default ``c`` itself). A right action earns ``reward_correct``
(+1), a wrong one ``reward_wrong`` (-1). Cues are drawn uniformly and independently from the
environment's ``np_random``, so an episode is fully determined by ``reset(seed=...)`` and the
actions. Every episode lasts exactly ``episode_length`` (20) steps and then *terminates* (the
task is over; it is not a time limit, so ``truncated`` stays False).

* Optimal policy: ``action = mapping[cue]``; optimal return ``episode_length * reward_correct``
  (20 with the defaults).
* A uniformly random policy scores ``episode_length * (reward_correct + (n_cues - 1) *
  reward_wrong) / n_cues`` on average (0 with the defaults).

The reward of step ``t`` depends only on the cue shown at ``t`` and the action taken at ``t``, so
an agent's credit assignment can be tested without long delays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from snnrl import _checks as checks

__all__ = ["CUE_BANDIT_ID", "CueBandit", "register_tasks"]

CUE_BANDIT_ID = "snnrl/CueBandit-v0"


class CueBandit(gym.Env):
    """Contextual bandit: see a one-hot cue, answer with the matching action (module docs).

    Args:
        n_cues: number of cues and of actions, >= 2.
        episode_length: steps per episode, >= 1.
        reward_correct: reward for the right action.
        reward_wrong: reward for a wrong action (must be below ``reward_correct``).
        mapping: the right action for each cue, a permutation of ``range(n_cues)`` (default:
            the identity).
        render_mode: not supported (must be None).

    Observation space: ``Box(0, 1, (n_cues,), float32)``, one-hot. Action space:
    ``Discrete(n_cues)``. ``info``: ``{"cue": c}`` after reset, ``{"cue": next cue,
    "correct": bool}`` after a step.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's convention)

    def __init__(
        self,
        n_cues: int = 2,
        episode_length: int = 20,
        reward_correct: float = 1.0,
        reward_wrong: float = -1.0,
        mapping: Sequence[int] | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"CueBandit has no render modes, got render_mode={render_mode!r}")
        self.n_cues = checks.integer("n_cues", n_cues, 2)
        self.episode_length = checks.integer("episode_length", episode_length, 1)
        self.reward_correct = checks.finite("reward_correct", reward_correct)
        self.reward_wrong = checks.finite("reward_wrong", reward_wrong)
        if not self.reward_wrong < self.reward_correct:
            raise ValueError(f"reward_wrong ({reward_wrong}) must be below reward_correct ({reward_correct})")
        mapping = list(range(self.n_cues)) if mapping is None else list(mapping)
        if sorted(mapping) != list(range(self.n_cues)):
            raise ValueError(f"mapping must be a permutation of range({self.n_cues}), got {mapping!r}")
        self.mapping = tuple(int(m) for m in mapping)
        self.render_mode = None
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.n_cues,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.n_cues)
        self._cue = 0
        self._t = 0

    @property
    def optimal_return(self) -> float:
        """The return of the optimal policy over one episode."""
        return self.episode_length * self.reward_correct

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n_cues, np.float32)
        obs[self._cue] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode with a fresh cue."""
        super().reset(seed=seed)
        self._t = 0
        self._cue = int(self.np_random.integers(self.n_cues))
        return self._obs(), {"cue": self._cue}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Reward the action against the current cue, then show the next cue."""
        if not self.action_space.contains(action):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        correct = int(action) == self.mapping[self._cue]
        reward = self.reward_correct if correct else self.reward_wrong
        self._t += 1
        terminated = self._t >= self.episode_length
        self._cue = int(self.np_random.integers(self.n_cues))
        return self._obs(), reward, terminated, False, {"cue": self._cue, "correct": correct}


def register_tasks() -> None:
    """Register snnrl's tasks with Gymnasium (idempotent)."""
    if CUE_BANDIT_ID not in gym.registry:
        gym.register(id=CUE_BANDIT_ID, entry_point="snnrl.envs.tasks:CueBandit")


register_tasks()
