"""Agent presets: one TOML file per ready-made spiking agent (``agents/<name>.toml``).

An agent preset is data: the environment preset it plays, the network in the spec format that
``Network.to_spec()`` writes (:mod:`snnrl.network.spec`), the layers the policy reads and
writes, the decoder, the reward signal, and the training settings. The schema (every key but
``[env].preset`` and ``[network]`` optional; unknown keys are errors that name the key)::

    name = "cartpole"                     # default: the file name
    description = "..."

    [env]
    preset = "cartpole"                   # an environment preset name (envs/) or a .toml path
    num_envs = 1                          # > 1: that many copies, one batch element each
    max_episode_steps = 0                 # > 0: truncate longer episodes
    make = { ... }                        # merged into the preset's [make]
    encoder = { type = "population", steps = 16, ... }   # replaces the preset's [encoder]

    [policy]
    input_layer = "X"                     # default: the first Input layer
    output_layer = "A"                    # default: the last layer
    carry_state = true                    # membrane state carries across decisions
    voltage_noise = 0.0                   # mV (std) added to the output layer at each window's start
    decoder = { type = "CountArgmax", params = { neurons_per_action = 10 } }
    encoder = { type = "PoissonEncoder", params = { time = 16 } }  # only for envs without [encoder]

    [reward]                              # what modulates plasticity (see RewardShaping)
    signal = { type = "MovingAverageRPE", params = { window = 20 } }   # or RawReward, TDError
    scale = 1.0
    step_bonus = 0.0
    terminal = 0.0                        # added when an episode terminates (not when truncated)
    life_loss = 0.0                       # added when info["lives"] goes down (Atari)
    clip = 0.0
    sign = false

    [critic]                              # a value estimate for signal = TDError (LinearCritic)
    type = "linear"
    lr = 0.01
    init = 0.0
    trace = 0.0                           # lambda of TD(lambda)

    [training]
    episodes = 200
    seed = 0
    checkpoint_interval = 50              # episodes between checkpoints (0: only at the end)
    log_interval = 1                      # episodes between TensorBoard scalars
    image_interval = 50                   # episodes between raster / weight images
    eval_episodes = 10                    # deterministic evaluation at the end (0: none)
    minutes = 0.0                         # wall-clock budget (0: none); stops after the episode
    baseline_episodes = 0                 # random-policy episodes on the training seeds, first
    eval_interval = 0                     # > 0: evaluate every N episodes, keep the best policy
    eval_interval_episodes = 10           # episodes per periodic evaluation
    eval_stop_return = 475.0              # stop training once a periodic evaluation's mean reaches it
                                          #   (needs eval_interval > 0; absent: never)
    lr_schedule = { type = "linear", final = 0.1, episodes = 800, start = 0 }   # the actor's learning
                                          #   rate factor per episode (snnrl.pipeline.schedule)

    [network]                             # a network spec (or network = "path/to/spec.toml")
    snnrl_spec = 1
    [network.network]
    dt = 1.0
    [[network.layers]]
    ...

Seeds: a connection ``init`` table without ``seed`` gets one derived from ``training.seed``
(so seeds give different initial weights) and so does a decoder without ``seed``.

Command-line overrides use dotted paths into this document: ``training.episodes=50``,
``reward.scale=0.5``, ``network.connections.0.rule.params.nu=0.02`` (list items by index);
the value is read as TOML (``1e-3``, ``true``, ``[1, 2]``, ``"text"``), or taken as a string.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "AGENT_KEYS",
    "AgentConfig",
    "AgentError",
    "agents_dir",
    "apply_overrides",
    "list_agents",
    "load_agent",
]


class AgentError(ValueError):
    """An agent preset that does not exist or does not follow the schema."""


AGENT_KEYS: dict[str, tuple[str, ...] | None] = {
    "name": None,
    "description": None,
    "env": ("preset", "num_envs", "max_episode_steps", "make", "encoder"),
    "policy": ("input_layer", "output_layer", "carry_state", "decoder", "encoder", "voltage_noise"),
    "reward": ("signal", "scale", "step_bonus", "terminal", "clip", "sign", "life_loss"),
    "critic": ("type", "lr", "init", "trace", "gamma"),
    "training": ("episodes", "seed", "checkpoint_interval", "log_interval", "image_interval", "eval_episodes",
                 "minutes", "baseline_episodes", "eval_interval", "eval_interval_episodes", "eval_stop_return",
                 "lr_schedule"),
    "network": None,
}
"""Top-level keys and, for tables, their valid keys (None: free-form or a plain value)."""

_TRAINING_DEFAULTS: dict[str, Any] = {
    "episodes": 100,
    "seed": 0,
    "checkpoint_interval": 50,
    "log_interval": 1,
    "image_interval": 50,
    "eval_episodes": 10,
    "minutes": 0.0,
    "baseline_episodes": 0,
    "eval_interval": 0,
    "eval_interval_episodes": 10,
    "eval_stop_return": None,
    "lr_schedule": None,
}
_REWARD_DEFAULTS: dict[str, Any] = {"scale": 1.0, "step_bonus": 0.0, "terminal": 0.0, "clip": 0.0, "sign": False,
                                    "life_loss": 0.0}


def agents_dir() -> Path | None:
    """The repository's ``agents/`` directory (a source checkout), or None."""
    here = Path(__file__).resolve().parents[2] / "agents"
    return here if here.is_dir() else None


def list_agents() -> list[str]:
    """Names of the agent presets in ``agents/`` (empty outside a source checkout)."""
    d = agents_dir()
    return sorted(p.stem for p in d.glob("*.toml")) if d is not None else []


def _int(where: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise AgentError(f"{where} must be an int >= {low}, got {value!r}")
    return value


def _float(where: str, value: Any, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise AgentError(f"{where} must be a number, got {value!r}")
    if low is not None and value < low:
        raise AgentError(f"{where} must be >= {low}, got {value!r}")
    return float(value)


def _table(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AgentError(f"{where} must be a table, got {value!r}")
    return value


def _check_keys(where: str, table: Mapping[str, Any], valid: Sequence[str]) -> None:
    for key in table:
        if key not in valid:
            name = f"{where}.{key}" if where else str(key)
            raise AgentError(f"unknown key {name!r} in the agent preset; valid keys"
                             f"{' of [' + where + ']' if where else ''}: {list(valid)}")


def _env_table(table: Mapping[str, Any]) -> dict[str, Any]:
    env = dict(table)
    if not isinstance(env["preset"], str) or not env["preset"]:
        raise AgentError(f"env.preset must be a preset name or a .toml path, got {env['preset']!r}")
    env["num_envs"] = _int("env.num_envs", env.get("num_envs", 1), 1)
    env["max_episode_steps"] = _int("env.max_episode_steps", env.get("max_episode_steps", 0), 0)
    for key in ("make", "encoder"):
        if key in env:
            _table(f"env.{key}", env[key])
    return env


def _policy_table(table: Mapping[str, Any]) -> dict[str, Any]:
    policy = dict(table)
    for key in ("input_layer", "output_layer"):
        if key in policy and not isinstance(policy[key], str):
            raise AgentError(f"policy.{key} must be a layer name, got {policy[key]!r}")
    policy["voltage_noise"] = _float("policy.voltage_noise", policy.get("voltage_noise", 0.0), 0.0)
    if not isinstance(policy.get("carry_state", True), bool):
        raise AgentError(f"policy.carry_state must be true or false, got {policy['carry_state']!r}")
    policy.setdefault("decoder", {"type": "CountArgmax"})
    _table("policy.decoder", policy["decoder"])
    if "encoder" in policy:
        _table("policy.encoder", policy["encoder"])
    return policy


def _reward_table(table: Mapping[str, Any]) -> dict[str, Any]:
    reward = {**_REWARD_DEFAULTS, **table}
    for key in ("scale", "step_bonus", "terminal", "life_loss"):
        reward[key] = _float(f"reward.{key}", reward[key])
    reward["clip"] = _float("reward.clip", reward["clip"], 0.0)
    if not isinstance(reward["sign"], bool):
        raise AgentError(f"reward.sign must be true or false, got {reward['sign']!r}")
    reward.setdefault("signal", {"type": "RawReward"})
    _table("reward.signal", reward["signal"])
    return reward


def _critic_table(table: Mapping[str, Any]) -> dict[str, Any]:
    critic = dict(table)
    if critic.get("type", "linear") != "linear":
        raise AgentError(f"critic.type must be \"linear\", got {critic.get('type')!r}")
    if "gamma" in critic:
        raise AgentError("critic.gamma: the discount is the TDError signal's gamma (reward.signal.params.gamma)")
    critic["type"] = "linear"
    critic["lr"] = _float("critic.lr", critic.get("lr", 0.01), 0.0)
    critic["init"] = _float("critic.init", critic.get("init", 0.0))
    critic["trace"] = _float("critic.trace", critic.get("trace", 0.0), 0.0)
    if critic["trace"] > 1:
        raise AgentError(f"critic.trace (lambda) must be in [0, 1], got {critic['trace']!r}")
    return critic


def _training_table(table: Mapping[str, Any]) -> dict[str, Any]:
    training = {**_TRAINING_DEFAULTS, **table}
    training["episodes"] = _int("training.episodes", training["episodes"], 1)
    training["seed"] = _int("training.seed", training["seed"], 0)
    for key in ("checkpoint_interval", "image_interval", "eval_episodes", "baseline_episodes", "eval_interval"):
        training[key] = _int(f"training.{key}", training[key], 0)
    training["log_interval"] = _int("training.log_interval", training["log_interval"], 1)
    training["eval_interval_episodes"] = _int("training.eval_interval_episodes", training["eval_interval_episodes"], 1)
    training["minutes"] = _float("training.minutes", training["minutes"], 0.0)
    if training["eval_stop_return"] is not None:
        training["eval_stop_return"] = _float("training.eval_stop_return", training["eval_stop_return"])
        if not training["eval_interval"]:
            raise AgentError("training.eval_stop_return needs periodic evaluations: set training.eval_interval > 0")
    if training["lr_schedule"] is not None:
        from snnrl.pipeline.schedule import LearningRateSchedule

        try:
            LearningRateSchedule.from_table(_table("training.lr_schedule", training["lr_schedule"]))
        except (TypeError, ValueError) as e:
            raise AgentError(f"training.lr_schedule: {e}") from None
        training["lr_schedule"] = dict(training["lr_schedule"])
    return training


def _network_spec(network: Any, path: str | None) -> dict[str, Any]:
    if isinstance(network, str):
        spec_path = Path(network)
        if not spec_path.is_absolute() and path is not None:
            spec_path = Path(path).parent / spec_path
        try:
            with open(spec_path, "rb") as f:
                network = tomllib.load(f)
        except OSError as e:
            raise AgentError(f"network: cannot read the spec file {str(spec_path)!r}: {e}") from None
    return dict(_table("[network]", network))


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """A checked agent preset (see the module docstring for the meaning of every field).

    Attributes:
        name: the agent's name.
        description: free text.
        env: the ``[env]`` table.
        policy: the ``[policy]`` table.
        reward: the ``[reward]`` table, defaults filled in.
        critic: the ``[critic]`` table or None.
        training: the ``[training]`` table, defaults filled in.
        network: the network spec (a dict).
        source: the preset as written (after overrides), for checkpoints and hparams.
        path: the file it came from.
    """

    name: str
    description: str
    env: Mapping[str, Any]
    policy: Mapping[str, Any]
    reward: Mapping[str, Any]
    critic: Mapping[str, Any] | None
    training: Mapping[str, Any]
    network: Mapping[str, Any]
    source: Mapping[str, Any]
    path: str | None = None

    @property
    def env_name(self) -> str:
        """The environment preset's name (a path's file stem)."""
        preset = str(self.env["preset"])
        return Path(preset).stem if preset.endswith(".toml") else preset

    @property
    def seed(self) -> int:
        """``training.seed``."""
        return int(self.training["seed"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str, path: str | None = None) -> AgentConfig:
        """Check ``data`` (a parsed preset) against the schema; fill in defaults."""
        data = _table("the agent preset", data)
        _check_keys("", data, list(AGENT_KEYS))
        for key, valid in AGENT_KEYS.items():
            if valid is not None and key in data:
                _check_keys(key, _table(f"[{key}]", data[key]), valid)
        if "env" not in data or "preset" not in data["env"]:
            raise AgentError("the agent preset has no [env] preset = \"<environment preset>\"")
        if "network" not in data:
            raise AgentError("the agent preset has no [network] (a network spec, or network = \"spec.toml\")")
        name = data.get("name", name)
        if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
            raise AgentError(f"name must be a non-empty string without spaces or slashes, got {name!r}")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise AgentError(f"description must be a string, got {description!r}")
        reward = _reward_table(data.get("reward", {}))
        critic = _critic_table(data["critic"]) if "critic" in data else None
        if reward["signal"].get("type") == "TDError" and critic is None:
            raise AgentError("reward.signal TDError needs a value estimate: add a [critic] table (type = \"linear\")")
        return cls(name=name, description=description, env=_env_table(data["env"]),
                   policy=_policy_table(data.get("policy", {})), reward=reward, critic=critic,
                   training=_training_table(data.get("training", {})), network=_network_spec(data["network"], path),
                   source=copy.deepcopy(dict(data)), path=path)

    def with_overrides(self, overrides: Sequence[str]) -> AgentConfig:
        """A copy with ``key.path=value`` overrides applied (see the module docstring)."""
        return AgentConfig.from_dict(apply_overrides(self.source, overrides), self.name, self.path)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with each ``"a.b.c=value"`` applied (a deep copy; ``data`` is not changed).

    Raises:
        AgentError: an override without ``=``, or a path through something that is not a table
            or a list (list indices must exist).
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            raise AgentError(f"override {item!r} must look like key.path=value (e.g. training.episodes=50)")
        path, text = item.split("=", 1)
        keys = [k for k in path.strip().split(".")]
        if not all(keys):
            raise AgentError(f"override {item!r}: empty key in {path!r}")
        node: Any = out
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            where = ".".join(keys[: i + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise AgentError(f"override {item!r}: {where!r} is not an index of a list of {len(node)}")
                if last:
                    node[int(key)] = _parse_value(text.strip())
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                if last:
                    node[key] = _parse_value(text.strip())
                else:
                    node = node.setdefault(key, {})
            else:
                raise AgentError(f"override {item!r}: {'.'.join(keys[:i])!r} is a value, not a table")
    return out


def load_agent(agent: str | os.PathLike[str] | AgentConfig, overrides: Sequence[str] = ()) -> AgentConfig:
    """Load an agent preset by path (``agents/cartpole.toml``) or name (``"cartpole"``).

    Raises:
        AgentError: a missing file, bad TOML or a preset that breaks the schema.
    """
    if isinstance(agent, AgentConfig):
        return agent.with_overrides(overrides) if overrides else agent
    text = os.fspath(agent)
    path = Path(text)
    if not path.is_file() and not text.endswith(".toml") and "/" not in text:
        d = agents_dir()
        if d is not None and (d / f"{text}.toml").is_file():
            path = d / f"{text}.toml"
        else:
            raise AgentError(f"unknown agent {text!r}; give a path to a .toml file or one of {list_agents()}")
    if not path.is_file():
        raise AgentError(f"agent preset file {text!r} does not exist")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise AgentError(f"agent preset {str(path)!r} is not valid TOML: {e}") from None
    if overrides:
        data = apply_overrides(data, overrides)
    return AgentConfig.from_dict(data, path.stem, str(path))
