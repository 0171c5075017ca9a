"""Every agent preset in agents/ loads, builds against its environment and trains for a few steps."""

from pathlib import Path

import numpy as np
import pytest

from snnrl.pipeline import Callback, load_agent
from snnrl.pipeline.run import build_trainer

AGENTS = Path(__file__).resolve().parents[1] / "agents"
PRESETS = sorted(p.stem for p in AGENTS.glob("*.toml"))
ATARI = {"breakout", "breakout_eprop", "breakout_hidden", "pong", "pong_eprop", "pong_hidden", "space_invaders",
         "space_invaders_eprop", "space_invaders_hidden"}


class StopAfter(Callback):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def _on_step(self):
        return self.n_calls < self.steps


def test_the_required_presets_exist():
    assert {"cue_bandit", "cartpole", "breakout", "pong", "space_invaders"} <= set(PRESETS)
    readme = (AGENTS / "README.md").read_text()
    for name in PRESETS:
        assert f"`{name}`" in readme, f"agents/README.md does not describe {name}"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_and_steps(name):
    if name in ATARI:
        pytest.importorskip("ale_py")
    config = load_agent(AGENTS / f"{name}.toml")
    assert config.name == name
    rules = [c.get("rule", {}).get("type") for c in config.network["connections"]]
    # every ready-made agent learns by a three-factor rule with an eligibility trace (no backpropagation)
    assert {"MSTDPET", "EProp"} & set(rules)
    trainer = build_trainer(config, num_envs=1)
    weights = {k: v.clone() for k, v in trainer.policy.network.state_dict().items() if k.endswith("weight")}
    trainer.learn(1, callback=StopAfter(3))
    assert trainer.total_steps == 3
    assert trainer.policy.last_output is not None and trainer.policy.last_output.shape[0] == trainer.policy.steps
    # it acts: actions are valid for the environment
    a, _ = trainer.policy.predict(np.asarray(trainer.driver.obs))
    assert trainer.driver.action_space.contains(a[0].item() if np.ndim(a[0]) == 0 else a[0])
    assert weights  # the network has weights to learn
    trainer.close()
