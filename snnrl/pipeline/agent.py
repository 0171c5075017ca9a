"""Agent presets: one TOML file per ready-made spiking agent (``agents/<name>.toml``).

An agent preset is data: the environment preset it plays, the network in the spec format that
checkpoints hold (:mod:`snnrl.network.spec`), the layers the policy reads and
writes, the decoder, the reward signal, and the training settings. The schema is the frozen
dataclasses of this module, one per table, every field documented where it is declared:

=============  =====================  ==================================================
table          class                  what
=============  =====================  ==================================================
(top level)    :class:`AgentConfig`   ``name``, ``description`` and the tables below
``[env]``      :class:`EnvConfig`     the environment preset and its changes
``[policy]``   :class:`PolicyConfig`  the layers the policy reads and writes, the decoder
``[reward]``   :class:`RewardConfig`  the reward signal and the shaping of the reward
``[critic]``   :class:`CriticConfig`  the value estimate of a ``TDError`` signal
``[feedback]`` :class:`FeedbackConfig` learning signals for e-prop (output and hidden layers)
``[training]`` :class:`TrainingConfig` episodes, seed, intervals, evaluation, schedule
``[network]``  (a plain mapping)      a network spec, or ``network = "spec.toml"``
=============  =====================  ==================================================

Every key but ``[env].preset`` and ``[network]`` is optional; unknown keys are errors that name
the key (``unknown key 'training.episodez'``), and values are checked for their type and range
(numbers must be finite). ``agents/README.md`` shows the schema as TOML.

Seeds: a connection ``init`` table without ``seed`` gets one derived from ``training.seed``
(so seeds give different initial weights) and so does a decoder without ``seed``.

Command-line overrides use dotted paths into this document: ``training.episodes=50``,
``reward.scale=0.5``, ``network.connections.0.rule.params.nu=0.02`` (list items by index);
the value is read as TOML (``1e-3``, ``true``, ``[1, 2]``, ``"text"``), or taken as a string.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from snnrl.pipeline.schedule import LearningRateSchedule

__all__ = [
    "AGENT_KEYS",
    "AgentConfig",
    "AgentError",
    "CriticConfig",
    "FeedbackConfig",
    "EnvConfig",
    "PolicyConfig",
    "RewardConfig",
    "TrainingConfig",
    "agents_dir",
    "apply_overrides",
    "list_agents",
    "load_agent",
    "preset_name",
    "trained_agent",
]


class AgentError(ValueError):
    """An agent preset that does not exist or does not follow the schema."""


def agents_dir() -> Path | None:
    """The repository's ``agents/`` directory (a source checkout), or None."""
    here = Path(__file__).resolve().parents[2] / "agents"
    return here if here.is_dir() else None


def trained_agent(name: str) -> Path:
    """The checkpoint of the trained agent ``name`` that ships with the repository
    (``agents/trained/<name>.safetensors``; a preset path gives its file stem).

    Raises:
        AgentError: naming the agents that have one, when ``name`` has none.
    """
    stem = Path(name).stem if name.endswith(".toml") else name
    d = agents_dir()
    path = d / "trained" / f"{stem}.safetensors" if d is not None else None
    if path is None or not path.is_file():
        have = sorted(p.stem for p in (d / "trained").glob("*.safetensors")) if d is not None else []
        raise AgentError(f"no trained agent {stem!r} in agents/trained/ (trained agents: {have or 'none'}); "
                         "train one with 'snnrl train --agent ...' and pass --checkpoint <run directory>")
    return path


def list_agents() -> list[str]:
    """Names of the agent presets in ``agents/`` (empty outside a source checkout)."""
    d = agents_dir()
    return sorted(p.stem for p in d.glob("*.toml")) if d is not None else []


# ------------------------------------------------------------------ checks
def _int(where: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise AgentError(f"{where} must be an int >= {low}, got {value!r}")
    return value


def _float(where: str, value: Any, low: float | None = None, high: float | None = None, label: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise AgentError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise AgentError(f"{where} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise AgentError(f"{where} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise AgentError(f"{where}{f' ({label})' if label else ''} must be in [{low:g}, {high:g}], got {value!r}")
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


def _key(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None, low: float | None = None,
         high: float | None = None, what: str | None = None, label: str = "",
         convert: Callable[[str, Any], Any] | None = None) -> Any:
    """A field of a preset table with what :meth:`_Table.from_table` checks beyond its type:
    ``low``/``high`` bounds, ``what`` (the expected value in errors: ``"a layer name"``), a
    ``label`` shown after the key in range errors, or ``convert(key_path, value)`` instead of the
    type check."""
    meta = {"low": low, "high": high, "what": what, "label": label, "convert": convert}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _value(where: str, hint: Any, value: Any, meta: Mapping[str, Any]) -> Any:
    """``value`` checked against the field type ``hint`` (and ``meta``, see :func:`_key`)."""
    if meta.get("convert") is not None:
        return meta["convert"](where, value)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (hint,) = (a for a in args if a is not type(None))
    what = meta.get("what")
    if hint is bool:
        if not isinstance(value, bool):
            raise AgentError(f"{where} must be {what or 'true or false'}, got {value!r}")
        return value
    if hint is int:
        return _int(where, value, int(meta.get("low") or 0))
    if hint is float:
        return _float(where, value, meta.get("low"), meta.get("high"), meta.get("label", ""))
    if hint is str:
        if not isinstance(value, str) or not value:
            raise AgentError(f"{where} must be {what or 'a non-empty string'}, got {value!r}")
        return value
    if typing.get_origin(hint) is Literal:
        if value not in typing.get_args(hint):
            raise AgentError(f"{where} must be {' or '.join(json.dumps(a) for a in typing.get_args(hint))}, "
                             f"got {value!r}")
        return value
    if typing.get_origin(hint) is Mapping:
        return copy.deepcopy(dict(_table(where, value)))
    raise TypeError(f"{where}: no check for the field type {hint!r}")


_T = TypeVar("_T", bound="_Table")


@dataclasses.dataclass(frozen=True)
class _Table:
    """A table of an agent preset; its dataclass fields are the table's keys."""

    _MOVED: ClassVar[Mapping[str, str]] = {}
    """Keys that are errors with a message of their own (where the setting went)."""

    @classmethod
    def from_table(cls: type[_T], table: Mapping[str, Any], path: str) -> _T:
        """Check ``table`` (the preset's ``[path]`` table) against the fields: an unknown key, a
        missing required key, or a value of the wrong type or out of range is an
        :class:`AgentError` that names the key path (``training.episodes``); absent keys take the
        field's default."""
        table = _table(f"[{path}]", table)
        for key in table:
            if key in cls._MOVED:
                raise AgentError(f"{path}.{key}: {cls._MOVED[key]}")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        _check_keys(path, table, [f.name for f in fields])
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields:
            if f.name in table:
                values[f.name] = _value(f"{path}.{f.name}", hints[f.name], table[f.name], f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise AgentError(f"{path}.{f.name} is required")
        config = cls(**values)
        config._check(path)
        return config

    def _check(self, path: str) -> None:
        """Checks across fields, after each field's own (subclasses)."""


@dataclasses.dataclass(frozen=True)
class EnvConfig(_Table):
    """``[env]``: the environment the agent plays."""

    preset: str = _key(what="a preset name or a .toml path")
    """An environment preset's name (``envs/``) or a ``.toml`` path (required)."""
    num_envs: int = _key(1, low=1)
    """> 1: that many copies played in parallel, one batch element each."""
    vectorization: Literal["sync", "async"] = "sync"
    """How ``num_envs > 1`` environments step: ``"sync"`` one after the other in this process,
    ``"async"`` spread over worker processes and this one, an even share per core, stepping in
    parallel (the same results)."""
    max_episode_steps: int = _key(0, low=0)
    """> 0: truncate longer episodes (0: the environment's own limit only)."""
    make: Mapping[str, Any] | None = None
    """Merged into the preset's ``[make]`` (arguments of ``gymnasium.make``)."""
    encoder: Mapping[str, Any] | None = None
    """Replaces the preset's ``[encoder]``, e.g. ``{ type = "population", steps = 16 }``."""


@dataclasses.dataclass(frozen=True)
class PolicyConfig(_Table):
    """``[policy]``: what the spiking policy reads and writes, and how spikes become actions."""

    input_layer: str | None = _key(None, what="a layer name")
    """The layer the encoded observation drives (None: the first Input layer)."""
    output_layer: str | None = _key(None, what="a layer name")
    """The layer the decoder reads (None: the last layer)."""
    carry_state: bool = True
    """Membrane state carries across decisions (false: neurons at rest at each decision; the
    eligibility carries on)."""
    voltage_noise: float = _key(0.0, low=0.0)
    """mV (standard deviation) added to the output layer at the start of each decision window."""
    decoder: Mapping[str, Any] = _key(factory=lambda: {"type": "CountArgmax"})
    """The action decoder, ``{ type = "CountArgmax", params = { neurons_per_action = 10 } }``
    (:mod:`snnrl.policy.decoders`)."""
    encoder: Mapping[str, Any] | None = None
    """An encoder component, ``{ type = "PoissonEncoder", params = { time = 16 } }``; only for
    environments without an ``[encoder]``."""
    mirror: bool = False
    """Tie the synapses from the input layer to the output layer under the environment preset's
    mirror symmetry (its ``mirror`` key: LEFT and RIGHT swapped in a mirrored screen), so the
    policy treats a state and its mirror image alike (:mod:`snnrl.policy.symmetry`)."""


@dataclasses.dataclass(frozen=True)
class RewardConfig(_Table):
    r"""``[reward]``: what modulates plasticity. The shaped reward (the fields but ``signal`` are
    :class:`~snnrl.pipeline.RewardShaping`'s) is
    ``scale * clip(sign(r)) + step_bonus + terminal [terminated] + life_loss [life lost]
    - entropy log pi(a|s)``, and the signal turns it into the modulator."""

    signal: Mapping[str, Any] = _key(factory=lambda: {"type": "RawReward"})
    """The reward signal: ``RawReward``, ``MovingAverageRPE`` (``window``, ``update``) or
    ``TDError`` (``gamma``; needs a ``[critic]``), e.g. ``{ type = "TDError", params = { gamma = 0.95 } }``."""
    scale: float = 1.0
    """Factor on the environment's reward."""
    step_bonus: float = 0.0
    """Added at every step."""
    terminal: float = 0.0
    """Added when an episode terminates (not when it is truncated by a time limit)."""
    clip: float = _key(0.0, low=0.0)
    """> 0: clip the reward to ``[-clip, clip]`` (before ``scale``)."""
    sign: bool = False
    """Replace the reward by its sign (Atari)."""
    life_loss: float = 0.0
    """Added when ``info["lives"]`` goes down (Atari)."""
    entropy: float = _key(0.0, low=0.0)
    """>= 0: adds ``entropy * (-log pi(a|s))`` for the action taken (an entropy bonus, as in
    soft actor-critics): it keeps a sampling policy from collapsing onto one action. Needs a
    Discrete decoder that samples (``SoftmaxCounts``, ``MultinomialCounts``, optionally inside
    ``EpsilonGreedy``)."""


@dataclasses.dataclass(frozen=True)
class CriticConfig(_Table):
    """``[critic]``: the value estimate of a ``TDError`` signal: ``"linear"``
    (:class:`~snnrl.pipeline.LinearCritic`: ``V = w . (input spike counts / T) + b``, trained by
    TD(lambda)) or ``"spiking"`` (:class:`~snnrl.pipeline.critic.SpikingCritic`: ``V`` read from
    the spikes of a LIF population driven by the input spikes, its synapses learned by e-prop
    with the TD error). No backpropagation in either."""

    _MOVED: ClassVar[Mapping[str, str]] = {
        "gamma": "the discount is the TDError signal's gamma (reward.signal.params.gamma)"}
    _SPIKING: ClassVar[tuple[str, ...]] = ("neurons", "readout", "weight_low", "weight_high", "tc_e_trace")

    type: Literal["linear", "spiking"] = "linear"
    """``"linear"`` or ``"spiking"``."""
    lr: float = _key(0.01, low=0.0)
    """Learning rate (spiking: e-prop's ``nu`` of the input -> critic synapses)."""
    init: float = 0.0
    """Initial value (the bias ``b``)."""
    trace: float = _key(0.0, low=0.0, high=1.0, label="lambda")
    """lambda of TD(lambda), in [0, 1] (0: TD(0)); linear only."""
    reads: Literal["spikes", "rates"] = "spikes"
    """Linear only: the input spike counts of the decision window, or ``"rates"``: the spike
    encoder's noise-free intensities of the same observation (no sampling noise in the value)."""
    neurons: int | None = _key(None, low=1)
    """Spiking only: critic neurons (default 20)."""
    readout: float | None = _key(None, low=0.0)
    """Spiking only: the total readout weight, ``V = (readout / n) sum_j count_j / T + b`` (default 5:
    LIF neurons with a 5 ms refractory period fire at most ~0.2 spikes per step, so V spans about 1)."""
    bias_lr: float | None = _key(None, low=0.0)
    """Learning rate of ``b`` (default: linear ``lr``, spiking 0.05). ``0`` keeps ``b = init``: with
    ``init`` above every return (an optimistic critic) the value of states never visited stays
    there, and moving towards them gives a positive TD error (directed exploration); a learned
    ``b`` is shared by every state and lowers them all."""
    weight_low: float | None = None
    """Spiking only: initial weights are uniform in [weight_low, weight_high] mV (default 0)."""
    weight_high: float | None = None
    """Spiking only: (default 4)."""
    tc_e_trace: float | None = _key(None, low=0.0)
    """Spiking only: e-prop's eligibility time constant in ms (default 25)."""
    reduction: Literal["mean", "sum"] = "mean"
    """How a batch of environments' steps combine: ``"mean"`` or ``"sum"`` (each environment's step
    counts in full, as with one environment; the two are the same with one environment)."""

    def _check(self, path: str) -> None:
        if self.type == "spiking" and self.reads != "spikes":
            raise AgentError(f"{path}.reads is a setting of the linear critic; the spiking critic reads spikes")
        if self.type == "linear":
            for key in self._SPIKING:
                if getattr(self, key) is not None:
                    raise AgentError(f"{path}.{key} is a setting of the spiking critic; this critic is "
                                     f"type = \"linear\"")
        elif self.trace:
            raise AgentError(f"{path}.trace is a setting of the linear critic; the spiking critic learns by "
                             "e-prop with an eligibility trace (tc_e_trace)")


@dataclasses.dataclass(frozen=True)
class FeedbackConfig(_Table):
    """``[feedback]``: neuron-specific learning signals for reward-based e-prop
    (:class:`~snnrl.learning.Feedback`): the decoder's action error fed back to the output layer
    and, through fixed weights, to hidden layers; each delivery of the modulator carries them."""

    hidden: tuple[str, ...] = _key((), convert=lambda where, v: _names(where, v))
    """Hidden layers that receive ``B ε`` (layer names)."""
    mode: Literal["random", "symmetric"] = "random"
    """Feedback weights of the hidden layers: random (broadcast alignment) or the current output weights."""
    scale: float = 1.0
    """Factor of the hidden layers' signals."""
    output_scale: float = 1.0
    """Factor of the output layer's signal (0: the output layer gets the plain modulator)."""
    seed: int | None = _key(None, low=0)
    """Seed of the random feedback weights (default: derived from ``training.seed``)."""


def _names(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise AgentError(f"{where} must be a list of layer names, got {value!r}")
    return tuple(value)


def _lr_schedule(where: str, value: Any) -> LearningRateSchedule:
    table = _table(where, value)
    try:
        return LearningRateSchedule.from_table(table)
    except (TypeError, ValueError) as e:
        raise AgentError(f"{where}: {e}") from None


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Table):
    """``[training]``: how long, on which seeds, and what a run writes and evaluates."""

    episodes: int = _key(100, low=1)
    """Training episodes (in all, resumed ones included)."""
    seed: int = _key(0, low=0)
    """Seeds the episodes, the initial weights (``init`` tables without a seed) and the decoder."""
    checkpoint_interval: int = _key(50, low=0)
    """Episodes between checkpoints (0: only at the end)."""
    log_interval: int = _key(1, low=1)
    """Episodes between TensorBoard scalars."""
    image_interval: int = _key(50, low=0)
    """Episodes between raster / weight images (0: none)."""
    eval_episodes: int = _key(10, low=0)
    """Deterministic evaluation episodes at the end (0: none)."""
    minutes: float = _key(0.0, low=0.0)
    """Wall-clock budget (0: none); training stops after the episode in which it runs out."""
    baseline_episodes: int = _key(0, low=0)
    """First play this many episodes with uniformly random actions on the training seeds."""
    eval_interval: int = _key(0, low=0)
    """> 0: evaluate every that many episodes and keep the best policy (``best.safetensors``)."""
    eval_interval_episodes: int = _key(10, low=1)
    """Episodes per periodic evaluation (on seeds of their own)."""
    eval_stop_return: float | None = None
    """Stop training once a periodic evaluation's mean return reaches it (needs
    ``eval_interval > 0``; None: never)."""
    lr_schedule: LearningRateSchedule | None = dataclasses.field(default=None, metadata={"convert": _lr_schedule})
    """The actor's learning-rate factor per episode, ``{ type = "linear", final = 0.1, episodes = 800,
    start = 0 }`` (:mod:`snnrl.pipeline.schedule`; None: constant)."""

    def _check(self, path: str) -> None:
        if self.eval_stop_return is not None and not self.eval_interval:
            raise AgentError(f"{path}.eval_stop_return needs periodic evaluations: set {path}.eval_interval > 0")


def preset_name(preset: str) -> str:
    """The name of an environment preset as ``env.preset`` gives it: a name as it is, a path
    (``envs/cartpole.toml``, ``../my/cartpole``) its last component without ``.toml``."""
    name = Path(preset).name
    return name[: -len(".toml")] if name.endswith(".toml") and len(name) > len(".toml") else name


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
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise AgentError(f"network: the spec file {str(spec_path)!r} is not valid TOML (UTF-8): {e}") from None
    return dict(_table("[network]", network))


def _document(default: Any = dataclasses.MISSING) -> Any:
    """A field of :class:`AgentConfig` that is not a key of the preset document."""
    return dataclasses.field(default=default, metadata={"document": False})


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """A checked agent preset (see the module docstring); ``from_dict`` and :func:`load_agent` make one."""

    name: str
    """The agent's name (default: the file name); no spaces or slashes."""
    description: str
    """Free text."""
    env: EnvConfig
    """``[env]``."""
    policy: PolicyConfig
    """``[policy]``."""
    reward: RewardConfig
    """``[reward]``."""
    critic: CriticConfig | None
    """``[critic]``, or None where the preset has none."""
    feedback: FeedbackConfig | None
    """``[feedback]``, or None where the preset has none (the modulator alone)."""
    training: TrainingConfig
    """``[training]``."""
    network: Mapping[str, Any]
    """``[network]``: the network spec (a plain mapping; :mod:`snnrl.network.spec`), read from
    its file where the preset says ``network = "spec.toml"``."""
    source: Mapping[str, Any] = _document()
    """The preset as written (after overrides), for checkpoints and hparams."""
    path: str | None = _document(None)
    """The file it came from."""

    @property
    def env_name(self) -> str:
        """The environment preset's name (:func:`preset_name`)."""
        return preset_name(self.env.preset)

    @property
    def seed(self) -> int:
        """``training.seed``."""
        return self.training.seed

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str, path: str | None = None) -> AgentConfig:
        """Check ``data`` (a parsed preset) against the schema; fill in defaults.

        Args:
            data: the preset document.
            name: the name where the document has none (the file's stem).
            path: the file it came from (a relative ``network = "spec.toml"`` is read next to it).
        """
        data = _table("the agent preset", data)
        _check_keys("", data, list(AGENT_KEYS))
        if "env" not in data or "preset" not in _table("[env]", data["env"]):
            raise AgentError("the agent preset has no [env] preset = \"<environment preset>\"")
        if "network" not in data:
            raise AgentError("the agent preset has no [network] (a network spec, or network = \"spec.toml\")")
        name = data.get("name", name)
        if not isinstance(name, str) or not name or any(c in name for c in "/\\ "):
            raise AgentError(f"name must be a non-empty string without spaces or slashes, got {name!r}")
        description = data.get("description", "")
        if not isinstance(description, str):
            raise AgentError(f"description must be a string, got {description!r}")
        env = EnvConfig.from_table(data["env"], "env")
        policy = PolicyConfig.from_table(data.get("policy", {}), "policy")
        reward = RewardConfig.from_table(data.get("reward", {}), "reward")
        critic = CriticConfig.from_table(data["critic"], "critic") if "critic" in data else None
        feedback = FeedbackConfig.from_table(data["feedback"], "feedback") if "feedback" in data else None
        training = TrainingConfig.from_table(data.get("training", {}), "training")
        if reward.signal.get("type") == "TDError" and critic is None:
            raise AgentError("reward.signal TDError needs a value estimate: add a [critic] table (type = \"linear\")")
        return cls(name=name, description=description, env=env, policy=policy, reward=reward, critic=critic,
                   feedback=feedback, training=training, network=_network_spec(data["network"], path),
                   source=copy.deepcopy(dict(data)), path=path)

    def with_overrides(self, overrides: Sequence[str]) -> AgentConfig:
        """A copy with ``key.path=value`` overrides applied (see the module docstring)."""
        return AgentConfig.from_dict(apply_overrides(self.source, overrides), self.name, self.path)


def _agent_keys() -> dict[str, tuple[str, ...] | None]:
    hints = typing.get_type_hints(AgentConfig)
    keys: dict[str, tuple[str, ...] | None] = {}
    for f in dataclasses.fields(AgentConfig):
        if f.metadata.get("document", True):
            table = next((a for a in (hints[f.name], *typing.get_args(hints[f.name]))
                          if isinstance(a, type) and issubclass(a, _Table)), None)
            keys[f.name] = tuple(g.name for g in dataclasses.fields(table)) if table is not None else None
    return keys


AGENT_KEYS: dict[str, tuple[str, ...] | None] = _agent_keys()
"""Top-level keys and, for tables, their valid keys (None: free-form or a plain value); read
from the dataclasses."""


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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AgentError(f"agent preset {str(path)!r} is not valid TOML (UTF-8): {e}") from None
    except OSError as e:
        raise AgentError(f"cannot read the agent preset {str(path)!r}: {e}") from None
    if overrides:
        data = apply_overrides(data, overrides)
    return AgentConfig.from_dict(data, path.stem, str(path))
