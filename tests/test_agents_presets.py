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


@pytest.mark.parametrize(("name", "episodes"), [("cue_bandit", 12), ("breakout_eprop", 2), ("cartpole_eprop", 3)])
def test_sum_reduction_is_the_same_run_as_mean_with_one_env(name, episodes):
    """The presets' rules and critics sum their batch's updates (with --num-envs N each game counts
    in full): with one game that is the run the mean gives, bit for bit."""
    import torch

    weights = {}
    for reduction in ("sum", "mean"):
        overrides = [f'network.connections.0.rule.params.reduction="{reduction}"']
        if load_agent(name).critic is not None:
            assert load_agent(name).critic.reduction == "sum"
            overrides.append(f'critic.reduction="{reduction}"')
        config = load_agent(name, overrides)
        trainer = build_trainer(config)
        try:
            rules = [c.rule for c in trainer.policy.network.connections.values() if c.rule is not None]
            assert [r.reduction for r in rules] == [reduction]
            trainer.learn(episodes)
        finally:
            trainer.close()
        weights[reduction] = ({k: v.clone() for k, v in trainer.policy.network.state_dict().items()
                               if isinstance(v, torch.Tensor)},
                              trainer.returns, trainer.critic.state() if trainer.critic is not None else None)
    assert weights["sum"][1] == weights["mean"][1] and weights["sum"][2] == weights["mean"][2]
    for k, v in weights["sum"][0].items():
        assert torch.equal(v, weights["mean"][0][k]), k
