"""Box-action policies: gSDE, squashed outputs, SAC, TD3 and DDPG act like SB3's deterministic policy."""

import numpy as np
import pytest
import torch

from snnrl.integrations.sb3 import ConvertedPolicy, convert_sb3, detect_algo, load_sb3_model, read_model_header

sb3 = pytest.importorskip("stable_baselines3")
gym = pytest.importorskip("gymnasium")

NET = [32, 32]


def _obs(model, n=300, seed=0):
    space = model.observation_space
    return np.random.default_rng(seed).uniform(space.low, space.high, (n, *space.shape)).astype(np.float32)


def _shift_mean(linear: torch.nn.Linear, by: float) -> None:
    """Push the action means away from 0, where tanh, clipping and the identity would all agree."""
    with torch.no_grad():
        linear.bias.add_(by)


def _close_to_sb3(model, agent, obs, tol=0.01):
    """Within ``tol`` of SB3's deterministic actions (Pendulum's are in [-2, 2]; 0.01 is tighter than the
    differences between tanh and clipping, or with and without SAC's clip_mean, at these means)."""
    expected, _ = model.predict(obs, deterministic=True)
    actions, _ = agent.predict(obs, deterministic=True)
    assert actions.shape == expected.shape and actions.dtype == np.float32
    assert np.abs(actions - expected).max() <= tol, np.abs(actions - expected).max()
    return expected


def test_ppo_with_gsde_acts_with_its_mean():
    model = sb3.PPO("MlpPolicy", "Pendulum-v1", use_sde=True, seed=0, device="cpu", policy_kwargs={"net_arch": NET})
    _shift_mean(model.policy.action_net, 1.5)
    obs = _obs(model)
    agent = convert_sb3(model, obs, steps=128)
    assert agent.metadata["noise"] == "state_dependent" and agent.metadata["squash"] is False
    assert "log_std" not in agent.metadata  # gSDE's log_std is a matrix over the latent features
    expected = _close_to_sb3(model, agent, obs)
    assert (np.abs(expected) > 1.2).any()  # the test covers actions far from 0
    with pytest.raises(ValueError, match=r"acts deterministically only.*predict\(\.\.\., deterministic=True\)"):
        agent.predict(obs, deterministic=False)


def test_squashed_gsde_policy_is_the_rescaled_tanh_of_its_mean():
    model = sb3.PPO("MlpPolicy", "Pendulum-v1", use_sde=True, seed=0, device="cpu",
                    policy_kwargs={"net_arch": NET, "squash_output": True})
    _shift_mean(model.policy.action_net, 1.5)
    obs = _obs(model)
    agent = convert_sb3(model, obs, steps=128)
    assert agent.metadata["squash"] is True
    expected = _close_to_sb3(model, agent, obs)
    mean = agent.action_values(obs)
    assert np.abs(mean).max() > 1.3  # the tanh matters here: clipping the mean would give other actions
    assert np.allclose(agent.predict(obs, deterministic=True)[0], 2.0 * np.tanh(mean), atol=1e-5)
    assert np.abs(expected).max() < 2.0


@pytest.mark.parametrize("use_sde", [False, True])
def test_sac_actor_converts(use_sde, tmp_path):
    model = sb3.SAC("MlpPolicy", "Pendulum-v1", use_sde=use_sde, seed=0, device="cpu", buffer_size=100,
                    policy_kwargs={"net_arch": NET})
    mu = model.actor.mu[0] if use_sde else model.actor.mu
    _shift_mean(mu, 2.5)  # beyond SAC-gSDE's clip_mean of 2
    obs = _obs(model)
    agent = convert_sb3(model, obs, steps=128)
    assert agent.metadata["algo"] == "sac" and agent.metadata["squash"] is True
    assert agent.metadata.get("clip_mean") == (2.0 if use_sde else None)
    assert np.abs(agent.action_values(obs)).max() > 2.5  # means the clip_mean of 2 cuts
    _close_to_sb3(model, agent, obs)
    with pytest.raises(ValueError, match="deterministically only"):
        agent.predict(obs, deterministic=False)
    path = tmp_path / "sac.zip"
    model.save(path)
    assert detect_algo(read_model_header(path), path) == "sac"
    agent.save(tmp_path / "sac.safetensors")
    loaded = ConvertedPolicy.load(tmp_path / "sac.safetensors")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize("cls_name", ["TD3", "DDPG"])
def test_td3_and_ddpg_actors_convert(cls_name, tmp_path):
    cls = getattr(sb3, cls_name)
    model = cls("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", buffer_size=100, policy_kwargs={"net_arch": NET})
    _shift_mean(model.actor.mu[-2], 1.5)
    obs = _obs(model)
    agent = convert_sb3(model, obs, steps=128)
    assert agent.metadata["algo"] == cls_name.lower() and agent.metadata["noise"] == "none"
    assert [layer["activation"] for layer in agent.metadata["layers"]] == ["ReLU", "ReLU", "none"]  # no tanh layer
    _close_to_sb3(model, agent, obs)
    # SB3's TD3 / DDPG predict is deterministic either way, and so is the converted policy's
    np.testing.assert_array_equal(agent.predict(obs, deterministic=False)[0], agent.predict(obs, deterministic=True)[0])
    path = tmp_path / f"{cls_name.lower()}-Pendulum-v1.zip"
    model.save(path)
    loaded = load_sb3_model(path)
    assert type(loaded).__name__ == cls_name


def test_gaussian_policies_still_sample_and_old_metadata_still_loads():
    model = sb3.PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs={"net_arch": NET})
    obs = _obs(model, 100)
    agent = convert_sb3(model, obs, steps=64)
    assert agent.metadata["noise"] == "gaussian" and len(agent.metadata["log_std"]) == 1
    sampled, _ = agent.predict(obs, deterministic=False)
    assert np.abs(sampled - agent.predict(obs, deterministic=True)[0]).max() > 0.1
    old = {k: v for k, v in agent.metadata.items() if k not in ("squash", "noise", "clip_mean")}
    old["version"] = 1  # metadata written before squashing and VecNormalize were supported
    again = ConvertedPolicy(agent.network, old)
    assert again.noise == "gaussian" and not again.squash
    np.testing.assert_array_equal(again.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
