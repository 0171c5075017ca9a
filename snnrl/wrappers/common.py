"""General-purpose wrappers."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from snnrl import _checks as checks

__all__ = ["SeedFirstReset"]


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
