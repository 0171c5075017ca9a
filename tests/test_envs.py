"""Environment presets, make_env, and the CueBandit task."""

import dataclasses
import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import snnrl
from snnrl import wrappers as W
from snnrl.envs import ENCODERS, PREPROCESS_STEPS, EnvPreset, PresetError, list_presets, load_preset, make_env
from snnrl.envs.tasks import CUE_BANDIT_ID, CueBandit
from snnrl.wrappers import StickyActions

REPO_ENVS = Path(__file__).resolve().parents[1] / "envs"
REQUIRED = {"breakout", "pong", "space_invaders", "cartpole", "mountain_car", "acrobot", "cue_bandit"}
ATARI = ("breakout", "pong", "space_invaders")


def test_bundled_presets_are_the_repository_files():
    assert REQUIRED <= set(list_presets())
    assert set(list_presets()) == {p.stem for p in REPO_ENVS.glob("*.toml")}
    assert snnrl.make_env is make_env


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_check_env_passes_on_every_preset(name):
    env = make_env(name, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Rendering needs pygame (classic control) or a display (ALE "human"), not part of the extra.
        check_env(env, skip_render_check=True)
    unexpected = [str(w.message) for w in caught if "different from the unwrapped" not in str(w.message)]
    assert unexpected == []
    obs, _ = env.reset()
    for _ in range(5 if name in ATARI else 30):
        assert obs in env.observation_space
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


def test_atari_observation_shapes_and_sticky_actions():
    env = make_env("breakout", seed=0)
    assert env.observation_space == gym.spaces.Box(0, 1, (16, 80, 80), np.uint8)
    ale = env.unwrapped
    # v5's sticky actions (0.25), played by StickyActions right on the emulator, which has none of its own
    assert ale._frameskip == 1 and ale.ale.getFloat("repeat_action_probability") == 0.0
    sticky = env
    while not isinstance(sticky, StickyActions):
        sticky = sticky.env
    assert sticky.repeat_action_probability == 0.25 and sticky.env.unwrapped is ale
    # ALE's own frame skipping keeps ALE's own sticky actions (one draw per frame, inside the step)
    plain = dataclasses.replace(load_preset("breakout"), make={"frameskip": 4, "repeat_action_probability": 0.25},
                                preprocess=(), encoder=None)
    skipping = make_env(plain)
    assert not isinstance(skipping, StickyActions)
    assert skipping.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    skipping.close()
    assert env.unwrapped.get_action_meanings() == ["NOOP", "FIRE", "RIGHT", "LEFT"]
    obs, _ = env.reset()
    assert obs.any()  # the bricks and the paddle are on
    env.close()


def _rollout(env, steps, seed_actions=0):
    env.action_space.seed(seed_actions)
    out = [env.reset()[0]]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append(obs)
        if terminated or truncated:
            out.append(env.reset()[0])
    env.close()
    return np.stack(out)


@pytest.mark.parametrize(("name", "steps"), [("cue_bandit", 30), ("cartpole", 40), ("breakout", 6)])
def test_same_seed_same_spike_trains(name, steps):
    a = _rollout(make_env(name, seed=3), steps)
    b = _rollout(make_env(name, seed=3), steps)
    np.testing.assert_array_equal(a, b)
    if name != "breakout":  # breakout's first frames hardly depend on the seed
        assert not np.array_equal(a, _rollout(make_env(name, seed=4), steps))


@pytest.mark.parametrize(("name", "mode"), [("cue_bandit", "sync"), ("cue_bandit", "async"), ("breakout", "sync")])
def test_vector_env_shapes(name, mode):
    envs = make_env(name, seed=0, num_envs=2, vectorization_mode=mode)
    single = envs.single_observation_space
    assert envs.observation_space.shape == (2, *single.shape)
    obs, _ = envs.reset()
    assert obs.shape == (2, *single.shape) and obs.dtype == np.uint8
    for _ in range(3):
        obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert obs in envs.observation_space
        assert reward.shape == terminated.shape == truncated.shape == (2,)
    envs.close()


def test_vector_env_autoresets_each_env_on_its_own():
    # Sub-environment i of make_env(seed=s, num_envs=n) behaves exactly like make_env(seed=s + i),
    # reset (without a seed) on the step after its episode ends (Gymnasium's NEXT_STEP autoreset).
    steps, seed = 60, 10
    envs = make_env("cartpole", seed=seed, num_envs=2)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(steps)]
    batch = [envs.reset()[0]]
    dones = []
    for a in actions:
        obs, _, terminated, truncated, _ = envs.step(a)
        batch.append(obs)
        dones.append(terminated | truncated)
    envs.close()
    dones = np.array(dones)
    assert dones.sum(0).min() >= 1 and not np.array_equal(dones[:, 0], dones[:, 1])  # ends at different steps
    for i in range(2):
        env = make_env("cartpole", seed=seed + i)
        expected, pending_reset = [env.reset()[0]], False
        for a in actions:
            if pending_reset:
                expected.append(env.reset()[0])
                pending_reset = False
                continue
            obs, _, terminated, truncated, _ = env.step(int(a[i]))
            expected.append(obs)
            pending_reset = terminated or truncated
        np.testing.assert_array_equal(np.stack(batch)[:, i], np.stack(expected))


def test_terminated_and_truncated_stay_apart(tmp_path):
    env = make_env("cue_bandit", seed=0)
    env.reset()
    for t in range(20):
        _, _, terminated, truncated, _ = env.step(0)
        assert terminated == (t == 19) and truncated is False
    preset = tmp_path / "short_cartpole.toml"
    preset.write_text('id = "CartPole-v1"\n[make]\nmax_episode_steps = 3\n[encoder]\ntype = "repeat"\nsteps = 2\n')
    env = make_env(preset, seed=0)
    env.reset()
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_preset_from_a_path_and_from_an_object(tmp_path):
    spec = load_preset("cartpole")
    assert spec.name == "cartpole" and spec.id == "CartPole-v1" and spec.encoder["type"] == "population"
    assert make_env(spec, seed=1).observation_space.shape == (16, 40)
    raw = make_env(spec, seed=1, encode=False)
    assert raw.observation_space.shape == (4,)
    custom = dataclasses.replace(spec, encoder={**spec.encoder, "steps": 5})
    assert make_env(custom).observation_space.shape == (5, 40)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('id = "CartPole-v1"\nencodr = {}\n', r"unknown top-level key 'encodr'; valid keys: \['id', 'description'"),
        ('description = "no id"\n', "has no 'id'"),
        ('id = 3\n', "'id' must be a non-empty string"),
        ('id = "CartPole-v1"\nmake = 3\n', r"\[make\] must be a table"),
        (
            'id = "CartPole-v1"\n[[preprocess]]\ntype = "blur"\n',
            r"unknown type 'blur'; known types: \['actions', 'atari'",
        ),
        ('id = "CartPole-v1"\n[[preprocess]]\nshape = [2, 2]\n', "has no 'type'"),
        (
            'id = "CartPole-v1"\n[[preprocess]]\ntype = "resize"\nsize = [2]\n',
            r"unknown key 'size'; valid keys: \['type', 'shape'\]",
        ),
        ('id = "CartPole-v1"\n[[preprocess]]\ntype = "stack"\n', r"missing \['size'\]"),
        ('id = "CartPole-v1"\n[encoder]\ntype = "morse"\nsteps = 4\n', "unknown type 'morse'; known types"),
        ('id = "CartPole-v1"\n[encoder]\ntype = "poisson"\nsteps = 4\nrate = 3\n', "unknown key 'rate'; valid keys"),
        ('id = "CartPole-v1"\n[encoder]\ntype = "poisson"\n', "missing 'steps'"),
        ('id = "CartPole-v1"\n[encoder\n', "not valid TOML"),
    ],
)  # fmt: skip
def test_schema_errors_name_the_key_and_the_valid_ones(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError, match=match):
        load_preset(path)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(PresetError, match=r"unknown environment preset 'breakot'; known presets: \['acrobot'"):
        make_env("breakot")
    with pytest.raises(PresetError, match="does not exist"):
        make_env("missing/preset.toml")
    with pytest.raises(TypeError, match="preset must be"):
        make_env(3)


def test_build_errors_say_which_preset_and_step(tmp_path):
    bad_value = tmp_path / "v.toml"
    bad_value.write_text('id = "CartPole-v1"\n[encoder]\ntype = "bernoulli"\nsteps = 4\nmax_prob = 3.0\n')
    with pytest.raises(PresetError, match=r"preset 'v', \[encoder\] \(bernoulli\): max_prob"):
        make_env(bad_value)
    bad_step = tmp_path / "s.toml"
    bad_step.write_text('id = "CartPole-v1"\n[[preprocess]]\ntype = "binarize"\nthreshold = "x"\n')
    with pytest.raises(PresetError, match=r"preset 's', preprocess step 0 \(binarize\): threshold"):
        make_env(bad_step)
    bad_make = tmp_path / "m.toml"
    bad_make.write_text('id = "CartPole-v1"\n[make]\ncolour = "red"\n')
    with pytest.raises(PresetError, match=r"gymnasium\.make"):
        make_env(bad_make)
    with pytest.raises(ValueError, match="num_envs"):
        make_env("cue_bandit", num_envs=0)
    with pytest.raises(ValueError, match="vectorization_mode"):
        make_env("cue_bandit", num_envs=2, vectorization_mode="threads")
    with pytest.raises(ValueError, match="seed"):
        make_env("cue_bandit", seed=-1)


def test_missing_atari_extra_names_the_install_command(monkeypatch):
    import ale_py

    monkeypatch.setitem(sys.modules, "ale_py", None)  # import ale_py -> ImportError
    with pytest.raises(ImportError, match=r"ale-py.*pip install 'snnrl\[atari\]'"):
        make_env("pong")
    monkeypatch.setitem(sys.modules, "ale_py", ale_py)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match=r"OpenCV.*pip install 'snnrl\[atari\]'"):
        make_env("pong")


def test_import_snnrl_needs_no_gymnasium():
    code = (
        "import sys\n"
        "import snnrl, snnrl.envs\n"
        "assert 'gymnasium' not in sys.modules\n"
        "sys.modules['gymnasium'] = None  # now behave as if it were not installed\n"
        "assert snnrl.envs.list_presets()\n"
        "try:\n    snnrl.make_env('cartpole')\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'snnrl[atari]'" in out.stdout


def test_schema_tables_match_the_wrappers():
    def params(cls):
        return {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "env")}

    encoders = {
        "poisson": W.PoissonObservation,
        "bernoulli": W.BernoulliObservation,
        "rank_order": W.RankOrderObservation,
        "latency": W.LatencyObservation,
        "population": W.PopulationObservation,
        "joint_population": W.JointPopulationObservation,
        "repeat": W.RepeatObservation,
    }
    assert set(ENCODERS) == set(encoders)
    for name, cls in encoders.items():
        assert set(ENCODERS[name]) == params(cls), name
    steps = {
        "atari": gym.wrappers.AtariPreprocessing,
        "fire_reset": W.FireOnReset,
        "crop": W.CropObservation,
        "resize": gym.wrappers.ResizeObservation,
        "binarize": W.BinarizeObservation,
        "frame_difference": W.FrameDifferenceObservation,
        "overlay": W.OverlayObservation,
        "background": W.SubtractBackground,
        "pool": W.PoolObservation,
        "repeat_action": W.ActionRepeat,
        "actions": W.ActionSubset,
    }
    for name, cls in steps.items():
        assert set(PREPROCESS_STEPS[name]) == params(cls), name
    assert PREPROCESS_STEPS["stack"] == ("size", "padding")


def test_preset_is_plain_data():
    spec = load_preset("breakout")
    assert isinstance(spec, EnvPreset)
    assert [s["type"] for s in spec.preprocess] == [
        "atari", "fire_reset", "crop", "resize", "binarize", "stack", "overlay",
    ]  # fmt: skip
    assert spec.make["repeat_action_probability"] == 0.25 and spec.make["frameskip"] == 1


# --- the CueBandit task ----------------------------------------------------------------------


def test_cue_bandit_optimal_and_random_returns():
    env = gym.make(CUE_BANDIT_ID)
    assert env.unwrapped.optimal_return == 20.0
    obs, info = env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        cue = int(np.argmax(obs))
        assert cue == info["cue"] and obs.sum() == 1.0
        obs, reward, terminated, truncated, info = env.step(cue)
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            break
    assert (total, steps, terminated, truncated) == (20.0, 20, True, False)
    env.action_space.seed(0)
    returns = []
    for _ in range(200):
        env.reset()
        returns.append(sum(env.step(env.action_space.sample())[1] for _ in range(20)))
    assert abs(np.mean(returns)) < 1.0  # random: 0 on average (std of the mean ~0.32)


def test_cue_bandit_is_deterministic_and_passes_check_env():
    check_env(CueBandit(), skip_render_check=True)
    a, b = CueBandit(n_cues=3, mapping=[2, 0, 1]), CueBandit(n_cues=3, mapping=[2, 0, 1])
    cues_a = [a.reset(seed=5)[1]["cue"]] + [a.step(0)[4]["cue"] for _ in range(10)]
    cues_b = [b.reset(seed=5)[1]["cue"]] + [b.step(0)[4]["cue"] for _ in range(10)]
    assert cues_a == cues_b
    a.reset(seed=1)
    cue = a.reset()[1]["cue"]
    assert a.step(a.mapping[cue])[1] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_cues": 1}, "n_cues"),
        ({"episode_length": 0}, "episode_length"),
        ({"reward_wrong": 2.0}, "below reward_correct"),
        ({"mapping": [0, 0]}, "permutation"),
        ({"render_mode": "human"}, "render modes"),
    ],
)
def test_cue_bandit_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CueBandit(**kwargs)
