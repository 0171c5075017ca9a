"""The episode pipeline: agents that act in Gymnasium environments and learn from reward.

* :mod:`snnrl.pipeline.agent`: agent presets (``agents/*.toml``) and overrides;
* :mod:`snnrl.pipeline.build`: environments, policy, reward signal from a preset;
* :mod:`snnrl.pipeline.trainer`: :class:`Trainer`, the episode loop with reward delivery,
  evaluation, random baselines, checkpoints and resume;
* :mod:`snnrl.pipeline.callbacks`: stable-baselines3-style callbacks;
* :mod:`snnrl.pipeline.schedule`: learning-rate schedules of the actor;
* :mod:`snnrl.pipeline.tensorboard`: the TensorBoard callback;
* :mod:`snnrl.pipeline.run`: a whole training run in a run directory (what ``snnrl train`` does).
"""

from snnrl.pipeline.agent import AgentConfig, AgentError, apply_overrides, list_agents, load_agent
from snnrl.pipeline.build import build_envs, build_network, build_policy, build_reward_signal, derive_seed
from snnrl.pipeline.callbacks import (
    Callback,
    CallbackList,
    CheckpointCallback,
    EpisodeInfo,
    EvalCallback,
    Logger,
    PrintCallback,
    ProgressBarCallback,
    StopOnTimeBudget,
    StopTrainingOnEpisodes,
    StopTrainingOnReward,
)
from snnrl.pipeline.envs import AsyncEnvList, EnvList, VectorEnvDriver, make_driver
from snnrl.pipeline.schedule import LearningRateSchedule
from snnrl.pipeline.trainer import LinearCritic, RewardShaping, Trainer, summarize

__all__ = [
    "AgentConfig",
    "AgentError",
    "AsyncEnvList",
    "Callback",
    "CallbackList",
    "CheckpointCallback",
    "EnvList",
    "EpisodeInfo",
    "EvalCallback",
    "LearningRateSchedule",
    "LinearCritic",
    "Logger",
    "PrintCallback",
    "ProgressBarCallback",
    "RewardShaping",
    "StopOnTimeBudget",
    "StopTrainingOnEpisodes",
    "StopTrainingOnReward",
    "Trainer",
    "VectorEnvDriver",
    "apply_overrides",
    "build_envs",
    "build_network",
    "build_policy",
    "build_reward_signal",
    "derive_seed",
    "list_agents",
    "load_agent",
    "make_driver",
    "summarize",
]
