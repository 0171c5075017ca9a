"""``snnrl evaluate``: play a trained checkpoint for N episodes without learning and report returns."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from snnrl.commands._args import positive_int, seed_int


def load_for_play(checkpoint: str, env: str | None, num_envs: int = 1, render_mode: str | None = None) -> Any:
    """``(trainer, config)`` for a checkpoint: its policy on the environment of its agent preset
    (or on the environment preset ``env``)."""
    from snnrl.pipeline import AgentConfig, Trainer
    from snnrl.pipeline.build import build_envs
    from snnrl.pipeline.run import find_resume_checkpoint
    from snnrl.policy import load_policy

    path = find_resume_checkpoint(checkpoint)
    policy, meta = load_policy(path)
    agent = meta.get("agent")
    if env is not None or not isinstance(agent, dict):
        if env is None:
            raise ValueError(f"{path} has no agent preset in it; name the environment preset with --env")
        agent = dict(agent) if isinstance(agent, dict) else {"network": {}}
        agent["env"] = {**agent.get("env", {}), "preset": env}
    config = AgentConfig.from_dict(agent, str(agent.get("name", "agent")))
    envs = build_envs(config, num_envs=num_envs, render_mode=render_mode)
    training = meta.get("snnrl_training", {})
    seed = int(training.get("seed", config.seed)) if isinstance(training, dict) else config.seed
    return Trainer(policy, envs, seed=seed, max_episode_steps=config.env.max_episode_steps), config


def checkpoint_argument(args: argparse.Namespace) -> str:
    """``--checkpoint``, or the shipped checkpoint of ``--agent`` (an ``AgentError`` when it has none)."""
    if args.checkpoint is not None:
        return str(args.checkpoint)
    from snnrl.pipeline.agent import trained_agent

    return str(trained_agent(args.agent))


def evaluate(args: argparse.Namespace) -> int:
    import torch

    from snnrl.checkpoint import CheckpointError
    from snnrl.envs import PresetError
    from snnrl.pipeline import AgentError, summarize
    from snnrl.pipeline.trainer import EVAL_STREAM

    torch.set_num_threads(args.threads)
    try:
        args.checkpoint = checkpoint_argument(args)
        trainer, config = load_for_play(args.checkpoint, args.env, num_envs=args.num_envs)
    except (AgentError, PresetError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"snnrl evaluate: {e}", file=sys.stderr)
        return 2
    seed = trainer.seed if args.seed is None else args.seed
    if args.random:
        returns, lengths = trainer.run_random(args.episodes, seed=seed, stream=EVAL_STREAM)
        what = "random policy"
    else:
        returns, lengths = trainer.evaluate(args.episodes, deterministic=not args.stochastic, seed=seed)
        what = "stochastic policy" if args.stochastic else "deterministic policy"
    trainer.close()
    stats = summarize(returns)
    result = {"checkpoint": args.checkpoint, "env": config.env_name, "policy": what, "seed": seed,
              "episodes": args.episodes, **stats, "mean_length": sum(lengths) / len(lengths),
              "returns": returns, "lengths": lengths}
    print(f"{config.env_name}, {what}, {args.episodes} episodes (evaluation seed {seed}): mean return "
          f"{stats['mean']:.2f} +- {stats['std']:.2f} (min {stats['min']:.1f}, max {stats['max']:.1f}), "
          f"mean length {result['mean_length']:.1f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` on the ``snnrl`` command."""
    p = sub.add_parser("evaluate", help="play a trained checkpoint without learning and report the returns",
                       description="Play a checkpoint written by 'snnrl train' for N episodes without learning. "
                                   "Episode k is reset with a seed derived from --seed and k (an evaluation "
                                   "stream, separate from the training seeds), so results are reproducible "
                                   "and --random plays the same episodes with uniformly random actions.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a checkpoint file or a run directory")
    which.add_argument("--agent", help="a trained agent that ships with snnrl (agents/trained/<name>.safetensors), "
                                       "e.g. cartpole")
    p.add_argument("--episodes", type=positive_int, default=10, help="episodes (default: 10)")
    p.add_argument("--seed", type=seed_int, help="evaluation seed (default: the training seed)")
    p.add_argument("--stochastic", action="store_true",
                   help="sample actions as in training (default: deterministic decoding, no exploration)")
    p.add_argument("--random", action="store_true", help="uniformly random actions instead (the baseline)")
    p.add_argument("--env", help="environment preset (default: the one of the checkpoint's agent preset)")
    p.add_argument("--num-envs", type=positive_int, default=1, help="environments played in parallel (default: 1)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: 1)")
    p.set_defaults(func=evaluate)
