"""Evaluating converted agents against their ANN: returns, action agreement and occlusion.

Environments are named by one string (:func:`make_vec_env`):

* ``"atari:BreakoutNoFrameskip-v4"``: SB3's Atari pipeline (``make_atari_env``: no-op reset,
  frame skip 4, episodic life, FIRE reset, 84x84 grayscale, clipped rewards) with 4 stacked frames
  (``VecFrameStack``), as the RL Zoo trains its Atari agents. Returns are the true game scores
  (SB3's ``Monitor`` sits below the reward clipping and counts whole games, not lives);
* an snnrl environment preset (``"cartpole"``, a ``.toml`` path): built without its spike
  encoder (``encode=False``), since the SB3 model saw the plain observations;
* any other Gymnasium id (``"CartPole-v1"``).

**How much of the ANN's return the SNN keeps.** A plain ratio ``snn / ann`` is wrong for negative
returns (an SNN at -83.4 against an ANN at -75.4 would keep "110.6 %"). :func:`compare_returns`
reports instead the share of the ANN's gap above a random policy that the SNN keeps,
``(snn - random) / (ann - random)`` (:func:`gap_kept`), with the random policy's return measured
on the same seeds: 1 where the SNN matches the ANN, 0 where it does no better than chance, right
for returns of any sign. It is undefined (NaN) when the ANN does no better than the random policy.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from snnrl.integrations.sb3.loading import require_sb3

__all__ = [
    "AgreementRecorder",
    "OcclusionWrapper",
    "RandomPolicy",
    "collect_observations",
    "compare_returns",
    "ensure_vec_env",
    "evaluate",
    "gap_kept",
    "make_vec_env",
    "occlusion_experiment",
]


def _env_factory(env: str) -> Callable[[], Any]:
    from snnrl.envs import list_presets

    if env.endswith(".toml") or env in list_presets():
        from snnrl.envs import build_env

        return lambda: build_env(env, encode=False)
    import gymnasium as gym

    if env.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    return lambda: gym.make(env)


def make_vec_env(env: str, n_envs: int = 1, seed: int | None = None, frame_stack: int = 4) -> Any:
    """An SB3 ``VecEnv`` (``DummyVecEnv``, each copy in a ``Monitor``) for the string ``env`` (see the module).

    Args:
        env: ``"atari:<id>"``, an snnrl preset name or ``.toml`` path, or a Gymnasium id.
        n_envs: copies.
        seed: seed of the first reset (copy ``i`` gets ``seed + i``).
        frame_stack: stacked frames for ``"atari:"`` environments.
    """
    require_sb3("evaluating SB3 models")
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    if env.startswith("atari:"):
        import ale_py
        import gymnasium as gym
        from stable_baselines3.common.env_util import make_atari_env
        from stable_baselines3.common.vec_env import VecFrameStack

        gym.register_envs(ale_py)
        venv = make_atari_env(env[len("atari:"):], n_envs=n_envs, seed=seed)
        return VecFrameStack(venv, n_stack=frame_stack) if frame_stack > 1 else venv
    factory = _env_factory(env)
    venv = DummyVecEnv([lambda: Monitor(factory()) for _ in range(n_envs)])
    if seed is not None:
        venv.seed(seed)
    return venv


def ensure_vec_env(env: Any) -> Any:
    """``env`` as an SB3 ``VecEnv`` (a Gymnasium env is wrapped in a ``DummyVecEnv``)."""
    require_sb3()
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

    if isinstance(env, VecEnv):
        return env
    if isinstance(env, str):
        return make_vec_env(env)
    return DummyVecEnv([lambda: env])


def collect_observations(predictor: Any, venv: Any, n: int, deterministic: bool = True) -> np.ndarray:
    """``n`` raw observations met by ``predictor`` (anything with SB3's ``predict``) acting in ``venv``.

    Shape:
        output ``(n, *observation shape)``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    obs = venv.reset()
    rows: list[np.ndarray] = []
    count = 0
    while count < n:
        rows.append(np.array(obs, copy=True))
        count += len(obs)
        actions, _ = predictor.predict(obs, deterministic=deterministic)
        obs, _, _, _ = venv.step(actions)
    return np.concatenate(rows)[:n]


class AgreementRecorder:
    """Acts with ``agent`` and counts how often ``reference`` would have chosen the same action.

    Both decide deterministically on the same observations, so the rate measures the
    conversion alone (Tan et al. 2021's "decision agreement").
    """

    def __init__(self, agent: Any, reference: Any) -> None:
        self.agent = agent
        self.reference = reference
        self.agree = 0
        self.total = 0

    @property
    def rate(self) -> float:
        """Fraction of decisions on which the two agreed (NaN before any)."""
        return self.agree / self.total if self.total else math.nan

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        actions, state = self.agent.predict(observation, state, episode_start, deterministic)
        ref, _ = self.reference.predict(observation, deterministic=True)
        a, r = np.asarray(actions), np.asarray(ref)
        if a.dtype.kind == "f":
            same = np.isclose(a, r, atol=1e-3).reshape(len(a), -1).all(axis=1)
        else:
            same = (a == r).reshape(len(a), -1).all(axis=1)
        self.agree += int(same.sum())
        self.total += len(same)
        return actions, state


class RandomPolicy:
    """Uniformly random actions from ``action_space`` (SB3's ``predict`` protocol), seeded.

    Args:
        action_space: a Gymnasium space (one environment's).
        seed: seed of the space's random source.
    """

    def __init__(self, action_space: Any, seed: int | None = 0) -> None:
        self.action_space = copy.deepcopy(action_space)  # seeding must not touch the caller's space
        self.action_space.seed(seed)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        n = len(np.asarray(observation))
        return np.stack([np.asarray(self.action_space.sample()) for _ in range(n)]), state


def gap_kept(snn: float, ann: float, random: float) -> float:
    """``(snn - random) / (ann - random)``: the share of the ANN's gap above random the SNN keeps.

    NaN when the ANN does no better than the random policy (``ann <= random``), where no share is defined.
    """
    gap = ann - random
    if not gap > 1e-9 * max(1.0, abs(ann), abs(random)):
        return math.nan
    return (snn - random) / gap


def evaluate(predictor: Any, env: str | Callable[[], Any], episodes: int, *, n_envs: int = 1, seed: int = 0,
             deterministic: bool = True) -> dict[str, Any]:
    """Episode returns of ``predictor`` with SB3's ``evaluate_policy`` on a fresh env seeded with ``seed``.

    ``env``: an environment string (:func:`make_vec_env`) or a function returning a ``VecEnv``.

    Returns:
        ``{"mean", "std", "returns", "lengths"}``.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    if isinstance(env, str):
        venv = make_vec_env(env, n_envs=n_envs, seed=seed)
    else:
        venv = env()
        venv.seed(seed)
    try:
        returns, lengths = evaluate_policy(predictor, venv, n_eval_episodes=episodes, deterministic=deterministic,
                                           return_episode_rewards=True, warn=False)
    finally:
        venv.close()
    r = np.asarray(returns, dtype=float)
    return {"mean": float(r.mean()), "std": float(r.std()), "returns": r.tolist(),
            "lengths": [int(v) for v in lengths]}


def _percent(share: float) -> str:
    return "n/a" if math.isnan(share) else f"{100 * share:.1f} %"


def compare_returns(model: Any, agent: Any, env: str | Callable[[], Any], episodes: int, *,
                    steps: Sequence[int] | None = None, n_envs: int = 1, seed: int = 0,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """ANN vs SNN vs a random policy: returns over ``episodes`` (same seeds), the share of the ANN's
    gap above random that the SNN keeps (:func:`gap_kept`) and its agreement with the ANN, per T.

    ``model``: the ANN (anything with SB3's ``predict`` on raw observations and an
    ``action_space``, e.g. an SB3 model or a :class:`~snnrl.integrations.sb3.NormalizedModel`).

    Returns:
        ``{"ann": {...}, "random": {...}, "snn": [{"steps", "mean", "std", "kept", "agreement", ...}, ...]}``.
    """
    import time

    t0 = time.perf_counter()
    ann = evaluate(model, env, episodes, n_envs=n_envs, seed=seed)
    ann["seconds"] = round(time.perf_counter() - t0, 2)
    if log:
        log(f"ANN: {ann['mean']:.2f} +- {ann['std']:.2f} over {episodes} episodes ({ann['seconds']} s)")
    rand = evaluate(RandomPolicy(model.action_space, seed), env, episodes, n_envs=n_envs, seed=seed)
    if log:
        log(f"random policy: {rand['mean']:.2f} +- {rand['std']:.2f} (same seeds)")
    rows = []
    original = agent.steps
    try:
        for t in steps or [agent.steps]:
            agent.steps = int(t)
            recorder = AgreementRecorder(agent, model)
            t0 = time.perf_counter()
            res = evaluate(recorder, env, episodes, n_envs=n_envs, seed=seed)
            res.update(steps=int(t), agreement=recorder.rate, decisions=recorder.total,
                       kept=gap_kept(res["mean"], ann["mean"], rand["mean"]),
                       seconds=round(time.perf_counter() - t0, 2))
            rows.append(res)
            if log:
                log(f"SNN T={t}: {res['mean']:.2f} +- {res['std']:.2f} (keeps {_percent(res['kept'])} of the ANN's "
                    f"gap above random), agreement {100 * recorder.rate:.2f} % ({res['seconds']} s)")
    finally:
        agent.steps = original
    return {"ann": ann, "random": rand, "snn": rows}


def _occluder(obs_shape: tuple[int, ...], start: int, size: int, axis: int | None) -> tuple[int, slice]:
    if axis is None:  # images: rows (H) of an HWC or CHW frame; vectors: elements
        axis = (0 if obs_shape[-1] < obs_shape[0] else 1) if len(obs_shape) == 3 else 0
    if not 0 <= axis < len(obs_shape):
        raise ValueError(f"axis {axis} out of range for observations of shape {obs_shape}")
    if not 0 <= start < obs_shape[axis] or size < 1:
        raise ValueError(f"band [{start}, {start + size}) outside axis {axis} of length {obs_shape[axis]}")
    return axis, slice(start, min(start + size, obs_shape[axis]))


class OcclusionWrapper:
    """VecEnv wrapper (built lazily on SB3's ``VecEnvWrapper``) that blanks a band of every observation.

    Use :func:`OcclusionWrapper.wrap`; the band is ``[start, start + size)`` along ``axis`` of one
    observation (default: image rows, or vector elements), set to ``value``.
    """

    @staticmethod
    def wrap(venv: Any, start: int, size: int, axis: int | None = None, value: float = 0.0) -> Any:
        from stable_baselines3.common.vec_env import VecEnvWrapper

        shape = tuple(venv.observation_space.shape)
        ax, band = _occluder(shape, start, size, axis)
        index = (slice(None),) * (ax + 1) + (band,)

        class _Occluded(VecEnvWrapper):
            def _blank(self, obs: np.ndarray) -> np.ndarray:
                obs = np.array(obs, copy=True)
                obs[index] = value
                return obs

            def reset(self) -> np.ndarray:
                return self._blank(self.venv.reset())

            def step_wait(self) -> Any:
                obs, rewards, dones, infos = self.venv.step_wait()
                for info in infos:
                    if "terminal_observation" in info:
                        info["terminal_observation"] = self._blank(info["terminal_observation"][None])[0]
                return self._blank(obs), rewards, dones, infos

        return _Occluded(venv)


def occlusion_experiment(model: Any, agent: Any, env: str, *, band: int, positions: Sequence[int],
                         episodes: int, n_envs: int = 1, seed: int = 0, axis: int | None = None,
                         log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Patel et al. (2019)'s occlusion test: ANN and SNN returns with a band of the input blanked.

    Position ``-1`` means no occlusion (the baseline row).

    Returns:
        One row per position: ``{"start", "size", "ann_mean", "ann_std", "snn_mean", "snn_std", "agreement"}``.
    """
    rows = []
    for start in positions:
        def factory(start: int = start) -> Any:
            venv = make_vec_env(env, n_envs=n_envs, seed=seed)
            return venv if start < 0 else OcclusionWrapper.wrap(venv, start, band, axis)

        ann = evaluate(model, factory, episodes, seed=seed)
        recorder = AgreementRecorder(agent, model)
        snn = evaluate(recorder, factory, episodes, seed=seed)
        row = {"start": int(start), "size": 0 if start < 0 else int(band), "ann_mean": ann["mean"],
               "ann_std": ann["std"], "snn_mean": snn["mean"], "snn_std": snn["std"], "agreement": recorder.rate}
        rows.append(row)
        if log:
            where = "none" if start < 0 else f"[{start}, {start + band})"
            log(f"occlusion {where}: ANN {row['ann_mean']:.2f} +- {row['ann_std']:.2f}, SNN {row['snn_mean']:.2f} "
                f"+- {row['snn_std']:.2f}, agreement {100 * recorder.rate:.1f} %")
    return rows

