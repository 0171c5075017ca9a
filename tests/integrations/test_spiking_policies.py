"""Surrogate-gradient spikes and the spiking policies that stable-baselines3 trains."""

import math

import numpy as np
import pytest
import torch

from snnrl.functional.surrogate import SURROGATES, lif_surrogate_step, spike

sb3 = pytest.importorskip("stable_baselines3")

from snnrl.integrations.sb3.features import (  # noqa: E402
    SpikingCnnExtractor,
    SpikingMlpExtractor,
    SpikingNet,
    spiking_policy_kwargs,
)


@pytest.mark.parametrize("kind", SURROGATES)
def test_spike_is_a_step_forward_and_smooth_backward(kind):
    u = torch.tensor([-1.0, -0.1, 0.0, 0.2, 3.0], requires_grad=True)
    s = spike(u, kind, alpha=4.0)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    s.sum().backward()
    g = u.grad
    assert torch.all(g > 0)
    assert g[2] == g.max()  # largest at the threshold
    if kind == "fast_sigmoid":
        assert g[0].item() == pytest.approx(1 / (1 + 4.0) ** 2)
    if kind == "atan":
        assert g[2].item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="surrogate"):
        spike(u, "relu")


def test_lif_surrogate_step_integrates_fires_and_resets():
    v = torch.zeros(3)
    x = torch.tensor([0.6, 0.3, 1.5])
    s, v = lif_surrogate_step(x, v, beta=1.0)
    assert s.tolist() == [0.0, 0.0, 1.0] and v.tolist() == pytest.approx([0.6, 0.3, 0.5])
    s, v = lif_surrogate_step(x, v, beta=1.0)
    assert s.tolist() == [1.0, 0.0, 1.0] and v.tolist() == pytest.approx([0.2, 0.6, 1.0])


def test_spiking_net_resets_per_call_and_learns_through_spikes():
    torch.manual_seed(0)
    net = SpikingNet([torch.nn.Linear(4, 16), torch.nn.Linear(16, 8)], steps=6)
    x = torch.randn(5, 4) * 3
    a, b = net(x), net(x)
    assert a.shape == (5, 8) and torch.equal(a, b)  # nothing carried between calls
    assert torch.all((a >= 0) & (a <= 1)) and torch.all(a * 6 == (a * 6).round())  # rates of 6 steps
    a.sum().backward()
    assert net.layers[0].weight.grad.abs().sum() > 0  # the surrogate carries gradients to the first layer


def test_extractors_for_vectors_and_images():
    gym = pytest.importorskip("gymnasium")
    mlp = SpikingMlpExtractor(gym.spaces.Box(-1, 1, (3, 2)), hidden=(10, 7), steps=3)
    assert mlp.features_dim == 7 and mlp(torch.zeros(2, 3, 2)).shape == (2, 7)
    cnn = SpikingCnnExtractor(gym.spaces.Box(0, 255, (2, 36, 36), np.uint8), features_dim=32, steps=2)
    assert cnn(torch.rand(3, 2, 36, 36)).shape == (3, 32)
    with pytest.raises(ValueError, match="image"):
        SpikingCnnExtractor(gym.spaces.Box(-1, 1, (4,)))
    with pytest.raises(ValueError, match="kind"):
        spiking_policy_kwargs("rnn")


def test_spiking_ppo_learns_the_cue_bandit():
    """A spiking PPO policy learns the contextual bandit (optimal 20, random 0) in a CI-sized budget."""
    from stable_baselines3.common.evaluation import evaluate_policy

    from snnrl.integrations.sb3 import make_vec_env

    env = make_vec_env("cue_bandit", n_envs=4, seed=0)
    model = sb3.PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, seed=0,
                    policy_kwargs=spiking_policy_kwargs(hidden=(16,), steps=4), device="cpu")
    model.learn(1536)
    mean, _ = evaluate_policy(model, make_vec_env("cue_bandit", n_envs=2, seed=100), n_eval_episodes=4, warn=False)
    assert mean >= 16


@pytest.mark.parametrize("algo", ["A2C", "DQN"])
def test_a2c_and_dqn_train_with_spiking_policies(algo, tiny_image_env):
    from stable_baselines3.common.vec_env import DummyVecEnv

    if algo == "DQN":  # a spiking Q-network on images (the Atari set-up in small)
        env = DummyVecEnv([tiny_image_env])
        model = sb3.DQN("CnnPolicy", env, buffer_size=200, learning_starts=32, batch_size=16, train_freq=4,
                        policy_kwargs=spiking_policy_kwargs("cnn", features_dim=32, steps=2), seed=0, device="cpu")
    else:
        model = sb3.A2C("MlpPolicy", "CartPole-v1", seed=0, device="cpu",
                        policy_kwargs=spiking_policy_kwargs(hidden=(16, 16), steps=4))
    model.learn(96)
    if algo == "DQN":
        loss = model.logger.name_to_value.get("train/loss")
        assert loss is not None and math.isfinite(loss)
    actions, _ = model.predict(model.env.reset(), deterministic=True)
    assert actions.shape == (1,)
