"""Speed of a spiking agent: environment steps per second while training and while evaluating.

Compares, on the same environment preset and the same episode seeds:

* ``env (random actions)``: the preprocessed, spike-encoded environment alone (the ceiling);
* ``agent, evaluation``: the agent's policy choosing every action (learning off);
* ``agent, training``: the episode pipeline with learning on (eligibility during each window,
  reward delivery after each step, checkpoints and TensorBoard off);
* the same two with the network's compiled multi-step path off (``network.compiled = False``:
  the eager step loop, same results), when Numba is installed.

A second table compares training with 1 environment, ``--envs`` environments stepped one after
the other in this process (``env.vectorization = "sync"``) and ``--envs`` environments spread
over worker processes and this one (``"async"``, its default layout): environment steps per second of all environments
together, and the ratio to 1 environment.

Figures are the median of ``--repeats`` runs of ``--steps`` environment steps, one torch thread.

    python bench/bench_agent.py                       # the Breakout agent
    python bench/bench_agent.py --agent agents/cartpole.toml --steps 3000
    python bench/bench_agent.py --envs 0              # without the second table
    python bench/bench_agent.py --breakdown --envs 0  # and where a step's time goes
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


class _StopAfter:
    def __init__(self, steps: int) -> None:
        from snnrl.pipeline import Callback

        class Stop(Callback):
            def _on_step(inner) -> bool:
                return inner.n_calls < steps

        self.callback = Stop()


def env_rate(trainer, steps: int) -> float:
    rng = np.random.default_rng(0)
    driver = trainer.driver
    n = driver.n
    driver.reset(np.ones(n, dtype=bool), [0] * n)
    active = np.ones(n, dtype=bool)
    t0 = time.perf_counter()
    done_steps = 0
    k = 1
    while done_steps < steps:
        a = np.array([driver.action_space.sample() for _ in range(n)]) if n > 1 else \
            np.array([int(rng.integers(driver.action_space.n))])
        _, _, term, trunc, _ = driver.step(a, active)
        done_steps += n
        ended = term | trunc
        if ended.any():
            driver.reset(ended, [k] * n)
            k += 1
    return done_steps / (time.perf_counter() - t0)


def agent_rate(trainer, steps: int, learn: bool) -> float:
    cb = _StopAfter(-(-steps // trainer.n_envs)).callback  # decisions of the whole batch
    s0 = trainer.total_steps
    t0 = time.perf_counter()
    if learn:
        trainer.learn(trainer.episodes_done + 10**6, callback=cb)
        done = trainer.total_steps - s0
    else:
        trainer._run(10**6, learn=False, deterministic=True, stream=1, first_episode=0, callback=cb, count=False)
        done = cb.n_calls * trainer.n_envs
    return done / (time.perf_counter() - t0)


def breakdown(trainer, steps: int) -> None:
    """Where a step's time goes: the trainer's main calls timed from outside (each wrapped in a
    timer while ``steps`` steps run after a warm-up of 150), in microseconds per environment
    step, for evaluation and for training. The wrapping adds about a microsecond per call."""
    policy, net = trainer.policy, trainer.policy.network
    parts = [(trainer.driver, "step", "environment (driver.step)"), (policy, "obs_to_input", "observation to input"),
             (policy, "decide", "decision (policy.decide)"), (net, "run", "  network run"),
             (policy.decoder, "_decode", "  decoder"), (net, "deliver_reward", "reward delivery")]
    spent: dict[str, float] = {}
    originals = []

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)
        originals.append((owner, name, owner.__dict__.get(name)))

        def call(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        setattr(owner, name, call)

    for owner, name, label in parts:
        timed(owner, name, label)
    try:
        print(f"\n| {'where the time goes (us per env step)':<38} | {'evaluation':>10} | {'training':>10} |")
        print(f"|{'-' * 40}|{'-' * 12}|{'-' * 12}|")
        columns = []
        for learn in (False, True):
            agent_rate(trainer, 150, learn=learn)
            spent.clear()
            rate = agent_rate(trainer, steps, learn=learn)
            columns.append({"whole step": 1e6 / rate, **{k: v / steps * 1e6 for k, v in spent.items()}})
        labels = ["whole step"] + [label for _, _, label in parts]
        for label in labels:
            cells = [f"{c[label]:>10.0f}" if label in c else f"{'-':>10}" for c in columns]
            print(f"| {label:<38} | {cells[0]} | {cells[1]} |")
    finally:
        for owner, name, saved in originals:
            if saved is None:
                delattr(owner, name)
            else:
                setattr(owner, name, saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="agents/breakout.toml", help="agent preset (default: agents/breakout.toml)")
    parser.add_argument("--steps", type=int, default=1000, help="environment steps per measurement (default: 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per setup (default: 3)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the trainer's main calls (where a step's time goes)")
    parser.add_argument("--envs", type=int, default=2,
                        help="environments of the sync/async training rows (default: 2; 0: no such rows)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from snnrl.network.compiled import available as compiled_available
    from snnrl.pipeline import load_agent
    from snnrl.pipeline.run import build_trainer

    config = load_agent(args.agent)
    trainer = build_trainer(config)
    layers = ", ".join(f"{n} {layer.n}" for n, layer in trainer.policy.network.layers.items())
    print(f"agent {config.name} on {config.env_name}: layers {layers}; T = {trainer.policy.steps} steps per "
          f"decision; torch {torch.__version__}, 1 thread")
    rows = []
    net = trainer.policy.network

    def rate(learn: bool, compiled: bool) -> float:
        net.compiled = compiled  # False: the eager step loop (snnrl.network.compiled), same results
        try:
            return agent_rate(trainer, args.steps, learn=learn)
        finally:
            net.compiled = True

    setups = [("env (random actions)", lambda: env_rate(trainer, args.steps)),
              ("agent, evaluation (learning off)", lambda: rate(False, True)),
              ("agent, training (learning on)", lambda: rate(True, True))]
    if compiled_available():
        setups += [("evaluation, eager loop", lambda: rate(False, False)),
                   ("training, eager loop", lambda: rate(True, False))]
    results: dict[str, list[float]] = {label: [] for label, _ in setups}
    for _ in range(args.repeats):  # rounds interleaved: load drift on a shared machine hits every row alike
        for label, fn in setups:
            results[label].append(fn())
    for label, rates in results.items():
        rows.append((label, statistics.median(rates), min(rates), max(rates)))
    base = rows[0][1]
    print(f"| {'setup':<34} | {'env steps/s':>11} | {'range':>15} | {'vs env':>6} |")
    print(f"|{'-' * 36}|{'-' * 13}|{'-' * 17}|{'-' * 8}|")
    for label, med, lo, hi in rows:
        print(f"| {label:<34} | {med:>11,.0f} | {lo:>6,.0f}-{hi:<8,.0f} | {med / base:>5.2f}x |")
    if args.breakdown:
        breakdown(trainer, args.steps)
    trainer.close()
    if args.envs > 0:
        parallel_rows(args)


def parallel_rows(args: argparse.Namespace) -> None:
    """Training rates with 1 environment and with ``args.envs`` environments, sync and async.

    The three trainers are built first and measured in interleaved rounds, so that a change of
    the machine's speed during the measurement hits every row alike."""
    from snnrl.pipeline import load_agent
    from snnrl.pipeline.run import build_trainer

    setups = (("1 env", ["env.num_envs=1"]),
              (f"{args.envs} envs, sync (this process)", [f"env.num_envs={args.envs}", 'env.vectorization="sync"']),
              (f"{args.envs} envs, async (workers + this process)",
               [f"env.num_envs={args.envs}", 'env.vectorization="async"']))
    trainers = []
    try:
        for _, overrides in setups:
            trainers.append(build_trainer(load_agent(args.agent, overrides)))
        rates: list[list[float]] = [[] for _ in setups]
        for _ in range(args.repeats):
            for i, trainer in enumerate(trainers):
                rates[i].append(agent_rate(trainer, args.steps, learn=True))
    finally:
        for trainer in trainers:
            trainer.close()
    rows = [(label, statistics.median(r), min(r), max(r)) for (label, _), r in zip(setups, rates, strict=True)]
    base = rows[0][1]
    print(f"\n| {'training (learning on)':<40} | {'env steps/s':>11} | {'range':>15} | {'vs 1 env':>8} |")
    print(f"|{'-' * 42}|{'-' * 13}|{'-' * 17}|{'-' * 10}|")
    for label, med, lo, hi in rows:
        print(f"| {label:<40} | {med:>11,.0f} | {lo:>6,.0f}-{hi:<8,.0f} | {med / base:>7.2f}x |")


if __name__ == "__main__":
    main()
