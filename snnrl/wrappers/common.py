"""General-purpose wrappers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym

from snnrl import _checks as checks

__all__ = ["ActionRepeat", "ActionSubset", "SeedFirstReset"]


class SeedFirstReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Seed the first reset that comes without a seed, and the action space.

    ``env = SeedFirstReset(env, 7); env.reset()`` is ``env.reset(seed=7)``; later resets without a
    seed continue the seeded random streams, as in Gymnasium. An explicit ``reset(seed=...)``
    wins and cancels the pending seed. In a vector environment each sub-environment gets its own
    seed (``snnrl.make_env`` gives sub-environment ``i`` the seed ``seed + i``, like
    ``VectorEnv.reset(seed=seed)``), so per-environment autoresets stay reproducible.

    Args:
        env: the environment.
        seed: a non-negative int.
    """

    def __init__(self, env: gym.Env, seed: int) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, seed=seed)
        gym.Wrapper.__init__(self, env)
        self.seed = checks.integer("seed", seed, 0, what="a non-negative int")
        self._pending: int | None = self.seed
        self.action_space.seed(self.seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset; the first call without a seed uses the wrapper's seed."""
        if seed is None:
            seed = self._pending
        self._pending = None
        return self.env.reset(seed=seed, options=options)


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Hold every action for ``k`` steps of the wrapped environment (an agent decides every ``k``).

    The rewards of the ``k`` steps are summed, so returns stay those of the wrapped environment;
    the observation and info are the last step's. The repeat stops early when the episode
    terminates or is truncated. Use it where one step changes the state too little for a
    decision to matter (MountainCar: one push moves the car by at most 0.0015 of a 1.8-long
    track, and the spike code of the state hardly moves). Gymnasium's
    ``MaxAndSkipObservation`` does this for Atari frames only (it max-pools the last two
    observations, which would corrupt a state vector).

    Args:
        env: the environment.
        k: steps per action, an int ``>= 1``.

    Info:
        ``"repeats"``: how many steps the last action was held (``< k`` only at an episode end).
    """

    def __init__(self, env: gym.Env, k: int) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, k=k)
        gym.Wrapper.__init__(self, env)
        self.k = checks.integer("k", k, 1, what="an int >= 1 (steps per action)")

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step ``k`` times with ``action`` (fewer at an episode end); rewards summed."""
        total, repeats = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            repeats += 1
            if terminated or truncated or repeats == self.k:
                break
        info = dict(info)
        info["repeats"] = repeats
        return obs, total, terminated, truncated, info


class ActionSubset(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Offer only some actions of a ``Discrete`` action space: action ``i`` is ``keep[i]``.

    For agents whose readout adds one preference per input feature: an action that is right only
    where two features agree (Breakout's NOOP when the paddle is under the ball) cannot be written
    as such a sum, and learning it leaks into every state; without it, "move towards the ball"
    can. Breakout keeps ``[2, 3]`` (RIGHT, LEFT) when FIRE is pressed by :class:`FireOnReset`.

    Args:
        env: an environment with a ``Discrete`` action space.
        keep: the original actions to offer, distinct, in the new order.

    Shape:
        action space: ``Discrete(len(keep))``.
    """

    def __init__(self, env: gym.Env, keep: Sequence[int]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, keep=keep)
        gym.ActionWrapper.__init__(self, env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Discrete):
            raise ValueError(f"ActionSubset needs a Discrete action space, got {space}")
        n, start = int(space.n), int(space.start)
        if isinstance(keep, (str, bytes)) or not isinstance(keep, Sequence) or not keep:
            raise checks.invalid("keep", "a non-empty list of actions", keep)
        for a in keep:
            if not checks.is_int(a) or not start <= a < start + n:
                raise checks.invalid("keep", f"actions of {space} (ints in [{start}, {start + n - 1}])", keep)
        if len(set(keep)) != len(keep):
            raise checks.invalid("keep", "distinct actions", keep)
        self.keep = tuple(int(a) for a in keep)
        self.action_space = gym.spaces.Discrete(len(self.keep))

    def action(self, action: Any) -> int:
        """The original action for ``action`` (an index into ``keep``)."""
        i = int(action)
        if not 0 <= i < len(self.keep):
            raise checks.invalid("action", f"an int in [0, {len(self.keep) - 1}]", action)
        return self.keep[i]
