"""Conversion of stable-baselines3 policies, loading, and the converted agent's SB3 protocol."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from snnrl.checkpoint import save_checkpoint
from snnrl.integrations.sb3 import (
    ConversionError,
    ConvertedPolicy,
    SB3LoadError,
    convert_sb3,
    detect_algo,
    load_sb3_model,
    read_model_header,
    require_sb3,
)
from snnrl.integrations.sb3.loading import algo_class

sb3 = pytest.importorskip("stable_baselines3")
gym = pytest.importorskip("gymnasium")

from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.preprocessing import preprocess_obs  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402


def _cartpole_obs(n=200, seed=0):
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        out.append(obs)
        obs, _, term, trunc, _ = env.step(int(rng.integers(2)))
        if term or trunc:
            obs, _ = env.reset()
    return np.array(out, dtype=np.float32)


# ----------------------------------------------------------------------------- optional dependencies
def test_import_snnrl_does_not_import_sb3():
    code = ("import sys, snnrl, snnrl.integrations.sb3 as s; s.ConvertedPolicy; "
            "assert 'stable_baselines3' not in sys.modules, 'SB3 imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_sb3_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(ImportError, match=r"pip install 'snnrl\[sb3\]'"):
        require_sb3()
    path = tmp_path / "m.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", "{}")
        z.writestr("policy.pth", b"")
    with pytest.raises(ImportError, match=r"snnrl\[sb3\]"):
        load_sb3_model(path, "dqn")
    from snnrl.cli import main

    assert main(["convert", "--model", str(path), "--env", "CartPole-v1"]) == 2


def test_missing_sb3_contrib_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)
    with pytest.raises(ImportError, match="pip install sb3-contrib"):
        algo_class("qrdqn")


# ----------------------------------------------------------------------------- loading
def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_sb3_model(tmp_path / "absent.zip")
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    with pytest.raises(SB3LoadError, match="not a stable-baselines3 model"):
        load_sb3_model(text)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "x")
    with pytest.raises(SB3LoadError, match=r"no 'data' and 'policy\.pth'"):
        load_sb3_model(other)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("data", "not json")
        z.writestr("policy.pth", b"")
    with pytest.raises(SB3LoadError, match="not JSON"):
        read_model_header(bad)
    with pytest.raises(ValueError, match="unknown algorithm"):
        algo_class("trpo")


@pytest.mark.parametrize("cls_name", ["DQN", "PPO", "A2C"])
def test_algorithm_is_read_from_the_file(tmp_path, cls_name):
    cls = getattr(sb3, cls_name)
    kwargs = {"buffer_size": 100} if cls_name == "DQN" else {}
    model = cls("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **kwargs)
    path = tmp_path / "model.zip"
    model.save(path)
    assert detect_algo(read_model_header(path), path) == cls_name.lower()
    loaded = load_sb3_model(path)
    assert type(loaded).__name__ == cls_name
    obs = _cartpole_obs(20)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


# ----------------------------------------------------------------------------- conversion
def test_ppo_tanh_policy_converts_and_runs_in_evaluate_policy():
    model = sb3.PPO("MlpPolicy", "CartPole-v1", seed=1, device="cpu")
    obs = _cartpole_obs(300)
    agent = convert_sb3(model, obs, steps=64)
    assert agent.metadata["algo"] == "ppo" and agent.output == "logits"
    assert [layer["activation"] for layer in agent.metadata["layers"]] == ["Tanh", "Tanh", "none"]
    test = _cartpole_obs(200, seed=5)
    ann = model.policy.get_distribution(model.policy.obs_to_tensor(test)[0]).distribution.logits.detach().numpy()
    snn = agent.action_values(test)
    ann_diff, snn_diff = ann[:, 1] - ann[:, 0], snn[:, 1] - snn[:, 0]
    assert np.abs(snn_diff - ann_diff).mean() < 0.05 * np.abs(ann_diff).mean() + 1e-3
    # SB3's protocol: batched and single observations, deterministic and sampled actions
    actions, state = agent.predict(test[:5], deterministic=True)
    assert actions.shape == (5,) and state is None
    single, _ = agent.predict(test[0], deterministic=True)
    assert np.ndim(single) == 0
    sampled, _ = agent.predict(test, deterministic=False)
    assert set(np.unique(sampled)) <= {0, 1}
    env = gym.make("CartPole-v1", max_episode_steps=50)
    mean, _ = evaluate_policy(agent, env, n_eval_episodes=2, warn=False)
    assert mean > 0


def test_cnn_dqn_with_channels_last_images_matches_the_ann(tiny_image_env):
    env = DummyVecEnv([tiny_image_env])
    model = sb3.DQN("CnnPolicy", env, buffer_size=100, learning_starts=10, seed=0, device="cpu")
    assert model.observation_space.shape == (1, 36, 36)  # SB3 transposed the env
    obs = np.stack([tiny_image_env().observation_space.sample() for _ in range(64)])  # (64, 36, 36, 1)
    agent = convert_sb3(model, obs, steps=128)
    assert agent.preprocessor.spec == {"space": "box", "shape": [1, 36, 36], "image": True, "normalize": True}
    x, batched = agent.preprocessor(obs)
    ref_x = preprocess_obs(model.policy.obs_to_tensor(obs)[0], model.observation_space, True)
    assert batched and torch.equal(x, ref_x)
    q_ann = model.q_net(model.policy.obs_to_tensor(obs)[0]).detach().numpy()
    q_snn = agent.action_values(obs)
    assert np.abs(q_snn - q_ann).mean() < 0.05 * np.abs(q_ann).mean()
    assert [layer["kind"] for layer in agent.metadata["layers"]] == ["conv2d", "conv2d", "conv2d", "linear", "output"]
    mean, _ = evaluate_policy(agent, env, n_eval_episodes=2, warn=False)
    assert 0 <= mean <= 12


def test_box_action_policy_converts_to_clipped_means():
    model = sb3.PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
    space = model.observation_space
    obs = np.random.default_rng(0).uniform(space.low, space.high, (200, 3)).astype(np.float32)
    agent = convert_sb3(model, obs, steps=64)
    assert agent.output == "mean" and len(agent.metadata["log_std"]) == 1
    mean_ann = model.policy.get_distribution(model.policy.obs_to_tensor(obs)[0]).distribution.mean.detach().numpy()
    assert np.abs(agent.action_values(obs) - mean_ann).max() < 0.05
    actions, _ = agent.predict(obs, deterministic=False)
    assert actions.shape == (200, 1) and np.all(np.abs(actions) <= 2.0)


def test_qrdqn_quantiles_are_averaged():
    contrib = pytest.importorskip("sb3_contrib", reason="QR-DQN needs sb3-contrib (pip install sb3-contrib)")
    model = contrib.QRDQN("MlpPolicy", "CartPole-v1", buffer_size=100, seed=0, device="cpu")
    obs = _cartpole_obs(300)
    agent = convert_sb3(model, obs, steps=128)
    assert agent.metadata["algo"] == "qrdqn"
    q = model.policy.quantile_net(model.policy.obs_to_tensor(obs)[0]).mean(dim=1).detach().numpy()
    assert np.abs(agent.action_values(obs) - q).mean() < 0.02 * np.abs(q).mean() + 1e-3


def test_custom_extractor_that_is_not_a_chain_is_refused():
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class Doubling(BaseFeaturesExtractor):
        def __init__(self, space):
            super().__init__(space, 8)
            self.linear = torch.nn.Linear(4, 8)

        def forward(self, x):
            return 2.0 * self.linear(x)

    model = sb3.PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"features_extractor_class": Doubling}, device="cpu")
    with pytest.raises(ConversionError, match="do not reproduce"):
        convert_sb3(model, _cartpole_obs(50))


def test_checkpoint_round_trip(tmp_path):
    model = sb3.DQN("MlpPolicy", "CartPole-v1", buffer_size=100, seed=0, device="cpu")
    agent = convert_sb3(model, _cartpole_obs(200), steps=32, readout="spikes")
    agent.steps = 48
    path = tmp_path / "agent.safetensors"
    agent.save(path)
    loaded = ConvertedPolicy.load(path)
    assert loaded.steps == 48 and loaded.readout == "spikes" and loaded.metadata["algo"] == "dqn"
    obs = _cartpole_obs(30, seed=3)
    np.testing.assert_array_equal(agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    np.testing.assert_allclose(agent.action_values(obs), loaded.action_values(obs))
    save_checkpoint(agent.network, str(tmp_path / "plain.safetensors"))  # no conversion metadata
    with pytest.raises(ValueError, match="not a converted policy"):
        ConvertedPolicy.load(tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="readout"):
        loaded.readout = "voltage"


def test_occlusion_wrapper_blanks_a_band(tiny_image_env):
    from snnrl.integrations.sb3 import OcclusionWrapper

    venv = OcclusionWrapper.wrap(DummyVecEnv([tiny_image_env]), start=4, size=3)  # rows of HWC frames
    obs = venv.reset()
    assert obs.shape == (1, 36, 36, 1)
    assert np.all(obs[:, 4:7] == 0) and obs[:, 7:].any() and obs[:, :4].any()
    obs, *_ = venv.step(np.array([0]))
    assert np.all(obs[:, 4:7] == 0)
    vec = OcclusionWrapper.wrap(DummyVecEnv([lambda: gym.make("CartPole-v1")]), start=2, size=1)
    vec.seed(0)
    o = vec.reset()
    assert o[0, 2] == 0 and o[0, 0] != 0
    with pytest.raises(ValueError, match="outside"):
        OcclusionWrapper.wrap(DummyVecEnv([lambda: gym.make("CartPole-v1")]), start=4, size=1)
