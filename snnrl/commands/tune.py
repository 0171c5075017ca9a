"""``snnrl tune``: search the hyperparameters of an agent preset with Optuna (TPE sampling, median
pruning on the periodic evaluation), the trials running on Ray (:mod:`snnrl.distributed.study`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snnrl.commands._args import non_negative_int, positive_int

EPILOG = """\
--param: any key of the agent preset (as in overrides) and its distribution:
  uniform(LOW, HIGH)   loguniform(LOW, HIGH)   int(LOW, HIGH[, STEP])   choice(A, B, ...)

examples:
  snnrl tune --agent cue_bandit --trials 20 --workers 2 \\
      --param 'network.connections.0.rule.params.nu=loguniform(1e-3,0.5)' \\
      --param 'reward.signal.params.window=choice(2.0,5.0,10.0)'
  snnrl tune --agent cue_bandit --trials 40 --resume      # continue the study (finished trials stay)
  snnrl tune --agent cartpole --trials 100 --seeds-per-trial 3 --address auto --storage postgresql://...

writes into --out (default runs/tune_<study>): study.db (the default storage), trials/ (run
directories), trials.csv, best.json, <agent>-tuned.toml (a preset: snnrl train --agent <it>) and
optimization_history.png, param_importances.png, intermediate_values.png.
"""


def _param(text: str) -> str:
    """A ``--param``, checked for its form (its key is checked against the preset later)."""
    from snnrl.distributed.space import SpaceError, parse_param

    try:
        parse_param(text)
    except SpaceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def tune(args: argparse.Namespace) -> int:
    import torch

    from snnrl.distributed._deps import require
    from snnrl.distributed.runtime import AddressError, check_address
    from snnrl.distributed.space import SpaceError, check_space
    from snnrl.distributed.study import (
        SearchSettings,
        StudyError,
        default_storage,
        open_study,
        run_search,
        write_report,
    )
    from snnrl.envs import PresetError
    from snnrl.pipeline import AgentError, load_agent

    require("optuna", "snnrl tune")
    require("ray", "snnrl tune")
    torch.set_num_threads(1)
    try:
        if not args.param and not args.resume:
            raise StudyError("give the search space: --param key.path=DIST (one per key), e.g. "
                             "--param network.connections.0.rule.params.nu=loguniform(1e-3,0.5)")
        config = load_agent(args.agent, args.overrides)
        episodes = args.episodes or config.training.episodes
        interval = args.eval_interval or config.training.eval_interval or max(1, episodes // 10)
        settings = SearchSettings(agent=config.name, env=config.env_name, space=tuple(args.param or ()),
                                  seeds_per_trial=args.seeds_per_trial, episodes=episodes, eval_interval=interval,
                                  overrides=tuple(args.overrides), prune=not args.no_prune,
                                  pruner_startup_trials=args.pruner_startup_trials,
                                  sampler_startup_trials=args.sampler_startup_trials, sampler_seed=args.sampler_seed)
        check_space(config, settings.params)
        if args.address is not None:
            check_address(args.address)
        name = args.study or config.name
        out_dir = Path(args.out or Path(args.runs_dir) / f"tune_{name}")
        out_dir.mkdir(parents=True, exist_ok=True)
        storage = args.storage or default_storage(out_dir)
        settings = open_study(storage, name, settings, resume=args.resume)
        check_space(config, settings.params)
        run_search(config, settings, storage=storage, name=name, out_dir=out_dir, trials=args.trials,
                   workers=args.workers, address=args.address, tensorboard=args.tensorboard, out=sys.stdout)
        write_report(args.agent, settings, storage=storage, name=name, out_dir=out_dir, out=sys.stdout)
    except (AgentError, PresetError, FileNotFoundError, SpaceError, StudyError, AddressError) as e:
        print(f"snnrl tune: {e}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``tune`` on the ``snnrl`` command."""
    p = sub.add_parser("tune", help="search the hyperparameters of an agent preset (Optuna on Ray)",
                       description="Search the hyperparameters of an agent preset: Optuna's TPE sampler proposes "
                                   "values, each trial trains the preset on --seeds-per-trial seeds as Ray tasks, "
                                   "the median pruner stops trials whose periodic evaluation lags, and the best "
                                   "values are written as a ready preset. Needs snnrl[distributed].",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", required=True, help="agent preset: a .toml path or a name in agents/")
    p.add_argument("overrides", nargs="*", metavar="key.path=value", help="fixed changes to the preset")
    p.add_argument("--param", action="append", type=_param, metavar="key.path=DIST",
                   help="a preset key to search and its distribution (repeat for each key; see below)")
    p.add_argument("--trials", type=positive_int, required=True,
                   help="finished trials (complete, pruned or failed) the study should have in all")
    p.add_argument("--seeds-per-trial", type=positive_int, default=1,
                   help="runs per trial on seeds training.seed + 0, 1, ...; the score is their mean (default: 1)")
    p.add_argument("--episodes", type=positive_int, help="training episodes per run (default: training.episodes)")
    p.add_argument("--eval-interval", type=positive_int,
                   help="episodes between the periodic evaluations that the pruner sees (default: "
                        "training.eval_interval, or a tenth of the episodes)")
    p.add_argument("--workers", type=positive_int,
                   help="runs at a time (default: this machine's or the cluster's CPUs)")
    p.add_argument("--address", metavar="ADDR",
                   help="a Ray cluster (auto, HOST:PORT or ray://HOST:PORT) instead of a local Ray runtime; --out "
                        "must be on storage every node can write")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage URL (default: sqlite:///<out>/study.db; a database such as "
                        "postgresql://... for several drivers)")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: the agent's name)")
    p.add_argument("--out", help="output directory (default: <runs-dir>/tune_<study>)")
    p.add_argument("--runs-dir", default="runs", help="where the default output directory goes (default: runs)")
    p.add_argument("--resume", action="store_true",
                   help="continue the study: trials a stopped driver left running continue from their checkpoints, "
                        "finished ones stay (--param may be left out: the study's own are used)")
    p.add_argument("--no-prune", action="store_true", help="no pruning (every trial runs all its episodes)")
    p.add_argument("--pruner-startup-trials", type=non_negative_int, default=5,
                   help="trials that finish before pruning starts (default: 5)")
    p.add_argument("--sampler-startup-trials", type=non_negative_int, default=10,
                   help="random trials before TPE models the results (default: 10)")
    p.add_argument("--sampler-seed", type=non_negative_int, help="seed of the sampler (default: random)")
    p.add_argument("--tensorboard", action="store_true", help="the trials' runs write TensorBoard logs")
    p.set_defaults(func=tune)
