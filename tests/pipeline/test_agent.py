"""Agent presets: schema checks with errors that name the key, defaults, overrides, seeds."""

import pytest
import torch

from snnrl import toml
from snnrl.pipeline import AgentError, apply_overrides, build_network, load_agent
from snnrl.pipeline.agent import AgentConfig


def doc():
    return toml.load("agents/cue_bandit.toml")


def test_defaults_and_names():
    cfg = load_agent("agents/cue_bandit.toml")
    assert cfg.name == "cue_bandit" and cfg.env_name == "cue_bandit" and cfg.seed == 0
    assert cfg.reward["scale"] == 1.0 and cfg.env["num_envs"] == 1
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
])
def test_schema_errors_name_the_key(change, message):
    data = doc()
    for key, value in change.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    with pytest.raises(AgentError, match=message.replace(".", r"\.").replace("(", r"\(")):
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
    from snnrl.network.spec import write_spec

    net = build_network(load_agent("agents/cue_bandit.toml"))
    write_spec(net.to_spec(), tmp_path / "net.toml")
    data = doc()
    data["network"] = "net.toml"
    (tmp_path / "agent.toml").write_text(toml.dumps(data))
    cfg = load_agent(tmp_path / "agent.toml")
    assert [layer["name"] for layer in cfg.network["layers"]] == ["X", "A"]
