"""General-purpose wrappers: ActionRepeat, ActionSubset."""

import gymnasium as gym
import numpy as np
import pytest

from snnrl.wrappers import ActionRepeat, ActionSubset


class Counter(gym.Env):
    """Observation: [steps so far, last action]; reward = step number; terminates after ``n`` steps."""

    def __init__(self, n: int = 10) -> None:
        self.observation_space = gym.spaces.Box(0, 100, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.n, self.t, self.actions = n, 0, []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        self.actions.append(int(action))
        return np.array([self.t, action], np.float32), float(self.t), self.t >= self.n, False, {"t": self.t}


def test_action_repeat_holds_sums_and_stops_at_the_end():
    base = Counter(n=10)
    env = ActionRepeat(base, k=4)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(2)
    assert base.actions == [2, 2, 2, 2] and reward == 1 + 2 + 3 + 4 and info["repeats"] == 4
    np.testing.assert_array_equal(obs, [4, 2])
    assert (terminated, truncated) == (False, False) and info["t"] == 4
    env.step(1)  # steps 5-8
    obs, reward, terminated, _, info = env.step(0)  # steps 9, 10: the episode ends after 2 of 4
    assert reward == 9 + 10 and terminated and info["repeats"] == 2 and base.actions[-3:] == [1, 0, 0]


def test_action_repeat_keeps_returns_and_refuses_bad_k():
    env = ActionRepeat(gym.make("MountainCar-v0"), k=5)
    env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    while not done:
        _, r, te, tr, info = env.step(1)
        total, done, steps = total + r, te or tr, steps + info["repeats"]
    assert total == -200.0 and steps == 200  # the 200-step limit still counts underlying steps
    for bad in (0, 1.5, True, "2"):
        with pytest.raises((ValueError, TypeError), match="k"):
            ActionRepeat(Counter(), k=bad)


def test_action_subset_maps_and_refuses():
    base = Counter()
    env = ActionSubset(base, keep=[2, 0])
    assert env.action_space == gym.spaces.Discrete(2)
    env.reset(seed=0)
    env.step(0)
    env.step(1)
    assert base.actions == [2, 0]
    with pytest.raises(ValueError, match="action"):
        env.step(2)
    for bad in ([], [3], [1, 1], [0.5], "01", 2):
        with pytest.raises((ValueError, TypeError), match="keep"):
            ActionSubset(Counter(), keep=bad)
    with pytest.raises(ValueError, match="Discrete"):
        ActionSubset(gym.make("MountainCarContinuous-v0"), keep=[0])
