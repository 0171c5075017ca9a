"""Train SB3 agents whose policy is spiking (:mod:`snnrl.integrations.sb3.features`).

:func:`train_spiking_agent` wraps the usual SB3 calls with the RL Zoo's tuned hyperparameters
for the environments it knows (CartPole PPO / A2C / DQN, Atari DQN / PPO) and evaluates the
result with ``evaluate_policy``. ``scripts/train_spiking_ppo.py`` is its command line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from snnrl.integrations.sb3.loading import algo_class, require_sb3

__all__ = ["ZOO_HYPERPARAMS", "train_spiking_agent"]


def _linear(start: float) -> Any:
    from stable_baselines3.common.utils import LinearSchedule

    return LinearSchedule(start, 0.0, 1.0)


#: RL Baselines3 Zoo settings (hyperparams/*.yml) for the cases we train; ``n_envs`` is ours to apply.
ZOO_HYPERPARAMS: dict[tuple[str, str], dict[str, Any]] = {
    ("ppo", "cartpole"): dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                              learning_rate=("lin", 1e-3), clip_range=("lin", 0.2), ent_coef=0.0),
    ("a2c", "cartpole"): dict(n_envs=8, ent_coef=0.0),
    ("dqn", "cartpole"): dict(n_envs=1, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                              learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256,
                              gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04),
    ("dqn", "atari"): dict(n_envs=1, buffer_size=10_000, learning_rate=1e-4, batch_size=32, learning_starts=1000,
                           target_update_interval=1000, train_freq=4, gradient_steps=1, exploration_fraction=0.1,
                           exploration_final_eps=0.01, optimize_memory_usage=False),
    ("ppo", "atari"): dict(n_envs=8, n_steps=128, n_epochs=4, batch_size=256, learning_rate=("lin", 2.5e-4),
                           clip_range=("lin", 0.1), vf_coef=0.5, ent_coef=0.01),
}


def _family(env: str) -> str:
    if env.startswith("atari:"):
        return "atari"
    return "cartpole" if "cartpole" in env.lower() else env


def train_spiking_agent(
    algo: str = "ppo",
    env: str = "CartPole-v1",
    total_timesteps: int = 100_000,
    *,
    seed: int = 0,
    steps: int = 8,
    hidden: tuple[int, ...] = (64, 64),
    features_dim: int = 512,
    beta: float = 0.9,
    hyperparams: Mapping[str, Any] | None = None,
    eval_episodes: int = 100,
    eval_envs: int = 10,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train ``algo`` with a spiking features extractor on ``env`` and evaluate it.

    Args:
        algo: ``"ppo"``, ``"a2c"`` or ``"dqn"``.
        env: an environment string of :func:`~snnrl.integrations.sb3.make_vec_env`
            (``"CartPole-v1"``, ``"cartpole"``, ``"atari:BreakoutNoFrameskip-v4"``).
        total_timesteps: environment steps of training.
        seed: seed of the model and of the training envs (evaluation uses ``seed + 10000``).
        steps: simulation steps per decision (T).
        hidden: spiking layer widths (vector observations).
        features_dim: last spiking layer's width (image observations).
        beta: membrane decay per step.
        hyperparams: overrides of the Zoo settings (``n_envs`` included); ``("lin", x)`` is a
            linear schedule from ``x`` to 0.
        eval_episodes: deterministic evaluation episodes after training (0: none).
        eval_envs: parallel evaluation environments.
        device: torch device of the model.
        log: progress printer.

    Returns:
        ``(model, {"mean", "std", "train_seconds", "eval_seconds", "timesteps", "hyperparams"})``.
    """
    require_sb3("training spiking agents")
    from snnrl.integrations.sb3.evaluation import evaluate, make_vec_env
    from snnrl.integrations.sb3.features import spiking_policy_kwargs

    algo = algo.lower()
    if algo not in ("ppo", "a2c", "dqn"):
        raise ValueError(f"algo must be 'ppo', 'a2c' or 'dqn', got {algo!r}")
    params = dict(ZOO_HYPERPARAMS.get((algo, _family(env)), {}))
    params.update(hyperparams or {})
    n_envs = int(params.pop("n_envs", 1))
    image = env.startswith("atari:")
    if image:
        kwargs = spiking_policy_kwargs("cnn", features_dim=features_dim, steps=steps, beta=beta)
    else:
        kwargs = spiking_policy_kwargs("mlp", hidden=hidden, steps=steps, beta=beta)
    built = {k: _linear(v[1]) if isinstance(v, tuple) and v and v[0] == "lin" else v for k, v in params.items()}
    venv = make_vec_env(env, n_envs=n_envs, seed=seed)
    cls = algo_class(algo)
    model = cls("CnnPolicy" if image else "MlpPolicy", venv, policy_kwargs=kwargs, seed=seed, device=device,
                verbose=0, **built)
    t0 = time.perf_counter()
    model.learn(total_timesteps)
    train_seconds = time.perf_counter() - t0
    venv.close()
    result: dict[str, Any] = {"algo": algo, "env": env, "seed": seed, "timesteps": int(total_timesteps),
                              "steps": steps, "train_seconds": round(train_seconds, 1),
                              "hyperparams": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
                              | {"n_envs": n_envs}}
    if log:
        log(f"{algo} with a spiking policy on {env}: {total_timesteps} steps in {train_seconds:.1f} s")
    if eval_episodes > 0:
        t0 = time.perf_counter()
        ev = evaluate(model, env, eval_episodes, n_envs=min(eval_envs, eval_episodes), seed=seed + 10_000)
        result.update(mean=ev["mean"], std=ev["std"], eval_seconds=round(time.perf_counter() - t0, 1),
                      eval_episodes=eval_episodes)
        if log:
            log(f"evaluation: {ev['mean']:.2f} +- {ev['std']:.2f} over {eval_episodes} episodes")
    return model, result
