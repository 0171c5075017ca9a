"""The wrappers' compiled kernels give the bits of their reference paths (OpenCV, Gymnasium, NumPy)."""

import gymnasium as gym
import numpy as np
import pytest

import snnrl.wrappers._fast as fast
from snnrl.wrappers import (
    BernoulliObservation,
    FrameStackObservation,
    OverlayObservation,
    PoissonObservation,
    ResizeObservation,
    UnitScaler,
)
from snnrl.wrappers.encoding import Draws16, bernoulli_spikes
from snnrl.wrappers.frames import area_tables, area_taps

cv2 = pytest.importorskip("cv2")
pytest.importorskip("numba")


def kernels():
    found = fast.compiled_kernels()
    if found is None:
        pytest.skip("compiled kernels are off (SNNRL_COMPILED=0)")
    return found


def random_image(rng, shape, kind):
    if kind == 0:  # every value
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == 1:  # sparse
        return ((rng.random(shape) < 0.2) * rng.integers(0, 256, shape)).astype(np.uint8)
    return ((rng.random(shape) < 0.5) * rng.choice([1, 2, 142, 200, 255], shape)).astype(np.uint8)


def test_area_kernel_is_opencvs_inter_area_bit_for_bit():
    # Random sizes and contents, every shrink OpenCV does by its generic area path (not both
    # factors integers), including one integer factor and unchanged axes.
    k = kernels()
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 300:
        h, w = (int(v) for v in rng.integers(2, 220, 2))
        dh, dw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        if h % dh == 0 and w % dw == 0:
            continue
        src = random_image(rng, (h, w), checked % 3)
        index, weight = area_taps(w, dw)
        got = k.resize_area_u8(src, index.T.copy(), weight.T.copy(), *area_tables(h, dh), np.empty((dh, dw), np.uint8))
        np.testing.assert_array_equal(got, cv2.resize(src, (dw, dh), interpolation=cv2.INTER_AREA))
        checked += 1


def test_area_tables_refuse_growing_an_axis():
    with pytest.raises(ValueError, match=r"target must be in \[1, 10\], got 11"):
        area_tables(10, 11)


@pytest.mark.parametrize(("frame", "shape", "compiled"), [
    ((164, 144), (80, 80), True),   # the Atari presets' play area
    ((210, 160), (84, 84), True),
    ((164, 144), (82, 72), False),  # both factors integers: OpenCV's fast path, called as is
    ((40, 30), (80, 60), False),    # growing: OpenCV's linear path
    ((164, 144, 3), (80, 80), False),  # colour
])
def test_resize_observation_is_gymnasiums(frame, shape, compiled, scripted):
    rng = np.random.default_rng(1)
    frames = [random_image(rng, frame, i % 3) for i in range(12)]
    space = gym.spaces.Box(0, 255, frame, np.uint8)
    ours = ResizeObservation(scripted(space, frames), shape)
    theirs = gym.wrappers.ResizeObservation(scripted(space, frames), shape)
    assert (ours._tables is not None) == compiled
    assert ours.observation_space == theirs.observation_space
    a, b = [ours.reset(seed=0)[0]], [theirs.reset(seed=0)[0]]
    for _ in range(len(frames)):
        a.append(ours.step(0)[0])
        b.append(theirs.step(0)[0])
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("padding", ["reset", "zero", "custom"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_frame_stack_is_gymnasiums(padding, dtype, scripted):
    rng = np.random.default_rng(2)
    space = gym.spaces.Box(0, 255, (5, 4), dtype)
    frames = [rng.integers(0, 256, (5, 4)).astype(dtype) for _ in range(9)]
    pad = np.full((5, 4), 7, dtype) if padding == "custom" else padding
    ours = FrameStackObservation(scripted(space, frames, episode_length=5), 3, padding_type=pad)
    theirs = gym.wrappers.FrameStackObservation(scripted(space, frames, episode_length=5), 3, padding_type=pad)
    for env in (ours, theirs):
        env.reset(seed=0)
    for _ in range(12):
        x, y = ours.step(0), theirs.step(0)
        assert x[0].dtype == y[0].dtype and x[0].shape == y[0].shape
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
        if x[2]:
            np.testing.assert_array_equal(ours.reset(seed=1)[0], theirs.reset(seed=1)[0])
    first = ours.step(0)[0]
    assert not np.shares_memory(first, ours.step(0)[0])  # a new array each step


def test_frame_stack_of_a_discrete_space_takes_gymnasiums_path(scripted):
    env = FrameStackObservation(scripted(gym.spaces.Discrete(5), [0, 3, 4]), 2)
    env.reset(seed=0)
    np.testing.assert_array_equal(env.step(0)[0], [0, 3])


def probabilities():
    rng = np.random.default_rng(3)
    trail = np.where(rng.random((80, 80)) < 0.2, 1.0, 0.0).astype(np.float32)
    trail[rng.random((80, 80)) < 0.02] = 0.5
    odd = rng.random(50).astype(np.float32) * 3 - 1  # below 0, inside, above 1
    odd[[3, 7]] = np.nan
    return {
        "trail": trail,
        "dense": rng.random((10, 7)).astype(np.float32),
        "zeros": np.zeros(30, np.float32),
        "ones": np.ones((4, 4), np.float32),
        "odd": odd,
        "tiny": np.array([1e-9, 1 - 1e-9, 0.5 / 65536, 0.99999], np.float32),
    }


@pytest.mark.parametrize("name", list(probabilities()))
@pytest.mark.parametrize("steps", [1, 16])
def test_bernoulli_kernels_draw_the_numpy_spikes(name, steps, monkeypatch):
    kernels()
    prob = probabilities()[name]
    fast_rng, slow_rng = np.random.default_rng(4), np.random.default_rng(4)
    got = bernoulli_spikes(prob, steps, fast_rng)
    monkeypatch.setattr(fast, "_KERNELS", False)
    expected = bernoulli_spikes(prob, steps, slow_rng)
    assert got.dtype == expected.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    assert fast_rng.integers(0, 2**32) == slow_rng.integers(0, 2**32)  # the same draws were taken


@pytest.mark.parametrize(("space", "values"), [
    (gym.spaces.Box(0, 255, (6, 5), np.uint8), lambda r: r.integers(0, 256, (6, 5)).astype(np.uint8)),
    (gym.spaces.Box(0, 1, (6, 5), np.float32), lambda r: (r.random((6, 5)) * 1.4 - 0.2).astype(np.float32)),
    (gym.spaces.Box(-2, 3, (6, 5), np.float32), lambda r: (r.random((6, 5)) * 7 - 3).astype(np.float32)),
])
def test_unit_scaler_kernel_gives_the_numpy_intensities(space, values, monkeypatch):
    kernels()
    scaler = UnitScaler(space)
    rng = np.random.default_rng(5)
    xs = [values(rng) for _ in range(5)]
    if space.dtype == np.float32:
        xs[0][1, 2] = -0.0
    got = [scaler(x) for x in xs]
    monkeypatch.setattr(fast, "_KERNELS", False)
    for x, u in zip(xs, got, strict=True):
        expected = scaler(x)
        assert u.dtype == expected.dtype and u.shape == expected.shape
        np.testing.assert_array_equal(u.view(np.uint32), expected.view(np.uint32))  # signed zeros too


def test_unit_scaler_kernel_names_the_first_nan_as_numpy_does(monkeypatch):
    kernels()
    scaler = UnitScaler(gym.spaces.Box(0, 1, (3, 4), np.float32))
    x = np.zeros((3, 4), np.float32)
    x[1, 2] = x[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"observation element \(1, 2\) is nan") as compiled:
        scaler(x)
    monkeypatch.setattr(fast, "_KERNELS", False)
    with pytest.raises(ValueError) as reference:
        scaler(x)
    assert str(compiled.value) == str(reference.value)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("weights", [[0.25, 0.5, 0.75, 1.0], [1.0, 0.0, 3.0], [2.0]])
def test_overlay_kernel_gives_the_numpy_overlay(weights, dtype, monkeypatch, scripted):
    # Float stacks with a NaN or a -0.0 go to NumPy (which zero wins depends on its order).
    kernels()
    rng = np.random.default_rng(6)
    k = len(weights)
    space = gym.spaces.Box(0, 1, (k, 9, 7), dtype)
    value = (lambda: 1) if dtype == np.uint8 else (lambda: rng.random((k, 9, 7)))  # binary frames, or any intensity
    stacks = [((rng.random((k, 9, 7)) < 0.3) * value()).astype(dtype) for _ in range(5)]
    if dtype == np.float32:
        stacks[1][0, 2, 2] = np.nan
        stacks[2][...] = -0.0
    env = OverlayObservation(scripted(space, stacks), weights)
    got = [env.observation(s) for s in stacks]
    monkeypatch.setattr(fast, "_KERNELS", False)
    for s, out in zip(stacks, got, strict=True):
        expected = env.observation(s)
        assert out.dtype == expected.dtype == np.float32
        np.testing.assert_array_equal(out.view(np.uint32), expected.view(np.uint32))


def test_the_breakout_preset_sees_the_same_spikes_without_kernels(monkeypatch):
    # The whole chain (pooling, crop, resize, binarise, stack, overlay, scaling, Bernoulli
    # spikes) with and without the compiled kernels, through lost lives and a game over.
    pytest.importorskip("ale_py")
    kernels()
    from snnrl.envs import load_preset, make_env

    def play(steps=400):
        env = make_env(load_preset("breakout"))
        out = [env.reset(seed=7)[0]]
        actions = np.random.default_rng(8).integers(0, 4, steps)
        for a in actions:
            obs, reward, terminated, truncated, _ = env.step(int(a))
            out += [obs, reward, terminated]
            if terminated or truncated:
                out.append(env.reset()[0])
        env.close()
        return out

    compiled = play()
    monkeypatch.setattr(fast, "_KERNELS", False)
    reference = play()
    assert any(isinstance(x, bool) and x for x in reference)  # a game over happened
    assert len(compiled) == len(reference)
    for x, y in zip(compiled, reference, strict=True):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y


@pytest.mark.parametrize("cls", [PoissonObservation, BernoulliObservation])
def test_rate_encoders_draw_the_same_spikes_without_kernels(cls, monkeypatch):
    kernels()
    bounds = {"low": [-2.4, -3, -0.21, -3.5], "high": [2.4, 3, 0.21, 3.5]}

    def play():
        env = cls(gym.make("CartPole-v1"), 8, **bounds)
        out = [env.reset(seed=0)[0]]
        out += [env.step(i % 2)[0] for i in range(20)]
        return out

    compiled = play()
    monkeypatch.setattr(fast, "_KERNELS", False)
    for x, y in zip(compiled, play(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("block", [2, 7, 64, 8192])
def test_draws16_gives_the_draws_of_separate_calls(block):
    # Odd and even sizes, empty ones, and takes larger than a block, against one NumPy call each.
    rng = np.random.default_rng(9)
    sizes = [(int(t), int(c)) for t, c in rng.integers(0, 40, (200, 2))] + [(16, 600), (1, 3), (64, 201)]
    ahead, separate = Draws16(np.random.default_rng(10), block), np.random.default_rng(10)
    for shape in sizes:
        got = ahead.take(shape)
        assert got.shape == shape and got.dtype == np.uint16
        np.testing.assert_array_equal(got, separate.integers(0, 65536, shape, dtype=np.uint16))


def test_sticky_actions_draw_ahead_the_same_sequence():
    # StickyActions takes 64 draws at a time; the repeats are those of one random() per frame.
    pytest.importorskip("ale_py")
    import ale_py

    from snnrl.wrappers import StickyActions

    gym.register_envs(ale_py)
    env = StickyActions(gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.0), 0.25)
    env.reset(seed=11)
    reference = np.random.default_rng(int(np.random.SeedSequence(11).generate_state(2)[1]))
    previous = env._noop
    for action in np.random.default_rng(12).integers(0, 4, 300):
        if reference.random() >= 0.25:
            previous = int(action)
        assert env.frame_action(int(action)) == previous


@pytest.mark.parametrize(("shape", "size", "dtype"), [
    ((80, 80), 4, np.float32), ((80, 80), (2, 5), np.uint8), ((3, 12, 10), (3, 2), np.float64), ((8, 8), 1, np.float32),
])
def test_pool_kernel_gives_the_numpy_max(shape, size, dtype, monkeypatch, scripted):
    # Random frames, then a NaN and a -0.0 (the kernel hands both to NumPy: their result
    # depends on NumPy's order); the signs of zeros are compared too.
    kernels()
    from snnrl.wrappers import PoolObservation

    rng = np.random.default_rng(13)
    high = 255 if dtype == np.uint8 else 1.0
    frames = [(rng.random(shape) * high * (rng.random(shape) < 0.3)).astype(dtype) for _ in range(4)]
    if dtype != np.uint8:
        frames[1].flat[5] = np.nan
        frames[2][...] = -0.0
        frames[2].flat[7] = 0.0
    env = PoolObservation(scripted(gym.spaces.Box(0, high, shape, dtype), frames), size)
    got = [env.observation(f) for f in frames]
    monkeypatch.setattr(fast, "_KERNELS", False)
    for f, out in zip(frames, got, strict=True):
        expected = env.observation(f)
        assert out.dtype == expected.dtype and out.shape == expected.shape
        np.testing.assert_array_equal(out.view(np.uint8), expected.view(np.uint8))  # NaN and signed zeros too


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_background_kernel_gives_the_numpy_foreground_and_background(dtype, monkeypatch, scripted):
    kernels()
    from snnrl.wrappers import SubtractBackground

    rng = np.random.default_rng(14)
    high = 255 if dtype == np.uint8 else 1.0
    frames = [(rng.random((9, 7)) * high * (rng.random((9, 7)) < 0.4)).astype(dtype) for _ in range(30)]
    if dtype == np.float32:
        frames[20][2, 3] = np.nan
        frames[10][...] = -0.0

    def play():
        env = SubtractBackground(scripted(gym.spaces.Box(0, high, (9, 7), dtype), frames, episode_length=25), tau=3.0)
        out = [env.reset(seed=0)[0]]
        for _ in range(len(frames)):
            obs, _, terminated, _, _ = env.step(0)
            out += [obs, env.background.copy()]
            if terminated:
                out.append(env.reset()[0])
        return out

    compiled = play()
    monkeypatch.setattr(fast, "_KERNELS", False)
    for x, y in zip(compiled, play(), strict=True):
        assert x.dtype == y.dtype == np.float32
        np.testing.assert_array_equal(x.view(np.uint32), y.view(np.uint32))  # NaN and signed zeros too
