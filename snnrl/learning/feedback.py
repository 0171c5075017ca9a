r"""Neuron-specific learning signals: the readouts' errors fed back to the layers that learn.

Reward-based e-prop (Bellec et al. 2020) gives every neuron ``j`` of a learning layer the signal

.. math:: L_j = \sum_k B_{jk}\, \epsilon_k \;+\; c_V\, B^V_j\, \epsilon_V

with ``ε_k = 1[a = k] - π_k`` the action readout's error (:meth:`DiscreteDecoder.action_error
<snnrl.policy.decoders.DiscreteDecoder.action_error>`) and ``ε_V`` an optional value-readout
term. :class:`Feedback` builds ``{layer: L}`` for ``Network.deliver_reward(δ, signals=...)``:

* the output layer gets the error of the action each neuron votes for
  (``decoder.neuron_error``), scaled by ``output_scale``;
* every hidden layer gets ``B ε`` through fixed feedback weights ``B`` ``(n_hidden, A)``:
  ``"random"`` (broadcast alignment, the default: ``N(0, 1/A)`` entries drawn once from
  ``seed``) or ``"symmetric"`` (the current weights from the hidden layer to each action's
  output neurons, summed per action: what backpropagating one step would use).

Signals are plain tensors; the network multiplies them by the modulator (the TD error) and
validates them (:mod:`snnrl.network.modulator`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor

from snnrl.network.connections import AbstractConnection
from snnrl.network.nodes import Nodes

if TYPE_CHECKING:
    from snnrl.network.network import Network

__all__ = ["FEEDBACK_MODES", "Feedback"]

FEEDBACK_MODES = ("random", "symmetric")


class Feedback:
    """Learning signals for an output layer and hidden layers (see the module docstring).

    Args:
        network: the network whose layers learn.
        output_layer: the action readout's layer (the decoder's).
        n_actions: ``A``.
        neurons_per_action: output neurons per action (neuron ``i`` votes for ``i // k``).
        hidden: names of the hidden layers that receive ``B ε``.
        mode: ``"random"`` or ``"symmetric"``.
        scale: factor of the hidden layers' signals.
        output_scale: factor of the output layer's signal (0: no signal to the output layer,
            it then receives the plain modulator).
        seed: seed of the random feedback weights.
    """

    def __init__(self, network: Network, output_layer: str, n_actions: int, *, neurons_per_action: int = 1,
                 hidden: Sequence[str] = (), mode: str = "random", scale: float = 1.0,
                 output_scale: float = 1.0, seed: int = 0) -> None:
        if mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback mode must be one of {FEEDBACK_MODES}, got {mode!r}")
        for name, value in (("scale", scale), ("output_scale", output_scale)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"feedback {name} must be a finite number, got {value!r}")
        if output_layer not in network.layers:
            raise ValueError(f"feedback: no layer named {output_layer!r}; layers: {list(network.layers)}")
        for name in hidden:
            if name not in network.layers:
                raise ValueError(f"feedback.hidden: no layer named {name!r}; layers: {list(network.layers)}")
            if name == output_layer:
                raise ValueError(f"feedback.hidden: {name!r} is the output layer")
        self.network = network
        self.output_layer = output_layer
        self.n_actions = int(n_actions)
        self.neurons_per_action = int(neurons_per_action)
        self.hidden = tuple(hidden)
        self.mode = mode
        self.scale = float(scale)
        self.output_scale = float(output_scale)
        gen = torch.Generator().manual_seed(int(seed))
        self.weights: dict[str, Tensor] = {}
        """The random feedback weights ``B`` per hidden layer, ``(n_hidden, A)``."""
        if mode == "random":
            for name in self.hidden:
                n = cast(Nodes, network.layers[name]).n
                self.weights[name] = torch.randn(n, self.n_actions, generator=gen) / math.sqrt(self.n_actions)
        else:
            for name in self.hidden:
                self._symmetric(name)  # checks that the connection exists

    def _symmetric(self, name: str) -> Tensor:
        """Weights from hidden layer ``name`` to each action's output neurons, summed per action ``(n, A)``."""
        for key, (src, tgt) in self.network.endpoints.items():
            if src == name and tgt == self.output_layer:
                weight = cast(AbstractConnection, self.network.connections[key]).weight
                if weight.dim() != 2:
                    raise ValueError(f"symmetric feedback needs a dense connection {name!r} -> {self.output_layer!r}")
                w = weight.detach().float()
                return w.view(w.shape[0], self.n_actions, -1).sum(-1)
        raise ValueError(f"symmetric feedback: no connection from {name!r} to the output layer {self.output_layer!r}")

    def signals(self, action_error: Tensor) -> dict[str, Tensor]:
        """``{layer: L}`` for an action error ``ε`` ``(B, A)``.

        Shape: output ``signals[name]``: ``(B, *layers[name].shape)``.
        """
        if action_error.dim() != 2 or action_error.shape[1] != self.n_actions:
            raise ValueError(f"action_error must have shape (B, {self.n_actions}), got {tuple(action_error.shape)}")
        layers = {name: cast(Nodes, layer) for name, layer in self.network.layers.items()}
        out: dict[str, Tensor] = {}
        if self.output_scale:
            err = action_error.repeat_interleave(self.neurons_per_action, dim=1)
            out[self.output_layer] = (err * self.output_scale).reshape(err.shape[0], *layers[self.output_layer].shape)
        for name in self.hidden:
            b = self.weights[name] if self.mode == "random" else self._symmetric(name)
            sig = action_error.to(b.device) @ b.t()
            out[name] = (sig * self.scale).reshape(sig.shape[0], *layers[name].shape)
        return out

    def state(self) -> Mapping[str, list[list[float]]]:
        """The random feedback weights as plain data (for checkpoints)."""
        return {name: w.tolist() for name, w in self.weights.items()}
