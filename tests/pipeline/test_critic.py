"""The spiking critic (value read from spikes, learned by e-prop with its TD error) and e-prop agents
through the pipeline: closed forms, a task with a known value, presets and bad settings."""

import numpy as np
import pytest
import torch

from snnrl.pipeline import load_agent
from snnrl.pipeline.agent import AgentError
from snnrl.pipeline.critic import SpikingCritic
from snnrl.pipeline.run import build_trainer
from snnrl.pipeline.trainer import LinearCritic

torch.set_num_threads(1)

EPROP_BANDIT = [
    'network.connections.0.rule={type="EProp",params={nu=5.0}}',
    'network.connections.0.params={wmin=-20.0,wmax=20.0}',
    'policy.decoder={type="SoftmaxCounts",params={neurons_per_action=5,temperature=2.0}}',
    "feedback={}",
]


def _inputs(cue: int, batch: int = 1, steps: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rate = torch.zeros(batch, 2)
    rate[:, cue] = 0.5
    return torch.rand(steps, batch, 2, generator=g) < rate


def test_the_value_is_the_readout_of_the_spike_counts():
    critic = SpikingCritic(2, neurons=4, readout=2.0, init=-0.3, weight_init=(10.0, 14.0), seed=1)
    x = _inputs(0)
    v = critic.evaluate(x)
    counts = critic.monitor.get("s").sum(0).float()
    assert v.shape == (1,)
    assert v.item() == pytest.approx((counts @ torch.full((4,), 0.5)).item() / 16 - 0.3, abs=1e-6)
    assert counts.sum() > 0


def test_a_positive_td_error_raises_the_value_of_the_state_it_follows():
    critic = SpikingCritic(2, neurons=6, lr=0.5, weight_init=(4.0, 8.0), seed=2)
    x = _inputs(0, seed=3)
    before = critic.evaluate(x).item()
    w0 = critic.connection.weight.clone()
    critic.observe(x)
    e = critic.rule.eligibility().clone()
    critic.learn(torch.tensor([1.0]))
    # e-prop: dw = nu * delta * r_j * E (batch of 1, r_j = readout / n), then the bias
    torch.testing.assert_close(critic.connection.weight, w0 + 0.5 * critic.r * e[0])
    assert critic.evaluate(x).item() > before


def test_the_spiking_critic_learns_the_values_of_a_two_state_task():
    """gamma = 0: V(s) must approach E[r | s]; rewards 1 after cue 0 and 0 after cue 1."""
    critic = SpikingCritic(2, neurons=10, lr=0.5, readout=6.0, bias_lr=0.05, weight_init=(2.0, 6.0), gamma=0.0, seed=0)
    rng = np.random.default_rng(0)
    errors = []
    for k in range(400):
        cue = int(rng.integers(2))
        v = critic.observe(_inputs(cue, seed=k))
        delta = torch.tensor([1.0 - cue]) - v
        critic.learn(delta)
        errors.append(abs(float(delta)))
    assert np.mean(errors[:50]) > 0.3
    assert np.mean(errors[-100:]) < 0.25, np.mean(errors[-100:])  # what is left is the spike-count noise
    v0 = np.mean([critic.evaluate(_inputs(0, seed=1000 + k)).item() for k in range(10)])
    v1 = np.mean([critic.evaluate(_inputs(1, seed=2000 + k)).item() for k in range(10)])
    assert v0 == pytest.approx(1.0, abs=0.2) and v1 == pytest.approx(0.0, abs=0.2), (v0, v1)


def test_state_round_trip():
    a = SpikingCritic(2, neurons=3, seed=0)
    a.learn(torch.tensor([0.5]))
    b = SpikingCritic(2, neurons=3, seed=5)
    b.load_state(a.state())
    torch.testing.assert_close(b.connection.weight, a.connection.weight)
    assert float(b.b) == pytest.approx(float(a.b))
    with pytest.raises(ValueError, match=r"critic weights have shape \(2, 3\), expected \(2, 4\)"):
        SpikingCritic(2, neurons=4).load_state(a.state())


def test_an_eprop_agent_learns_the_cue_bandit_through_the_pipeline():
    trainer = build_trainer(load_agent("agents/cue_bandit.toml", [*EPROP_BANDIT, "training.seed=0"]))
    assert trainer.feedback is not None
    trainer.learn(30)
    returns, _ = trainer.evaluate(10)
    assert np.mean(returns) >= 18.0, (trainer.returns, returns)


def test_an_eprop_actor_with_a_spiking_critic_learns_the_cue_bandit():
    config = load_agent("agents/cue_bandit.toml", [*EPROP_BANDIT, 'reward.signal={type="TDError",params={gamma=0.0}}',
                                                   'critic={type="spiking",lr=0.5,neurons=10}', "training.seed=1"])
    trainer = build_trainer(config)
    assert isinstance(trainer.critic, SpikingCritic)
    trainer.learn(40)
    assert np.mean(trainer.evaluate(10)[0]) >= 18.0, trainer.returns
    assert np.mean(trainer.returns[-10:]) >= 17.0


def test_critic_and_feedback_settings_are_checked():
    assert isinstance(build_trainer(load_agent("agents/cartpole.toml", ["training.episodes=1"])).critic, LinearCritic)
    with pytest.raises(AgentError, match=r"critic\.neurons is a setting of the spiking critic"):
        load_agent("agents/cartpole.toml", ["critic.neurons=5"])
    with pytest.raises(AgentError, match=r"critic\.trace is a setting of the linear critic"):
        load_agent("agents/cartpole.toml", ['critic.type="spiking"'])
    with pytest.raises(AgentError, match=r"unknown key 'feedback.hiden'"):
        load_agent("agents/cue_bandit.toml", ['feedback={hiden=["A"]}'])
    with pytest.raises(AgentError, match=r"feedback\.hidden must be a list of layer names"):
        load_agent("agents/cue_bandit.toml", ["feedback={hidden=3}"])
    with pytest.raises(AgentError, match=r"feedback\.hidden: no layer named 'H'"):
        build_trainer(load_agent("agents/cue_bandit.toml", ['feedback={hidden=["H"]}']))


def test_a_linear_critic_can_read_the_encoders_noise_free_intensities():
    """critic.reads = "rates": the critic's features are the population code's receptive-field
    activations of the very observation the spikes encode, not the spike counts."""
    trainer = build_trainer(load_agent("agents/cartpole.toml", ['critic.reads="rates"', "training.episodes=2"]))
    seen = []
    observe = trainer.critic.observe

    def spy(x):
        seen.append(x.clone())
        return observe(x)

    trainer.critic.observe = spy
    trainer.learn(2)
    assert seen and all(x.shape == (1, 1, 40) for x in seen)
    assert torch.all((seen[-1] >= 0) & (seen[-1] <= 1)) and seen[-1].sum() > 1.0  # smooth, not 0/1 counts
    with pytest.raises(AgentError, match=r"critic\.reads is a setting of the linear critic"):
        load_agent("agents/cue_bandit.toml", [*EPROP_BANDIT, 'critic={type="spiking",reads="rates"}',
                                              'reward.signal={type="TDError"}'])


def test_a_frozen_bias_keeps_unvisited_states_optimistic():
    """critic.bias_lr = 0: TD errors lower the value of the states they follow (through w) and not the
    shared bias, so a state never visited keeps the initial (optimistic) value; the default bias
    learns at lr and lowers every state alike."""
    phi_seen, phi_new = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]])
    frozen, shared = LinearCritic(3, lr=0.5, init=0.0, bias_lr=0.0), LinearCritic(3, lr=0.5, init=0.0)
    for critic in (frozen, shared):
        for _ in range(20):
            critic.update(phi_seen, torch.tensor([-1.0]))
    assert float(frozen.value(phi_new)) == 0.0 and float(frozen.value(phi_seen)) == pytest.approx(-10.0)
    assert float(shared.value(phi_new)) == pytest.approx(-10.0)
    assert float(shared.value(phi_seen)) == pytest.approx(-20.0)
    config = load_agent("agents/cartpole.toml", ["critic.bias_lr=0.0", "training.episodes=1"])
    assert build_trainer(config).critic.bias_lr == 0.0
    with pytest.raises(AgentError, match=r"critic\.bias_lr"):
        load_agent("agents/cartpole.toml", ["critic.bias_lr=-1.0"])


@pytest.mark.parametrize("kind", ["linear", "spiking"])
def test_critic_reduction_sums_or_averages_the_batch(kind):
    """``reduction="sum"``: each environment's TD step counts in full (batch of 3 = three single
    steps from the same state); ``"mean"`` divides by the batch; with a batch of 1 they agree."""
    def make(reduction):
        if kind == "linear":
            return LinearCritic(2, lr=0.3, trace=0.5, reduction=reduction)
        return SpikingCritic(2, neurons=6, lr=0.5, weight_init=(4.0, 8.0), seed=2, reduction=reduction)

    def weights(c):
        return (c.w if kind == "linear" else c.connection.weight).clone(), c.b.clone()

    delta = torch.tensor([1.0, -0.5, 2.0])
    x = _inputs(0, batch=3, seed=5)
    changes = {}
    for reduction in ("mean", "sum"):
        c = make(reduction)
        w0, b0 = weights(c)
        c.observe(x)
        c.learn(delta)
        w1, b1 = weights(c)
        changes[reduction] = (w1 - w0, b1 - b0)
    torch.testing.assert_close(changes["sum"][0], 3 * changes["mean"][0])
    torch.testing.assert_close(changes["sum"][1], 3 * changes["mean"][1])
    assert float(changes["sum"][0].abs().sum()) > 0
    one = {}
    for reduction in ("mean", "sum"):
        c = make(reduction)
        c.observe(x[:, :1])
        c.learn(delta[:1])
        one[reduction] = weights(c)
    assert torch.equal(one["sum"][0], one["mean"][0]) and torch.equal(one["sum"][1], one["mean"][1])
    with pytest.raises(ValueError, match="reduction must be one of"):
        make("median")
