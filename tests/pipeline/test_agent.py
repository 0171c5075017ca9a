"""Agent presets: schema checks with errors that name the key, defaults, overrides, seeds."""

import dataclasses
import re

import pytest
import torch

from snnrl import toml
from snnrl.pipeline import AgentError, apply_overrides, build_network, load_agent
from snnrl.pipeline.agent import AGENT_KEYS, AgentConfig, RewardConfig, TrainingConfig
from snnrl.pipeline.schedule import LearningRateSchedule
from snnrl.pipeline.trainer import RewardShaping


def doc():
    return toml.load("agents/cue_bandit.toml")


def test_defaults_and_names():
    cfg = load_agent("agents/cue_bandit.toml")
    assert cfg.name == "cue_bandit" and cfg.env_name == "cue_bandit" and cfg.seed == 0
    assert cfg.reward.scale == 1.0 and cfg.env.num_envs == 1 and cfg.training.episodes == 20
    assert cfg.critic is None and cfg.policy.decoder["type"] == "CountArgmax" and cfg.training.lr_schedule is None
    assert load_agent("cue_bandit").name == "cue_bandit"  # a name in agents/


@pytest.mark.parametrize(("change", "message"), [
    ({"trainig": {}}, "unknown key 'trainig'"),
    ({"training": {"episodez": 3}}, "unknown key 'training.episodez'"),
    ({"reward": {"scael": 1.0}}, "unknown key 'reward.scael'"),
    ({"policy": {"decoders": {}}}, "unknown key 'policy.decoders'"),
    ({"training": {"episodes": 0}}, "training.episodes must be an int >= 1"),
    ({"reward": {"signal": {"type": "TDError"}}}, "needs a value estimate"),
    ({"critic": {"gamma": 0.9}}, "critic.gamma"),
    ({"env": {"preset": "cue_bandit", "num_envs": 0}}, "env.num_envs"),
    ({"env": {"preset": "", "num_envs": 1}}, "env.preset must be a preset name or a .toml path, got ''"),
    ({"reward": {"scale": float("inf")}}, "reward.scale must be a finite number, got inf"),
    ({"reward": {"terminal": float("nan")}}, "reward.terminal must be a number, got nan"),
    ({"reward": {"clip": -1.0}}, "reward.clip must be >= 0.0, got -1.0"),
    ({"reward": {"sign": 1}}, "reward.sign must be true or false, got 1"),
    ({"reward": {"signal": "RawReward"}}, "reward.signal must be a table, got 'RawReward'"),
    ({"critic": {"lr": float("-inf")}}, "critic.lr must be a finite number, got -inf"),
    ({"critic": {"trace": 1.5}}, "critic.trace (lambda) must be in [0, 1], got 1.5"),
    ({"critic": {"type": "mlp"}}, "critic.type must be \"linear\" or \"spiking\", got 'mlp'"),
    ({"critic": {"lr": 0.1, "lr_decay": 0.1}}, "unknown key 'critic.lr_decay'"),
    ({"policy": {"carry_state": "yes"}}, "policy.carry_state must be true or false"),
    ({"policy": {"input_layer": 3}}, "policy.input_layer must be a layer name, got 3"),
    ({"policy": {"voltage_noise": float("inf")}}, "policy.voltage_noise must be a finite number"),
    ({"training": {"minutes": float("inf")}}, "training.minutes must be a finite number, got inf"),
    ({"training": {"seed": 1.0}}, "training.seed must be an int >= 0, got 1.0"),
    ({"training": {"eval_stop_return": float("nan"), "eval_interval": 5}}, "eval_stop_return must be a number"),
    ({"training": 3}, "[training] must be a table, got 3"),
])
def test_schema_errors_name_the_key(change, message):
    data = doc()
    for key, value in change.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    with pytest.raises(AgentError, match=re.escape(message)):
        AgentConfig.from_dict(data, "x")


def test_missing_sections_and_files():
    data = doc()
    del data["network"]
    with pytest.raises(AgentError, match=r"no \[network\]"):
        AgentConfig.from_dict(data, "x")
    with pytest.raises(AgentError, match="does not exist"):
        load_agent("agents/nope.toml")
    with pytest.raises(AgentError, match="unknown agent 'nope'"):
        load_agent("nope")


def test_overrides_are_typed_and_reach_lists():
    data = apply_overrides(doc(), ["training.episodes=7", "reward.sign=true", "training.minutes=1.5",
                                   "network.connections.0.rule.params.nu=0.05", "description=hello world"])
    assert data["training"]["episodes"] == 7 and data["reward"]["sign"] is True
    assert data["network"]["connections"][0]["rule"]["params"]["nu"] == 0.05
    assert data["description"] == "hello world"
    with pytest.raises(AgentError, match=r"key\.path=value"):
        apply_overrides(doc(), ["training.episodes"])
    with pytest.raises(AgentError, match="not an index"):
        apply_overrides(doc(), ["network.connections.9.type=X"])
    with pytest.raises(AgentError, match="is a value, not a table"):
        apply_overrides(doc(), ["training.episodes.x=1"])


def test_seed_changes_the_initial_weights_unless_the_preset_fixes_them():
    w0 = build_network(load_agent("agents/cue_bandit.toml")).connections["X->A"].weight
    w0b = build_network(load_agent("agents/cue_bandit.toml")).connections["X->A"].weight
    w1 = build_network(load_agent("agents/cue_bandit.toml", ["training.seed=1"])).connections["X->A"].weight
    assert torch.equal(w0, w0b) and not torch.equal(w0, w1)
    fixed = ["network.connections.0.init.seed=5"]
    a = build_network(load_agent("agents/cue_bandit.toml", [*fixed, "training.seed=1"])).connections["X->A"].weight
    b = build_network(load_agent("agents/cue_bandit.toml", fixed)).connections["X->A"].weight
    assert torch.equal(a, b)


def test_network_spec_from_a_file(tmp_path):
    from snnrl.network.spec import network_to_spec, write_spec

    net = build_network(load_agent("agents/cue_bandit.toml"))
    write_spec(network_to_spec(net), tmp_path / "net.toml")
    data = doc()
    data["network"] = "net.toml"
    (tmp_path / "agent.toml").write_text(toml.dumps(data))
    cfg = load_agent(tmp_path / "agent.toml")
    assert [layer["name"] for layer in cfg.network["layers"]] == ["X", "A"]


def test_overrides_reach_the_typed_config():
    cfg = load_agent("agents/cartpole.toml", ["training.episodes=50", "reward.scale=0.5", "critic.lr=0.2",
                                               "training.lr_schedule={type = \"linear\", final = 0.0, episodes = 2}",
                                               "network.connections.0.rule.params.nu=0.02"])
    assert cfg.training.episodes == 50 and cfg.reward.scale == 0.5 and cfg.critic is not None and cfg.critic.lr == 0.2
    assert cfg.training.lr_schedule == LearningRateSchedule("linear", 0.0, 2)
    assert cfg.network["connections"][0]["rule"]["params"]["nu"] == 0.02
    assert cfg.source["training"]["episodes"] == 50  # the document as written, for checkpoints
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.training.episodes = 3  # type: ignore[misc]
    with pytest.raises(AgentError, match=re.escape("reward.scale must be a finite number, got inf")):
        load_agent("agents/cartpole.toml", ["reward.scale=inf"])
    with pytest.raises(AgentError, match=re.escape("unknown key 'training.episodez'")):
        load_agent("agents/cartpole.toml", ["training.episodez=3"])


def test_one_schema_for_tables_keys_and_reward_shaping():
    assert AGENT_KEYS["training"] == tuple(f.name for f in dataclasses.fields(TrainingConfig))
    assert list(AGENT_KEYS) == ["name", "description", "env", "policy", "reward", "critic", "feedback", "training",
                               "network"]
    shaping = {f.name: f.default for f in dataclasses.fields(RewardShaping)}
    reward = {f.name: f.default for f in dataclasses.fields(RewardConfig) if f.name != "signal"}
    assert reward == shaping  # [reward] holds RewardShaping's fields (same defaults) and the signal
    cfg = load_agent("agents/cartpole.toml")
    assert RewardShaping.from_table(cfg.reward) == RewardShaping(scale=0.0, terminal=-1.0)
    assert RewardShaping.from_table({"signal": {}, "scale": 2.0}) == RewardShaping(scale=2.0)
    with pytest.raises(ValueError, match=re.escape("unknown key 'reward.scael'")):
        RewardShaping.from_table({"scael": 2.0})


def test_the_readme_schema_shows_every_key():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "agents" / "README.md").read_text()
    block = text.split("## Schema", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    shown: dict[str, set[str]] = {"": set()}
    section = ""
    for line in block.splitlines():
        if m := re.match(r"^\[(\w+)\]", line):
            section = m[1]
            shown.setdefault(section, set())
        elif m := re.match(r"^(\w+) = ", line):
            shown[section].add(m[1])
    for key, valid in AGENT_KEYS.items():
        if valid is None:
            assert key in shown[""] or key in shown, key
        else:
            assert shown[key] == set(valid), key
