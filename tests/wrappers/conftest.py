"""Small synthetic environments for the wrapper tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest


class ScriptedEnv(gym.Env):
    """Returns ``frames[0]`` on reset and ``frames[t]`` after step ``t`` (the last one repeated).

    Terminates after ``episode_length`` steps. The action space is Discrete(2) and ignored.
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, space: gym.Space, frames: list, episode_length: int = 50) -> None:
        self.observation_space = space
        self.action_space = gym.spaces.Discrete(2)
        self.frames = [np.asarray(f, dtype=space.dtype) if hasattr(space, "dtype") else f for f in frames]
        self.episode_length = episode_length
        self._t = 0

    def _frame(self):
        frame = self.frames[min(self._t, len(self.frames) - 1)]
        return frame.copy() if isinstance(frame, np.ndarray) else frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._frame(), {}

    def step(self, action):
        self._t += 1
        return self._frame(), 0.0, self._t >= self.episode_length, False, {}


def constant_env(obs, low=0.0, high=1.0, dtype=np.float32, episode_length: int = 50) -> ScriptedEnv:
    """An environment that always shows ``obs`` (a Box observation)."""
    obs = np.asarray(obs, dtype=dtype)
    space = gym.spaces.Box(low, high, obs.shape, dtype=dtype)
    return ScriptedEnv(space, [obs], episode_length)


@pytest.fixture
def make_constant():
    return constant_env


@pytest.fixture
def scripted():
    return ScriptedEnv
