"""Simulator speed: the BindsNET paper benchmark and a small RL-sized network.

Paper benchmark: n Poisson inputs (rates U(0, 100) Hz) -> n LIF neurons, all-to-all, weights
N(0, 1), 1000 steps of dt = 1 ms. Median of 3 repeats of the simulation alone (``network.run``);
building the network and drawing the input spikes are reported apart. One torch thread.

Small network: 6400 inputs -> 100 LIF -> 4 LIF (the size of BindsNET's Atari agents), batch 1,
Bernoulli inputs with p = 0.05, called with T = 1, 16 and 100 steps per ``run`` (median of 7
repeats of about 1600 steps each; no learning, no monitors).

The reference figures were measured on a machine of this kind with the same method (issue #2).

Usage:
    python bench/bench_simulator.py [--sizes 250 1000 2500 5000 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from snnrl import Connection, Input, LIFNodes, Network
from snnrl.functional import poisson

BINDSNET = {250: 0.153, 1000: 0.259, 2500: 1.01, 5000: 4.50, 10000: 17.7}
BRIAN2_CPP = {250: 0.010, 1000: 0.109, 2500: 0.638, 5000: 2.46, 10000: 10.9}
NEST = {250: 0.081, 1000: 0.846, 2500: 4.72, 5000: 25.1, 10000: 108.0}
BINDSNET_SMALL_STEPS_PER_S = {1: 1900.0, 16: 2600.0, 100: 2600.0}


def paper_benchmark(n: int, repeats: int, steps: int = 1000) -> dict[str, float]:
    g = torch.Generator().manual_seed(n)
    t0 = time.perf_counter()
    net = Network(dt=1.0)
    net.add_layer(Input(n), "X")
    net.add_layer(LIFNodes(n), "Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], torch.randn(n, n, generator=g)), "X", "Y")
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    rates = torch.rand(n, generator=g) * 100.0
    spikes = poisson(rates, float(steps), generator=g).unsqueeze(1)  # (T, 1, n)
    encode = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        net.reset_state_variables()
        t0 = time.perf_counter()
        net.run({"X": spikes})
        times.append(time.perf_counter() - t0)
    return {"build": build, "encode": encode, "sim": statistics.median(times)}


def small_network(steps_per_call: int, total_steps: int = 1600, repeats: int = 7) -> float:
    g = torch.Generator().manual_seed(0)
    net = Network(dt=1.0)
    net.add_layer(Input(6400), "X")
    net.add_layer(LIFNodes(100), "H")
    net.add_layer(LIFNodes(4), "O")
    net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.rand(6400, 100, generator=g) * 0.5), "X", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["O"], torch.rand(100, 4, generator=g) * 10), "H", "O")
    calls = max(total_steps // steps_per_call, 3)
    inputs = [torch.rand(steps_per_call, 1, 6400, generator=g) < 0.05 for _ in range(8)]
    for i in range(5):
        net.run({"X": inputs[i % 8]})
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(calls):
            net.run({"X": inputs[i % 8]})
        best.append((time.perf_counter() - t0) / (calls * steps_per_call))
    return 1.0 / statistics.median(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 2500, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-paper", action="store_true", help="only the small network")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if not args.skip_paper:
        print("\nBindsNET paper benchmark: n Poisson inputs -> n LIF, 1000 steps of 1 ms (seconds, median of "
              f"{args.repeats})")
        print(f"{'n':>6} {'build':>7} {'encode':>7} {'snnrl':>8} {'BindsNET':>9} {'Brian2':>8} {'NEST':>7}"
              f" {'xBindsNET':>10} {'xBrian2':>8}")
        for n in args.sizes:
            r = paper_benchmark(n, args.repeats)
            bn, br, ne = BINDSNET.get(n, float("nan")), BRIAN2_CPP.get(n, float("nan")), NEST.get(n, float("nan"))
            print(f"{n:>6} {r['build']:>7.3f} {r['encode']:>7.3f} {r['sim']:>8.3f} {bn:>9.3f} {br:>8.3f} {ne:>7.3f}"
                  f" {bn / r['sim']:>10.1f} {br / r['sim']:>8.2f}")
    print("\nSmall network 6400 -> 100 -> 4 LIF, batch 1, Bernoulli p = 0.05 (steps per second)")
    print(f"{'T/call':>6} {'snnrl':>9} {'us/step':>8} {'BindsNET':>9} {'ratio':>6}")
    for steps in (1, 16, 100):
        rate = small_network(steps)
        ref = BINDSNET_SMALL_STEPS_PER_S[steps]
        print(f"{steps:>6} {rate:>9.0f} {1e6 / rate:>8.1f} {ref:>9.0f} {rate / ref:>6.1f}")


if __name__ == "__main__":
    main()
