r"""Learning experiments after Florian (2007): evidence that the three-factor rules learn.

Florian (2007, *Neural Computation* 19(6)) showed that modulated STDP (MSTDP) and modulated
STDP with eligibility trace (MSTDPET) solve XOR with rate-coded input, learn a target output
firing-rate pattern, and (MSTDPET) learn when the reward is delayed. The three experiments here are
small versions of those tasks, built on :class:`~snnrl.network.Network`; the test suite runs
them with a few seeds and short training, ``bench/bench_learning.py`` with more seeds and longer
training, printing learning curves. The set-ups are ours, in the spirit of Florian's (his exact
parameters are not reproduced):

* :func:`xor_experiment`: two groups of Poisson inputs (40 Hz for a 1, silent for a 0) feed a
  fixed random hidden layer of LIF neurons (one random gain per input group and hidden neuron)
  whose signed weights onto one LIF output neuron are plastic (``plastic_hidden=True`` makes the
  first layer plastic too). The four patterns run in parallel as four batch elements with
  per-element rewards. Every output spike is rewarded ``+1`` for 01 and 10 and punished
  ``-punishment`` for 00 and 11, at the step of the spike.
* :func:`target_rate_experiment`: Poisson inputs drive a layer of LIF output neurons, each of
  which should fire at its own target rate (a pattern of rates). Each output spike is rewarded
  ``+1`` if its neuron currently fires below its target and ``-1`` if above, summed into one
  scalar reward for all neurons (no per-neuron teaching signal).
* :func:`delayed_reward_experiment`: a cue (one of two input groups fires for ``cue_ms``)
  must be answered by the matching one of two mutually inhibiting output neurons (the one that
  fires more during the cue); the reward, ``+1`` or ``-1`` per trial, arrives ``delay_ms`` after the cue, with
  background input noise in between. With an eligibility trace longer than the delay,
  MSTDPET credits the cue-time spikes; MSTDP only sees the spikes at reward time.

A note on the reward-at-spike design (XOR, target rates): when the reward is non-zero only
at output spikes, the expected MSTDP change of ``w_ij`` is proportional to the reward-weighted
product of pre- and postsynaptic rates (the anti-causal term ``s_pre ⊗ P-`` meets a zero
reward), so a hidden neuron active in both a rewarded and a punished pattern settles where
``sum_P r_P f_P nu_P = 0``. With ``punishment = 1`` this leaves the output firing for 11 at
about its rate for 01/10 whenever hidden neurons respond to both inputs; a larger punishment
(2 by default) makes the separating solution the stable one.

Network order: the network's default synchronous propagation (each connection carries the
previous step's spikes). Learning is driven step by step: the network runs one step with
learning off, the reward is computed from that step's output spikes, then each plastic
connection's rule is called with it (the network's own ``run(..., reward=r)`` fixes the reward
before the step, so it cannot depend on the step's spikes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from snnrl.learning.base import LearningRule
from snnrl.learning.rules import MSTDP, MSTDPET

__all__ = [
    "DelayedRewardResult",
    "TargetRateResult",
    "XORResult",
    "delayed_reward_experiment",
    "target_rate_experiment",
    "xor_experiment",
]

RULES = {"MSTDP": MSTDP, "MSTDPET": MSTDPET}


def _rule(name: str, nu: float, **kwargs: float) -> LearningRule:
    if name not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {name!r}")
    return RULES[name](nu=nu, **kwargs)


# ------------------------------------------------------------------------------------- XOR
PATTERNS = ((0, 0), (0, 1), (1, 0), (1, 1))


@dataclass
class XORResult:
    """Output rates (Hz) for the patterns 00, 01, 10, 11.

    Attributes:
        before, after: rates measured with learning off, before and after training.
        curve: rates during each training epoch, ``(epochs, 4)``.
    """

    before: Tensor
    after: Tensor
    curve: Tensor

    @property
    def margin(self) -> float:
        """Lowest XOR-true rate minus highest XOR-false rate after training (Hz)."""
        return float(self.after[1:3].min() - self.after[[0, 3]].max())


def xor_experiment(
    rule: str = "MSTDP",
    *,
    seed: int = 0,
    epochs: int = 30,
    presentation_ms: float = 250.0,
    eval_ms: float = 500.0,
    nu: float | None = None,
    n_input: int = 20,
    n_hidden: int = 100,
    input_rate: float = 40.0,
    hidden_gain: float = 2.0,
    w_max: float = 10.0,
    punishment: float = 2.0,
    plastic_hidden: bool = False,
    tc_e_trace: float = 25.0,
) -> XORResult:
    """Rate-coded XOR learned from reward (see the module docstring).

    Args:
        rule: ``"MSTDP"`` or ``"MSTDPET"``.
        seed: seeds the weights and the input spikes.
        epochs: training epochs; each presents the four patterns (in parallel) for
            ``presentation_ms``.
        eval_ms: duration of the before/after measurements.
        nu: learning rate (default 0.1 for MSTDP, 2.0 for MSTDPET: a reward at one step
            reaches MSTDPET's weights through ``z``, ``τ_z`` times smaller than ``ζ``).
        n_input: Poisson inputs per input bit.
        n_hidden: hidden LIF neurons.
        input_rate: rate of an active input (Hz).
        hidden_gain: input-to-hidden weights are ``U(-1, 1) * hidden_gain`` per group and neuron.
        w_max: bound of the signed hidden-to-output weights.
        punishment: reward of an output spike for 00 and 11 is ``-punishment``.
        plastic_hidden: make the input-to-hidden weights plastic too.
        tc_e_trace: MSTDPET's eligibility time constant (ms).
    """
    from snnrl.network import Connection, Input, LIFNodes, Network

    g = torch.Generator().manual_seed(seed)
    if nu is None:
        nu = 0.1 if rule == "MSTDP" else 2.0
    extra = {"tc_e_trace": tc_e_trace} if rule == "MSTDPET" else {}
    net = Network(dt=1.0, batch_size=4)
    net.add_layer(Input(2 * n_input), "X")
    net.add_layer(LIFNodes(n_hidden), "H")
    net.add_layer(LIFNodes(1), "O")
    gains = (torch.rand(2, n_hidden, generator=g) * 2 - 1) * hidden_gain
    c1 = Connection(net.layers["X"], net.layers["H"], gains.repeat_interleave(n_input, dim=0),
                    wmin=-2 * hidden_gain, wmax=2 * hidden_gain,
                    rule=_rule(rule, nu, **extra) if plastic_hidden else None)
    c2 = Connection(net.layers["H"], net.layers["O"], torch.rand(n_hidden, 1, generator=g) * 3.0,
                    wmin=-w_max, wmax=w_max, rule=_rule(rule, nu, **extra))
    net.add_connection(c1, "X", "H")
    net.add_connection(c2, "H", "O")
    net.train(False)  # rules are called below with the reward of the step's own spikes
    plastic = [c for c in (c1, c2) if c.rule is not None]

    p = torch.tensor(PATTERNS, dtype=torch.bool).repeat_interleave(n_input, dim=1)
    prob = p.float() * (input_rate / 1000.0)
    sign = torch.tensor([-punishment, 1.0, 1.0, -punishment])

    def episode(ms: float, learn: bool) -> Tensor:
        net.reset_state_variables()
        count = torch.zeros(4)
        steps = round(ms)
        for _ in range(steps):
            net.step({"X": torch.rand(prob.shape, generator=g) < prob})
            spikes = net.layers["O"].s[:, 0]
            if learn:
                reward = spikes.float() * sign  # per batch element (= pattern)
                for conn in plastic:
                    conn.rule.step(conn, reward)
            count += spikes
        return count * (1000.0 / steps)

    before = episode(eval_ms, False)
    curve = torch.stack([episode(presentation_ms, True) for _ in range(epochs)]) if epochs else torch.zeros(0, 4)
    after = episode(eval_ms, False)
    return XORResult(before, after, curve)


# --------------------------------------------------------------------------- target rates
@dataclass
class TargetRateResult:
    """Output rates (Hz) against their targets.

    Attributes:
        target: the target rate of every output neuron.
        before, after: rates measured with learning off, before and after training.
        curve: mean absolute rate error (Hz) per training block.
    """

    target: Tensor
    before: Tensor
    after: Tensor
    curve: list[float] = field(default_factory=list)

    @property
    def error_before(self) -> float:
        """Mean absolute difference between rates and targets before training (Hz)."""
        return float((self.before - self.target).abs().mean())

    @property
    def error_after(self) -> float:
        """Mean absolute difference between rates and targets after training (Hz)."""
        return float((self.after - self.target).abs().mean())


def target_rate_experiment(
    rule: str = "MSTDP",
    *,
    seed: int = 0,
    train_ms: int = 6000,
    eval_ms: int = 1000,
    n_input: int = 50,
    n_output: int = 6,
    input_rate: float = 20.0,
    target_low: float = 10.0,
    target_high: float = 80.0,
    tc_rate: float = 100.0,
    nu: float | None = None,
    w_init: float = 2.0,
    w_max: float = 10.0,
    tc_e_trace: float = 25.0,
) -> TargetRateResult:
    """A target pattern of output firing rates learned from one global scalar reward.

    The targets are ``n_output`` rates evenly spaced in ``[target_low, target_high]`` (Hz), in a
    random order. Every output spike adds ``+1`` to the step's reward if the neuron's rate
    estimate (an exponential trace with time constant ``tc_rate``) is below its target and
    ``-1`` if above: one scalar for all neurons, no per-neuron teaching signal.

    Args:
        rule: ``"MSTDP"`` or ``"MSTDPET"``.
        seed: seeds the targets' order, the weights and the Poisson inputs.
        train_ms: training time.
        eval_ms: duration of each measurement (learning off).
        n_input, n_output: population sizes.
        input_rate: rate of the Poisson inputs (Hz).
        target_low, target_high: range of the target rates (Hz).
        tc_rate: time constant of the rate estimate the reward uses (ms).
        nu: learning rate (default 0.02 for MSTDP, 0.5 for MSTDPET).
        w_init: initial weights are ``U(0, w_init)``.
        w_max: weights are bounded to ``[-w_max, w_max]``.
        tc_e_trace: MSTDPET's eligibility time constant (ms).
    """
    from snnrl.network import Connection, Input, LIFNodes, Network

    g = torch.Generator().manual_seed(seed)
    if nu is None:
        nu = 0.02 if rule == "MSTDP" else 0.5
    extra = {"tc_e_trace": tc_e_trace} if rule == "MSTDPET" else {}
    net = Network(dt=1.0)
    net.add_layer(Input(n_input), "X")
    net.add_layer(LIFNodes(n_output), "O")
    conn = Connection(net.layers["X"], net.layers["O"], torch.rand(n_input, n_output, generator=g) * w_init,
                      wmin=-w_max, wmax=w_max, rule=_rule(rule, nu, **extra))
    net.add_connection(conn, "X", "O")
    net.train(False)
    target = torch.linspace(target_low, target_high, n_output)[torch.randperm(n_output, generator=g)]
    decay = math.exp(-1.0 / tc_rate)
    prob = input_rate / 1000.0

    def run(ms: int, learn: bool) -> Tensor:
        net.reset_state_variables()
        count = torch.zeros(n_output)
        trace = target * (tc_rate / 1000.0)  # start the estimate at the target: no initial transient
        for _ in range(ms):
            net.step({"X": torch.rand(1, n_input, generator=g) < prob})
            s = net.layers["O"].s[0]
            count += s
            trace = trace * decay + s
            if learn:
                rate = trace * (1000.0 / tc_rate)
                reward = float(torch.where(rate < target, 1.0, -1.0)[s].sum())
                conn.rule.step(conn, reward)
        return count * (1000.0 / ms)

    before = run(eval_ms, False)
    curve = []
    block = max(1, train_ms // 10)
    for start in range(0, train_ms, block):
        rates = run(min(block, train_ms - start), True)
        curve.append(float((rates - target).abs().mean()))
    after = run(eval_ms, False)
    return TargetRateResult(target, before, after, curve)


# ------------------------------------------------------------------------- delayed reward
@dataclass
class DelayedRewardResult:
    """Fraction of correct choices, before and after training, and per training block.

    Attributes:
        accuracy_before, accuracy_after: measured with learning off.
        curve: accuracy during each block of training trials.
        weight_change: total absolute weight change during training.
    """

    accuracy_before: float
    accuracy_after: float
    curve: list[float]
    weight_change: float


def delayed_reward_experiment(
    rule: str = "MSTDPET",
    *,
    seed: int = 0,
    delay_ms: int = 300,
    blocks: int = 20,
    batch: int = 16,
    eval_blocks: int = 4,
    cue_ms: int = 50,
    n_input: int = 20,
    cue_rate: float = 50.0,
    noise_rate: float = 5.0,
    nu: float = 50.0,
    w_init: float = 0.6,
    w_max: float = 3.0,
    inhibition: float = 20.0,
    tc_e_trace: float = 500.0,
) -> DelayedRewardResult:
    """Choose the output that matches the cue, with the reward delayed by ``delay_ms``.

    Each block runs ``batch`` trials in parallel (one per batch element, random cues); a trial is
    the cue, ``delay_ms`` of background noise, then one step with the reward ``+1`` (correct
    choice) or ``-1`` (wrong or no choice) per batch element; the state (and the eligibility)
    is reset between trials, as a pipeline does at episode boundaries.

    Args:
        rule: ``"MSTDP"`` or ``"MSTDPET"``.
        seed: seeds weights, cues and spikes.
        delay_ms: time from the end of the cue to the reward.
        blocks: training blocks.
        batch: trials per block.
        eval_blocks: blocks for each accuracy measurement (learning off).
        cue_ms: cue duration.
        n_input: inputs per cue group.
        cue_rate: rate of the cued group (Hz).
        noise_rate: rate of every input outside the cue (Hz).
        nu: learning rate (large: the reward acts once per trial, through ``z ≈ ζ / τ_z``).
        w_init: initial weights are ``U(0.5, 1.5) * w_init``.
        w_max: weights are bounded to ``[0, w_max]``.
        inhibition: weight (mV) of the fixed mutual inhibition between the two outputs.
        tc_e_trace: MSTDPET's eligibility time constant (ms); longer than the delay.
    """
    from snnrl.network import Connection, Input, LIFNodes, Network

    g = torch.Generator().manual_seed(seed)
    extra = {"tc_e_trace": tc_e_trace} if rule == "MSTDPET" else {}
    net = Network(dt=1.0, batch_size=batch)
    net.add_layer(Input(2 * n_input), "X")
    net.add_layer(LIFNodes(2), "O")
    w = (0.5 + torch.rand(2 * n_input, 2, generator=g)) * w_init
    conn = Connection(net.layers["X"], net.layers["O"], w, wmin=0.0, wmax=w_max, rule=_rule(rule, nu, **extra))
    net.add_connection(conn, "X", "O")
    # fixed mutual inhibition between the two outputs: the first to fire suppresses the other
    net.add_connection(Connection(net.layers["O"], net.layers["O"], -inhibition * (1 - torch.eye(2))), "O", "O")
    group = torch.arange(2 * n_input) // n_input  # input group of every input neuron
    noise = noise_rate / 1000.0

    def trials(learn: bool) -> float:
        net.reset_state_variables()
        net.train(learn)
        cue = torch.randint(0, 2, (batch,), generator=g)
        prob = torch.where(group[None, :] == cue[:, None], cue_rate / 1000.0, noise)
        x = torch.rand(cue_ms, batch, 2 * n_input, generator=g) < prob
        counts = torch.zeros(batch, 2)
        for t in range(cue_ms):
            net.run({"X": x[t : t + 1]}, reward=0.0)
            counts += net.layers["O"].s
        choice = torch.where(counts[:, 0] > counts[:, 1], 0, torch.where(counts[:, 1] > counts[:, 0], 1, -1))
        correct = choice == cue
        background = torch.rand(delay_ms, batch, 2 * n_input, generator=g) < noise
        net.run({"X": background}, reward=0.0)
        if learn:
            reward = torch.where(correct, 1.0, -1.0)
            last = torch.rand(1, batch, 2 * n_input, generator=g) < noise
            net.run({"X": last}, reward=reward)
        return float(correct.float().mean())

    before = sum(trials(False) for _ in range(eval_blocks)) / eval_blocks
    w0 = conn.weight.clone()
    curve = [trials(True) for _ in range(blocks)]
    change = float((conn.weight - w0).abs().sum())
    after = sum(trials(False) for _ in range(eval_blocks)) / eval_blocks
    net.train(True)
    return DelayedRewardResult(before, after, curve, change)

