"""Sticky actions outside the emulator: ALE's rule, seeded resets without a ROM reload."""

import gymnasium as gym
import numpy as np
import pytest

ale_py = pytest.importorskip("ale_py")
gym.register_envs(ale_py)

from snnrl.wrappers.sticky import StickyActions  # noqa: E402


def breakout(p=0.0, **make):
    return gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=p, **make)


def test_repeats_the_previous_action_with_probability_p():
    env = StickyActions(breakout(), 0.25)
    env.reset(seed=0)
    asked = np.random.default_rng(1).integers(0, 4, 20000)
    prev, kept, differs = env._noop, 0, 0
    for a in asked:
        played = env.frame_action(int(a))
        assert played in (a, prev)
        if a != prev:
            differs += 1
            kept += played == prev
        prev = played
    # binomial standard error sqrt(0.25 * 0.75 / 15000) = 0.0035
    assert abs(kept / differs - 0.25) < 0.015
    env.reset(seed=0)
    assert env._prev == env._noop == 0  # NOOP after a reset, as in ALE
    no_sticky = StickyActions(breakout(), 0.0)
    no_sticky.reset(seed=0)
    assert all(no_sticky.frame_action(int(a)) == a for a in asked[:500])


def test_seeded_reset_does_not_reload_the_rom_and_replays_the_episode():
    env = StickyActions(breakout(), 0.25)
    loads = []
    base = env.unwrapped
    base.load_game = lambda: loads.append(1)  # AtariEnv.reset(seed=...) would call it
    actions = np.random.default_rng(0).integers(0, 4, 300)

    def episode(seed):
        frames = [env.reset(seed=seed)[0]]
        played = []
        for a in actions:
            played.append(env.frame_action(int(a)))
            frames.append(env.env.step(played[-1])[0])
        return np.array(frames), played

    first, played_a = episode(5)
    _, played_b = episode(6)
    again, played_c = episode(5)
    assert not loads
    np.testing.assert_array_equal(first, again)
    assert played_a == played_c and played_a != played_b


def test_an_unseeded_reset_restores_the_state_of_a_fresh_rom_load():
    # the premise: without sticky actions of its own, the emulator's reset_game gives the state
    # that a seeded reset (loadROM) gives, so no reload is needed
    fresh, used = breakout(), breakout()
    fresh.reset(seed=3)
    used.reset(seed=11)
    for a in np.random.default_rng(2).integers(0, 4, 150):
        used.step(int(a))
    obs = [fresh.reset(seed=3)[0], used.reset()[0]]
    np.testing.assert_array_equal(*obs)
    for a in np.random.default_rng(3).integers(0, 4, 400):
        steps = [fresh.step(int(a)), used.step(int(a))]
        np.testing.assert_array_equal(steps[0][0], steps[1][0])
        assert steps[0][1:4] == steps[1][1:4]


def test_seeded_reset_seeds_np_random_as_ale_does():
    # Gymnasium's AtariPreprocessing draws its no-op count from env.unwrapped.np_random
    plain, sticky = breakout(0.25), StickyActions(breakout(), 0.25)
    for seed in (0, 7, 123456):
        plain.reset(seed=seed)
        sticky.reset(seed=seed)
        assert plain.unwrapped.np_random.integers(1, 31, 5).tolist() == \
            sticky.unwrapped.np_random.integers(1, 31, 5).tolist()
        assert sticky.unwrapped.np_random_seed == seed


def test_bad_setups_are_refused():
    with pytest.raises(ValueError, match=r"repeat_action_probability.*\[0.0, 1.0\)"):
        StickyActions(breakout(), 1.0)
    with pytest.raises(ValueError, match=r"repeats with 0\.25"):
        StickyActions(breakout(0.25), 0.25)
    with pytest.raises(ValueError, match=r"ALE environment.*CartPoleEnv"):
        StickyActions(gym.make("CartPole-v1"), 0.25)
    with pytest.raises(ValueError, match="seed"):
        StickyActions(breakout(), 0.25).reset(seed=-1)


def test_without_stickiness_it_is_ale_with_seeded_resets_infos_included():
    # p = 0 on both: every output of every step and reset equals a plain AtariEnv's, whose
    # seeded resets reload the ROM (frame numbers and reported seeds included)
    plain, ours = breakout(), StickyActions(breakout(), 0.0)
    actions = np.random.default_rng(4).integers(0, 4, 600)
    for env in (plain, ours):
        env.reset(seed=1)
        for a in actions[:77]:
            env.step(int(a))
    for seed in (5, 6):
        first = [plain.reset(seed=seed), ours.reset(seed=seed)]
        np.testing.assert_array_equal(first[0][0], first[1][0])
        assert first[0][1] == first[1][1]
        for a in actions[: 200 + seed]:
            steps = [plain.step(int(a)), ours.step(int(a))]
            np.testing.assert_array_equal(steps[0][0], steps[1][0])
            assert steps[0][1:] == steps[1][1:]
