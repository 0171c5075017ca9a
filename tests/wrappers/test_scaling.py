"""UnitScaler: observations -> intensities in [0, 1]."""

import gymnasium as gym
import numpy as np
import pytest

from snnrl.wrappers import UnitScaler


def test_bounded_box_is_affine():
    space = gym.spaces.Box(np.array([-1.0, 0.0]), np.array([1.0, 10.0]), dtype=np.float64)
    u = UnitScaler(space)(np.array([0.0, 2.5]))
    assert u.dtype == np.float32 and u.shape == (2,)
    np.testing.assert_allclose(u, [0.5, 0.25])


def test_uint8_image_fast_path():
    space = gym.spaces.Box(0, 255, (3, 4), dtype=np.uint8)
    x = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    np.testing.assert_allclose(UnitScaler(space)(x), x / 255.0, rtol=1e-6)


def test_shifted_uniform_range():
    space = gym.spaces.Box(-2.0, 2.0, (3,), dtype=np.float32)
    np.testing.assert_allclose(UnitScaler(space)(np.array([-2.0, 0.0, 2.0], np.float32)), [0.0, 0.5, 1.0])


def test_unbounded_dimensions_are_squashed_not_clipped():
    inf = np.inf
    space = gym.spaces.Box(np.array([-inf, 0.0, -inf, -1.0]), np.array([inf, inf, 5.0, 1.0]), dtype=np.float64)
    scaler = UnitScaler(space, scale=[2.0, 3.0, 4.0, 1.0])
    x = np.array([1.0, 6.0, 3.0, 0.5])
    expected = [0.5 * (1 + np.tanh(1.0 / 2.0)), np.tanh(6.0 / 3.0), 1 - np.tanh((5.0 - 3.0) / 4.0), 0.75]
    np.testing.assert_allclose(scaler(x), expected, rtol=1e-6)
    big = scaler(np.array([1e6, 1e6, -1e6, 1.0]))  # far out: close to, never past, the ends
    assert (big >= 0).all() and (big <= 1).all()
    assert np.isclose(big[0], 1.0) and np.isclose(big[2], 0.0)


def test_float32_max_counts_as_unbounded():
    top = np.finfo(np.float32).max
    space = gym.spaces.Box(-top, top, (1,), dtype=np.float32)
    assert UnitScaler(space)(np.array([0.0], np.float32))[0] == pytest.approx(0.5)


def test_unbounded_error_mode_names_the_elements():
    space = gym.spaces.Box(np.array([-1.0, -np.inf]), np.array([1.0, np.inf]), dtype=np.float64)
    with pytest.raises(ValueError, match=r"\[\(1,\)\].*infinite bound"):
        UnitScaler(space, unbounded="error")


def test_given_bounds_override_and_clip():
    space = gym.spaces.Box(-10.0, 10.0, (2,), dtype=np.float32)
    scaler = UnitScaler(space, low=[-1.0, -np.inf], high=[1.0, np.inf])
    u = scaler(np.array([5.0, 0.0], np.float32))
    np.testing.assert_allclose(u, [1.0, 0.5])  # clipped to the declared edge; second squashed
    strict = UnitScaler(space, low=-1.0, high=1.0, out_of_range="error")
    with pytest.raises(ValueError, match=r"outside \[low, high\]"):
        strict(np.array([5.0, 0.0], np.float32))
    np.testing.assert_allclose(strict(np.array([1.0, -1.0], np.float32)), [1.0, 0.0])


def test_discrete_is_one_hot_and_multibinary_is_bits():
    one_hot = UnitScaler(gym.spaces.Discrete(4, start=1))
    assert one_hot.shape == (4,)
    np.testing.assert_array_equal(one_hot(np.int64(3)), [0, 0, 1, 0])
    bits = UnitScaler(gym.spaces.MultiBinary((2, 2)))
    np.testing.assert_array_equal(bits(np.array([[0, 1], [1, 0]], np.int8)), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"unbounded": "clip"}, ValueError, "unbounded must be one of"),
        ({"out_of_range": "wrap"}, ValueError, "out_of_range must be one of"),
        ({"scale": 0.0}, ValueError, "scale must be finite and > 0"),
        ({"low": 1.0, "high": 0.0}, ValueError, "low must be < high"),
        ({"low": [0.0, 0.0, 0.0]}, ValueError, "does not broadcast"),
        ({"low": [np.nan, 0.0]}, ValueError, "NaN"),
        ({"low": "x"}, TypeError, "low must be"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        UnitScaler(gym.spaces.Box(-1.0, 1.0, (2,)), **kwargs)


def test_unsupported_space_and_wrong_shape():
    with pytest.raises(TypeError, match="Box, MultiBinary or Discrete"):
        UnitScaler(gym.spaces.Dict({"a": gym.spaces.Discrete(2)}))
    with pytest.raises(ValueError, match="only apply to Box"):
        UnitScaler(gym.spaces.Discrete(2), low=0.0)
    with pytest.raises(ValueError, match="shape"):
        UnitScaler(gym.spaces.Box(0.0, 1.0, (2,)))(np.zeros(3))
