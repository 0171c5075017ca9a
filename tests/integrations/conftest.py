"""Shared helpers for the stable-baselines3 integration tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: ``../shared/data`` beside the checkout; ``SNNRL_SHARED_DATA`` overrides it.
SHARED_DATA = Path(os.environ.get("SNNRL_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
ZOO = SHARED_DATA / "sb3-zoo"


def _zoo_model(name: str) -> Path:
    path = ZOO / name
    if not path.exists():
        pytest.skip(f"{path} is absent (the RL Zoo models live in ../shared/data/sb3-zoo beside the checkout; "
                    "set SNNRL_SHARED_DATA to another data folder)")
    return path


@pytest.fixture
def zoo_model():
    """``zoo_model(name)``: path of an RL Zoo model in the shared data, or skip the test saying why."""
    return _zoo_model


@pytest.fixture
def tiny_image_env():
    """``tiny_image_env()``: a small image environment (36x36x1 uint8 frames, channels last, 3 actions)."""
    return _make_tiny_image_env


class _TinyImageEnv:
    @staticmethod
    def make(size: int = 36, channels: int = 1, episode_length: int = 12):
        import gymnasium as gym

        class _Env(gym.Env):
            metadata = {"render_modes": []}  # noqa: RUF012

            def __init__(self) -> None:
                self.observation_space = gym.spaces.Box(0, 255, (size, size, channels), np.uint8)
                self.action_space = gym.spaces.Discrete(3)
                self._t = 0

            def _obs(self):
                return self.np_random.integers(0, 256, (size, size, channels), dtype=np.uint8)

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self._t = 0
                return self._obs(), {}

            def step(self, action):
                self._t += 1
                return self._obs(), float(action == 1), self._t >= episode_length, False, {}

        return _Env()


def _make_tiny_image_env():
    return _TinyImageEnv.make()
