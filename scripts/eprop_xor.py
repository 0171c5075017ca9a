"""Hidden-layer credit with reward-based e-prop: a 2-bit XOR contextual bandit.

Each answer sees two random bits, each as a one-hot pair of Poisson inputs (500 Hz, T = 16 ms),
and must give their XOR (+1 right, -1 wrong, 20 answers per episode; random play 0, a linear
readout of the inputs at most 10, optimal 20). The network is 4 inputs -> hidden LIF -> 2 x 5 LIF
outputs, actions sampled from the softmax over the two populations' spike counts. The modulator
is the reward minus a per-case running mean; every plastic connection learns by ``EProp`` with
the learning signals of :class:`snnrl.learning.Feedback` (output: the action error; hidden:
random feedback of it). ``--output-only`` freezes the input -> hidden synapses.

    python scripts/eprop_xor.py --seeds 0-2 --hidden 8
    python scripts/eprop_xor.py --seeds 0-2 --hidden 8 --output-only
    python scripts/eprop_xor.py --hidden 8 --ideal --output-only   # hidden neurons that detect the cases

The numbers in agents/README.md ("e-prop and a hidden layer on XOR") come from these commands.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from snnrl import Connection, Input, LIFNodes, Monitor, Network
from snnrl.learning import EProp, Feedback
from snnrl.policy.decoders import SoftmaxCounts

STEPS = 16


def build(seed: int, hidden: int, output_only: bool, ideal: bool, nu_hidden: float,
          nu_output: float, tc_signal: float | None = None) -> tuple[Network, Monitor, torch.Generator]:
    gen = torch.Generator().manual_seed(seed)
    net = Network(dt=1.0)
    x, h, a = Input(4), LIFNodes(hidden, refrac=2.0), LIFNodes(10, refrac=2.0)
    for layer, name in ((x, "X"), (h, "H"), (a, "A")):
        net.add_layer(layer, name)
    w_xh = torch.randn(4, hidden, generator=gen) * 6.0 + 3.0
    if ideal:  # hidden neuron j fires only for case j % 4: +7 mV from its two inputs, -10 from the others
        w_xh = torch.full((4, hidden), -10.0)
        for j in range(hidden):
            w_xh[(j % 4) // 2, j] = w_xh[2 + j % 2, j] = 7.0
    net.add_connection(Connection(x, h, w_xh, wmin=-20.0, wmax=20.0,
                                  rule=None if output_only else EProp(nu=nu_hidden, tc_signal=tc_signal)), "X", "H")
    w_ha = torch.rand(hidden, 10, generator=gen) * 6.0
    net.add_connection(Connection(h, a, w_ha, wmin=-20.0, wmax=20.0, rule=EProp(nu=nu_output, tc_signal=tc_signal)),
                       "H", "A")
    monitor = Monitor(a, ["s"], time=STEPS)
    net.add_monitor(monitor, "A")
    return net, monitor, gen


def run(seed: int, episodes: int, hidden: int, output_only: bool, ideal: bool, nu_hidden: float,
        nu_output: float, tc_signal: float | None = None) -> np.ndarray:
    net, monitor, gen = build(seed, hidden, output_only, ideal, nu_hidden, nu_output, tc_signal)
    decoder = SoftmaxCounts(temperature=2.0, neurons_per_action=5, seed=seed)
    decoder.bind(gym.spaces.Discrete(2), 10, steps=STEPS)
    feedback = Feedback(net, "A", 2, neurons_per_action=5, hidden=() if output_only else ("H",), seed=seed)
    rules = [c.rule for c in net.connections.values() if isinstance(c.rule, EProp)]
    rng = np.random.default_rng(seed)
    baseline = torch.zeros(4)
    returns = np.zeros(episodes)
    for episode in range(episodes):
        for _ in range(20):
            bits = rng.integers(0, 2, size=2)
            rate = torch.zeros(1, 4)
            rate[0, bits[0]] = rate[0, 2 + bits[1]] = 0.5
            spikes = torch.rand(STEPS, 1, 4, generator=gen) < rate
            for layer in net.layers.values():  # at rest at each answer; the eligibility carries on
                layer.reset_state_variables()
            for rule in rules:
                rule.reset_neuron_state()
            monitor.reset_state_variables()
            net.run({"X": spikes}, reward=0.0)
            out = monitor.get("s")
            action = decoder(out)
            reward = 1.0 if int(action) == int(bits[0] ^ bits[1]) else -1.0
            case = int(bits[0] * 2 + bits[1])
            delta = reward - float(baseline[case])
            baseline[case] += 0.1 * delta
            net.deliver_reward(torch.tensor([delta]), signals=feedback.signals(decoder.action_error(out, action)))
            returns[episode] += reward
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-2", help="a range a-b or one seed")
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--hidden", type=int, default=8, help="hidden LIF neurons")
    parser.add_argument("--output-only", action="store_true", help="only the hidden -> output synapses learn")
    parser.add_argument("--ideal", action="store_true", help="hidden neurons that detect the four cases")
    parser.add_argument("--nu-hidden", type=float, default=1.0)
    parser.add_argument("--nu-output", type=float, default=5.0)
    parser.add_argument("--tc-signal", type=float, default=None,
                        help="e-prop's actor trace (ms): fold each answer's learning signal into its own "
                             "eligibility (default: none, the signal multiplies E as it is)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    first, _, last = args.seeds.partition("-")
    for seed in range(int(first), int(last or first) + 1):
        returns = run(seed, args.episodes, args.hidden, args.output_only, args.ideal, args.nu_hidden, args.nu_output,
                      args.tc_signal)
        blocks = returns[: len(returns) // 25 * 25].reshape(-1, 25).mean(1).round(1).tolist()
        print(f"seed {seed}: mean return per 25 episodes {blocks}; last 100: {returns[-100:].mean():.1f}", flush=True)


if __name__ == "__main__":
    main()
