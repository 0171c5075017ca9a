r"""Action decoders: the output layer's spikes of one decision window become actions.

A decoder maps the spikes of the output population during the ``T`` steps of a decision,
``spikes`` ``(T, B, n_out)``, to one action per batch element (per environment of a vector
env). All decoders are batched, draw their randomness from their own seeded
``torch.Generator`` (``seed=``), and are bound to the action space once
(:meth:`Decoder.bind`), which checks that the output layer fits it.

Discrete action spaces (``Discrete(n)``; the output layer has ``n * neurons_per_action``
neurons, neuron ``i`` votes for action ``i // neurons_per_action``):

* :class:`CountArgmax`: the action whose neurons spiked most; ties (including "no spike at
  all") are broken uniformly at random by the decoder's generator (BindsNET always chose 0);
* :class:`SoftmaxCounts`: samples ``softmax(counts / temperature)``;
* :class:`MultinomialCounts`: samples with probability proportional to the counts (uniform
  when nothing spiked);
* :class:`FirstSpike`: the action of the earliest spike (ties at that step broken at random,
  no spike: uniform);
* :class:`PopulationVote`: each neuron that spiked at least once casts one vote for its
  action; the action with most votes wins (ties at random);
* :class:`EpsilonGreedy`: wraps any of them; with probability ``epsilon`` (optionally decaying
  linearly over the decisions made while exploring) a uniformly random action instead.

Box action spaces: :class:`RateToValue` maps each dimension's firing rate linearly onto the
dimension's bounds.

``deterministic=True`` (evaluation) makes the sampling decoders take the argmax (seeded tie
breaking) and switches off epsilon-greedy exploration and :class:`RateToValue` noise.

A decoder is plain data: ``to_spec()`` gives ``{"type": name, "params": {...}}`` and
:func:`decoder_from_spec` builds it back (unknown types and parameters are errors that name
them); ``state_dict()`` / ``load_state_dict()`` hold its generator state and counters for
checkpoints.

Shape:
    ``spikes``: ``(T, B, n_out)`` (any dtype; a population of shape ``(B, *shape)`` is flattened);
    actions: ``(B,)`` int64 (Discrete) or ``(B, *box.shape)`` float32 (Box).
"""

from __future__ import annotations

import base64
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype

__all__ = [
    "DECODERS",
    "CountArgmax",
    "Decoder",
    "DiscreteDecoder",
    "EpsilonGreedy",
    "FirstSpike",
    "MultinomialCounts",
    "PopulationVote",
    "RateToValue",
    "SoftmaxCounts",
    "action_readout",
    "decoder_from_spec",
    "register_decoder",
]

DECODERS: dict[str, type[Decoder]] = {}
"""Decoder types by name (what ``type`` in a spec or an agent preset refers to)."""


def register_decoder(cls: type[Decoder]) -> type[Decoder]:
    """Class decorator: make a decoder type known to :func:`decoder_from_spec` under its class name."""
    DECODERS[cls.__name__] = cls
    return cls


def _space_kind(space: Any) -> str:
    """``"Discrete"``, ``"Box"`` or the space's class name (no Gymnasium import needed)."""
    for cls in type(space).__mro__:
        if cls.__name__ in ("Discrete", "Box"):
            return cls.__name__
    return type(space).__name__


def _flat_spikes(spikes: Tensor, n_out: int) -> Tensor:
    if not isinstance(spikes, Tensor) or spikes.dim() < 2:
        got = tuple(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__
        raise ValueError(f"spikes must be a (T, B, n_out) tensor, got {got}")
    flat = spikes.reshape(spikes.shape[0], spikes.shape[1], -1)
    if flat.shape[2] != n_out:
        raise ValueError(f"spikes have {flat.shape[2]} output neurons per batch element; the decoder was bound "
                         f"to {n_out}")
    return flat


class Decoder(ABC):
    """Base class of decoders (see the module docstring).

    Args:
        seed: seed of the decoder's generator (None: nondeterministic).
    """

    #: the action-space kind this decoder handles
    space_kind: ClassVar[str] = "Discrete"

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = None if seed is None else checks.integer("seed", seed, 0, what="None or an int >= 0")
        self.generator = torch.Generator()
        if self.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(self.seed)
        self.action_space: Any = None
        self.n_out = 0
        self.steps = 0
        self.dt = 1.0

    # ----------------------------------------------------------------- binding
    def bind(self, action_space: Any, n_out: int, *, steps: int = 1, dt: float = 1.0,
             layer_name: str = "output") -> None:
        """Check that an output layer of ``n_out`` neurons fits ``action_space``; remember both.

        Args:
            action_space: the (single-environment) Gymnasium action space.
            n_out: number of neurons of the output layer.
            steps: steps per decision window ``T`` (rate decoders need it).
            dt: step length in ms.
            layer_name: the output layer's name, for error messages.

        Raises:
            TypeError: an action space of a kind this decoder does not decode.
            ValueError: an output layer of the wrong size.
        """
        kind = _space_kind(action_space)
        if kind != self.space_kind:
            hint = ("use RateToValue for Box action spaces" if kind == "Box"
                    else "use a Discrete decoder (CountArgmax, SoftmaxCounts, ...) for Discrete action spaces"
                    if kind == "Discrete" else "snnrl decoders handle Discrete and Box action spaces")
            raise TypeError(f"{type(self).__name__} decodes {self.space_kind} action spaces, got {action_space}; "
                            f"{hint}")
        expected = self.expected_outputs(action_space)
        if n_out != expected:
            raise ValueError(f"output layer {layer_name!r} has {n_out} neurons but {type(self).__name__}"
                             f"({self._size_text()}) on {action_space} needs {expected}")
        self.action_space = action_space
        self.n_out = n_out
        self.steps = checks.integer("steps", steps, 1)
        self.dt = checks.in_range("dt", checks.finite("dt", dt), 0.0, low_open=True)

    @abstractmethod
    def expected_outputs(self, action_space: Any) -> int:
        """Number of output neurons this decoder needs for ``action_space``."""

    def _size_text(self) -> str:
        return ""

    def _check_bound(self) -> None:
        if self.action_space is None:
            raise RuntimeError(f"{type(self).__name__} is not bound to an action space; call bind() first")

    # ---------------------------------------------------------------- decoding
    def __call__(self, spikes: Tensor, deterministic: bool = False) -> Tensor:
        """Actions for one decision window of output spikes (see the module docstring's Shape)."""
        self._check_bound()
        return self._decode(_flat_spikes(spikes, self.n_out), deterministic)

    @abstractmethod
    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        """``spikes`` ``(T, B, n_out)`` -> actions."""

    # ------------------------------------------------------------ plain data
    def params(self) -> dict[str, Any]:
        """Constructor arguments (plain data)."""
        return {"seed": self.seed} if self.seed is not None else {}

    def to_spec(self) -> dict[str, Any]:
        """``{"type": name, "params": {...}}`` (see :func:`decoder_from_spec`)."""
        return {"type": type(self).__name__, "params": self.params()}

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: the generator's state (base64) and counters."""
        return {"rng": base64.b64encode(self.generator.get_state().numpy().tobytes()).decode("ascii")}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        try:
            raw = base64.b64decode(state["rng"])
            self.generator.set_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8))
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"bad {type(self).__name__} state: {e}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class DiscreteDecoder(Decoder):
    """Base of the Discrete decoders: ``neurons_per_action`` output neurons per action.

    Args:
        neurons_per_action: size of each action's population (neurons ``a * k ... a * k + k - 1``
            belong to action ``a``).
        seed: seed of the decoder's generator.
    """

    def __init__(self, *, neurons_per_action: int = 1, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.neurons_per_action = checks.integer("neurons_per_action", neurons_per_action, 1)

    @property
    def n_actions(self) -> int:
        """Number of actions of the bound space."""
        self._check_bound()
        return int(self.action_space.n)

    def expected_outputs(self, action_space: Any) -> int:
        return int(action_space.n) * self.neurons_per_action

    def _size_text(self) -> str:
        return f"neurons_per_action={self.neurons_per_action}"

    def params(self) -> dict[str, Any]:
        return {"neurons_per_action": self.neurons_per_action, **super().params()}

    def counts(self, spikes: Tensor) -> Tensor:
        """Spike counts per action. Shape: ``(T, B, n_out)`` -> ``(B, n_actions)`` float32."""
        c = spikes.sum(0, dtype=torch.float32) if spikes.dtype == torch.bool else spikes.float().sum(0)
        if self.neurons_per_action > 1:
            c = c.view(c.shape[0], -1, self.neurons_per_action).sum(-1)
        return c

    def _offset(self, index: Tensor) -> Tensor:
        start = int(getattr(self.action_space, "start", 0))
        return index + start if start else index

    def argmax(self, scores: Tensor) -> Tensor:
        """Index of the largest score per row, ties broken uniformly at random (seeded).

        Shape: ``(B, A)`` -> ``(B,)`` int64.
        """
        noise = torch.rand(scores.shape, generator=self.generator)
        if scores.is_cpu and scores.dtype == noise.dtype and not scores.requires_grad:
            # the same float32 operations in NumPy, in a tenth of the time of the tensor calls
            s, u = scores.numpy(), noise.numpy()
            top = s == s.max(axis=1, keepdims=True)
            return torch.from_numpy(np.where(top, u + np.float32(1.0), np.float32(0.0)).argmax(axis=1))
        noise = noise.to(scores.device)
        top = scores == scores.max(dim=1, keepdim=True).values
        return torch.where(top, noise + 1.0, torch.zeros_like(noise)).argmax(dim=1)

    def probabilities(self, counts: Tensor) -> Tensor:
        """The policy's action probabilities given the window's counts per action.

        The greedy decoders' policy: uniform over the actions with the most spikes (the ties
        the decoder breaks at random). Sampling decoders override it with their distribution.

        Shape: ``(B, A)`` -> ``(B, A)``, rows sum to 1.
        """
        top = (counts == counts.max(dim=1, keepdim=True).values).float()
        return top / top.sum(1, keepdim=True)

    def action_error(self, spikes: Tensor, actions: Tensor) -> Tensor:
        r"""The readout's error per action, ``1[a = k] - π_k`` (what a learning signal needs).

        For a softmax policy over counts this is the derivative of ``log π_a`` with respect to
        the counts (times the temperature): a positive modulator times it makes the chosen
        action more likely and the others less, and its expectation under the policy is zero.

        Shape:
            ``spikes``: ``(T, B, n_out)``; ``actions``: ``(B,)`` as this decoder returned them;
            output ``(B, A)`` float32.
        """
        probs, index = self._policy_at(spikes, actions)
        return torch.zeros_like(probs).scatter_(1, index, 1.0).sub_(probs)

    def action_probability(self, spikes: Tensor, actions: Tensor) -> Tensor:
        """``π(a|s)`` of the actions taken under this decoder's policy (:meth:`probabilities`).

        Shape: ``spikes`` ``(T, B, n_out)``, ``actions`` ``(B,)`` -> ``(B,)`` float32.
        """
        probs, index = self._policy_at(spikes, actions)
        return probs.gather(1, index).squeeze(1)

    def _policy_at(self, spikes: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """The probabilities ``(B, A)`` of the window and the actions as column indices ``(B, 1)``."""
        self._check_bound()
        probs = self.probabilities(self.counts(_flat_spikes(spikes, self.n_out)))
        start = int(getattr(self.action_space, "start", 0))
        index = actions.to(device=probs.device, dtype=torch.long).reshape(-1, 1) - start
        if index.shape[0] != probs.shape[0] or bool(((index < 0) | (index >= probs.shape[1])).any()):
            raise ValueError(f"actions must be ({probs.shape[0]},) values of the action space, got "
                             f"{actions.tolist()}")
        return probs, index

    def neuron_error(self, spikes: Tensor, actions: Tensor) -> Tensor:
        """:meth:`action_error` for each output neuron (the error of the action it votes for).

        Shape: as :meth:`action_error`; output ``(B, n_out)``.
        """
        err = self.action_error(spikes, actions)
        return err.repeat_interleave(self.neurons_per_action, dim=1) if self.neurons_per_action > 1 else err

    def sample(self, probs: Tensor) -> Tensor:
        """One draw per row from ``probs`` ``(B, A)`` (rows sum to 1) -> ``(B,)`` int64."""
        u = torch.rand(probs.shape[0], 1, generator=self.generator).to(probs.device)
        cdf = probs.cumsum(1)
        index = (cdf < u * cdf[:, -1:]).sum(1)
        return index.clamp_(max=probs.shape[1] - 1)


@register_decoder
class CountArgmax(DiscreteDecoder):
    """The action whose neurons spiked most; ties (and silence) broken at random (seeded)."""

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        return self._offset(self.argmax(self.counts(spikes)))


@register_decoder
class SoftmaxCounts(DiscreteDecoder):
    """Samples ``softmax(counts / temperature)``; the argmax when deterministic.

    Args:
        temperature: softmax temperature in spikes (> 0); with counts of 0-16 per window a
            temperature of 1-4 keeps exploring.
        neurons_per_action, seed: see :class:`DiscreteDecoder`.
    """

    def __init__(self, *, temperature: float = 1.0, neurons_per_action: int = 1, seed: int | None = None) -> None:
        super().__init__(neurons_per_action=neurons_per_action, seed=seed)
        self.temperature = checks.in_range("temperature", checks.finite("temperature", temperature), 0.0,
                                           low_open=True)

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, **super().params()}

    def probabilities(self, counts: Tensor) -> Tensor:
        return torch.softmax(counts / self.temperature, dim=1)

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        counts = self.counts(spikes)
        if deterministic:
            return self._offset(self.argmax(counts))
        return self._offset(self.sample(self.probabilities(counts)))


@register_decoder
class MultinomialCounts(DiscreteDecoder):
    """Samples an action with probability proportional to its spike count (uniform without
    spikes); the argmax when deterministic."""

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        counts = self.counts(spikes)
        if deterministic:
            return self._offset(self.argmax(counts))
        return self._offset(self.sample(self.probabilities(counts)))

    def probabilities(self, counts: Tensor) -> Tensor:
        total = counts.sum(1, keepdim=True)
        return torch.where(total > 0, counts / total.clamp(min=1e-12), torch.full_like(counts, 1.0 / counts.shape[1]))


@register_decoder
class FirstSpike(DiscreteDecoder):
    """The action of the earliest output spike; among actions that first spike in the same step,
    the one with more spikes in that step, remaining ties at random; no spike: uniform."""

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        per_step = as_dtype(spikes, torch.float32)
        if self.neurons_per_action > 1:
            per_step = per_step.view(*per_step.shape[:2], -1, self.neurons_per_action).sum(-1)  # (T, B, A)
        steps = per_step.shape[0]
        any_spike = per_step > 0
        t_idx = torch.arange(steps, device=per_step.device).view(steps, 1, 1).expand_as(per_step)
        first = torch.where(any_spike, t_idx, torch.full_like(t_idx, steps)).amin(0)  # (B, A)
        earliest = first.amin(1, keepdim=True)  # (B, 1)
        count_then = per_step.gather(0, earliest.clamp(max=steps - 1).unsqueeze(0).expand(1, *first.shape))[0]
        score = torch.where(first == earliest, 1.0 + count_then, torch.zeros_like(count_then))
        return self._offset(self.argmax(score))


@register_decoder
class PopulationVote(DiscreteDecoder):
    """Each neuron that spiked at least once votes for its action; most votes wins (ties at
    random). With ``neurons_per_action=1`` it is "any spike" voting."""

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        voted = (spikes != 0).any(0).float()  # (B, n_out)
        votes = voted.view(voted.shape[0], -1, self.neurons_per_action).sum(-1)
        return self._offset(self.argmax(votes))


@register_decoder
class EpsilonGreedy(Decoder):
    r"""Any Discrete decoder plus epsilon-greedy exploration.

    While exploring (``deterministic=False``), decision ``k`` (counted from 0 across calls,
    per batch element) takes a uniformly random action with probability

    .. math:: \epsilon_k = \epsilon_0 + (\epsilon_1 - \epsilon_0) \min(1, k / K)

    (``epsilon``, ``final_epsilon``, ``decay_decisions`` ``K``; ``K = 0`` keeps ``epsilon``).
    Deterministic decisions use the inner decoder's deterministic choice and are not counted.

    Args:
        decoder: the inner decoder, an instance or its spec ``{"type": ..., "params": ...}``.
        epsilon: ``ε_0`` in ``[0, 1]``.
        final_epsilon: ``ε_1`` (default: ``epsilon``).
        decay_decisions: ``K`` >= 0.
        seed: seed of this wrapper's generator (the inner decoder has its own).
    """

    def __init__(self, *, decoder: Decoder | Mapping[str, Any], epsilon: float = 0.1,
                 final_epsilon: float | None = None, decay_decisions: int = 0, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        inner = decoder_from_spec(decoder, "decoder.params.decoder") if isinstance(decoder, Mapping) else decoder
        if not isinstance(inner, DiscreteDecoder):
            raise TypeError(f"EpsilonGreedy wraps a Discrete decoder, got {inner!r}")
        self.decoder = inner
        self.epsilon = checks.in_range("epsilon", checks.finite("epsilon", epsilon), 0.0)
        self.final_epsilon = (self.epsilon if final_epsilon is None
                              else checks.in_range("final_epsilon", checks.finite("final_epsilon", final_epsilon), 0.0))
        if self.epsilon > 1 or self.final_epsilon > 1:
            raise ValueError(f"epsilon and final_epsilon must be in [0, 1], got {epsilon!r}, {final_epsilon!r}")
        self.decay_decisions = checks.integer("decay_decisions", decay_decisions, 0)
        self.decisions = 0

    def expected_outputs(self, action_space: Any) -> int:
        return self.decoder.expected_outputs(action_space)

    def _size_text(self) -> str:
        return self.decoder._size_text()

    def bind(self, action_space: Any, n_out: int, *, steps: int = 1, dt: float = 1.0,
             layer_name: str = "output") -> None:
        self.decoder.bind(action_space, n_out, steps=steps, dt=dt, layer_name=layer_name)
        super().bind(action_space, n_out, steps=steps, dt=dt, layer_name=layer_name)

    @property
    def current_epsilon(self) -> float:
        """``ε`` of the next exploring decision."""
        if self.decay_decisions == 0:
            return self.epsilon
        frac = min(1.0, self.decisions / self.decay_decisions)
        return self.epsilon + (self.final_epsilon - self.epsilon) * frac

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        action = self.decoder._decode(spikes, deterministic)
        if deterministic:
            return action
        eps = self.current_epsilon
        self.decisions += 1
        b = action.shape[0]
        u = torch.rand(b, generator=self.generator)
        rand = torch.randint(int(self.action_space.n), (b,), generator=self.generator)
        rand = self.decoder._offset(rand)
        return torch.where((u < eps).to(action.device), rand.to(action.device), action)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decoder": self.decoder.to_spec(), "epsilon": self.epsilon,
                               "final_epsilon": self.final_epsilon, "decay_decisions": self.decay_decisions}
        return {**out, **super().params()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "decisions": self.decisions, "decoder": self.decoder.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        try:
            self.decisions = int(state["decisions"])
            self.decoder.load_state_dict(state["decoder"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"bad EpsilonGreedy state: {e}") from None


@register_decoder
class RateToValue(Decoder):
    r"""Box actions from firing rates: each action dimension has ``neurons_per_dim`` neurons whose
    mean firing rate ``rho`` (Hz) maps linearly onto the dimension's bounds:

    .. math:: a_d = \text{low}_d + (\text{high}_d - \text{low}_d)\,\min(1, \rho_d / \rho_{max})

    While exploring, Gaussian noise of ``noise_std`` (in units of ``high - low``) is added
    before clipping to the bounds; deterministic decisions have none.

    Args:
        neurons_per_dim: neurons per action dimension (in flat order of the Box's elements).
        max_rate: the rate ``rho_max`` (Hz) that maps to ``high``.
        noise_std: exploration noise (fraction of the range), >= 0.
        seed: seed of the noise generator.
    """

    space_kind = "Box"

    def __init__(self, *, neurons_per_dim: int = 1, max_rate: float = 200.0, noise_std: float = 0.0,
                 seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.neurons_per_dim = checks.integer("neurons_per_dim", neurons_per_dim, 1)
        self.max_rate = checks.in_range("max_rate", checks.finite("max_rate", max_rate), 0.0, low_open=True)
        self.noise_std = checks.in_range("noise_std", checks.finite("noise_std", noise_std), 0.0)

    def expected_outputs(self, action_space: Any) -> int:
        return int(math.prod(action_space.shape)) * self.neurons_per_dim

    def _size_text(self) -> str:
        return f"neurons_per_dim={self.neurons_per_dim}"

    def bind(self, action_space: Any, n_out: int, *, steps: int = 1, dt: float = 1.0,
             layer_name: str = "output") -> None:
        super().bind(action_space, n_out, steps=steps, dt=dt, layer_name=layer_name)
        import numpy as np

        low = np.asarray(action_space.low, dtype=np.float64)
        high = np.asarray(action_space.high, dtype=np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            self.action_space = None
            raise ValueError(f"RateToValue needs a Box with finite bounds, got {action_space}")
        self._low = torch.as_tensor(low, dtype=torch.float32).reshape(-1)
        self._span = torch.as_tensor(high - low, dtype=torch.float32).reshape(-1)
        self._shape = tuple(action_space.shape)

    def params(self) -> dict[str, Any]:
        return {"neurons_per_dim": self.neurons_per_dim, "max_rate": self.max_rate, "noise_std": self.noise_std,
                **super().params()}

    def rates(self, spikes: Tensor) -> Tensor:
        """Mean rate (Hz) per action dimension. Shape: ``(T, B, n_out)`` -> ``(B, D)``."""
        counts = as_dtype(spikes, torch.float32).sum(0)
        counts = counts.view(counts.shape[0], -1, self.neurons_per_dim).mean(-1)
        return counts * (1000.0 / (spikes.shape[0] * self.dt))

    def _decode(self, spikes: Tensor, deterministic: bool) -> Tensor:
        frac = (self.rates(spikes) / self.max_rate).clamp(0.0, 1.0)
        if not deterministic and self.noise_std > 0:
            frac = frac + self.noise_std * torch.randn(frac.shape, generator=self.generator).to(frac.device)
            frac = frac.clamp(0.0, 1.0)
        low, span = self._low.to(frac.device), self._span.to(frac.device)
        return (low + span * frac).view(frac.shape[0], *self._shape)


def action_readout(decoder: Decoder) -> DiscreteDecoder | None:
    """The Discrete decoder whose action error (``1[a = k] - π_k``) a learning signal feeds back:
    the decoder itself, the inner decoder of an :class:`EpsilonGreedy` (its random actions are
    credited through the inner policy's probabilities, as ε-soft actor-critics do), or None for
    decoders of other action spaces."""
    if isinstance(decoder, EpsilonGreedy):
        return decoder.decoder
    return decoder if isinstance(decoder, DiscreteDecoder) else None


def decoder_from_spec(entry: Mapping[str, Any] | Decoder, path: str = "decoder") -> Decoder:
    """Build a decoder from ``{"type": name, "params": {...}}`` (or pass an instance through).

    Raises:
        ValueError: unknown keys, type or parameters, or parameters the constructor rejects; the
            message starts with ``path``.
    """
    if isinstance(entry, Decoder):
        return entry
    if not isinstance(entry, Mapping):
        raise ValueError(f"{path} must be a table {{type = ..., params = {{...}}}}, got {entry!r}")
    unknown = [k for k in entry if k not in ("type", "params")]
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; valid keys: ['type', 'params']")
    name = entry.get("type")
    if name not in DECODERS:
        raise ValueError(f"{path}.type: unknown decoder {name!r}; known decoders: {sorted(DECODERS)}")
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"{path}.params must be a table, got {params!r}")
    cls = DECODERS[name]
    import inspect

    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params:
        if key not in accepted:
            raise ValueError(f"{path}.params.{key}: unknown parameter of {name}; valid: {accepted}")
    try:
        return cls(**dict(params))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}.params: {name} rejected its parameters: {e}") from e
