"""Sticky actions played outside the emulator, so that a seeded reset does not reload the ROM.

ALE's v5 environments repeat the previous frame's action with probability 0.25 at every frame
("sticky actions", Machado et al. 2018). ALE draws those numbers inside the emulator, and its
generator can only be reseeded by reloading the ROM: ``AtariEnv.reset(seed=...)`` calls
``loadROM``, 90-150 ms on this project's machines against 5-9 ms for an unseeded reset. The
episode pipeline seeds every episode (so that an episode is a function of its seed, and the
random baseline plays the same episodes as the agent), which made the ROM reload the largest
single cost of a short Atari episode (about a fifth of a Breakout training run's first minutes).

:class:`StickyActions` plays the same rule on an ALE environment built with
``repeat_action_probability=0`` (the emulator then draws no random numbers: ``reset_game``
restores the same power-on state every time) with a numpy generator that a seeded reset reseeds
in microseconds. Same distribution as ALE's own sticky actions, another random stream.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from snnrl import _checks as checks

__all__ = ["StickyActions"]


class StickyActions(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat the previous action with probability ``repeat_action_probability`` at every step.

    ALE's rule, one draw per step of the wrapped environment (one emulator frame when it was
    built with ``frameskip=1``): with probability ``p`` the previous step's action is played
    instead of the new one; after a reset the previous action is NOOP. A reset with a seed
    seeds this wrapper's generator and the environment's ``np_random`` (exactly as
    ``AtariEnv.seed_game`` would: Gymnasium's ``AtariPreprocessing`` draws its no-op count from
    it) and resets the emulator without a seed, so without reloading the ROM; the infos report
    the seeds and the frame numbers that a seeded ``AtariEnv`` reset would. Put it right on
    ``gymnasium.make("ALE/...", repeat_action_probability=0.0)``; ``snnrl.envs.make_env``
    does that for every ALE preset, and :class:`snnrl.wrappers.AtariPreprocessing`'s fast
    frame loop plays the rule itself (:meth:`frame_action`).

    Args:
        env: an ALE environment (``AtariEnv``, possibly under Gymnasium's checking wrappers)
            with discrete actions and ``repeat_action_probability = 0``.
        repeat_action_probability: ``p`` in ``[0, 1)``.

    Raises:
        ValueError: ``p`` out of range, an environment that is not ALE's, continuous actions,
            or an emulator that repeats actions itself.
    """

    def __init__(self, env: gym.Env, repeat_action_probability: float = 0.25) -> None:
        p = checks.in_range("repeat_action_probability", repeat_action_probability, 0.0, 1.0, high_open=True)
        gym.utils.RecordConstructorArgs.__init__(self, repeat_action_probability=p)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        ale = getattr(base, "ale", None)
        if ale is None or not hasattr(base, "_action_set"):
            raise ValueError(f"StickyActions needs an ALE environment (ale_py's AtariEnv); got {type(base).__name__}")
        if getattr(base, "continuous", False):
            raise ValueError("StickyActions needs discrete actions; this ALE environment is continuous")
        inner_p = ale.getFloat("repeat_action_probability")
        if inner_p != 0.0:
            raise ValueError(f"StickyActions needs an emulator without sticky actions of its own "
                             f"(repeat_action_probability=0.0); this one repeats with {inner_p}")
        self.repeat_action_probability = p
        names = [a.name for a in base._action_set]
        self._noop = names.index("NOOP") if "NOOP" in names else 0
        self._prev = self._noop
        self._rng = np.random.default_rng()  # until the first seeded reset, as an unseeded AtariEnv
        self._draws: list[float] = []  # the next draws of _rng, taken ahead (see frame_action)
        self._fresh_frames: int | None = None  # ale.getFrameNumber() after a ROM load and a reset
        self._frame_offset = 0  # frames since then, at the last seeded reset

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the emulator without a seed (no ROM reload); a ``seed`` seeds the draws and ``np_random``."""
        if seed is not None:
            seed = checks.integer("seed", seed, 0)
        obs, info = self.env.reset(seed=None, options=options)
        base: Any = self.env.unwrapped  # ale_py's AtariEnv (checked in __init__)
        frames = base.ale.getFrameNumber()
        if self._fresh_frames is None:  # the first reset follows the ROM load of AtariEnv.__init__
            self._fresh_frames = frames
        if seed is not None:
            np_seed, sticky_seed = np.random.SeedSequence(seed).generate_state(n_words=2)
            base._np_random, _ = seeding.np_random(int(np_seed))  # AtariEnv.seed_game's
            base._np_random_seed = seed
            self._rng = np.random.default_rng(int(sticky_seed))
            self._draws = []
            self._frame_offset = frames - self._fresh_frames
            info["seeds"] = (np_seed, sticky_seed)  # what AtariEnv's seeded reset reports
        self._prev = self._noop
        return obs, self.fix_info(info)

    def fix_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """``info["frame_number"]`` counted from the last seeded reset's (absent) ROM load, as ALE
        counts it: a seeded episode reports the same info whatever was played before it."""
        if self._frame_offset and "frame_number" in info:
            info["frame_number"] -= self._frame_offset
        return info

    def frame_action(self, action: int) -> int:
        """The action to play for one step (frame) when ``action`` is asked: ALE's rule."""
        if not self._draws:  # 64 draws at once: the values of 64 calls of random(), in order
            self._draws = self._rng.random(64).tolist()
            self._draws.reverse()
        if self._draws.pop() >= self.repeat_action_probability:
            self._prev = action
        return self._prev

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(self.frame_action(int(action)))
        return obs, reward, terminated, truncated, self.fix_info(info)
