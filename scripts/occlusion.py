"""Thin entry point: Patel et al. (2019)'s occlusion test of an SB3 model and its converted SNN.

A band of ``--band`` rows (images: rows of the frame; vectors: elements) is blanked at each
position in turn; ANN and SNN play the same episodes, and the table gives both returns (and
how often the SNN took the ANN's action). Position -1 is the unoccluded baseline.

Examples::

    python scripts/occlusion.py --model runs/atari/dqn-breakout.zip --env atari:BreakoutNoFrameskip-v4 \
        --band 12 --episodes 10 --steps 64
    python scripts/occlusion.py --model ../shared/data/sb3-zoo/ppo-CartPole-v1.zip --env cartpole --band 1
"""

import argparse
import json
import sys

import torch

from snnrl.integrations.sb3 import (
    collect_observations,
    convert_sb3,
    load_sb3_model,
    make_vec_env,
    occlusion_experiment,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--env", required=True, help="snnrl preset, Gymnasium id or atari:<id>")
    p.add_argument("--band", type=int, default=12, help="rows (or elements) blanked")
    p.add_argument("--positions", default=None, help="comma-separated band starts (default: every band)")
    p.add_argument("--axis", type=int, default=None, help="axis of one observation to blank (default: rows)")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--n-envs", type=int, default=10)
    p.add_argument("--steps", type=int, default=64, help="simulation steps per decision (T)")
    p.add_argument("--replicas", default="1", help="neurons per hidden unit (one value or one per hidden layer)")
    p.add_argument("--calibration", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="torch device of the ANN and the SNN (default: cpu)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_sb3_model(args.model, device=args.device)
    obs = collect_observations(model, make_vec_env(args.env, n_envs=1, seed=args.seed + 1000), args.calibration)
    replicas = [int(v) for v in args.replicas.split(",")]
    agent = convert_sb3(model, obs, steps=args.steps, replicas=replicas[0] if len(replicas) == 1 else replicas)
    agent.to(args.device)
    shape = obs.shape[1:]
    axis_len = shape[args.axis] if args.axis is not None else (
        (shape[0] if shape[-1] < shape[0] else shape[1]) if len(shape) == 3 else shape[0])
    positions = [int(v) for v in args.positions.split(",")] if args.positions else \
        [-1, *range(0, axis_len - args.band + 1, args.band)]
    rows = occlusion_experiment(model, agent, args.env, band=args.band, positions=positions, episodes=args.episodes,
                                n_envs=args.n_envs, seed=args.seed, axis=args.axis,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{'band':>10} {'ANN':>16} {'SNN':>16} {'agreement':>10}")
    for r in rows:
        band = "none" if r["start"] < 0 else f"{r['start']}-{r['start'] + r['size'] - 1}"
        print(f"{band:>10} {r['ann_mean']:>9.2f} +- {r['ann_std']:<5.1f} {r['snn_mean']:>9.2f} +- {r['snn_std']:<5.1f} "
              f"{100 * r['agreement']:>9.1f}%")
    print(json.dumps({"model": args.model, "env": args.env, "steps": args.steps, "episodes": args.episodes,
                      "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
