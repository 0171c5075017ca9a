"""``snnrl train``: train a spiking agent preset (``agents/*.toml``) with reward-modulated STDP.

Writes a run directory ``<runs-dir>/<env>__<agent>__<seed>__<unix time>`` with a checkpoint,
TensorBoard logs, a learning-curve PNG and ``results.json`` (see :mod:`snnrl.pipeline.run`).
With ``--seeds 0-9`` the seeds train in parallel on Ray (:mod:`snnrl.distributed.seedset`), each in
such a run directory inside a seed-set directory, followed by their summary.
"""

from __future__ import annotations

import argparse
import os
import sys

from snnrl.commands._args import non_negative_float, non_negative_int, positive_int, seed_int

EPILOG = """\
overrides: any key of the agent preset as key.path=value (the value is read as TOML), e.g.
  snnrl train --agent agents/cartpole.toml training.episodes=300 reward.scale=0.5 \\
      network.connections.0.rule.params.nu=0.02

examples:
  snnrl train --agent agents/breakout.toml --minutes 3          # the README's main command
  snnrl train --agent agents/cue_bandit.toml --episodes 20      # the fast test task (seconds)
  snnrl train --agent breakout --num-envs 2 --async-envs        # 2 environments stepping in parallel
  snnrl train --agent agents/cartpole.toml --resume             # continue the latest cartpole run (seed 0)
  snnrl train --agent cartpole --seeds 0-9 --workers 4          # 10 seeds on Ray, then their summary (IQM, 95 % CI)
  snnrl train --agent cartpole --seeds 0-9 --resume             # continue the latest seed set (finished seeds stay)
  snnrl train --agent cartpole --seeds 0-9 --address auto       # on the Ray cluster of 'ray start --head'
  tensorboard --logdir runs                                     # then open http://localhost:6006
"""


def _run_overrides(args: argparse.Namespace) -> list[str]:
    """The preset changes that single runs and seed sets share: environments and checkpoints."""
    out = []
    if args.num_envs is not None:
        out.append(f"env.num_envs={args.num_envs}")
    if args.async_envs:
        out.append('env.vectorization="async"')
    if args.checkpoint_interval is not None:
        out.append(f"training.checkpoint_interval={args.checkpoint_interval}")
    return out


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
    if args.seeds is not None or _is_seed_set(resume):
        return _train_seeds(args, overrides, resume)
    if args.workers is not None or args.address is not None:
        print("snnrl train: --workers and --address run seeds on Ray: give --seeds too (e.g. --seeds 0-9)",
              file=sys.stderr)
        return 2
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    overrides.extend(_run_overrides(args))
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


def _seeds(text: str) -> tuple[int, ...]:
    """The ``--seeds`` argument: ``0-9``, ``3`` or a comma list of both."""
    from snnrl.distributed.seedset import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--seeds {text!r}: ")) from None


def _is_seed_set(resume: str | None) -> bool:
    return resume is not None and os.path.isfile(os.path.join(resume, "seeds.json"))


def _train_seeds(args: argparse.Namespace, overrides: list[str], resume: str | None) -> int:
    """``--seeds``: a seed set on Ray (a new one, or ``--resume`` the last or a named one)."""
    from snnrl.distributed.runtime import AddressError, check_address
    from snnrl.distributed.seedset import MANIFEST, plan_seed_set, run_seed_set
    from snnrl.envs import PresetError
    from snnrl.pipeline import AgentError

    if args.seed is not None:
        print("snnrl train: give either --seed or --seeds", file=sys.stderr)
        return 2
    overrides.extend(_run_overrides(args))
    options = {"episodes": args.episodes, "minutes": args.minutes, "eval_episodes": args.eval_episodes,
               "baseline_episodes": args.baseline_episodes, "tensorboard": False if args.no_tensorboard else None,
               "plot": False if args.no_plot else None}
    try:
        if args.address is not None:
            check_address(args.address)
        seed_set, config = plan_seed_set(args.agent, overrides, args.seeds, options=options, runs_dir=args.runs_dir,
                                         set_dir=args.run_dir, resume=resume)
        failed = run_seed_set(seed_set, config, workers=args.workers, address=args.address, out=sys.stdout)
    except (AgentError, PresetError, FileNotFoundError, AddressError) as e:
        print(f"snnrl train: {e}", file=sys.stderr)
        return 2
    if failed:
        print(f"snnrl train: seeds {failed} did not finish (errors in {seed_set.path / MANIFEST}); "
              f"--resume {seed_set.path} runs them again", file=sys.stderr)
        return 1
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
    p.add_argument("--seed", type=seed_int, help="training seed (default: training.seed)")
    p.add_argument("--seeds", type=_seeds, metavar="SEEDS",
                   help="train these seeds in parallel on Ray (0-9, or a list such as 0,3,5-7): a seed-set "
                        "directory with one run directory per seed and their summary (IQM with a 95 %% "
                        "bootstrap interval, PNG, summary.json); --run-dir names the set's directory and "
                        "--resume continues a set; needs snnrl[distributed]")
    p.add_argument("--workers", type=positive_int,
                   help="with --seeds: seeds trained at a time (default: this machine's CPUs, or the cluster's)")
    p.add_argument("--address", metavar="ADDR",
                   help="with --seeds: run on this Ray cluster (auto, HOST:PORT or ray://HOST:PORT; see the "
                        "README) instead of a local Ray runtime; run directories must be on storage every "
                        "node can write")
    p.add_argument("--num-envs", type=positive_int, help="environments played in parallel (default: env.num_envs)")
    p.add_argument("--async-envs", action="store_true",
                   help="step the --num-envs environments in parallel, spread over worker processes and this one "
                        "(env.vectorization=\"async\"; the same results as in this process)")
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
