r"""Value estimates for a ``TDError`` modulator: a linear critic and a spiking one.

The trainer asks a critic three things per environment step (:class:`Critic`):

1. ``observe(x)`` before the decision window on ``s_t``: ``V(s_t)`` ``(B,)``, and remember what
   its own learning needs;
2. ``evaluate(x2)`` after the environment answered: ``V(s_{t+1})`` ``(B,)``, without learning;
3. ``learn(delta)`` with the TD error ``δ_t = r_t + gamma V(s_{t+1}) - V(s_t)`` of that transition.

:class:`LinearCritic` (in :mod:`snnrl.pipeline.trainer`) is a linear readout of the input spike
counts trained by TD(λ). :class:`SpikingCritic` reads the value from the spikes of a population
of LIF neurons driven by the same input spikes; its synapses learn by reward-based e-prop
(:class:`~snnrl.learning.EProp`) with the TD error as modulator and the readout weights as
learning signal, a local three-factor rule (no backpropagation):

.. math::
    V(s) = \sum_j r_j\, \frac{n_j(s)}{T} + b, \qquad
    \Delta w_{ij} = \nu\, \delta\, r_j\, E_{ij}, \qquad
    \Delta b = \eta_b\, \delta

(``n_j`` the spike count of critic neuron ``j`` in the window of ``T`` steps, ``r_j`` fixed
positive readout weights, ``E`` e-prop's eligibility of the window). ``V(s_{t+1})`` is read
by a second, non-learning run of the critic population on the next window's input spikes,
which are the very spikes the next decision will see: the value a learning run would give.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import torch
from torch import Tensor

from snnrl.learning.eprop import EProp
from snnrl.network.connections import Connection
from snnrl.network.monitors import Monitor
from snnrl.network.network import Network
from snnrl.network.nodes import Input, LIFNodes

__all__ = ["Critic", "SpikingCritic"]


class Critic(Protocol):
    """What the trainer asks of a value estimate (see the module docstring)."""

    gamma: float
    reads: str
    """What ``x`` is: ``"spikes"`` (the window's input spikes ``(T, B, *input shape)``) or ``"rates"``
    (the encoder's noise-free intensities of the same observations, ``(1, B, n)``)."""

    def observe(self, x: Tensor) -> Tensor:
        """``V(s_t)`` for the window input ``x`` ``(T, B, *input shape)``; remembers it for :meth:`learn`."""
        ...

    def evaluate(self, x: Tensor) -> Tensor:
        """``V(s)`` ``(B,)`` without learning."""
        ...

    def learn(self, delta: Tensor) -> None:
        """Learn from the TD error ``(B,)`` of the transition whose ``s_t`` was observed last."""
        ...

    def reset(self, mask: Tensor | None = None) -> None:
        """Clear per-episode state (traces, eligibility) of all environments or those in ``mask``."""
        ...

    def state(self) -> dict[str, Any]:
        """Learned state as plain data (for checkpoints)."""
        ...

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        ...


def _finite(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"critic {name} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"critic {name} must be > 0, got {value!r}")
    return float(value)


class SpikingCritic:
    """A value read from the spikes of a LIF population, learned by e-prop (module docstring).

    Args:
        n_inputs: input neurons (the policy's input layer, flattened).
        neurons: critic neurons ``n``.
        lr: e-prop's learning rate ``nu`` of the input -> critic synapses.
        readout: total readout weight: ``r_j = readout / n``.
        bias_lr: ``η_b``.
        init: initial ``b``.
        weight_init: ``(low, high)`` of the uniform initial weights (mV).
        tc_e_trace: e-prop's eligibility time constant (ms).
        gamma: the TD discount (the trainer sets the TD error's).
        seed: seed of the initial weights.
        dt: step length (ms), the policy network's.
        device: where the critic population lives.
        reduction: ``"mean"`` or ``"sum"`` over the batch, for the rule and ``b`` (the same with
            one environment).
    """

    def __init__(self, n_inputs: int, *, neurons: int = 20, lr: float = 0.05, readout: float = 5.0,
                 bias_lr: float = 0.05, init: float = 0.0, weight_init: tuple[float, float] = (0.0, 4.0),
                 tc_e_trace: float = 25.0, gamma: float = 0.99, seed: int = 0, dt: float = 1.0,
                 device: str | torch.device = "cpu", reduction: str = "mean") -> None:
        if isinstance(neurons, bool) or not isinstance(neurons, int) or neurons < 1:
            raise ValueError(f"critic neurons must be an int >= 1, got {neurons!r}")
        self.lr = _finite("lr", lr)
        self.readout = _finite("readout", readout, positive=True)
        self.bias_lr = _finite("bias_lr", bias_lr)
        self.gamma = _finite("gamma", gamma)
        self.reads = "spikes"
        low, high = (_finite("weight_init", w) for w in weight_init)
        gen = torch.Generator().manual_seed(int(seed))
        net = Network(dt=dt)
        source, target = Input(int(n_inputs)), LIFNodes(neurons)
        net.add_layer(source, "X")
        net.add_layer(target, "V")
        w = torch.rand(int(n_inputs), neurons, generator=gen) * (high - low) + low
        self.rule = EProp(nu=self.lr, tc_e_trace=tc_e_trace, reduction=reduction)
        self.reduction = self.rule.reduction
        net.add_connection(Connection(source, target, w, wmin=-50.0, wmax=50.0, rule=self.rule), "X", "V")
        self._layers = (source, target)
        self.monitor = Monitor(target, ["s"])
        net.add_monitor(self.monitor, "V")
        self.network = net.to(device)
        self.r = torch.full((neurons,), self.readout / neurons, device=device)
        self.b = torch.tensor(_finite("init", init), device=device)
        self._last: Tensor | None = None

    @property
    def connection(self) -> Connection:
        """The learning input -> critic connection."""
        return self.network.connections["X->V"]  # type: ignore[return-value]

    def _run(self, x: Tensor, learn: bool) -> Tensor:
        net = self.network
        net.train(learn)
        for layer in self._layers:
            layer.reset_state_variables()
        if learn:
            self.rule.reset_neuron_state()
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        self.monitor.reset_state_variables()
        net.run({"X": flat}, reward=0.0 if learn else None)
        counts = self.monitor.get("s").sum(0, dtype=torch.float32)  # (B, n)
        return (counts / x.shape[0]) @ self.r + self.b

    def observe(self, x: Tensor) -> Tensor:
        self._last = self._run(x, learn=True)
        return self._last.cpu()

    def evaluate(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._run(x, learn=False).cpu()

    def learn(self, delta: Tensor) -> None:
        net = self.network
        net.train(True)
        d = delta.to(self.b.device, torch.float32)
        net.deliver_reward(d, signals={"V": self.r.expand(d.shape[0], -1)})
        self.b += self.bias_lr * (d.mean() if self.reduction == "mean" else d.sum())

    def reset(self, mask: Tensor | None = None) -> None:
        if mask is None or bool(mask.all()):
            self.network.reset_state_variables()
        elif bool(mask.any()):
            self.network.reset_state_variables(mask.to(self.b.device))

    def state(self) -> dict[str, Any]:
        return {"type": "spiking", "w": self.connection.weight.detach().cpu().tolist(), "b": float(self.b)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        w = torch.tensor(state["w"], dtype=torch.float32)
        conn = self.connection
        if w.shape != conn.weight.shape:
            raise ValueError(f"critic weights have shape {tuple(w.shape)}, expected {tuple(conn.weight.shape)}")
        conn.weight.data.copy_(w.to(conn.weight.device))
        self.b = torch.tensor(float(state["b"]), device=self.b.device)
