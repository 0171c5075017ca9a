"""The actor's learning-rate schedule and stopping on a periodic evaluation."""

import math

import pytest
import torch

from snnrl.pipeline import AgentError, Callback, EvalCallback, LearningRateSchedule, Trainer, load_agent
from snnrl.pipeline.run import build_trainer

AGENT = "agents/cue_bandit.toml"


def test_schedule_values():
    assert LearningRateSchedule()(0) == 1.0 and LearningRateSchedule()(10**6) == 1.0
    lin = LearningRateSchedule("linear", final=0.2, episodes=10, start=5)
    assert [lin(k) for k in (0, 5)] == [1.0, 1.0]
    assert math.isclose(lin(10), 0.6) and math.isclose(lin(15), 0.2) and math.isclose(lin(100), 0.2)
    exp = LearningRateSchedule("exponential", final=0.01, episodes=100)
    assert math.isclose(exp(50), 0.1) and math.isclose(exp(100), 0.01) and math.isclose(exp(500), 0.01)
    assert LearningRateSchedule.from_table({"type": "linear", "final": 0.0, "episodes": 4})(2) == 0.5


@pytest.mark.parametrize("table, message", [
    ({"type": "cosine", "episodes": 3}, "type"),
    ({"type": "linear", "episodes": 0}, "episodes"),
    ({"type": "linear", "final": -1.0, "episodes": 3}, "final"),
    ({"type": "exponential", "final": 0.0, "episodes": 3}, "final > 0"),
    ({"type": "linear", "episodes": 3, "half_life": 2}, "half_life"),
])
def test_schedule_errors_name_the_problem(table, message):
    with pytest.raises(ValueError, match=message):
        LearningRateSchedule.from_table(table)


def test_preset_keys_are_checked():
    with pytest.raises(AgentError, match="lr_schedule"):
        load_agent(AGENT, ["training.lr_schedule={type = \"linear\"}"])
    with pytest.raises(AgentError, match="eval_interval"):
        load_agent(AGENT, ["training.eval_stop_return=10.0"])
    config = load_agent(AGENT, ["training.lr_schedule={type = \"linear\", final = 0.0, episodes = 2}"])
    assert build_trainer(config).lr_schedule == LearningRateSchedule("linear", 0.0, 2)


def test_the_schedule_scales_what_the_network_receives():
    tr = build_trainer(load_agent(AGENT, ["training.lr_schedule={type = \"linear\", final = 0.0, episodes = 2}"]))
    net = tr.policy.network
    delivered, raw = [], []
    deliver = net.deliver_reward

    def deliver_(m):
        delivered.append((tr.episodes_done, m))
        return deliver(m)

    net.deliver_reward = deliver_

    class Log(Callback):  # records the modulator before the schedule's factor
        def _on_update(self, m):
            raw.append(m)
            return True

    tr.learn(3, callback=Log())
    factors = {0: 1.0, 1: 0.5, 2: 0.0}
    assert len(delivered) == len(raw) == 60
    for (episode, m), r in zip(delivered, raw, strict=True):
        assert math.isclose(m, r * factors[episode], abs_tol=1e-12)
    # from the third episode on the actor no longer learns
    w = net.connections["X->A"].weight.clone()
    tr.learn(4)
    assert torch.equal(net.connections["X->A"].weight, w)


def test_a_schedule_must_be_a_schedule():
    tr = build_trainer(load_agent(AGENT))
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        Trainer(tr.policy, tr.driver.envs, lr_schedule={"type": "linear"})  # type: ignore[arg-type]


def test_training_stops_once_a_periodic_evaluation_reaches_the_threshold():
    tr = build_trainer(load_agent(AGENT))
    cb = EvalCallback(2, episodes=2, stop_return=19.0)
    tr.learn(40, callback=cb)
    assert tr.episodes_done < 40 and cb.stopped == tr.episodes_done
    assert cb.history[-1][1] >= 19.0
    assert all(mean < 19.0 for _, mean in cb.history[:-1])
