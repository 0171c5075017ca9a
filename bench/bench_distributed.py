"""Scale-out on Ray: seeds per hour with 1 and 2 workers, and the fixed cost of a trial.

* **Seeds per hour**: ``--seeds`` runs of an agent preset (``train_seed`` tasks, as ``snnrl train
  --seeds`` submits them) on a local Ray runtime with 1 and then 2 CPUs. The workers are started
  and have imported snnrl before the clock starts; the figure is seeds / wall time of the runs.
* **Fixed cost of a trial**: ``--trials`` trials of ``snnrl tune`` (1 run of 1 episode each, one at a
  time, in a running runtime): wall time per trial minus its training time (asking the sampler,
  building the agent, checkpoints, the final evaluation, reporting and telling the study).
* **Start-up**: starting the local runtime (``ray.init``) and one Ray task round trip.

    python bench/bench_distributed.py                                  # cue_bandit, 4 seeds of 300 episodes
    python bench/bench_distributed.py --agent cartpole --episodes 100 --seeds 4
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import ray
import torch

from snnrl.distributed.jobs import SeedJob, train_seed
from snnrl.distributed.runtime import ray_runtime, submit_bounded
from snnrl.distributed.study import SearchSettings, default_storage, open_study, run_search
from snnrl.pipeline import load_agent


def _warm(workers: int) -> None:
    """Start ``workers`` worker processes and import snnrl in them (not part of the timed runs)."""

    @ray.remote(num_cpus=1)
    def warm() -> int:
        import snnrl.distributed.jobs  # noqa: F401

        time.sleep(0.5)  # keep the worker busy, so that the next task starts another one
        return os.getpid()

    ray.get([warm.remote() for _ in range(workers)])


def seeds_per_hour(agent: str, seeds: int, episodes: int, workers: int, root: Path) -> tuple[float, float, float]:
    """``(seeds per hour, wall seconds, ray.init seconds)`` of ``seeds`` runs with ``workers`` CPUs."""
    config = load_agent(agent, ["training.eval_interval=0", "training.checkpoint_interval=0"])
    jobs = [SeedJob(config=config.with_overrides([f"training.seed={s}"]), run_dir=str(root / f"w{workers}_s{s}"),
                    episodes=episodes, eval_episodes=0, tensorboard=False, plot=False) for s in range(seeds)]
    t0 = time.perf_counter()
    with ray_runtime(cpus=workers):
        init = time.perf_counter() - t0
        _warm(workers)
        remote = ray.remote(train_seed).options(num_cpus=1)
        t1 = time.perf_counter()
        for _, _, error in submit_bounded(remote.remote, jobs, workers):
            if error is not None:
                raise error
        wall = time.perf_counter() - t1
    return seeds / wall * 3600, wall, init


def trial_overhead(agent: str, trials: int, root: Path) -> tuple[float, float, float]:
    """``(seconds per trial, training seconds per trial, Ray task round trip)``, one trial at a time."""
    config = load_agent(agent, ["training.eval_episodes=1", "training.eval_interval_episodes=1"])
    settings = SearchSettings(agent=config.name, env=config.env_name, space=("training.log_interval=int(1, 5)",),
                              seeds_per_trial=1, episodes=1, eval_interval=1, prune=False, sampler_seed=0)
    root.mkdir(parents=True, exist_ok=True)
    storage = default_storage(root)
    open_study(storage, "bench", settings, resume=False)
    with ray_runtime(cpus=1):
        _warm(1)

        @ray.remote(num_cpus=1)
        def noop() -> None:
            return None

        ray.get(noop.remote())
        t0 = time.perf_counter()
        for _ in range(20):
            ray.get(noop.remote())
        round_trip = (time.perf_counter() - t0) / 20
        t0 = time.perf_counter()
        run_search(config, settings, storage=storage, name="bench", out_dir=root, trials=trials, workers=1,
                   out=io.StringIO())
        wall = time.perf_counter() - t0
    training = [json.loads(p.read_text())["seconds"] for p in root.glob("trials/*/*/results.json")]
    return wall / trials, statistics.mean(training), round_trip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent", default="cue_bandit")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--trials", type=int, default=6)
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        rates = {}
        print(f"{args.seeds} runs of {args.agent}, {args.episodes} episodes each (load average before: "
              f"{os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)")
        print("| workers | wall (s) | seeds / hour | vs 1 worker | ray.init (s) |")
        print("|--------:|---------:|-------------:|------------:|-------------:|")
        for workers in (1, 2):
            rate, wall, init = seeds_per_hour(args.agent, args.seeds, args.episodes, workers, Path(tmp))
            rates[workers] = rate
            print(f"| {workers} | {wall:.1f} | {rate:,.0f} | {rate / rates[1]:.2f}x | {init:.1f} |", flush=True)
        per_trial, training, round_trip = trial_overhead(args.agent, args.trials, Path(tmp) / "tune")
        print(f"\n{args.trials} trials of 1 episode, one at a time: {per_trial:.2f} s per trial, of which "
              f"{training:.2f} s training: fixed cost {per_trial - training:.2f} s per trial; "
              f"a Ray task round trip: {round_trip * 1000:.1f} ms")


if __name__ == "__main__":
    main()
