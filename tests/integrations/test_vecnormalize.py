"""Models trained with VecNormalize: the statistics as SB3 applies them, reading and finding
``vecnormalize.pkl``, folding into the first layer, and the converted policy on raw observations."""

import math
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from snnrl.integrations.sb3 import (
    ConvertedPolicy,
    NormalizedModel,
    ObsNormalization,
    SB3LoadError,
    convert_sb3,
    find_vecnormalize,
    load_sb3_model,
    read_vecnormalize,
)
from snnrl.integrations.sb3.convert import ann_forward

sb3 = pytest.importorskip("stable_baselines3")
gym = pytest.importorskip("gymnasium")

from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402

from snnrl.integrations.sb3.evaluation import gap_kept  # noqa: E402


def _vecnormalize(env_id, mean, var, clip_obs=10.0, epsilon=1e-8, norm_obs=True):
    venv = VecNormalize(DummyVecEnv([lambda: gym.make(env_id)]), training=False, norm_obs=norm_obs,
                        clip_obs=clip_obs, epsilon=epsilon)
    if norm_obs:
        venv.obs_rms.mean = np.asarray(mean, dtype=np.float64)
        venv.obs_rms.var = np.asarray(var, dtype=np.float64)
    return venv


def _uniform_obs(space, n, seed=0, widen=1.0):
    low, high = np.maximum(space.low, -5.0), np.minimum(space.high, 5.0)
    centre, half = (low + high) / 2, (high - low) / 2 * widen
    return np.random.default_rng(seed).uniform(centre - half, centre + half, (n, *space.shape)).astype(np.float32)


# ----------------------------------------------------------------------------- the statistics
def test_normalization_is_sb3_s_bit_for_bit():
    venv = _vecnormalize("CartPole-v1", [0.1, -0.5, 0.02, 1.0], [0.3, 2.0, 1e-3, 0.0], clip_obs=3.0, epsilon=1e-6)
    stats = ObsNormalization(venv.obs_rms.mean, venv.obs_rms.var, venv.epsilon, venv.clip_obs)
    obs = np.random.default_rng(0).normal(0, 2, (500, 4)).astype(np.float32)
    expected = venv.normalize_obs(obs)
    assert (np.abs(expected) == 3.0).any()  # the clip binds on some of them
    got = stats(obs)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.array_equal(stats(obs[0]), venv.normalize_obs(obs[0]))
    again = ObsNormalization.from_dict(stats.as_dict())
    assert np.array_equal(again(obs), expected)
    with pytest.raises(ValueError, match=r"observation has shape \(3,\), expected \(4,\)"):
        stats(np.zeros(3))


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"mean": np.zeros(2), "var": np.ones(3)}, r"mean has shape \(2,\) but var has shape \(3,\)"),
    ({"mean": np.zeros(2), "var": -np.ones(2)}, r"var must be >= 0"),
    ({"mean": np.array([0.0, np.nan]), "var": np.ones(2)}, r"must be finite"),
    ({"mean": np.zeros(2), "var": np.ones(2), "clip_obs": 0.0}, r"clip_obs must be a finite number > 0, got 0\.0"),
    ({"mean": np.zeros(2), "var": np.ones(2), "epsilon": -1.0}, r"epsilon must be a finite number >= 0"),
    ({"mean": np.zeros(2), "var": np.zeros(2), "epsilon": 0.0}, r"var \+ epsilon must be > 0"),
])
def test_bad_statistics_are_refused(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        ObsNormalization(**kwargs)


def test_clip_binding_is_decided_from_the_space_bounds():
    stats = ObsNormalization(np.zeros(2), np.ones(2), epsilon=0.0, clip_obs=10.0)
    assert not stats.clip_can_bind([-10.0, -3.0], [10.0, 3.0])
    assert stats.clip_can_bind([-10.5, -3.0], [10.0, 3.0])
    assert stats.clip_can_bind([-np.inf, -3.0], [np.inf, 3.0])


def test_folding_into_the_first_layer_is_exact_without_the_clip():
    stats = ObsNormalization(np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1.0]), 1e-8, 10.0)
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 5)
    folded = stats.fold(layer)
    obs = np.random.default_rng(1).uniform(-3, 3, (100, 3)).astype(np.float32)
    expected = layer(torch.from_numpy(stats(obs)))
    assert torch.allclose(folded(torch.from_numpy(obs)), expected, atol=1e-5)
    assert layer.weight.grad is None and not folded.weight.requires_grad
    with pytest.raises(ValueError, match="3 values into"):
        stats.fold(torch.nn.Linear(4, 5))


# ----------------------------------------------------------------------------- the file
def test_statistics_written_by_sb3_are_read_back(tmp_path):
    venv = _vecnormalize("Pendulum-v1", [0.1, -0.2, 0.3], [0.5, 0.6, 7.0], clip_obs=5.0, epsilon=1e-7)
    venv.save(tmp_path / "vecnormalize.pkl")
    stats = read_vecnormalize(tmp_path / "vecnormalize.pkl")
    assert np.array_equal(stats.mean, venv.obs_rms.mean) and np.array_equal(stats.var, venv.obs_rms.var)
    assert (stats.epsilon, stats.clip_obs) == (1e-7, 5.0)
    _vecnormalize("Pendulum-v1", [0, 0, 0], [1, 1, 1], norm_obs=False).save(tmp_path / "rewards-only.pkl")
    assert read_vecnormalize(tmp_path / "rewards-only.pkl") is None


def test_files_pickled_with_the_old_gym_package_load_without_it(tmp_path, monkeypatch):
    """The RL Zoo's files reference ``gym.spaces`` (SB3 1.x); gym is not installed."""
    fake = types.ModuleType("gym.spaces.box")

    class Box:  # what an old gym Box pickles: its attributes
        def __init__(self):
            self.low, self.high, self.shape = np.zeros(3), np.ones(3), (3,)

    Box.__module__, Box.__qualname__ = "gym.spaces.box", "Box"
    fake.Box = Box
    venv = _vecnormalize("Pendulum-v1", [1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    venv.observation_space = Box()
    for name in ("gym", "gym.spaces", "gym.spaces.box"):
        monkeypatch.setitem(sys.modules, name, fake)
    venv.save(tmp_path / "vecnormalize.pkl")
    monkeypatch.undo()
    assert "gym.spaces.box" not in sys.modules
    assert b"gym.spaces.box" in (tmp_path / "vecnormalize.pkl").read_bytes()
    stats = read_vecnormalize(tmp_path / "vecnormalize.pkl")
    assert stats.mean.tolist() == [1.0, 2.0, 3.0]


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_only_what_a_vecnormalize_file_holds_is_unpickled(tmp_path):
    marker = tmp_path / "payload-ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"obs_rms": _Payload(marker)}))
    with pytest.raises(SB3LoadError, match=r"references io\.open, which a VecNormalize file does not hold"):
        read_vecnormalize(tmp_path / "evil.pkl")
    assert not marker.exists()
    (tmp_path / "dict.pkl").write_bytes(pickle.dumps({"mean": np.zeros(2)}))
    with pytest.raises(SB3LoadError, match="not a VecNormalize statistics file"):
        read_vecnormalize(tmp_path / "dict.pkl")
    (tmp_path / "text.pkl").write_text("mean = 0")
    with pytest.raises(SB3LoadError, match="not a VecNormalize statistics file"):
        read_vecnormalize(tmp_path / "text.pkl")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_vecnormalize(tmp_path / "absent.pkl")


def test_the_rl_zoo_layout_is_found(tmp_path):
    zoo = tmp_path / "ppo" / "Pendulum-v1_1"
    (zoo / "Pendulum-v1").mkdir(parents=True)
    stats = zoo / "Pendulum-v1" / "vecnormalize.pkl"
    _vecnormalize("Pendulum-v1", [0, 0, 0], [1, 1, 1]).save(stats)
    assert find_vecnormalize(zoo / "Pendulum-v1.zip") == stats
    assert find_vecnormalize(zoo / "best_model.zip") is None  # a folder without the zoo's config.yml
    (zoo / "Pendulum-v1" / "config.yml").write_text("normalize: true\n")
    assert find_vecnormalize(zoo / "best_model.zip") == stats
    assert find_vecnormalize(tmp_path / "elsewhere" / "model.zip") is None


# ----------------------------------------------------------------------------- loading and converting
@pytest.fixture
def zoo_pendulum(tmp_path):
    """A PPO Pendulum model with (hand-set) VecNormalize statistics in the RL Zoo's layout."""
    model = sb3.PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    path = tmp_path / "Pendulum-v1.zip"
    model.save(path)
    (tmp_path / "Pendulum-v1").mkdir()
    _vecnormalize("Pendulum-v1", [0.2, -0.1, 0.5], [0.4, 0.5, 9.0]).save(tmp_path / "Pendulum-v1" / "vecnormalize.pkl")
    return model, path


def test_the_loader_attaches_the_statistics(zoo_pendulum, tmp_path):
    model, path = zoo_pendulum
    loaded = load_sb3_model(path)
    assert isinstance(loaded, NormalizedModel) and loaded.source.endswith("vecnormalize.pkl")
    obs = _uniform_obs(model.observation_space, 20)
    expected, _ = model.predict(loaded.normalization(obs), deterministic=True)
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], expected)
    assert not isinstance(load_sb3_model(path, vecnormalize=False), NormalizedModel)
    explicit = load_sb3_model(path, vecnormalize=tmp_path / "Pendulum-v1" / "vecnormalize.pkl")
    assert np.array_equal(explicit.normalization.mean, loaded.normalization.mean)
    with pytest.raises(FileNotFoundError, match=r"absent\.pkl: no such file"):
        load_sb3_model(path, vecnormalize=tmp_path / "absent.pkl")
    _vecnormalize("CartPole-v1", np.zeros(4), np.ones(4)).save(tmp_path / "cartpole.pkl")
    with pytest.raises(SB3LoadError, match=r"shape \(4,\) but the model's observations have shape \(3,\)"):
        load_sb3_model(path, vecnormalize=tmp_path / "cartpole.pkl")


@pytest.mark.parametrize("fold", [True, False])
def test_converted_policy_takes_raw_observations(zoo_pendulum, tmp_path, fold):
    """Pendulum's space is bounded ([-1, 1]^2 x [-8, 8]) and these statistics cannot clip it, so the
    statistics fold into the first layer; with folding off they are applied before the network."""
    model, path = zoo_pendulum
    loaded = load_sb3_model(path)
    obs = _uniform_obs(model.observation_space, 300)
    agent = convert_sb3(loaded, obs, steps=128, fold_normalization=fold)
    meta = agent.metadata["obs_normalization"]
    assert meta["folded"] is fold and meta["source"] == loaded.source
    assert ("obs_normalization" in agent.preprocessor.spec) is not fold
    with torch.no_grad():
        ann = model.policy.get_distribution(model.policy.obs_to_tensor(loaded.normalization(obs))[0])
    mean_ann = ann.distribution.mean.numpy()
    assert np.abs(agent.action_values(obs) - mean_ann).max() < 0.05 * np.abs(mean_ann).max() + 0.01
    agent.save(tmp_path / "agent.safetensors")
    again = ConvertedPolicy.load(tmp_path / "agent.safetensors")
    np.testing.assert_array_equal(again.action_values(obs[:20]), agent.action_values(obs[:20]))
    assert again.metadata["version"] == 2


def test_statistics_that_could_clip_are_not_folded(zoo_pendulum):
    model, _ = zoo_pendulum
    stats = ObsNormalization(np.zeros(3), np.ones(3), 1e-8, clip_obs=2.0)  # the velocity (up to 8) would be clipped
    obs = _uniform_obs(model.observation_space, 200)
    agent = convert_sb3(model, obs, obs_normalization=stats, steps=128)
    assert agent.metadata["obs_normalization"]["folded"] is False
    x, _ = agent.preprocessor(obs)
    assert float(x.abs().max()) == 2.0 and torch.equal(x, torch.from_numpy(stats(obs)))
    with pytest.raises(ValueError, match="do not pass obs_normalization too"):
        convert_sb3(NormalizedModel(model, stats), obs, obs_normalization=stats)


def test_the_first_layer_sees_what_the_folded_network_assumes(zoo_pendulum):
    """``convert_sb3`` checks its layers against the SB3 policy on normalised observations."""
    from snnrl.integrations.sb3 import policy_network

    model, path = zoo_pendulum
    loaded = load_sb3_model(path)
    parts = policy_network(loaded)
    first = next(m for m in parts.layers if isinstance(m, torch.nn.Linear))
    folded = [loaded.normalization.fold(first) if m is first else m for m in parts.layers]
    obs = _uniform_obs(model.observation_space, 50)
    with torch.no_grad():
        ref = parts.reference(model.policy.obs_to_tensor(loaded.normalization(obs))[0])
        assert torch.allclose(ann_forward(folded, torch.from_numpy(obs)), ref, atol=1e-5)


# ----------------------------------------------------------------------------- how much is kept
def test_the_share_kept_is_right_for_negative_returns():
    assert math.isclose(gap_kept(-83.4, -75.4, -500.0), 416.6 / 424.6)  # not "110.6 %"
    assert gap_kept(-83.4, -75.4, -500.0) < 1.0
    assert gap_kept(480.0, 500.0, 20.0) == pytest.approx(460 / 480)
    assert gap_kept(-500.0, -75.4, -500.0) == 0.0
    assert math.isnan(gap_kept(10.0, 20.0, 20.0)) and math.isnan(gap_kept(10.0, 5.0, 20.0))
