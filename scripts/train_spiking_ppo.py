"""Thin entry point: train PPO (or A2C / DQN) with a spiking policy and evaluate it.

Example (the figure in bench/README.md)::

    python scripts/train_spiking_ppo.py --env CartPole-v1 --timesteps 100000 --seed 0 --steps 8
"""

import argparse
import json
import sys

import torch

from snnrl.integrations.sb3.training import train_spiking_agent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="ppo", choices=["ppo", "a2c", "dqn"])
    p.add_argument("--env", default="CartPole-v1", help="Gymnasium id, snnrl preset or atari:<id>")
    p.add_argument("--timesteps", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8, help="simulation steps per decision (T)")
    p.add_argument("--hidden", default="64,64", help="spiking layer widths (vector observations)")
    p.add_argument("--eval-episodes", type=int, default=100)
    p.add_argument("--hyperparams", type=json.loads, default=None,
                   help='JSON overrides of the Zoo settings, e.g. \'{"buffer_size": 100000, "n_envs": 8}\'')
    p.add_argument("--save", default=None, help="write the trained SB3 model here (.zip)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, result = train_spiking_agent(
        args.algo, args.env, args.timesteps, seed=args.seed, steps=args.steps,
        hidden=tuple(int(h) for h in args.hidden.split(",")), hyperparams=args.hyperparams,
        eval_episodes=args.eval_episodes,
        device=args.device, log=lambda m: print(m, file=sys.stderr))
    if args.save:
        model.save(args.save)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
