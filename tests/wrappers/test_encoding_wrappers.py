"""Spike-encoding observation wrappers: spaces, statistics, seeding, vector envs."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from snnrl.functional import encoding as F
from snnrl.wrappers import (
    BernoulliObservation,
    JointPopulationObservation,
    LatencyObservation,
    PoissonObservation,
    PopulationObservation,
    RankOrderObservation,
    RepeatObservation,
)
from snnrl.wrappers.encoding import bernoulli_spikes

ALL = [
    (PoissonObservation, {"max_rate": 300.0}),
    (BernoulliObservation, {"max_prob": 0.5}),
    (RankOrderObservation, {}),
    (LatencyObservation, {}),
    (PopulationObservation, {"n_per_dim": 5}),
    (RepeatObservation, {}),
]
IDS = [cls.__name__ for cls, _ in ALL]


def _binomial_ok(count, n, p, sigmas=5.0):
    """``count`` successes of ``n`` lie within ``sigmas`` standard deviations of ``n * p``."""
    return abs(count - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1e-9


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=IDS)
def test_check_env_and_containment_on_cartpole(cls, kwargs):
    env = cls(gym.make("CartPole-v1"), 8, **kwargs)  # two unbounded (velocity) dimensions
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)  # rendering CartPole needs pygame (not an extra of ours)
    unexpected = [str(w.message) for w in caught if "different from the unwrapped" not in str(w.message)]
    assert unexpected == []
    obs, _ = env.reset(seed=0)
    width = 4 * kwargs["n_per_dim"] if cls is PopulationObservation else 4
    assert env.observation_space.shape == (8, width)
    for _ in range(30):
        assert obs in env.observation_space
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=IDS)
def test_spaces_and_dtypes(cls, kwargs, make_constant):
    env = cls(make_constant(np.full((3, 5), 0.5)), 6, **kwargs)
    obs, _ = env.reset(seed=1)
    space = env.observation_space
    if cls is RepeatObservation:
        assert space == gym.spaces.Box(0.0, 1.0, (6, 3, 5), np.float32)
    elif cls is PopulationObservation:
        assert space == gym.spaces.Box(0, 1, (6, 15 * kwargs["n_per_dim"]), np.uint8)
    else:
        assert space == gym.spaces.Box(0, 1, (6, 3, 5), np.uint8)
    assert obs.dtype == space.dtype and obs in space


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_poisson_rate(p, make_constant):
    # A pixel of intensity p spikes at p * max_rate: per-step probability p * max_rate * dt / 1000.
    steps, max_rate, dt = 4000, 400.0, 0.5
    env = PoissonObservation(make_constant([p, 1.0 - p]), steps, max_rate=max_rate, dt=dt)
    obs, _ = env.reset(seed=3)
    for i, intensity in enumerate([p, 1.0 - p]):
        prob = intensity * max_rate * dt / 1000.0
        assert _binomial_ok(int(obs[:, i].sum()), steps, prob)
    rate_hz = obs[:, 0].mean() / (dt / 1000.0)
    assert abs(rate_hz - p * max_rate) <= 0.05 * max_rate


@pytest.mark.parametrize("max_prob", [0.3, 1.0])
def test_bernoulli_probability(max_prob, make_constant):
    intensities = np.array([0.0, 0.2, 0.5, 1.0])
    env = BernoulliObservation(make_constant(intensities), 3000, max_prob=max_prob)
    obs, _ = env.reset(seed=4)
    for i, intensity in enumerate(intensities):
        assert _binomial_ok(int(obs[:, i].sum()), 3000, intensity * max_prob)
    if max_prob == 1.0:
        assert obs[:, 3].all() and not obs[:, 0].any()  # p = 1 and p = 0 are exact


def test_image_intensity_scaling(make_constant):
    # uint8 frames are scaled by the space's bounds: pixel value v spikes with probability v / 255.
    frame = np.array([[0, 51, 255]], np.uint8)
    env = BernoulliObservation(make_constant(frame, low=0, high=255, dtype=np.uint8), 2000)
    obs, _ = env.reset(seed=5)
    assert obs.shape == (2000, 1, 3)
    assert not obs[:, 0, 0].any() and obs[:, 0, 2].all()
    assert _binomial_ok(int(obs[:, 0, 1].sum()), 2000, 0.2)


def test_rank_order_and_latency_match_functional(make_constant):
    u = np.array([0.0, 0.1, 0.4, 1.0, 0.7], np.float32)
    env = RankOrderObservation(make_constant(u), 10)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, F.rank_order(torch.from_numpy(u), 10.0).numpy())
    assert obs[:, 0].sum() == 0 and (obs[:, 1:].sum(0) == 1).all()
    assert obs[0, 3] == 1 and obs[9, 1] == 1  # largest first, smallest last

    env = LatencyObservation(make_constant(u), 11)
    obs, _ = env.reset(seed=0)
    first = obs.argmax(0)
    np.testing.assert_array_equal(first[1:], np.round((1 - u[1:]) * 10).astype(int))
    assert obs[:, 0].sum() == 0 and (obs[:, 1:].sum(0) == 1).all()
    log = LatencyObservation(make_constant(u), 11, mode="log", normalize=True)
    expected = F.latency(torch.from_numpy(u), 11.0, normalize=True, mode="log").numpy()
    np.testing.assert_array_equal(log.reset(seed=0)[0], expected)


def test_population_fields_match_functional_and_rates(make_constant):
    u = np.array([0.0, 0.3, 1.0], np.float32)
    env = PopulationObservation(make_constant(u), 4000, n_per_dim=6, max_rate=500.0, sigma_scale=0.8)
    fields = env.receptive_fields(u)
    expected = F.gaussian_receptive_fields(torch.from_numpy(u).double(), 6, 0.0, 1.0, 0.8).numpy()
    np.testing.assert_allclose(fields, expected, rtol=1e-6)
    obs, _ = env.reset(seed=6)
    assert obs.shape == (4000, 18)
    for j in range(18):
        assert _binomial_ok(int(obs[:, j].sum()), 4000, 0.5 * expected[j])
    assert obs[:, 0].mean() > obs[:, 5].mean()  # u = 0 drives the lowest-centre neuron hardest


def test_joint_population_is_the_product_of_the_element_curves(make_constant):
    u = np.array([0.1, 0.55, 0.9], np.float32)
    n, sigma_scale = 4, 0.8
    env = JointPopulationObservation(make_constant(u), 4000, n_per_dim=n, max_rate=500.0, sigma_scale=sigma_scale)
    assert env.observation_space == gym.spaces.Box(0, 1, (4000, n**3), np.uint8)
    centres, sigma = np.linspace(0, 1, n), sigma_scale / (n - 1)
    expected = np.empty(n**3)
    for i in range(n):  # row-major over the grid: the last element varies fastest
        for j in range(n):
            for k in range(n):
                d2 = (u[0] - centres[i]) ** 2 + (u[1] - centres[j]) ** 2 + (u[2] - centres[k]) ** 2
                expected[(i * n + j) * n + k] = np.exp(-d2 / (2 * sigma**2))
    np.testing.assert_allclose(env.receptive_fields(u), expected, rtol=1e-6)
    obs, _ = env.reset(seed=2)
    np.testing.assert_allclose(env.last_intensity, expected, rtol=1e-6)
    for j in (0, int(np.argmax(expected)), n**3 - 1):
        assert _binomial_ok(int(obs[:, j].sum()), 4000, 0.5 * expected[j])
    assert int(np.argmax(expected)) == (0 * n + 2) * n + 3  # the grid point nearest to u


def test_joint_population_refuses_a_grid_too_large(make_constant):
    with pytest.raises(ValueError, match=r"n_per_dim=10 over 6 observation elements needs 1000000 neurons"):
        JointPopulationObservation(make_constant(np.zeros(6, np.float32)), 4, n_per_dim=10)


def test_repeat_is_constant_current(make_constant):
    u = np.array([0.25, 0.75], np.float32)
    obs, _ = RepeatObservation(make_constant(u), 5).reset(seed=0)
    np.testing.assert_array_equal(obs, np.tile(u, (5, 1)))


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=IDS)
def test_same_seed_same_spikes(cls, kwargs):
    def run(seed):
        env = cls(gym.make("CartPole-v1"), 8, **kwargs)
        env.action_space.seed(0)
        trains = [env.reset(seed=seed)[0]]
        for _ in range(10):
            trains.append(env.step(env.action_space.sample())[0])
        trains.append(env.reset()[0])  # an unseeded reset continues the seeded streams
        return np.stack(trains)

    a, b = run(11), run(11)
    np.testing.assert_array_equal(a, b)
    if cls in (PoissonObservation, BernoulliObservation, PopulationObservation):
        assert not np.array_equal(a, run(12))


def test_encoder_randomness_leaves_the_environment_alone():
    # The encoder draws from its own generator: CartPole's start states (drawn from the env's
    # np_random) are the same with and without encoding.
    plain = gym.make("CartPole-v1")
    encoded = PoissonObservation(gym.make("CartPole-v1"), 32)
    plain.reset(seed=9)
    encoded.reset(seed=9)
    for _ in range(3):
        plain.reset()
        encoded.reset()
        np.testing.assert_array_equal(plain.unwrapped.state, encoded.unwrapped.state)


def test_unbounded_dimensions_can_be_refused():
    with pytest.raises(ValueError, match="infinite bound"):
        PoissonObservation(gym.make("CartPole-v1"), 8, unbounded="error")
    env = PoissonObservation(
        gym.make("CartPole-v1"), 8, low=[-2.4, -3, -0.21, -3], high=[2.4, 3, 0.21, 3], unbounded="error"
    )
    assert env.observation_space.shape == (8, 4)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (PoissonObservation, {"max_rate": 2000.0}, "max_rate"),
        (BernoulliObservation, {"max_prob": 1.5}, "max_prob"),
        (LatencyObservation, {"mode": "exp"}, "mode"),
        (PopulationObservation, {"n_per_dim": 0}, "n_per_dim"),
        (RepeatObservation, {"dt": 0.0}, "dt"),
    ],
)
def test_bad_parameters(cls, kwargs, match, make_constant):
    with pytest.raises(ValueError, match=match):
        cls(make_constant([0.5]), 4, **kwargs)


@pytest.mark.parametrize("steps", [0, 2.5, True])
def test_bad_steps(steps, make_constant):
    with pytest.raises((TypeError, ValueError), match="steps"):
        PoissonObservation(make_constant([0.5]), steps)


def test_vector_env_batches_and_autoresets(scripted):
    def factory(length):
        frames = [np.full(3, v, np.float32) for v in (0.0, 0.5, 1.0)]
        return lambda: BernoulliObservation(scripted(gym.spaces.Box(0.0, 1.0, (3,)), frames, length), 4)

    envs = gym.vector.SyncVectorEnv([factory(2), factory(3)])
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.shape == (2, 4, 3) and obs.shape == (2, 4, 3)
    assert obs.dtype == np.uint8 and not obs.any()  # frame 0 is all zeros
    history = []
    for _ in range(4):
        obs, _, terminated, truncated, _ = envs.step(np.zeros(2, np.int64))
        history.append((obs.copy(), terminated.copy(), truncated.copy()))
    # env 0 ends after 2 steps, env 1 after 3; each then returns its own reset frame (zeros).
    assert [h[1].tolist() for h in history] == [[False, False], [True, False], [False, True], [False, False]]
    assert not any(h[2].any() for h in history)  # terminated, never truncated
    assert history[1][0][0].all() and not history[2][0][0].any()  # env 0: frame 2 (ones), then reset
    assert history[2][0][1].all() and not history[3][0][1].any()  # env 1 likewise, one step later
    envs.close()


def test_bernoulli_spikes_exact_draws():
    # Dense and sparse paths use the same rule: one 16-bit draw per step and element with
    # 0 < p < 1, in flat order, spiking iff draw < round(p * 65536).
    p = np.array([[0.5, 0.25], [0.75, 0.999999]], np.float32)
    spikes = bernoulli_spikes(p, 50, np.random.default_rng(1))
    draws = np.random.default_rng(1).integers(0, 65536, (50, 4), dtype=np.uint16)
    expected = draws < np.minimum(np.rint(p.reshape(-1) * 65536.0), 65535).astype(np.uint16)
    np.testing.assert_array_equal(spikes, expected.reshape(50, 2, 2))
    sparse = np.array([0.0, 0.5, 1.0, 0.25], np.float32)
    spikes = bernoulli_spikes(sparse, 50, np.random.default_rng(2))
    draws = np.random.default_rng(2).integers(0, 65536, (50, 2), dtype=np.uint16)
    np.testing.assert_array_equal(spikes[:, [1, 3]], draws < np.array([32768, 16384], np.uint16))
    assert not spikes[:, 0].any() and spikes[:, 2].all()



def test_bernoulli_spikes_equal_a_plain_reference_on_mixed_inputs():
    # The fast path (a row copy of the sure spikes, then a scatter of the draws) against the
    # definition written out element by element: p <= 0 or NaN never, p >= 1 always, else one
    # draw per step for each such element in flat order.
    rng = np.random.default_rng(7)
    for shape, steps in (((80, 80), 8), ((3, 5), 16), ((7,), 1)):
        prob = rng.choice(np.array([0.0, 1.0, 1.5, -0.5, 0.25, 0.5, np.nan], np.float32), size=shape)
        prob[tuple(0 for _ in shape)] = 0.75  # at least one partial element
        flat = prob.reshape(-1)
        partial = np.flatnonzero((flat > 0) & (flat < 1))
        draws = np.random.default_rng(3).integers(0, 65536, (steps, partial.size), dtype=np.uint16)
        expected = np.zeros((steps, flat.size), np.uint8)
        expected[:, flat >= 1] = 1
        for j, i in enumerate(partial):
            expected[:, i] = draws[:, j] < min(round(float(flat[i]) * 65536.0), 65535)
        got = bernoulli_spikes(prob, steps, np.random.default_rng(3))
        assert got.dtype == np.uint8 and got.shape == (steps, *shape)
        np.testing.assert_array_equal(got, expected.reshape(steps, *shape))

def test_the_wrappers_keep_the_noise_free_intensity_of_the_last_observation():
    import gymnasium as gym
    import numpy as np

    from snnrl.wrappers.encoding import PoissonObservation, PopulationObservation

    env = PopulationObservation(gym.make("CartPole-v1"), 16, n_per_dim=5, max_rate=200.0,
                                low=[-2.4, -3, -0.21, -3], high=[2.4, 3, 0.21, 3])
    obs, _ = env.reset(seed=0)
    u = env.scaler(env.unwrapped.state.astype(np.float32))
    np.testing.assert_allclose(env.last_intensity, env.receptive_fields(u), rtol=1e-6)
    assert env.last_intensity.shape == (20,) and obs.shape == (16, 20)
    plain = PoissonObservation(gym.make("CartPole-v1"), 8, low=[-2.4, -3, -0.21, -3], high=[2.4, 3, 0.21, 3])
    plain.reset(seed=1)
    np.testing.assert_allclose(plain.last_intensity, plain.scaler(plain.unwrapped.state.astype(np.float32)), rtol=1e-6)
