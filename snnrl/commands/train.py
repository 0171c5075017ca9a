"""``snnrl train``: train a spiking agent preset (``agents/*.toml``) with reward-modulated STDP.

Writes a run directory ``<runs-dir>/<env>__<agent>__<seed>__<unix time>`` with a checkpoint,
TensorBoard logs, a learning-curve PNG and ``results.json`` (see :mod:`snnrl.pipeline.run`).
"""

from __future__ import annotations

import argparse
import os
import sys

from snnrl.commands._args import non_negative_float, non_negative_int, positive_int

EPILOG = """\
overrides: any key of the agent preset as key.path=value (the value is read as TOML), e.g.
  snnrl train --agent agents/cartpole.toml training.episodes=300 reward.scale=0.5 \\
      network.connections.0.rule.params.nu=0.02

examples:
  snnrl train --agent agents/breakout.toml --minutes 3          # the README's main command
  snnrl train --agent agents/cue_bandit.toml --episodes 20      # the fast test task (seconds)
  snnrl train --agent agents/cartpole.toml --resume             # continue the latest cartpole run (seed 0)
  tensorboard --logdir runs                                     # then open http://localhost:6006
"""


def train(args: argparse.Namespace) -> int:
    import torch

    from snnrl.envs import PresetError
    from snnrl.pipeline import AgentError
    from snnrl.pipeline.run import train_agent

    torch.set_num_threads(args.threads)
    overrides = list(args.overrides)
    resume = args.resume
    if resume is not None and "=" in resume and not os.path.exists(resume):  # --resume key=value ...
        overrides.insert(0, resume)
        resume = "last"
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    if args.num_envs is not None:
        overrides.append(f"env.num_envs={args.num_envs}")
    if args.checkpoint_interval is not None:
        overrides.append(f"training.checkpoint_interval={args.checkpoint_interval}")
    try:
        train_agent(
            args.agent, overrides, runs_dir=args.runs_dir, run_dir=args.run_dir, resume=resume,
            episodes=args.episodes, minutes=args.minutes, tensorboard=not args.no_tensorboard,
            progress=not args.no_progress, plot=not args.no_plot, baseline_episodes=args.baseline_episodes,
            eval_episodes=args.eval_episodes, log=sys.stdout,
        )
    except (AgentError, PresetError, FileNotFoundError) as e:
        print(f"snnrl train: {e}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` on the ``snnrl`` command."""
    p = sub.add_parser("train", help="train a spiking agent preset with reward-modulated STDP",
                       description="Train a spiking agent preset (agents/*.toml) on its environment. The reward "
                                   "of each action modulates the eligibility of the spikes that chose it (R-STDP, "
                                   "no backpropagation).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", required=True,
                   help="agent preset: a .toml path (agents/breakout.toml) or a name in agents/ (breakout)")
    p.add_argument("overrides", nargs="*", metavar="key.path=value",
                   help="changes to the preset, e.g. training.episodes=50 (see below)")
    p.add_argument("--episodes", type=positive_int, help="total training episodes (default: training.episodes)")
    p.add_argument("--minutes", type=non_negative_float,
                   help="wall-clock budget; training stops after the episode in which it runs out "
                        "(default: training.minutes; 0: none)")
    p.add_argument("--seed", type=non_negative_int, help="training seed (default: training.seed)")
    p.add_argument("--num-envs", type=positive_int, help="environments played in parallel (default: env.num_envs)")
    p.add_argument("--runs-dir", default="runs", help="where run directories are created (default: runs)")
    p.add_argument("--run-dir", help="use this run directory instead of <runs-dir>/<env>__<agent>__<seed>__<time>")
    p.add_argument("--resume", nargs="?", const="last", metavar="RUN",
                   help="continue a run from its last checkpoint: a run directory, a checkpoint file, or nothing "
                        "(the run of this env, agent and seed under --runs-dir whose checkpoint was written last); "
                        "a checkpoint of another agent or env is refused")
    p.add_argument("--checkpoint-interval", type=non_negative_int,
                   help="episodes between checkpoints (default: training.checkpoint_interval; 0: only at the end)")
    p.add_argument("--eval-episodes", type=non_negative_int,
                   help="deterministic evaluation episodes after training (default: training.eval_episodes)")
    p.add_argument("--baseline-episodes", type=non_negative_int,
                   help="first play this many episodes with random actions on the same seeds (the random "
                        "baseline drawn in the learning curve; default: training.baseline_episodes)")
    p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard logs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="no learning-curve PNG (no matplotlib needed)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: 1)")
    p.set_defaults(func=train)
