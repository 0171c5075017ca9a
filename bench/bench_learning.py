"""Learning speed (MSTDPET on the small RL network) and learning curves of the Florian tasks.

Speed: the small RL network of ``bench_simulator.py`` (6400 Bernoulli inputs, p = 0.05 ->
100 LIF -> 4 LIF, batch 1), run with T = 16 steps per ``network.run`` call, with no learning or
with MSTDPET on both connections. The reward is given per ``run`` call (one environment step),
as a pipeline does: always 0, non-zero on one call in 16 (a sparse game reward), or non-zero on
every call (a reward-prediction error or TD error is almost never exactly 0). Figures are
microseconds per simulation step, the minimum over repeats of about 1600 steps each (the
machine is shared; the minimum is the least disturbed figure). One torch thread.

BindsNET 0.3.4 on a machine of this kind: 385 us/step without learning, 2.5 ms/step with
MSTDPET on both connections (its cost does not depend on the reward). Targets: learning adds
less than the simulation itself, and the whole learning step is <= 125 us (20x BindsNET).

Usage:
    python bench/bench_learning.py              # speed table
    python bench/bench_learning.py --florian    # learning curves, 10 seeds per task

Recorded 2026-11-22 (2-core VM, otherwise idle, torch 2.13.0+cpu, 1 thread; two back-to-back runs)::

    | configuration                                        | us/step     | learning adds | vs BindsNET |
    | no learning                                          |  37.1-38.3  |               | 10.1-10.4x  |
    | MSTDPET both connections, reward 0                   |  70.5-73.6  |   33.4-35.4   | 34.0-35.5x  |
    | MSTDPET, deliver_reward after every run call         |  94.1-95.5  |   55.9-58.4   | 26.2-26.6x  |
    | MSTDPET, reward on every simulation step             | 360.9-379.5 |  323.8-341.3  |  6.6-6.9x   |

A reward-free run is learned as a whole (``step_sequence``: the rules get the run's spikes at
once, the input currents stay precomputed), and the dense eligibilities process up to 64 steps
at once (see ``snnrl/learning/adapters.py`` and bench/README.md). A delivered reward costs two
passes over the 6400 x 100 eligibility and weights.

Florian tasks, ``--florian --seeds 10`` (2026-11-22): XOR solved (min true rate > max false
rate + 10 Hz) by MSTDP in 9/10 seeds (mean margin 24 Hz; the failure lost pattern 10 to
silence) and by MSTDPET in 10/10 (mean margin 44 Hz), 80 epochs of 250 ms; target-rate
error 20-23 Hz -> 5-10 Hz in all 20 runs; reward delayed by 300 ms: MSTDPET (tc_e = 500 ms)
accuracy 1.00 in 10/10 seeds, MSTDPET (tc_e = 25 ms) 0.36 and MSTDP 0.42 on average (chance
is 0.5, and "no choice" counts as wrong).
"""

from __future__ import annotations

import argparse
import time

import torch

from snnrl import Connection, Input, LIFNodes, Network
from snnrl.learning import MSTDPET, EProp

BINDSNET_NO_LEARNING_US = 385.0
BINDSNET_MSTDPET_US = 2500.0


def small_network(learning: bool, seed: int = 0, rule_name: str = "MSTDPET") -> tuple[Network, torch.Generator]:
    g = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0)
    net.add_layer(Input(6400), "X")
    net.add_layer(LIFNodes(100), "H")
    net.add_layer(LIFNodes(4), "O")
    make = {"MSTDPET": lambda: MSTDPET(nu=1e-4), "EProp": lambda: EProp(nu=1e-4)}[rule_name]
    rule = make if learning else (lambda: None)
    net.add_connection(Connection(net.layers["X"], net.layers["H"], torch.rand(6400, 100, generator=g) * 0.5,
                                  rule=rule()), "X", "H")
    net.add_connection(Connection(net.layers["H"], net.layers["O"], torch.rand(100, 4, generator=g) * 10,
                                  rule=rule()), "H", "O")
    return net, g


def step_time_us(learning: bool, reward: str = "zero", steps_per_call: int = 16, total_steps: int = 1600,
                 repeats: int = 7, rule_name: str = "MSTDPET") -> float:
    """Microseconds per simulation step.

    ``reward``: ``"zero"`` (``run(..., reward=0.0)``: eligibility only), ``"deliver"`` (then
    ``deliver_reward(0.5)`` after every run call: a reward or TD error per environment step, as the
    episode pipeline does) or ``"every step"`` (``run(..., reward=0.5)``: a modulator on every
    simulation step, the worst case) or ``"signals"`` (``deliver_reward(0.5, signals=...)`` with a
    learning signal per neuron of both target layers, e-prop's pattern).
    """
    net, g = small_network(learning, rule_name=rule_name)
    inputs = [torch.rand(steps_per_call, 1, 6400, generator=g) < 0.05 for _ in range(8)]
    calls = max(total_steps // steps_per_call, 3)
    during = 0.5 if reward == "every step" else 0.0
    deliver = reward in ("deliver", "signals")
    signals = None
    if reward == "signals":
        signals = {"H": torch.randn(1, 100, generator=g), "O": torch.randn(1, 4, generator=g)}

    def call(i: int) -> None:
        net.run({"X": inputs[i % 8]}, reward=during)
        if deliver:
            net.deliver_reward(0.5, signals)

    for i in range(10):
        call(i)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(calls):
            call(i)
        best = min(best, (time.perf_counter() - t0) / (calls * steps_per_call))
    return best * 1e6


def speed() -> None:
    base = step_time_us(False)
    print("small RL network (6400 -> 100 -> 4 LIF, batch 1, p = 0.05), T = 16 steps per run call\n")
    print(f"| {'configuration':<52} | us/step | learning adds | vs BindsNET |")
    print(f"|{'-' * 54}|--------:|--------------:|------------:|")
    print(f"| {'no learning':<52} | {base:7.1f} | {'':>13} | {BINDSNET_NO_LEARNING_US / base:10.1f}x |")
    for label, mode, rule_name in [("MSTDPET both connections, reward 0", "zero", "MSTDPET"),
                                   ("MSTDPET, deliver_reward after every run call", "deliver", "MSTDPET"),
                                   ("MSTDPET, reward on every simulation step", "every step", "MSTDPET"),
                                   ("EProp both connections, reward 0", "zero", "EProp"),
                                   ("EProp, deliver_reward with per-neuron signals", "signals", "EProp")]:
        t = step_time_us(True, mode, rule_name=rule_name)
        print(f"| {label:<52} | {t:7.1f} | {t - base:13.1f} | {BINDSNET_MSTDPET_US / t:10.1f}x |")
    print("\nBindsNET 0.3.4: 385 us/step without learning, 2500 us/step with MSTDPET (any reward).")


def florian(seeds: int) -> None:
    from snnrl.learning.florian import delayed_reward_experiment, target_rate_experiment, xor_experiment

    print("Rate-coded XOR: output rate (Hz) for 00 01 10 11, before -> after; training curve every 10 epochs")
    for rule in ("MSTDP", "MSTDPET"):
        margins = []
        for seed in range(seeds):
            r = xor_experiment(rule, seed=seed, epochs=80)
            margins.append(r.margin)
            curve = " | ".join(" ".join(f"{v:3.0f}" for v in row.tolist()) for row in r.curve[::10])
            print(f"  {rule:7s} seed {seed}: {r.before.round().tolist()} -> {r.after.round().tolist()}  "
                  f"margin {r.margin:5.1f}   curve: {curve}")
        print(f"  {rule}: margin (min true - max false) mean {sum(margins) / len(margins):.1f} Hz, "
              f"solved (margin > 10 Hz) {sum(m > 10 for m in margins)}/{seeds}")
    print("\nTarget firing-rate pattern: mean |rate - target| (Hz) before -> after; curve per training block")
    for rule in ("MSTDP", "MSTDPET"):
        for seed in range(seeds):
            r = target_rate_experiment(rule, seed=seed, train_ms=20000)
            curve = " ".join(f"{c:4.1f}" for c in r.curve)
            print(f"  {rule:7s} seed {seed}: {r.error_before:5.1f} -> {r.error_after:5.1f}   curve: {curve}")
    print("\nReward delayed by 300 ms: accuracy before -> after; curve per block of 16 trials")
    for rule, kw in [("MSTDPET", {"tc_e_trace": 500.0}), ("MSTDPET", {"tc_e_trace": 25.0}), ("MSTDP", {})]:
        label = f"{rule}" + (f" tc_e={kw['tc_e_trace']:.0f}" if kw else "")
        accs = []
        for seed in range(seeds):
            r = delayed_reward_experiment(rule, seed=seed, blocks=40, **kw)
            accs.append(r.accuracy_after)
            curve = " ".join(f"{c:.2f}" for c in r.curve[::4])
            print(f"  {label:16s} seed {seed}: {r.accuracy_before:.2f} -> {r.accuracy_after:.2f}   curve: {curve}")
        print(f"  {label}: mean accuracy after training {sum(accs) / len(accs):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--florian", action="store_true", help="learning curves of the Florian tasks")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per Florian task")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.florian:
        florian(args.seeds)
    else:
        speed()


if __name__ == "__main__":
    main()
