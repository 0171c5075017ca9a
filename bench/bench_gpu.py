"""GPU speed: the BindsNET paper benchmark and a spiking agent's throughput on a CUDA device.

Absolute times on the device (not part of CI). Without a CUDA device the script says so and exits
with status 0; ``--device cpu`` runs the same measurements on the CPU (one torch thread), e.g.
to compare on the same machine or to check the script.

* Paper benchmark (as ``bench_simulator.py``): n Poisson inputs (rates U(0, 100) Hz) -> n LIF,
  all to all, N(0, 1) weights, 1000 steps of 1 ms; the network and the input spikes are moved to
  the device first, and the figure is the median of ``--repeats`` synchronised runs of the
  simulation alone, next to Brian2's C++ standalone figure on one CPU thread.
* Agent (``--agent``, default the Breakout agent): environment steps per second of the
  environment alone (random actions), of evaluation and of training through the episode
  pipeline with the network on the device (the environment and the encoder stay on the CPU),
  and decision windows per second of the policy alone on recorded observations (learning off;
  learning on with a reward delivered after every window, on the device).

Usage:
    python bench/bench_gpu.py [--device cuda] [--sizes 250 1000 2500 5000 10000] [--repeats 3]
                              [--agent agents/breakout.toml] [--steps 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

BRIAN2_CPP = {250: 0.010, 1000: 0.109, 2500: 0.638, 5000: 2.46, 10000: 10.9}  # s, one CPU thread


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def paper_benchmark(n: int, device: torch.device, repeats: int, steps: int = 1000) -> float:
    """Median seconds of one 1000-step simulation of the paper network on ``device``."""
    from snnrl import Connection, Input, LIFNodes, Network
    from snnrl.functional import poisson

    g = torch.Generator().manual_seed(n)
    net = Network(dt=1.0)
    net.add_layer(Input(n), "X")
    net.add_layer(LIFNodes(n), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.randn(n, n, generator=g)), "X", "Y")
    net.to(device)
    rates = torch.rand(n, generator=g) * 100.0
    spikes = poisson(rates, float(steps), generator=g).unsqueeze(1).to(device)  # (T, 1, n)
    net.run({"X": spikes})  # warm-up (kernels, allocator)
    times = []
    for _ in range(repeats):
        net.reset_state_variables()
        synchronize(device)
        t0 = time.perf_counter()
        net.run({"X": spikes})
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _rate(fn: Callable[[], float], repeats: int) -> str:
    """Median of ``repeats`` calls, or the error that stopped the measurement."""
    try:
        return f"{statistics.median(fn() for _ in range(repeats)):,.0f}"
    except Exception as err:  # a report line, not a crash: the other rows still run
        return f"failed: {type(err).__name__}: {str(err).splitlines()[0][:80]}"


def agent_rows(agent: str, device: torch.device, steps: int, repeats: int) -> list[tuple[str, str, str]]:
    sys.path.insert(0, "bench")
    import bench_agent

    from snnrl.pipeline import load_agent
    from snnrl.pipeline.run import build_trainer

    trainer = build_trainer(load_agent(agent))
    policy, driver = trainer.policy, trainer.driver
    policy.network.to(device)
    rows = [("env (random actions), CPU", "env steps/s", _rate(lambda: bench_agent.env_rate(trainer, steps), repeats))]
    for label, learn in (("agent, evaluation (learning off)", False), ("agent, training (learning on)", True)):
        rows.append((label, "env steps/s", _rate(lambda learn=learn: bench_agent.agent_rate(trainer, steps, learn),
                                                 repeats)))
    # the policy alone on recorded observations
    n = driver.n
    policy.network.set_batch_size(n)
    obs = driver.reset(np.ones(n, dtype=bool), [0] * n)
    xs = []
    rng = np.random.default_rng(0)
    for _ in range(64):
        obs, _, term, trunc, _ = driver.step(rng.integers(driver.action_space.n, size=n), np.ones(n, dtype=bool))
        xs.append(policy.obs_to_input(obs))
        if (term | trunc).any():
            obs = driver.reset(term | trunc, [1] * n)
    reward = torch.full((n,), 0.5, device=device)

    def windows(learn: bool) -> float:
        with torch.no_grad():
            synchronize(device)
            t0 = time.perf_counter()
            for x in xs:
                policy.decide(x, learn=learn)
                if learn:
                    policy.network.deliver_reward(reward)
            synchronize(device)
        return len(xs) / (time.perf_counter() - t0)

    for label, learn in (("policy alone, learning off", False), ("policy alone, learning on + reward", True)):
        windows(learn)  # warm-up
        rows.append((label, "windows/s", _rate(lambda learn=learn: windows(learn), repeats)))
    trainer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 2500, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agent", default="agents/breakout.toml", help="agent preset ('' skips the agent rows)")
    parser.add_argument("--steps", type=int, default=1000, help="environment steps per agent measurement")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}, CUDA build: {torch.version.cuda}); nothing to measure. "
              "Use --device cpu to run the same measurements on the CPU.")
        return
    torch.set_num_threads(1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU, 1 thread"
    print(f"device {device} ({name}), torch {torch.__version__}")
    print(f"\nBindsNET paper benchmark: n Poisson inputs -> n LIF, 1000 steps of 1 ms (s, median of {args.repeats})\n")
    print(f"| {'n':>6} | {'snnrl':>8} | {'Brian2 C++ (CPU)':>16} | {'vs Brian2':>9} |")
    print(f"|{'-' * 7}:|{'-' * 9}:|{'-' * 17}:|{'-' * 10}:|")
    for n in args.sizes:
        sim = paper_benchmark(n, device, args.repeats)
        ref = BRIAN2_CPP.get(n, float("nan"))
        print(f"| {n:>6} | {sim:>8.4f} | {ref:>16.3f} | {ref / sim:>8.2f}x |")
    if args.agent:
        print(f"\nAgent {args.agent}: network on {device}, environments and encoder on the CPU "
              f"({args.steps} env steps per measurement, median of {args.repeats})\n")
        print(f"| {'setup':<36} | {'unit':<11} | {'rate':>10} |")
        print(f"|{'-' * 38}|{'-' * 13}|{'-' * 11}:|")
        for label, unit, value in agent_rows(args.agent, device, args.steps, args.repeats):
            print(f"| {label:<36} | {unit:<11} | {value:>10} |")


if __name__ == "__main__":
    main()
