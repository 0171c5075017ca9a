"""RL Zoo models (saved by SB3 1.x) converted at >= 95 % of their return, and ``snnrl convert``.

The 100-episode figures are in bench/README.md; these tests use a few episodes to stay CI-sized.
The zoo's VecNormalize models (A2C Acrobot, PPO MountainCarContinuous with gSDE) are in their own
folder layout under ``../shared/data/sb3-zoo``; ``tests/integrations/test_vecnormalize.py`` covers
the same paths without the shared data.
"""

import json

import numpy as np
import pytest

sb3 = pytest.importorskip("stable_baselines3")
gym = pytest.importorskip("gymnasium")

from snnrl.cli import main  # noqa: E402
from snnrl.integrations.sb3 import (  # noqa: E402
    AgreementRecorder,
    ConvertedPolicy,
    NormalizedModel,
    collect_observations,
    compare_returns,
    convert_sb3,
    evaluate,
    load_sb3_model,
    make_vec_env,
)


def _keeps_95_percent(model, agent, episodes, max_steps=None):
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    def factory():
        kwargs = {} if max_steps is None else {"max_episode_steps": max_steps}
        return DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1", **kwargs)) for _ in range(episodes)])

    ann = evaluate(model, factory, episodes, seed=0)
    recorder = AgreementRecorder(agent, model)
    snn = evaluate(recorder, factory, episodes, seed=0)
    assert ann["mean"] == (max_steps or 500)  # the zoo models are perfect
    assert snn["mean"] >= 0.95 * ann["mean"], (snn, recorder.rate)
    return recorder.rate


def test_zoo_ppo_converts_at_95_percent(zoo_model):
    model = load_sb3_model(zoo_model("ppo-CartPole-v1.zip"))
    assert type(model).__name__ == "PPO"
    obs = collect_observations(model, make_vec_env("cartpole", n_envs=2, seed=1000), 500)
    agent = convert_sb3(model, obs, steps=16)
    assert _keeps_95_percent(model, agent, episodes=4) > 0.9


def test_zoo_dqn_converts_at_95_percent(zoo_model):
    """DQN's CartPole Q-values are ~100 with action advantages of ~0.2: the last hidden layer needs a
    fine rate resolution, bought here with 16 replicas (bench/README.md: 99.5 % of the return over 100
    full episodes at T = 64, against 58.8 % with one neuron per unit). Episodes are cut at 200 steps
    to keep the test under a few seconds."""
    model = load_sb3_model(zoo_model("dqn-CartPole-v1.zip"))
    assert type(model).__name__ == "DQN"
    obs = collect_observations(model, make_vec_env("cartpole", n_envs=2, seed=1000), 500)
    agent = convert_sb3(model, obs, steps=64, replicas=(1, 16))
    assert _keeps_95_percent(model, agent, episodes=3, max_steps=200) > 0.9


ZOO_VECNORMALIZE = [
    # (model, env, what the ANN scores at least on these 4 episodes)
    ("a2c/Acrobot-v1_1/Acrobot-v1.zip", "Acrobot-v1", -100.0),
    ("ppo/MountainCarContinuous-v0_1/MountainCarContinuous-v0.zip", "MountainCarContinuous-v0", 80.0),
]


@pytest.mark.parametrize(("name", "env", "ann_at_least"), ZOO_VECNORMALIZE)
def test_zoo_models_with_vecnormalize_convert(zoo_model, name, env, ann_at_least):
    """The statistics are found beside the model, the ANN is evaluated with them, they fold into the
    first layer (both observation spaces are bounded within the clip), and the SNN keeps >= 95 % of
    the ANN's gap above a random policy (the gSDE policy acting with its mean)."""
    model = load_sb3_model(zoo_model(name))
    assert isinstance(model, NormalizedModel) and model.source.endswith("vecnormalize.pkl")
    obs = collect_observations(model, make_vec_env(env, n_envs=2, seed=1000), 500)
    agent = convert_sb3(model, obs, steps=32)
    assert agent.metadata["obs_normalization"]["folded"] is True
    res = compare_returns(model, agent, env, 4, n_envs=4, seed=0)
    assert res["ann"]["mean"] >= ann_at_least and res["random"]["mean"] < ann_at_least
    assert res["snn"][0]["kept"] >= 0.95, res["snn"][0]


def test_zoo_gsde_model_without_its_statistics_fails(zoo_model):
    """What a user saw before: the ANN itself is poor when VecNormalize's statistics are not applied."""
    path = zoo_model("ppo/MountainCarContinuous-v0_1/MountainCarContinuous-v0.zip")
    raw = load_sb3_model(path, vecnormalize=False)
    assert evaluate(raw, "MountainCarContinuous-v0", 2, n_envs=2)["mean"] < 0
    assert evaluate(load_sb3_model(path), "MountainCarContinuous-v0", 2, n_envs=2)["mean"] > 80


def test_convert_command_on_a_zoo_vecnormalize_model(zoo_model, tmp_path, capsys):
    path = zoo_model("ppo/MountainCarContinuous-v0_1/MountainCarContinuous-v0.zip")
    out = tmp_path / "out"
    assert main(["convert", "--model", str(path), "--env", "MountainCarContinuous-v0", "--episodes", "2",
                 "--n-envs", "2", "--steps", "32", "--calibration", "300", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["vecnormalize"].endswith("MountainCarContinuous-v0/vecnormalize.pkl")
    assert report["normalization_folded"] is True and report["ann"]["mean"] > 80
    assert report["snn"][0]["kept"] >= 0.95 and report["random"]["mean"] < 0
    assert "observations normalised with the VecNormalize statistics in" in capsys.readouterr().err


def test_convert_command_writes_checkpoint_and_report(tmp_path):
    model = sb3.PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    path = tmp_path / "ppo-test.zip"
    model.save(path)
    out = tmp_path / "out"
    assert main(["convert", "--model", str(path), "--env", "CartPole-v1", "--episodes", "2", "--n-envs", "2",
                 "--sweep", "4,8", "--calibration", "64", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["algo"] == "ppo" and [row["steps"] for row in report["snn"]] == [4, 8]
    assert 0.0 <= report["snn"][1]["agreement"] <= 1.0 and report["ann"]["mean"] > 0
    assert "kept" in report["snn"][0] and len(report["returns"]["random"]) == 2
    assert report["vecnormalize"] is None
    agent = ConvertedPolicy.load(out / "snn.safetensors")
    assert agent.steps == 64  # --steps (the sweep does not change what is saved)
    obs = np.zeros((3, 4), dtype=np.float32)
    assert agent.predict(obs, deterministic=True)[0].shape == (3,)


def test_convert_command_rejects_a_wrong_file(tmp_path, capsys):
    bad = tmp_path / "model.zip"
    bad.write_text("not a model")
    assert main(["convert", "--model", str(bad), "--env", "CartPole-v1"]) == 2
    assert "not a stable-baselines3 model" in capsys.readouterr().err
    assert main(["convert", "--model", str(tmp_path / "absent.zip"), "--env", "CartPole-v1"]) == 2
    assert "no such file" in capsys.readouterr().err


def _fake_compare(ann, random, snn):
    def fake(*args, **kwargs):
        from snnrl.integrations.sb3.evaluation import gap_kept

        row = {"steps": 8, "mean": snn, "std": 0.0, "kept": gap_kept(snn, ann, random), "agreement": 0.5,
               "returns": [snn], "lengths": [100]}
        return {"ann": {"mean": ann, "std": 0.0, "returns": [ann], "lengths": [500]},
                "random": {"mean": random, "std": 0.0, "returns": [random], "lengths": [500]}, "snn": [row]}
    return fake


def _convert_with(tmp_path, monkeypatch, fake, extra=()):
    import snnrl.integrations.sb3 as sb3_integration

    monkeypatch.setattr(sb3_integration, "compare_returns", fake)
    path = tmp_path / "ppo-test.zip"
    sb3.PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu").save(path)
    return main(["convert", "--model", str(path), "--env", "CartPole-v1", "--episodes", "1", "--n-envs", "1",
                 "--steps", "8", "--calibration", "32", "--out", str(tmp_path / "out"), *extra])


@pytest.mark.parametrize("replicas", [None, "1,16"])
def test_convert_command_hints_at_replicas_below_95_percent(tmp_path, capsys, monkeypatch, replicas):
    extra = ["--replicas", replicas] if replicas else []
    assert _convert_with(tmp_path, monkeypatch, _fake_compare(500.0, 20.0, 116.0), extra) == 0
    out = capsys.readouterr().out
    assert "20.0%" in out  # (116 - 20) / (500 - 20)
    assert ("--replicas 1,16" in out) == (replicas is None)


def test_convert_command_reports_the_share_kept_for_negative_returns(tmp_path, capsys, monkeypatch):
    """An SNN at -83.4 against an ANN at -75.4 was reported as "110.6 %" of the ANN."""
    assert _convert_with(tmp_path, monkeypatch, _fake_compare(-75.4, -500.0, -83.4)) == 0
    out = capsys.readouterr().out
    assert "98.1%" in out and "110.6" not in out and "hint" not in out
    assert _convert_with(tmp_path, monkeypatch, _fake_compare(-500.0, -500.0, -500.0)) == 0
    out = capsys.readouterr().out
    assert "n/a" in out and "does no better than the random policy" in out and "hint" not in out


@pytest.fixture
def zoo_layout(tmp_path):
    """A PPO Pendulum model with VecNormalize statistics in the RL Zoo's layout (no shared data needed)."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    path = tmp_path / "Pendulum-v1.zip"
    sb3.PPO("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs={"net_arch": [16]}).save(path)
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), training=False)
    venv.obs_rms.mean, venv.obs_rms.var = np.array([0.1, 0.0, 0.2]), np.array([0.5, 0.5, 4.0])
    (tmp_path / "Pendulum-v1").mkdir()
    venv.save(tmp_path / "Pendulum-v1" / "vecnormalize.pkl")
    return path


@pytest.mark.parametrize("how", ["found", "given", "off"])
def test_convert_command_uses_the_vecnormalize_statistics(zoo_layout, tmp_path, capsys, how):
    stats = zoo_layout.parent / "Pendulum-v1" / "vecnormalize.pkl"
    extra = {"found": [], "given": ["--vecnormalize", str(stats)], "off": ["--no-vecnormalize"]}[how]
    out = tmp_path / "out"
    assert main(["convert", "--model", str(zoo_layout), "--env", "Pendulum-v1", "--episodes", "1", "--n-envs", "1",
                 "--steps", "8", "--calibration", "32", "--out", str(out), *extra]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["vecnormalize"] == (None if how == "off" else str(stats))
    assert report["normalization_folded"] == (None if how == "off" else True)
    agent = ConvertedPolicy.load(out / "snn.safetensors")
    assert ("obs_normalization" in agent.metadata) == (how != "off")
    err = capsys.readouterr().err
    assert ("folded into the first layer" in err) == (how != "off")


def test_convert_command_refuses_bad_statistics_in_one_line(zoo_layout, tmp_path, capsys):
    (tmp_path / "notes.pkl").write_text("not a pickle")
    for bad, message in ((tmp_path / "absent.pkl", "absent.pkl: no such file"),
                         (tmp_path / "notes.pkl", "not a VecNormalize statistics file")):
        assert main(["convert", "--model", str(zoo_layout), "--env", "Pendulum-v1", "--vecnormalize", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("snnrl convert: ") and message in err[0], err
    with pytest.raises(SystemExit):
        main(["convert", "--model", str(zoo_layout), "--env", "Pendulum-v1", "--vecnormalize", "x.pkl",
              "--no-vecnormalize"])
    assert "not allowed with argument" in capsys.readouterr().err
