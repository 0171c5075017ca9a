"""Build what an agent preset describes: environments, the policy, the reward signal, the critic."""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from snnrl.pipeline.agent import AgentConfig, AgentError

__all__ = ["action_meanings", "build_envs", "build_network", "build_policy", "build_reward_signal", "derive_seed",
           "env_factories", "env_preset", "tie_mirror"]

_SEEDED_INITS = ("uniform", "normal")


def derive_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed derived from ``seed`` and ``keys`` (stable across versions and platforms)."""
    state = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in keys)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def env_preset(config: AgentConfig) -> Any:
    """The environment preset with the agent's ``[env]`` ``make``/``encoder`` changes applied."""
    from snnrl.envs import PresetError, load_preset

    try:
        preset = load_preset(config.env.preset)
        changes: dict[str, Any] = {}
        if config.env.make is not None:
            changes["make"] = {**preset.make, **config.env.make}
        if config.env.encoder is not None:
            changes["encoder"] = dict(config.env.encoder)
        if changes:
            preset = dataclasses.replace(preset, **changes)
            preset = type(preset).from_dict(
                {"id": preset.id, "description": preset.description, "make": dict(preset.make),
                 **({"mirror": preset.mirror} if preset.mirror is not None else {}),
                 "preprocess": [dict(p) for p in preset.preprocess],
                 **({"encoder": dict(preset.encoder)} if preset.encoder is not None else {})},
                preset.name, preset.path)
    except PresetError as e:
        raise AgentError(f"env: {e}") from None
    return preset


def env_factories(config: AgentConfig, num_envs: int | None = None,
                  render_mode: str | None = None) -> list[Callable[[], Any]]:
    """``num_envs`` (default ``env.num_envs``) callables that each build one environment of
    :func:`build_envs` (picklable: for worker processes, :class:`~snnrl.pipeline.envs.AsyncEnvList`)."""
    from snnrl.envs import build_env

    preset = env_preset(config)
    n = int(config.env.num_envs if num_envs is None else num_envs)
    return [functools.partial(build_env, preset, render_mode=render_mode) for _ in range(n)]


def build_envs(config: AgentConfig, num_envs: int | None = None, render_mode: str | None = None) -> list[Any]:
    """``num_envs`` (default ``env.num_envs``) single Gymnasium environments, unseeded (the
    trainer seeds every episode)."""
    return [make() for make in env_factories(config, num_envs, render_mode)]


def _network_spec(config: AgentConfig, batch_size: int) -> dict[str, Any]:
    spec = copy.deepcopy(dict(config.network))
    section = dict(spec.get("network", {}))
    section["batch_size"] = batch_size
    spec["network"] = section
    for i, conn in enumerate(spec.get("connections", []) or []):
        init = conn.get("init") if isinstance(conn, Mapping) else None
        if isinstance(init, Mapping) and init.get("dist") in _SEEDED_INITS and "seed" not in init:
            conn["init"] = {**init, "seed": derive_seed(config.seed, 1, i) % (2**31)}
    return spec


def build_network(config: AgentConfig, batch_size: int = 1) -> Any:
    """The agent's network (initial weights seeded from ``training.seed`` where not given)."""
    from snnrl.network.spec import SpecError, network_from_spec

    try:
        return network_from_spec(_network_spec(config, batch_size))
    except SpecError as e:
        raise AgentError(f"network: {e}") from None


def build_policy(config: AgentConfig, observation_space: Any, action_space: Any, batch_size: int = 1) -> Any:
    """The agent's :class:`~snnrl.policy.SpikingPolicy` for these (single-environment) spaces."""
    from snnrl.network.spec import SpecError, component_from_spec
    from snnrl.policy import SpikingPolicy, decoder_from_spec

    net = build_network(config, batch_size)
    pol = config.policy
    decoder_spec = copy.deepcopy(dict(pol.decoder))
    params = dict(decoder_spec.get("params", {}))
    params.setdefault("seed", derive_seed(config.seed, 2) % (2**31))
    if decoder_spec.get("type") == "EpsilonGreedy" and isinstance(params.get("decoder"), Mapping):
        inner = copy.deepcopy(dict(params["decoder"]))
        inner_params = dict(inner.get("params", {}))
        inner_params.setdefault("seed", derive_seed(config.seed, 3) % (2**31))
        inner["params"] = inner_params
        params["decoder"] = inner
    decoder_spec["params"] = params
    encoder = None
    try:
        decoder = decoder_from_spec(decoder_spec, "policy.decoder")
        if pol.encoder is not None:
            encoder = component_from_spec("encoder", pol.encoder, "policy.encoder")
        return SpikingPolicy(net, decoder, observation_space=observation_space, action_space=action_space,
                             input_layer=pol.input_layer, output_layer=pol.output_layer,
                             encoder=encoder, carry_state=pol.carry_state, voltage_noise=pol.voltage_noise,
                             noise_seed=derive_seed(config.seed, 4) % (2**31))
    except SpecError as e:
        raise AgentError(str(e)) from None
    except (TypeError, ValueError) as e:
        raise AgentError(f"policy: {e}") from None


def action_meanings(env: Any) -> list[str] | None:
    """The names of ``env``'s actions (ALE's ``get_action_meanings``, through any
    :class:`~snnrl.wrappers.ActionSubset`), or None when the environment has none."""
    from snnrl.wrappers import ActionSubset

    chain = [env]
    while hasattr(chain[-1], "env"):
        chain.append(chain[-1].env)
    get = getattr(chain[-1], "get_action_meanings", None)
    if get is None:
        return None
    meanings = [str(m) for m in get()]
    for wrapper in reversed(chain[:-1]):  # the innermost wrapper first
        if isinstance(wrapper, ActionSubset):
            start = int(getattr(wrapper.env.action_space, "start", 0))
            meanings = [meanings[k - start] for k in wrapper.keep]
    return meanings


def tie_mirror(config: AgentConfig, policy: Any, meanings: Sequence[str] | None) -> None:
    """``[policy] mirror = true``: tie the synapses from the input layer to the output layer
    under the environment preset's ``mirror`` (:mod:`snnrl.policy.symmetry`), and those through
    every hidden layer between them (a layer fed by the input layer that feeds the output layer):
    its neurons become mirrored twins in two halves, so it needs an even size and no other
    connections."""
    from snnrl.policy.decoders import action_readout
    from snnrl.policy.symmetry import action_swap, mirror_cells, swapped_neurons, tie_partners, twin_neurons

    if not config.policy.mirror:
        return
    axis = env_preset(config).mirror
    where = "[policy] mirror = true"
    if axis is None:
        raise AgentError(f"{where} needs an environment preset that declares its symmetry (mirror = \"width\" "
                         f"or \"height\"); {config.env.preset!r} has none")
    if meanings is None:
        raise AgentError(f"{where} needs the names of the environment's actions (an ALE game); "
                         f"{config.env.preset!r} has none")
    readout = action_readout(policy.decoder)
    shape = tuple(getattr(policy.observation_space, "shape", ()) or ())
    if readout is None or len(shape) < 2:
        raise AgentError(f"{where} needs a Discrete decoder and an observation grid (..., H, W), got "
                         f"{type(policy.decoder).__name__} and shape {shape}")
    grid = (int(shape[-2]), int(shape[-1]))
    net = policy.network
    x, out = policy.input_layer, policy.output_layer
    ends = {key: (src, tgt) for key, (src, tgt) in net.endpoints.items()}
    hidden = {tgt for src, tgt in ends.values() if src == x and tgt != out} & {src for src, tgt in ends.values()
                                                                              if tgt == out and src != x}
    tied = 0
    try:
        perms = {out: swapped_neurons(action_swap(meanings), readout.neurons_per_action),
                 x: mirror_cells(grid, axis)}
        for name in sorted(hidden):
            perms[name] = twin_neurons(int(net.layers[name].n))
        tied_ends = {(x, out), *((x, h) for h in hidden), *((h, out) for h in hidden)}
        for key, (src, tgt) in ends.items():
            if (src, tgt) not in tied_ends:
                if src in hidden or tgt in hidden:  # e.g. a recurrent hidden connection: it would break the mirror
                    raise ValueError(f"the hidden layer of connection {src!r} -> {tgt!r} may only connect the input "
                                     f"layer {x!r} to the output layer {out!r}")
                continue
            conn = net.connections[key]
            partners = tie_partners(perms[src], perms[tgt])
            if tuple(conn.weight.shape) != tuple(partners.shape):
                raise ValueError(f"connection {src!r} -> {tgt!r} has weights {tuple(conn.weight.shape)}; "
                                 f"{partners.shape[0]} {'cells' if src == x else 'neurons'} to {partners.shape[1]} "
                                 f"neurons need {tuple(partners.shape)}")
            conn.set_tie(partners)
            tied += 1
    except (TypeError, ValueError) as e:
        raise AgentError(f"{where}: {e}") from None
    if not tied:
        raise AgentError(f"{where}: no connection from the input layer {x!r} to the output layer {out!r}")


def build_reward_signal(config: AgentConfig) -> Any:
    """The ``[reward] signal`` (a :class:`~snnrl.learning.RewardSignal`)."""
    from snnrl.network.spec import SpecError, component_from_spec

    try:
        return component_from_spec("reward", config.reward.signal, "reward.signal")
    except SpecError as e:
        raise AgentError(str(e)) from None
