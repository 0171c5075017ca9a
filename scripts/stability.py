"""Does a learned policy stay learned? Train an agent preset far past its episode count at a constant
learning rate on several seeds and print the mean return per block of episodes.

    python scripts/stability.py --agent agents/cue_bandit.toml --episodes 1000 --seeds 0-4
    python scripts/stability.py --agent agents/cue_bandit.toml 'reward.signal={type="RawReward"}'   # unlearns

The numbers in agents/README.md ("Stability") come from the first command (about 25 s per seed).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from snnrl.pipeline import load_agent
from snnrl.pipeline.run import build_trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="agents/cue_bandit.toml")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seeds", default="0-4", help="a range a-b or one seed")
    parser.add_argument("--block", type=int, default=50, help="episodes per printed mean")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("overrides", nargs="*", help="preset changes, key.path=value")
    args = parser.parse_args()
    torch.set_num_threads(1)
    first, _, last = args.seeds.partition("-")
    results = {}
    for seed in range(int(first), int(last or first) + 1):
        trainer = build_trainer(load_agent(args.agent, [*args.overrides, f"training.seed={seed}"]))
        trainer.learn(args.episodes)
        returns = np.asarray(trainer.returns)
        n = len(returns) // args.block * args.block
        blocks = returns[:n].reshape(-1, args.block).mean(1).round(2).tolist()
        evaluation = float(np.mean(trainer.evaluate(args.eval_episodes)[0]))
        results[seed] = {"per_block": blocks, "evaluation": evaluation}
        print(f"seed {seed}: mean return per {args.block} episodes {blocks}; evaluation {evaluation:.2f}", flush=True)
        trainer.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
