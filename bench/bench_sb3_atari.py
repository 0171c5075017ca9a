"""Atari conversion and spiking-DQN smoke runs (the figures in bench/README.md, section "stable-baselines3").

Three jobs, one per subcommand (each prints one JSON line):

* ``train``: an ordinary SB3 DQN (``CnnPolicy``, NatureCNN) on SB3's Atari pipeline
  (``atari:BreakoutNoFrameskip-v4``: ``make_atari_env`` + 4 stacked frames) for a short budget,
  saved as a ``.zip``;
* ``convert``: ``snnrl convert``'s work on that model: calibration, conversion, ANN vs SNN
  returns over the same episodes for each T, action agreement; and optionally the occlusion test;
* ``spiking-dqn``: a DQN whose Q-network is spiking (``SpikingCnnExtractor``) trained for a few
  thousand steps, to show that it trains (loss, wall time) on this CPU.

Usage:
    python bench/bench_sb3_atari.py train --steps 50000 --out runs/atari/dqn-breakout.zip
    python bench/bench_sb3_atari.py convert --model runs/atari/dqn-breakout.zip --episodes 10 --sweep 16,32,64,128
    python bench/bench_sb3_atari.py spiking-dqn --steps 3000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

torch.set_num_threads(1)

ENV = "atari:BreakoutNoFrameskip-v4"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(args: argparse.Namespace) -> dict:
    from stable_baselines3 import DQN

    from snnrl.integrations.sb3 import make_vec_env

    venv = make_vec_env(args.env, n_envs=1, seed=args.seed)
    model = DQN("CnnPolicy", venv, buffer_size=args.buffer, learning_starts=1000, learning_rate=1e-4,
                batch_size=32, train_freq=4, gradient_steps=1, target_update_interval=1000,
                exploration_fraction=0.1, exploration_final_eps=0.01, seed=args.seed, device=args.device,
                verbose=0)
    t0 = time.perf_counter()
    model.learn(args.steps)
    seconds = time.perf_counter() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    return {"job": "train", "env": args.env, "steps": args.steps, "seconds": round(seconds, 1),
            "steps_per_second": round(args.steps / seconds, 1), "out": args.out}


def convert(args: argparse.Namespace) -> dict:
    from snnrl.integrations.sb3 import (
        collect_observations,
        compare_returns,
        convert_sb3,
        load_sb3_model,
        make_vec_env,
        occlusion_experiment,
    )

    model = load_sb3_model(args.model, device=args.device)
    t0 = time.perf_counter()
    obs = collect_observations(model, make_vec_env(args.env, n_envs=1, seed=args.seed + 1000), args.calibration)
    agent = convert_sb3(model, obs, steps=args.sweep[-1], percentile=args.percentile)
    convert_seconds = time.perf_counter() - t0
    log(f"converted in {convert_seconds:.1f} s: {[layer['shape'] for layer in agent.metadata['layers']]}")
    res = compare_returns(model, agent, args.env, args.episodes, steps=args.sweep, n_envs=args.n_envs,
                          seed=args.seed, log=log)
    out = {"job": "convert", "env": args.env, "model": args.model, "episodes": args.episodes,
           "convert_seconds": round(convert_seconds, 1),
           "ann": {k: res["ann"][k] for k in ("mean", "std", "seconds")},
           "snn": [{k: r[k] for k in ("steps", "mean", "std", "ratio", "agreement", "decisions", "seconds")}
                   for r in res["snn"]]}
    if args.occlusion:
        agent.steps = args.occlusion_steps
        positions = [-1, *range(0, 84, args.band)]
        out["occlusion"] = occlusion_experiment(model, agent, args.env, band=args.band, positions=positions,
                                                episodes=args.occlusion_episodes, n_envs=args.n_envs,
                                                seed=args.seed, log=log)
        out["occlusion_steps"] = args.occlusion_steps
    return out


def spiking_dqn(args: argparse.Namespace) -> dict:
    from snnrl.integrations.sb3.training import train_spiking_agent

    model, result = train_spiking_agent("dqn", args.env, args.steps, seed=args.seed, steps=args.snn_steps,
                                        hyperparams={"buffer_size": 5000, "learning_starts": 500},
                                        eval_episodes=args.episodes, device=args.device, log=log)
    losses = model.logger.name_to_value.get("train/loss")
    return {"job": "spiking-dqn", **result, "last_loss": losses}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="job", required=True)
    t = sub.add_parser("train")
    t.add_argument("--steps", type=int, default=100_000)
    t.add_argument("--buffer", type=int, default=50_000)
    t.add_argument("--out", default="runs/atari/dqn-breakout.zip")
    c = sub.add_parser("convert")
    c.add_argument("--model", default="runs/atari/dqn-breakout.zip")
    c.add_argument("--episodes", type=int, default=10)
    c.add_argument("--sweep", type=lambda s: [int(v) for v in s.split(",")], default=[32, 64, 128])
    c.add_argument("--percentile", type=float, default=99.9)
    c.add_argument("--calibration", type=int, default=1000)
    c.add_argument("--n-envs", type=int, default=10)
    c.add_argument("--occlusion", action="store_true")
    c.add_argument("--occlusion-steps", type=int, default=64)
    c.add_argument("--occlusion-episodes", type=int, default=10)
    c.add_argument("--band", type=int, default=12)
    s = sub.add_parser("spiking-dqn")
    s.add_argument("--steps", type=int, default=3000)
    s.add_argument("--snn-steps", type=int, default=4)
    s.add_argument("--episodes", type=int, default=2)
    for q in (t, c, s):
        q.add_argument("--env", default=ENV)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    result = {"train": train, "convert": convert, "spiking-dqn": spiking_dqn}[args.job](args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
