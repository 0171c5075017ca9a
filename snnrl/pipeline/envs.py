"""Environment drivers: one interface over a single env, a list of envs and a Gymnasium vector env.

The trainer sees ``n`` environments as one batch. A driver steps them, resets the ones it is told
to (with the seeds it is given, where it can), and says which results are real transitions.

* :class:`EnvList` (a single ``gymnasium.Env`` or a list of them, stepped in this process):
  every episode is reset with its own seed, so runs are reproducible and resumable episode by
  episode. This is what the trainer builds from agent presets.
* :class:`VectorEnvDriver` (a ``gymnasium.vector.VectorEnv``): ``AutoresetMode.DISABLED``
  resets exactly like :class:`EnvList` (``reset(seed=[...], options={"reset_mask": m})``);
  ``SAME_STEP`` returns the reset observation in the step that ends an episode; ``NEXT_STEP``
  (Gymnasium's default) returns it in the *next* step, whose action is ignored: that step is
  reported as not valid, and the trainer neither counts nor rewards it and puts that
  environment's network state back at rest. With the two autoreset modes only the first reset
  is seeded.

Shape:
    observations ``(n, *single observation shape)``; rewards, flags ``(n,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["EnvDriver", "EnvList", "VectorEnvDriver", "make_driver"]


class EnvDriver(Protocol):
    """What the trainer asks of its environments: a batch of ``n``, reset and stepped by mask.

    Attributes:
        n: number of environments (the batch size).
        seeded: whether :meth:`reset` honours per-environment seeds.
        steps_all: whether :meth:`step` steps every environment, active or not (finished ones
            must then be reset before the next step).
        life_lost: ``(n,)`` bool, the environments whose ``info["lives"]`` went down in the last step.
    """

    n: int
    seeded: bool
    steps_all: bool
    life_lost: np.ndarray
    observation_space: Any
    action_space: Any

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        """Reset the environments where ``mask``; returns the observations of all ``(n, *obs)``."""
        ...

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step; returns ``(obs, reward, terminated, truncated, valid)``, each with ``n`` rows."""
        ...

    def intensities(self) -> np.ndarray:
        """The noise-free intensities behind the last observations, ``(n, n_neurons)`` (a critic's
        ``reads = "rates"``)."""
        ...

    def close(self) -> None:
        """Close the environments."""
        ...


def _encoding_wrapper(env: Any) -> Any:
    """The spike-encoding wrapper in ``env``'s wrapper chain, or None."""
    from snnrl.wrappers.encoding import SpikeEncodingObservation

    while env is not None:
        if isinstance(env, SpikeEncodingObservation):
            return env
        env = getattr(env, "env", None)
    return None


class EnvList:
    """Single environments stepped one after the other (see the module docstring)."""

    seeded = True
    steps_all = False

    def __init__(self, envs: Any) -> None:
        self.envs = list(envs) if isinstance(envs, Sequence) else [envs]
        if not self.envs:
            raise ValueError("no environments given")
        for env in self.envs:
            if not hasattr(env, "step") or hasattr(env, "num_envs"):
                raise TypeError(f"expected gymnasium.Env instances, got {type(env).__name__}")
        first = self.envs[0]
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.n = len(self.envs)
        self.obs = np.zeros((self.n, *self.observation_space.shape), dtype=self.observation_space.dtype)
        self.lives = np.full(self.n, -1, dtype=np.int64)
        self.life_lost = np.zeros(self.n, dtype=bool)
        """After :meth:`step`: environments whose ``info["lives"]`` (Atari) went down in that step."""

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        """Reset the environments where ``mask`` is True (``seeds``: one per environment)."""
        for i in np.flatnonzero(mask):
            obs, info = self.envs[i].reset(seed=seeds[i])
            self.obs[i] = obs
            self.lives[i] = int(info.get("lives", -1))
        return self.obs.copy()

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step the active environments; returns ``(obs, reward, terminated, truncated, valid)``."""
        n = self.n
        reward = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        self.life_lost[:] = False
        for i in np.flatnonzero(active):
            obs, r, term, trunc, info = self.envs[i].step(actions[i])
            self.obs[i] = obs
            reward[i], terminated[i], truncated[i] = float(r), bool(term), bool(trunc)
            lives = int(info.get("lives", -1))
            self.life_lost[i] = 0 <= lives < self.lives[i]
            self.lives[i] = lives
        return self.obs.copy(), reward, terminated, truncated, active.copy()

    def intensities(self) -> np.ndarray:
        """The noise-free intensities behind each environment's last observation (its spike
        encoder's ``last_intensity``), ``(n, n_neurons)`` float32."""
        rows = []
        for env in self.envs:
            wrapper = _encoding_wrapper(env)
            if wrapper is None or getattr(wrapper, "last_intensity", None) is None:
                raise ValueError("critic reads = \"rates\" needs environments that encode their observations into "
                                 "spikes (an environment preset with an [encoder]); these have none")
            rows.append(wrapper.last_intensity)
        return np.stack(rows)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class VectorEnvDriver:
    """A ``gymnasium.vector.VectorEnv`` (see the module docstring for the autoreset modes)."""

    def __init__(self, venv: Any) -> None:
        from gymnasium.vector import AutoresetMode

        self.venv = venv
        self.n = int(venv.num_envs)
        self.observation_space = venv.single_observation_space
        self.action_space = venv.single_action_space
        mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.mode = AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode
        self.seeded = self.mode == AutoresetMode.DISABLED
        self.steps_all = self.mode == AutoresetMode.DISABLED  # finished envs must be reset before the next step
        self._modes = AutoresetMode
        self.obs: np.ndarray | None = None
        self.life_lost = np.zeros(self.n, dtype=bool)
        self._lives = np.full(self.n, -1, dtype=np.int64)
        self._started = False
        self._pending = np.zeros(self.n, dtype=bool)  # NEXT_STEP: reset happens at the next step

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        if not self._started or (bool(mask.all()) and self.mode != self._modes.DISABLED):
            if self.mode == self._modes.DISABLED and all(s is not None for s in seeds):
                obs, _ = self.venv.reset(seed=[int(s) for s in seeds])  # type: ignore[arg-type]
            else:
                obs, _ = self.venv.reset(seed=seeds[0] if seeds else None)
            self._started = True
            self._pending[:] = False
            self.obs = np.array(obs)
            return self.obs.copy()
        if self.mode == self._modes.DISABLED:
            obs, _ = self.venv.reset(seed=[int(s) if s is not None else None for s in seeds],
                                     options={"reset_mask": np.asarray(mask, dtype=bool)})
            self.obs = np.array(obs)
        elif self.mode == self._modes.NEXT_STEP:
            self._pending |= mask
        return self.obs.copy()

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, terminated, truncated, infos = self.venv.step(actions)
        self.obs = np.array(obs)
        valid = active & ~self._pending
        lives = np.asarray(infos.get("lives", np.full(self.n, -1)), dtype=np.int64) if isinstance(infos, dict) \
            else np.full(self.n, -1)
        self.life_lost = valid & (lives >= 0) & (lives < self._lives)
        self._lives = lives
        self._pending[:] = False
        return (self.obs.copy(), np.asarray(reward, dtype=np.float64), np.asarray(terminated, dtype=bool),
                np.asarray(truncated, dtype=bool), valid)

    def intensities(self) -> np.ndarray:
        raise ValueError("critic reads = \"rates\" needs single environments (a list of gymnasium.Env), "
                         "not a vector env: its sub-environments' encoders are out of reach")

    def close(self) -> None:
        self.venv.close()


def make_driver(envs: Any) -> EnvDriver:
    """The driver for ``envs``: a ``gymnasium.Env``, a list of them or a ``VectorEnv``."""
    if isinstance(envs, (EnvList, VectorEnvDriver)):
        return envs
    if hasattr(envs, "num_envs") and hasattr(envs, "single_action_space"):
        return VectorEnvDriver(envs)
    return EnvList(envs)
