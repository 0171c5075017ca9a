"""The spiking policy: a network, an optional encoder and a decoder, answering for actions.

:class:`SpikingPolicy` turns observations into actions. For every decision it

1. encodes the observation into a spike train of ``T`` steps (or takes the spike train that an
   encoding environment already produced: ``(T, *shape)`` per environment);
2. runs the network for those ``T`` steps (its membrane state carries over from the previous
   decision of the same episode);
3. decodes the output layer's spikes of the window into an action.

It answers stable-baselines3's ``predict(obs, state, episode_start, deterministic)`` with batched
observations, so ``stable_baselines3.common.evaluation.evaluate_policy`` runs it unchanged, and a
plain :meth:`SpikingPolicy.act` for Gymnasium loops. ``predict`` and ``act`` never learn (the
network is switched to evaluation mode for the window); learning is the episode pipeline's job
(:mod:`snnrl.pipeline`), which calls :meth:`SpikingPolicy.decide` with ``learn=True``.

State contract of ``predict``: the membrane state lives in the network (batch element ``i`` =
environment ``i``); the ``state`` returned is an opaque token. Pass it back on the next call to
continue; ``state=None`` starts every environment from rest; ``episode_start`` ``(n_envs,)``
resets the environments where it is True. A token from an older call is rejected (the state it
stood for is gone).

Shape:
    ``predict``: observations ``(n_envs, *observation_space.shape)`` (or one unbatched
    observation) -> actions ``(n_envs, *action_space.shape)`` (or one action).
"""

from __future__ import annotations

import base64
import itertools
import math
import os
from collections.abc import Mapping
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from torch import Tensor

from snnrl.learning.base import LearningRule
from snnrl.network import Input, Monitor, Network, Nodes
from snnrl.policy.decoders import Decoder, decoder_from_spec
from snnrl.policy.spaces import space_from_dict, space_to_dict

__all__ = ["PolicyState", "SpikingPolicy", "load_policy"]

_METADATA_KEY = "snnrl_policy"
_MONITOR_PREFIX = "__policy__"
_TOKENS = itertools.count(1)


class PolicyState(NamedTuple):
    """Opaque token returned by :meth:`SpikingPolicy.predict` (pass it back to continue)."""

    policy: int
    call: int
    n_envs: int


def _rng_to_text(gen: torch.Generator) -> str:
    return base64.b64encode(gen.get_state().numpy().tobytes()).decode("ascii")


def _rng_from_text(gen: torch.Generator, text: str) -> None:
    gen.set_state(torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8))


class SpikingPolicy:
    """A spiking network acting in a Gymnasium environment.

    Args:
        network: the network (learned weights, rules, ...).
        decoder: the action decoder (an instance or its spec); bound to ``action_space`` here.
        observation_space: the single-environment observation space: a spike train
            ``Box(0, 1, (T, *shape))`` from an encoding environment when ``encoder`` is None,
            else the raw observation space the encoder encodes.
        action_space: the single-environment action space (``Discrete`` or ``Box``).
        input_layer: the layer the spikes go into (default: the first ``Input`` layer).
        output_layer: the layer that is decoded (default: the last layer).
        encoder: an :class:`snnrl.encoding.Encoder` (or None when the environment encodes).
            It maps a batch of observations ``(B, *shape)`` to ``(T, B, *input shape)``.
        carry_state: keep the membrane state from one decision to the next within an episode
            (default); False puts the populations at rest before every decision (voltages,
            spikes, traces; the learning rules' eligibility still carries over, so a delayed
            reward can reach earlier decisions).
        voltage_noise: standard deviation (mV) of Gaussian noise added to the output layer's
            membrane potentials at the first step of every decision window (also when
            ``deterministic``: it is part of the network, like the input's spike noise). It breaks
            the ties of a winner-take-all race under dense input, where every output neuron
            would cross threshold in the same step, and makes the choice stochastic.
        noise_seed: seed of the noise's generator.

    Raises:
        ValueError: an observation that does not fit the input layer, or an output layer that
            does not fit the action space (the message names both).
        TypeError: an action space the decoder does not decode (e.g. Box with a Discrete decoder).
    """

    def __init__(
        self,
        network: Network,
        decoder: Decoder | Mapping[str, Any],
        *,
        observation_space: Any,
        action_space: Any,
        input_layer: str | None = None,
        output_layer: str | None = None,
        encoder: Any = None,
        carry_state: bool = True,
        voltage_noise: float = 0.0,
        noise_seed: int | None = None,
    ) -> None:
        if not isinstance(network, Network):
            raise TypeError(f"network must be a snnrl Network, got {type(network).__name__}")
        if not network.layers:
            raise ValueError("the network has no layers")
        self.network = network
        if input_layer is None:
            inputs = [n for n, layer in network.layers.items() if isinstance(layer, Input)]
            if not inputs:
                raise ValueError("the network has no Input layer; name the input layer with input_layer=")
            input_layer = inputs[0]
        if output_layer is None:
            output_layer = list(network.layers)[-1]
        for role, name in (("input_layer", input_layer), ("output_layer", output_layer)):
            if name not in network.layers:
                raise ValueError(f"{role} {name!r} is not a layer of the network; layers: {list(network.layers)}")
        if input_layer == output_layer:
            raise ValueError(f"input_layer and output_layer are the same layer ({input_layer!r})")
        if not isinstance(carry_state, bool):
            raise ValueError(f"carry_state must be a bool, got {carry_state!r}")
        if isinstance(voltage_noise, bool) or not isinstance(voltage_noise, (int, float)) or not voltage_noise >= 0:
            raise ValueError(f"voltage_noise must be a number >= 0 (mV), got {voltage_noise!r}")
        self.voltage_noise = float(voltage_noise)
        self.noise_seed = noise_seed
        self.noise_generator = torch.Generator()
        if noise_seed is None:
            self.noise_generator.seed()
        else:
            self.noise_generator.manual_seed(int(noise_seed))
        self.input_layer = input_layer
        self.output_layer = output_layer
        self.encoder = encoder
        self.carry_state = carry_state
        self.observation_space = observation_space
        self.action_space = action_space
        self.decoder = decoder_from_spec(decoder)
        self.steps = self._window_steps()
        self._check_observation()
        out = network.layers[output_layer]
        self.decoder.bind(action_space, out.n, steps=self.steps, dt=network.dt, layer_name=output_layer)
        self._out_monitor = Monitor(out, ["s"], time=self.steps)
        self._record: dict[str, Monitor] = {}
        self.last_spikes: dict[str, Tensor] = {}
        """Spikes of the last window per layer (``(T, B, *shape)``) when :attr:`record` is on."""
        self.last_output: Tensor | None = None
        """The output layer's spikes of the last window, ``(T, B, n_out)``."""
        self.last_input: Tensor | None = None
        """The input of the last window, ``(T, B, *input shape)``."""
        self._id = next(_TOKENS)
        self._calls = 0

    # ------------------------------------------------------------------ set-up
    def _window_steps(self) -> int:
        if self.encoder is not None:
            steps = getattr(self.encoder, "steps", None)
            if not isinstance(steps, int) or steps < 1:
                raise TypeError(f"encoder must be a snnrl Encoder with a number of steps, got {self.encoder!r}")
            return steps
        shape = tuple(getattr(self.observation_space, "shape", None) or ())
        if len(shape) < 1:
            raise ValueError(f"without an encoder the observations must be spike trains (T, *shape); "
                             f"the observation space is {self.observation_space}. Give an encoder, or use an "
                             "environment preset with an [encoder]")
        return int(shape[0])

    def _check_observation(self) -> None:
        layer = self.network.layers[self.input_layer]
        space = self.observation_space
        sample = np.zeros(space.shape, dtype=getattr(space, "dtype", np.float32))
        try:
            x = self._encode(torch.as_tensor(sample).unsqueeze(0), check=False)
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"cannot encode an observation of {space} with {self.encoder!r}: {e}") from None
        if x.shape[0] != self.steps or x.shape[1] != 1:
            raise ValueError(f"the encoder gave shape {tuple(x.shape)} for one observation; expected "
                             f"(T={self.steps}, 1, ...)")
        per_step = tuple(x.shape[2:])
        if per_step != layer.shape and not (len(layer.shape) == 1 and math.prod(per_step) == layer.n):
            what = "the encoded observation" if self.encoder is not None else "the observation (T, *shape)"
            raise ValueError(f"{what} has shape {per_step} per step but input layer {self.input_layer!r} has shape "
                             f"{layer.shape}; they must match (or the layer must be 1-D with "
                             f"{math.prod(per_step)} neurons)")

    # ------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        """The network's device."""
        return self.network.layers[self.input_layer]._device

    @property
    def record(self) -> bool:
        """Record every non-input layer's spikes of each window into :attr:`last_spikes`."""
        return bool(self._record)

    @record.setter
    def record(self, on: bool) -> None:
        if on and not self._record:
            self._record = {name: Monitor(layer, ["s"], time=self.steps) for name, layer in
                            self.network.layers.items() if not isinstance(layer, Input)}
        elif not on:
            self._record = {}
            self.last_spikes = {}

    # ---------------------------------------------------------------- encoding
    def _encode(self, obs: Tensor, check: bool = True) -> Tensor:
        """``(B, *obs shape)`` -> ``(T, B, *input shape)`` on the network's device."""
        layer = self.network.layers[self.input_layer]
        device = layer._device
        if self.encoder is None:
            x = obs.to(device).movedim(1, 0)  # (B, T, ...) -> (T, B, ...)
        else:
            x = self.encoder(obs.to(device=device, dtype=torch.float32))
        if x.dtype == torch.uint8:
            x = x.bool()
        elif x.dtype != torch.bool and not x.is_floating_point():
            x = x.float()
        elif x.is_floating_point() and x.dtype != torch.float32:
            x = x.float()
        if check:
            return x.reshape(x.shape[0], x.shape[1], *layer.shape)
        return x

    def obs_to_input(self, obs: Any) -> Tensor:
        """A batch of observations ``(B, *observation_space.shape)`` (numpy or torch) as network input
        ``(T, B, *input shape)``."""
        t = obs if isinstance(obs, Tensor) else torch.as_tensor(np.asarray(obs))
        shape = tuple(self.observation_space.shape)
        if tuple(t.shape[1:]) != shape:
            raise ValueError(f"observations have shape {tuple(t.shape)}; expected (n_envs, *{shape})")
        return self._encode(t)

    # ---------------------------------------------------------------- decisions
    def decide(self, x: Tensor, *, deterministic: bool = False, learn: bool = False) -> Tensor:
        """Run one decision window on network input ``x`` and decode the action.

        With ``learn=True`` the network is in training mode and runs with ``reward=0.0``: its
        two-factor rules learn and its three-factor rules build eligibility, to be modulated by
        ``network.deliver_reward`` once the environment's reward is known.

        Shape:
            ``x``: ``(T, B, *input shape)``; output: ``(B,)`` or ``(B, *box shape)`` (a tensor).
        """
        net = self.network
        if net.training != learn:
            net.train(learn)
        if not self.carry_state:  # neurons at rest; the learning rules' eligibility carries on
            for layer in net.layers.values():
                layer.reset_state_variables()
            if learn:
                for conn in net.connections.values():
                    if isinstance(conn.rule, LearningRule):
                        conn.rule.reset_neuron_state()
        monitors = net.monitors
        monitors[_MONITOR_PREFIX + "out"] = self._out_monitor
        for name, mon in self._record.items():
            monitors[_MONITOR_PREFIX + name] = mon
        try:
            self._out_monitor.reset_state_variables()
            for mon in self._record.values():
                mon.reset_state_variables()
            noise = self._noise(x)
            if noise is not None:  # into the first step only: no per-step injection of zeros
                if x.dim() >= 2 and net.batch_size != x.shape[1]:
                    net.set_batch_size(x.shape[1])  # as run() would, before the injection
                cast(Nodes, net.layers[self.output_layer]).inject_v(noise)
            net.run({self.input_layer: x}, reward=0.0 if learn else None)
        finally:
            for key in [k for k in monitors if k.startswith(_MONITOR_PREFIX)]:
                del monitors[key]
        out = self._out_monitor.get("s")
        self.last_output = out
        self.last_input = x
        if self._record:
            self.last_spikes = {name: mon.get("s") for name, mon in self._record.items()}
        return self.decoder(out, deterministic=deterministic)

    def _noise(self, x: Tensor) -> Tensor | None:
        """The voltage noise of one window's first step, ``(B, *output shape)`` (None without noise).

        It is added to ``v`` just before the run, which is what ``run(inject_v=...)`` does at step 0;
        injecting zeros at the other steps would only cost time (``v + 0`` is ``v``)."""
        if not self.voltage_noise:
            return None
        layer = self.network.layers[self.output_layer]
        noise = torch.randn((x.shape[1], *layer.shape), generator=self.noise_generator) * self.voltage_noise
        return noise.to(layer._device)

    def reset(self, mask: Any = None) -> None:
        """Put the network at rest: every environment, or those where ``mask`` ``(n_envs,)`` is True."""
        if mask is None:
            self.network.reset_state_variables()
            return
        m = torch.as_tensor(np.asarray(mask, dtype=bool)) if not isinstance(mask, Tensor) else mask.bool()
        if bool(m.all()) and m.shape == (self.network.batch_size,):
            self.network.reset_state_variables()
        elif bool(m.any()):
            self.network.reset_state_variables(m.to(self.device))

    def to_env_action(self, actions: Tensor) -> np.ndarray:
        """Decoder output as the numpy array a (vector) environment takes."""
        a = actions.detach().cpu().numpy()
        kind = [c.__name__ for c in type(self.action_space).__mro__]
        if "Box" in kind:
            return a.astype(self.action_space.dtype, copy=False)
        return a.astype(np.int64, copy=False)

    # ------------------------------------------------------------- SB3 / Gym
    def predict(
        self,
        observation: Any,
        state: PolicyState | None = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, PolicyState]:
        """Actions for a batch of observations (stable-baselines3's ``PolicyPredictor`` protocol).

        Args:
            observation: ``(n_envs, *observation_space.shape)`` or one observation.
            state: the token of the previous call (continue) or None (start from rest).
            episode_start: bool ``(n_envs,)``: environments whose episode starts here are reset.
            deterministic: decode without sampling or exploration.

        Returns:
            ``(actions, state)``: actions ``(n_envs, ...)`` (unbatched for one observation) and
            the token to pass back next time.
        """
        obs = observation if isinstance(observation, Tensor) else np.asarray(observation)
        shape = tuple(self.observation_space.shape)
        single = tuple(obs.shape) == shape
        if single:
            obs = obs[None]
        n_envs = int(obs.shape[0])
        net = self.network
        fresh = state is None
        if not fresh:
            if not isinstance(state, PolicyState) or state.policy != self._id or state.call != self._calls:
                raise ValueError("state must be the token returned by this policy's previous predict call "
                                 "(or None to start from rest)")
            if state.n_envs != n_envs:
                raise ValueError(f"the state was for {state.n_envs} environments, the observations are for {n_envs}")
        if n_envs != net.batch_size:
            net.set_batch_size(n_envs)
            fresh = True
        if fresh:
            net.reset_state_variables()
        elif episode_start is not None:
            start = np.asarray(episode_start, dtype=bool).reshape(-1)
            if start.shape != (n_envs,):
                raise ValueError(f"episode_start must have shape ({n_envs},), got {start.shape}")
            self.reset(start)
        with torch.no_grad():
            actions = self.decide(self.obs_to_input(obs), deterministic=deterministic, learn=False)
        self._calls += 1
        out = self.to_env_action(actions)
        return (out[0] if single else out), PolicyState(self._id, self._calls, n_envs)

    def act(self, observation: Any, deterministic: bool = False) -> Any:
        """The action for one observation of a single (non-vector) environment.

        The membrane state carries over between calls; call :meth:`reset` when an episode starts.
        Returns an ``int`` for ``Discrete`` spaces, a numpy array for ``Box`` spaces.
        """
        obs = observation if isinstance(observation, Tensor) else np.asarray(observation)
        if tuple(obs.shape) != tuple(self.observation_space.shape):
            raise ValueError(f"act() takes one observation of shape {tuple(self.observation_space.shape)}, got "
                             f"{tuple(obs.shape)}; use predict() for batches")
        if self.network.batch_size != 1:
            self.network.set_batch_size(1)
        with torch.no_grad():
            actions = self.decide(self.obs_to_input(obs[None]), deterministic=deterministic, learn=False)
        self._calls += 1
        a = self.to_env_action(actions)[0]
        return int(a) if a.ndim == 0 else a

    # --------------------------------------------------------- checkpoints
    def config(self) -> dict[str, Any]:
        """The policy's configuration and decoder/encoder random state as plain data."""
        from snnrl.network.spec import component_to_spec

        encoder = None
        encoder_rng = None
        if self.encoder is not None:
            encoder = component_to_spec(self.encoder, "encoder")
            gen = getattr(self.encoder, "generator", None)
            if isinstance(gen, torch.Generator):
                encoder_rng = _rng_to_text(gen)
        return {
            "version": 1,
            "input_layer": self.input_layer,
            "output_layer": self.output_layer,
            "carry_state": self.carry_state,
            "voltage_noise": self.voltage_noise,
            "noise_seed": self.noise_seed,
            "noise_rng": _rng_to_text(self.noise_generator),
            "decoder": self.decoder.to_spec(),
            "decoder_state": self.decoder.state_dict(),
            "encoder": encoder,
            "encoder_rng": encoder_rng,
            "observation_space": space_to_dict(self.observation_space),
            "action_space": space_to_dict(self.action_space),
        }

    def save(self, path: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None) -> None:
        """Write the policy (network spec + tensors, decoder, encoder, spaces) to a snnrl checkpoint.

        ``metadata`` (plain data) is stored next to it; :func:`load_policy` returns it.
        """
        from snnrl.checkpoint import save_checkpoint

        meta = dict(metadata or {})
        if _METADATA_KEY in meta:
            raise ValueError(f"metadata key {_METADATA_KEY!r} is reserved")
        meta[_METADATA_KEY] = self.config()
        net = self.network
        # Rules size their state in training mode only; after evaluation at another batch size
        # the spec must name the batch size their saved state has (the populations adapt anyway).
        sizes = {int(c.rule.batch_size) for c in net.connections.values()
                 if c.rule is not None and getattr(c.rule, "batch_size", 0)}
        batch = net.batch_size
        if len(sizes) == 1 and batch not in sizes:
            net.batch_size = sizes.pop()
        try:
            save_checkpoint(net, os.fspath(path), meta)
        finally:
            net.batch_size = batch

    @classmethod
    def from_config(cls, network: Network, config: Mapping[str, Any]) -> SpikingPolicy:
        """Rebuild a policy around ``network`` from :meth:`config`'s output."""
        from snnrl.network.spec import component_from_spec

        try:
            encoder = None
            if config.get("encoder") is not None:
                encoder = component_from_spec("encoder", config["encoder"])
            policy = cls(
                network,
                decoder_from_spec(config["decoder"]),
                observation_space=space_from_dict(config["observation_space"]),
                action_space=space_from_dict(config["action_space"]),
                input_layer=config["input_layer"],
                output_layer=config["output_layer"],
                encoder=encoder,
                carry_state=bool(config.get("carry_state", True)),
                voltage_noise=float(config.get("voltage_noise", 0.0)),
                noise_seed=config.get("noise_seed"),
            )
            if config.get("noise_rng") is not None:
                _rng_from_text(policy.noise_generator, config["noise_rng"])
            policy.decoder.load_state_dict(config["decoder_state"])
            if encoder is not None and config.get("encoder_rng") is not None:
                _rng_from_text(encoder.generator, config["encoder_rng"])
        except KeyError as e:
            raise ValueError(f"the policy configuration lacks {e.args[0]!r}") from None
        return policy

    @classmethod
    def load(cls, path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> SpikingPolicy:
        """Load a policy written by :meth:`save`."""
        return load_policy(path, map_location)[0]


def load_policy(path: str | os.PathLike[str],
                map_location: str | torch.device = "cpu") -> tuple[SpikingPolicy, dict[str, Any]]:
    """Load a policy written by :meth:`SpikingPolicy.save`; returns ``(policy, metadata)``.

    Raises:
        snnrl.checkpoint.CheckpointError: not a valid checkpoint, or a network checkpoint without
            a policy in it.
    """
    from snnrl.checkpoint import CheckpointError, load_checkpoint

    ckpt = load_checkpoint(path, map_location)
    metadata = dict(ckpt.metadata)
    config = metadata.pop(_METADATA_KEY, None)
    if not isinstance(config, Mapping):
        raise CheckpointError(f"{os.fspath(path)}: a network checkpoint without a policy (no {_METADATA_KEY!r} "
                              "metadata); load it with snnrl.checkpoint.load_checkpoint")
    return SpikingPolicy.from_config(ckpt.network, config), metadata
