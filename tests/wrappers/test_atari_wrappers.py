"""Atari pieces on synthetic frames: crop, binarise, frame difference, overlay, background, pool,
fire on reset."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from snnrl.wrappers import (
    PLAY_AREAS,
    BinarizeObservation,
    CropObservation,
    FireOnReset,
    FrameDifferenceObservation,
    OverlayObservation,
    PoolObservation,
    ProjectObservation,
    SpreadObservation,
    SubtractBackground,
)
from snnrl.wrappers._fast import compiled_kernels


def moving_square(n=6, size=8, dtype=np.uint8, value=200):
    """Frames where a 2x2 square moves one column right per step; the last fades to half."""
    frames = []
    for t in range(n):
        f = np.zeros((size, size), dtype)
        f[3:5, t : t + 2] = value
        frames.append(f)
    frames[-1] = frames[-2] // 2 if dtype == np.uint8 else frames[-2] / 2
    return frames


def image_space(size=8, dtype=np.uint8):
    high = 255 if dtype == np.uint8 else 1.0
    return gym.spaces.Box(0, high, (size, size), dtype=dtype)


def run(env, steps):
    obs = [env.reset(seed=0)[0]]
    for _ in range(steps):
        obs.append(env.step(0)[0])
    return obs


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_frame_difference_modes(dtype, scripted):
    frames = moving_square(dtype=dtype, value=200 if dtype == np.uint8 else 0.8)
    v = float(frames[0][3, 0])
    for mode in ("positive", "negative", "absolute"):
        env = FrameDifferenceObservation(scripted(image_space(dtype=dtype), frames), mode=mode)
        out = run(env, 5)
        assert not out[0].any()  # no previous frame after a reset: no motion
        for t in range(1, 5):
            d = out[t]
            assert d.dtype == dtype and d in env.observation_space
            entered, left = d[3:5, t + 1], d[3:5, t - 1]  # column t+1 appeared, t-1 vanished
            if t == 5 - 1:  # the last frame only fades (same place): only the decrease shows
                continue
            if mode == "positive":
                assert (entered == v).all() and not left.any() and d.sum() == 2 * v
            elif mode == "negative":
                assert (left == v).all() and not entered.any() and d.sum() == 2 * v
            else:
                assert (entered == v).all() and (left == v).all() and d.sum() == 4 * v
        fade = out[5]  # brightness halved in place: negative/absolute see it, positive does not
        if mode == "positive":
            assert not fade.any()
        else:
            np.testing.assert_allclose(fade[3:5, 4:6], v - frames[5][3, 4])


def test_frame_difference_uint8_never_wraps(scripted):
    frames = [np.full((2, 2), 10, np.uint8), np.full((2, 2), 250, np.uint8), np.full((2, 2), 0, np.uint8)]
    env = FrameDifferenceObservation(scripted(image_space(2), frames), mode="positive")
    out = run(env, 2)
    assert (out[1] == 240).all() and (out[2] == 0).all()


def test_frame_difference_resets_its_memory(scripted):
    frames = moving_square()
    env = FrameDifferenceObservation(scripted(image_space(), frames, episode_length=2))
    run(env, 2)
    assert not env.reset()[0].any()
    assert env.step(0)[0].sum() == 2 * 200


def test_binarize(scripted):
    frame = np.array([[0, 87, 110, 111, 255]], np.uint8)
    env = BinarizeObservation(scripted(gym.spaces.Box(0, 255, (1, 5), np.uint8), [frame]), threshold=110)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [[0, 0, 0, 1, 1]])
    assert obs.dtype == np.uint8 and env.observation_space == gym.spaces.Box(0, 1, (1, 5), np.uint8)
    with pytest.raises(TypeError, match="threshold"):
        BinarizeObservation(env, threshold="0")


def test_crop_rows_cols_and_game_table(scripted):
    frame = np.arange(210 * 160, dtype=np.int64).reshape(210, 160) % 256
    space = gym.spaces.Box(0, 255, (210, 160), np.uint8)
    env = CropObservation(scripted(space, [frame]), rows=(10, 20), cols=(5, 9))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, frame[10:20, 5:9])
    assert env.observation_space.shape == (10, 4)
    for game, (rows, cols) in PLAY_AREAS.items():
        cropped = CropObservation(scripted(space, [frame]), game=game)
        np.testing.assert_array_equal(cropped.reset(seed=0)[0], frame[slice(*rows), slice(*cols)])
    rgb = CropObservation(scripted(gym.spaces.Box(0, 255, (210, 160, 3), np.uint8), [np.zeros((210, 160, 3))]),
                          game="pong")  # fmt: skip
    assert rgb.observation_space.shape == (160, 160, 3)


def test_crop_errors(scripted):
    space = gym.spaces.Box(0, 255, (210, 160), np.uint8)
    env = scripted(space, [np.zeros((210, 160))])
    with pytest.raises(ValueError, match=r"known games: \['breakout', 'pong', 'space_invaders'\]"):
        CropObservation(env, game="tetris")
    with pytest.raises(ValueError, match="not both"):
        CropObservation(env, rows=(0, 10), game="pong")
    with pytest.raises(ValueError, match="crop before resizing"):
        CropObservation(scripted(gym.spaces.Box(0, 255, (84, 84), np.uint8), [np.zeros((84, 84))]), game="pong")
    with pytest.raises(ValueError, match="0 <= start < stop <= 210"):
        CropObservation(env, rows=(5, 300))
    with pytest.raises(TypeError, match="pair of ints"):
        CropObservation(env, cols=(0.5, 3))


def test_stack_and_overlay_make_a_fading_trail(scripted):
    frames = [f // 200 for f in moving_square()]  # binary frames, the square moving right
    env = BinarizeObservation(scripted(image_space(), frames), threshold=0)
    env = gym.wrappers.FrameStackObservation(env, 3, padding_type="zero")
    env = OverlayObservation(env, weights=[0.25, 0.5, 1.0], reduce="max")
    out = run(env, 3)[-1]  # after 3 steps: square at columns 3-4, earlier at 2-3 and 1-2
    np.testing.assert_allclose(out[3, :6], [0.0, 0.25, 0.5, 1.0, 1.0, 0.0])
    assert out.dtype == np.float32 and out in env.observation_space
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (8, 8), np.float32)


def test_overlay_sum_and_bounds(scripted):
    stack = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)  # k = 2 frames of 2 pixels
    env = OverlayObservation(scripted(gym.spaces.Box(0.0, 1.0, (2, 2)), [stack]), weights=[0.5, 2.0], reduce="sum")
    np.testing.assert_allclose(env.reset(seed=0)[0], [2.5, 2.0])
    np.testing.assert_allclose(env.observation_space.high, [2.5, 2.5])
    base = scripted(gym.spaces.Box(0.0, 1.0, (2, 2)), [stack])
    for weights, match in (([1.0], "one entry per stacked frame"), ([1.0, -1.0], ">= 0"), ([0, 0], "not all 0")):
        with pytest.raises(ValueError, match=match):
            OverlayObservation(base, weights=weights)
    with pytest.raises(ValueError, match="reduce"):
        OverlayObservation(base, weights=[1, 1], reduce="mean")


def test_check_env_on_a_synthetic_chain(scripted):
    env = FrameDifferenceObservation(BinarizeObservation(scripted(image_space(), moving_square()), 0))
    env = OverlayObservation(gym.wrappers.FrameStackObservation(env, 2, padding_type="zero"), [0.5, 1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    assert [str(w.message) for w in caught if "different from the unwrapped" not in str(w.message)] == []


def test_subtract_background_against_the_running_average(scripted):
    """Output ``max(x_t - b_t, 0)`` with ``b_{t+1} = b_t + (x_t - b_t) / tau``, ``b_0 = x_0``, kept over resets."""
    rng = np.random.default_rng(0)
    frames = [(rng.random((8, 8)) < 0.3).astype(np.uint8) for _ in range(12)]
    frames = [np.maximum(f, np.eye(8, dtype=np.uint8)) for f in frames]  # a static diagonal
    tau = 4.0
    env = SubtractBackground(scripted(gym.spaces.Box(0, 1, (8, 8), np.uint8), frames, episode_length=5), tau=tau)
    b = frames[0].astype(np.float64)
    outs = [env.reset(seed=0)[0]]
    outs += [env.step(0)[0] for _ in range(5)]
    outs.append(env.reset()[0])  # the background carries over the reset (frame 0 again, no longer blank)
    for x, out in zip([*frames[:6], frames[0]], outs, strict=True):
        np.testing.assert_allclose(out, np.maximum(x - b, 0), atol=1e-6)
        assert out.dtype == np.float32 and out in env.observation_space
        b += (x - b) / tau
    assert not outs[0].any() and outs[-1].any()  # the first frame is the background, at first
    assert all(not o[np.eye(8, dtype=bool)].any() for o in outs)  # what never changes never shows
    for tau in (0.5, float("nan"), "1"):
        with pytest.raises((ValueError, TypeError), match="tau"):
            SubtractBackground(scripted(image_space(), frames), tau=tau)


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_pool_blocks(reduce, scripted):
    x = np.arange(2 * 4 * 6, dtype=np.uint8).reshape(2, 4, 6)  # (k, H, W): pools the last two axes
    space = gym.spaces.Box(0, 255, x.shape, np.uint8)
    env = PoolObservation(scripted(space, [x]), size=(2, 3), reduce=reduce)
    out = env.reset(seed=0)[0]
    want = np.array([[[x[k, 2 * i : 2 * i + 2, 3 * j : 3 * j + 3] for j in range(2)] for i in range(2)]
                     for k in range(2)])
    want = want.max((-2, -1)) if reduce == "max" else want.mean((-2, -1))
    np.testing.assert_allclose(out, want, rtol=1e-6)
    assert out.shape == (2, 2, 2) and out in env.observation_space
    assert out.dtype == (np.uint8 if reduce == "max" else np.float32)


def test_pool_lights_a_cell_for_one_pixel_and_refuses_bad_sizes(scripted):
    frame = np.zeros((8, 8), np.uint8)
    frame[5, 2] = 1
    env = PoolObservation(scripted(gym.spaces.Box(0, 1, (8, 8), np.uint8), [frame]), size=4)
    np.testing.assert_array_equal(env.reset(seed=0)[0], [[0, 0], [1, 0]])
    base = scripted(image_space(), [frame])
    with pytest.raises(ValueError, match=r"not a multiple of size \(3, 3\)"):
        PoolObservation(base, size=3)
    for bad in (0, (2,), (2, 2.5), "2"):
        with pytest.raises((ValueError, TypeError), match="size"):
            PoolObservation(base, size=bad)
    with pytest.raises(ValueError, match="reduce"):
        PoolObservation(base, size=2, reduce="sum")


def test_spread_is_a_gaussian_profile_around_each_lit_cell_and_keeps_the_max(scripted):
    frame = np.zeros((2, 7, 9), np.float32)  # (k, H, W): spreads over the last two axes
    frame[0, 3, 4] = 1.0
    frame[1, 0, 0] = 0.5
    frame[1, 0, 2] = 1.0
    env = SpreadObservation(scripted(gym.spaces.Box(0, 1, frame.shape, np.float32), [frame]), sigma=1.0)
    out = env.reset(seed=0)[0]
    assert out.shape == frame.shape and out.dtype == np.float32 and out in env.observation_space
    rows, cols = np.mgrid[0:7, 0:9]
    d2 = (rows - 3) ** 2 + (cols - 4) ** 2
    # radius ceil(2 sigma) = 2 in each axis: e^(-d^2 / 2) inside the 5x5 square, 0 outside
    inside = (np.abs(rows - 3) <= 2) & (np.abs(cols - 4) <= 2)
    np.testing.assert_allclose(out[0], np.where(inside, np.exp(-d2 / 2.0), 0.0), rtol=1e-6)
    # two objects: the max of their profiles, not their sum; each keeps its own value
    a = 0.5 * np.exp(-(rows**2 + cols**2) / 2.0) * ((rows <= 2) & (cols <= 2))
    b = np.exp(-(rows**2 + (cols - 2) ** 2) / 2.0) * ((rows <= 2) & (np.abs(cols - 2) <= 2))
    np.testing.assert_allclose(out[1], np.maximum(a, b), rtol=1e-6)
    assert out[1, 0, 0] == pytest.approx(max(0.5, np.exp(-2.0)))


def test_spread_refuses_a_bad_sigma_and_a_flat_observation(scripted):
    base = scripted(gym.spaces.Box(0, 1, (4, 4), np.float32), [np.zeros((4, 4), np.float32)])
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises((ValueError, TypeError), match="sigma"):
            SpreadObservation(base, sigma=bad)
    flat = scripted(gym.spaces.Box(0, 1, (4,), np.float32), [np.zeros(4, np.float32)])
    with pytest.raises(ValueError, match=r"needs \(\.\.\., H, W\) observations"):
        SpreadObservation(flat)


def test_project_appends_the_max_along_the_other_axis(scripted):
    frame = np.zeros((2, 4, 5), np.uint8)  # (k, H, W): projects over the last two axes
    frame[0, 1, 3] = 255  # a ball
    frame[0, 3, 0:2] = 128  # a paddle, two cells wide
    frame[1, 2, 3] = 64
    space = gym.spaces.Box(0, 255, frame.shape, np.uint8)
    onto_width = ProjectObservation(scripted(space, [frame]), onto="width")
    out = onto_width.reset(seed=0)[0]
    assert out.shape == (2, 5, 5) and out.dtype == np.uint8 and out in onto_width.observation_space
    np.testing.assert_array_equal(out[:, :4], frame)  # the grid is unchanged
    np.testing.assert_array_equal(out[0, 4], [128, 128, 0, 255, 0])  # lit wherever in the column
    np.testing.assert_array_equal(out[1, 4], [0, 0, 0, 64, 0])
    onto_height = ProjectObservation(scripted(space, [frame]), onto="height")
    out = onto_height.reset(seed=0)[0]
    assert out.shape == (2, 4, 6) and out in onto_height.observation_space
    np.testing.assert_array_equal(out[:, :, :5], frame)
    np.testing.assert_array_equal(out[0, :, 5], [0, 255, 0, 128])
    np.testing.assert_array_equal(out[1, :, 5], [0, 0, 64, 0])
    # the bounds of the space are projected too, so a bounded space stays bounded
    assert onto_width.observation_space.high.shape == (2, 5, 5) and onto_width.observation_space.high.max() == 255


def test_project_commutes_with_the_mirror_along_either_axis(scripted):
    """What a mirror-tied readout relies on: mirroring the projected grid is projecting the
    mirrored grid, since the appended line is a row (onto width) or a column (onto height)."""
    rng = np.random.default_rng(0)
    frame = rng.random((3, 6, 7)).astype(np.float32)
    space = gym.spaces.Box(0, 1, frame.shape, np.float32)
    for onto, axis in (("width", -1), ("height", -2)):
        direct = ProjectObservation(scripted(space, [np.flip(frame, axis).copy()]), onto=onto).reset(seed=0)[0]
        mirrored = np.flip(ProjectObservation(scripted(space, [frame]), onto=onto).reset(seed=0)[0], axis)
        np.testing.assert_array_equal(direct, mirrored)


def test_project_refuses_a_bad_axis_and_a_flat_observation(scripted):
    base = scripted(gym.spaces.Box(0, 1, (4, 4), np.float32), [np.zeros((4, 4), np.float32)])
    for bad in ("rows", 0, None):
        with pytest.raises(ValueError, match="onto"):
            ProjectObservation(base, onto=bad)
    flat = scripted(gym.spaces.Box(0, 1, (4,), np.float32), [np.zeros(4, np.float32)])
    with pytest.raises(ValueError, match=r"needs \(\.\.\., H, W\) observations"):
        ProjectObservation(flat)


class FakeAle(gym.Env):
    """Mimics the ALE interface FireOnReset uses; records the actions and loses a life on action 3."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, meanings=("NOOP", "FIRE", "RIGHT", "LEFT")):
        self.observation_space = gym.spaces.Box(0, 255, (1,), np.uint8)
        self.action_space = gym.spaces.Discrete(len(meanings))
        self.meanings = list(meanings)
        self.actions = []
        self.ale = self
        self._lives = 3

    def get_action_meanings(self):
        return self.meanings

    def lives(self):
        return self._lives

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.actions.append("reset")
        self._lives = 3
        return np.zeros(1, np.uint8), {"lives": self._lives}

    def step(self, action):
        self.actions.append(int(action))
        if action == 3:
            self._lives -= 1
        reward = 1.0 if action == 1 else 0.0
        return np.full(1, len(self.actions), np.uint8), reward, self._lives == 0, False, {"lives": self._lives}


def test_fire_on_reset_and_on_life_loss():
    fake = FakeAle()
    env = FireOnReset(fake, on_life_loss=True)
    obs, info = env.reset(seed=0)
    assert fake.actions == ["reset", 1] and obs[0] == 2 and info["lives"] == 3
    _, reward, terminated, truncated, _ = env.step(2)
    assert fake.actions[-1] == 2 and reward == 0.0
    _, reward, terminated, truncated, _ = env.step(3)  # a life lost: FIRE follows
    assert fake.actions[-2:] == [3, 1] and reward == 1.0 and not (terminated or truncated)
    env.step(3)
    _, _, terminated, truncated, _ = env.step(3)  # the last life: episode over, no FIRE
    assert terminated and not truncated and fake.actions[-1] == 3

    plain = FireOnReset(FakeAle(), on_life_loss=False)
    plain.reset(seed=0)
    plain.step(3)
    assert plain.env.actions == ["reset", 1, 3]


def test_fire_on_reset_needs_fire():
    with pytest.raises(ValueError, match="action 1 is FIRE"):
        FireOnReset(FakeAle(("NOOP", "UP", "DOWN")))


@pytest.mark.parametrize(("options", "make", "sticky"), [
    ({"frame_skip": 4, "screen_size": (160, 210), "noop_max": 30}, {"obs_type": "grayscale"}, False),
    ({"frame_skip": 4, "screen_size": 84, "terminal_on_life_loss": True}, {"obs_type": "grayscale"}, False),
    ({"frame_skip": 3, "screen_size": 64, "grayscale_obs": False}, {"obs_type": "rgb"}, False),
    ({"frame_skip": 1, "screen_size": 84, "noop_max": 0}, {"obs_type": "grayscale", "max_num_frames_per_episode": 90},
     False),
    ({"frame_skip": 4, "screen_size": (160, 210), "noop_max": 30}, {"obs_type": "grayscale"}, True),
])
def test_fast_atari_preprocessing_steps_exactly_like_gymnasiums(options, make, sticky):
    # The direct frame-skip loop against Gymnasium's wrapper on twin emulators: every output of
    # every step, through lost lives, game overs, truncations (90 frames) and resets. Sticky
    # actions by the emulator, or by StickyActions (whose rule the fast loop plays per frame).
    ale_py = pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    from snnrl.wrappers import AtariPreprocessing, StickyActions

    gym.register_envs(ale_py)

    def emulator():
        if sticky:
            return StickyActions(gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.0, **make), 0.25)
        return gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.25, **make)

    envs = [cls(emulator(), **options) for cls in (AtariPreprocessing, gym.wrappers.AtariPreprocessing)]
    assert envs[0]._atari is not None  # the fast path is taken
    assert (envs[0]._sticky is envs[0].env) == sticky
    actions = np.random.default_rng(0).integers(0, 4, 400)
    outs = [[], []]
    for env, out in zip(envs, outs, strict=True):
        out.append(env.reset(seed=3))
        for k, a in enumerate(actions):
            step = env.step(int(a))
            out.append(step)
            if step[2] or step[3]:
                out.append(env.reset(seed=100 + k))
    assert len(outs[0]) == len(outs[1]) and any(step[2] or step[3] for step in outs[0][1:] if len(step) == 5)
    if options.get("grayscale_obs", True) and compiled_kernels() is not None:
        assert envs[0]._palette_gray is not None  # the frames came through the learned palette lookup
    for fast, slow in zip(*outs, strict=True):
        assert len(fast) == len(slow)
        np.testing.assert_array_equal(fast[0], slow[0])
        assert fast[1:] == slow[1:]  # reward, terminated, truncated and info (or the reset info)
        assert all(type(x) is type(y) for x, y in zip(fast[1:4], slow[1:4], strict=True))


def test_fast_atari_preprocessing_falls_back_under_other_wrappers():
    ale_py = pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    from snnrl.wrappers import AtariPreprocessing

    gym.register_envs(ale_py)
    limited = gym.wrappers.TimeLimit(gym.make("ALE/Breakout-v5", frameskip=1), max_episode_steps=3)
    env = AtariPreprocessing(limited, frame_skip=4, noop_max=0)
    assert env._atari is None  # the TimeLimit must see every frame
    env.reset(seed=0)
    assert env.step(0)[3]  # truncated after 3 of the 4 frames, by the TimeLimit
    with pytest.raises(gym.error.ResetNeeded):  # before reset: Gymnasium's path and its checks
        AtariPreprocessing(gym.make("ALE/Breakout-v5", frameskip=1), noop_max=0).step(0)


def test_fire_on_reset_presses_fire_as_often_as_asked():
    fake = FakeAle()
    env = FireOnReset(fake, on_life_loss=True, presses=2)
    env.reset(seed=0)
    assert fake.actions == ["reset", 1, 1]
    _, reward, terminated, truncated, _ = env.step(3)  # a life lost: two FIREs follow, rewards summed
    assert fake.actions[-3:] == [3, 1, 1] and reward == 2.0 and not (terminated or truncated)
    with pytest.raises(ValueError, match="presses"):
        FireOnReset(FakeAle(), presses=0)


@pytest.mark.parametrize("presses", [1, 2])
def test_two_fire_presses_start_a_breakout_reset_that_one_press_does_not(presses):
    """With sticky actions a single FIRE is swallowed about 1 time in 250 and Breakout then waits
    for FIRE: reset seed 561 is such a case; the breakout_mirror preset (no FIRE among its
    actions) presses twice."""
    pytest.importorskip("ale_py")
    import dataclasses

    from snnrl.envs import build_env, load_preset

    preset = load_preset("breakout_mirror")
    steps = tuple({**s, "presses": presses} if s["type"] == "fire_reset" else s for s in preset.preprocess)
    assert {**dict(preset.preprocess[1]), "presses": 2} == dict(preset.preprocess[1])  # the preset's own value
    env = build_env(dataclasses.replace(preset, preprocess=steps), encode=False)
    ale = env.unwrapped.ale
    env.reset(seed=561)
    ball = False
    for _ in range(60):
        env.step(0)
        if ale.getScreenGrayscale()[94:188, 8:152].any():
            ball = True
            break
    env.close()
    assert ball == (presses == 2)


def _kernels_or_skip():
    kernels = compiled_kernels()
    if kernels is None:
        pytest.skip("needs Numba (the fast extra)")
    return kernels


def test_palette_gray_kernel_is_a_table_lookup():
    kernels = _kernels_or_skip()
    rng = np.random.default_rng(4)
    table = np.full(256, -1, np.int16)
    table[::2] = rng.integers(0, 256, 128)
    for _ in range(50):
        screen = (rng.integers(0, 128, (210, 160)) * 2).astype(np.uint8)
        screen[rng.random((210, 160)) < 0.6] = 0  # runs of one index: the eight-pixel words
        screen[:, 40:120] = screen[0, 0]
        out = np.empty_like(screen)
        assert kernels.palette_gray(screen, table, out)
        np.testing.assert_array_equal(out, table[screen].astype(np.uint8))
        unknown = screen.copy()
        unknown[rng.integers(210), rng.integers(160)] = 1  # odd: not in the table
        assert not kernels.palette_gray(unknown, table, out)
        uniform = np.full_like(screen, 3)  # a whole frame of one unknown index
        assert not kernels.palette_gray(uniform, table, out)


@pytest.mark.parametrize("game", ["Breakout", "Pong", "SpaceInvaders", "MsPacman"])
def test_learned_palette_gives_ales_grayscale_frames(game):
    # Frame by frame against getScreenGrayscale on the same emulator, through resets.
    ale_py = pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    _kernels_or_skip()
    from snnrl.wrappers import AtariPreprocessing

    gym.register_envs(ale_py)
    env = AtariPreprocessing(gym.make(f"ALE/{game}-v5", frameskip=1, obs_type="grayscale"),
                             frame_skip=1, screen_size=(160, 210), noop_max=0)
    env.reset(seed=0)
    ale, gray = env._atari.ale, np.empty((210, 160), np.uint8)
    rng = np.random.default_rng(0)
    for _ in range(600):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        ale.getScreenGrayscale(gray)
        np.testing.assert_array_equal(obs, gray)
        if terminated or truncated:
            env.reset()
    assert env._palette_gray is not None and (env._gray_table >= 0).sum() >= 2


def test_palette_lookup_is_dropped_when_an_index_shows_two_gray_levels():
    ale_py = pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    _kernels_or_skip()
    from snnrl.wrappers import AtariPreprocessing

    gym.register_envs(ale_py)
    env = AtariPreprocessing(gym.make("ALE/Breakout-v5", frameskip=1, obs_type="grayscale"),
                             frame_skip=1, screen_size=(160, 210), noop_max=0)
    env.reset(seed=0)
    env.step(1)
    table = env._gray_table
    assert table[0] == 0
    table[:] = -1
    table[0] = 7  # a wrong level for the black background, seen on a frame with new indices
    obs, *_ = env.step(0)
    gray = np.empty((210, 160), np.uint8)
    env._atari.ale.getScreenGrayscale(gray)
    np.testing.assert_array_equal(obs, gray)  # ALE's frame, not the table's
    assert env._palette_gray is None
    np.testing.assert_array_equal(env.step(0)[0], env._atari.ale.getScreenGrayscale())
