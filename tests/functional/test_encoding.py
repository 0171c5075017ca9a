"""Tests for snnrl.functional.encoding."""

from __future__ import annotations

import math
import re

import pytest
import torch

from snnrl.functional import encoding as E


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def within_binomial(count: torch.Tensor, n: int, p: torch.Tensor, k: float = 5.0) -> bool:
    """``count`` lies within ``k`` binomial standard deviations of ``n * p``."""
    p = p.double()
    sd = torch.sqrt(n * p * (1 - p))
    return bool(((count.double() - n * p).abs() <= k * sd + 1e-9).all())


def spike_steps(train: torch.Tensor) -> torch.Tensor:
    """Index of the (single) spike per element, -1 where there is none."""
    steps = torch.arange(train.shape[0]).view(-1, *([1] * (train.dim() - 1)))
    return torch.where(train, steps, train.shape[0]).amin(0).masked_fill(~train.any(0), -1)


# Every spike encoder as a function of (datum, time, dt); data in [0, 1) are valid for all.
SPIKE_ENCODERS = {
    "single": lambda x, t, dt: E.single(x, t, dt),
    "bernoulli": lambda x, t, dt: E.bernoulli(x, t, dt, generator=gen(0)),
    "poisson": lambda x, t, dt: E.poisson(x * 100, t, dt, generator=gen(0)),
    "rank_order": lambda x, t, dt: E.rank_order(x, t, dt),
    "latency": lambda x, t, dt: E.latency(x, t, dt),
    "latency_log": lambda x, t, dt: E.latency(x, t, dt, mode="log"),
}
ALL_ENCODERS = {**SPIKE_ENCODERS, "repeat": lambda x, t, dt: E.repeat(x, t, dt)}
SHAPES = [(7,), (3, 4), (2, 3, 4, 5)]


# --------------------------------------------------------------------------- shapes / dtypes


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(SPIKE_ENCODERS))
def test_spike_shape_and_dtype(name: str, shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=gen(1))
    out = SPIKE_ENCODERS[name](x, 10.0, 0.5)
    assert out.shape == (20, *shape)
    assert out.dtype == torch.bool
    assert out.device == x.device


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_repeat_values_and_dtype(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    x = torch.rand(shape, generator=gen(2)).to(dtype)
    out = E.repeat(x, 10.0, 0.5)
    assert out.shape == (20, *shape)
    assert out.dtype == dtype
    assert torch.equal(out, x.expand(20, *shape))


@pytest.mark.parametrize(
    ("time", "dt", "steps"),
    [(10, 0.5, 20), (10, 1.0, 10), (0, 1.0, 0), (1.0, 0.1, 10), (0.3, 0.1, 3)],
)
@pytest.mark.parametrize("name", sorted(ALL_ENCODERS))
def test_steps_from_time_and_dt(name: str, time: float, dt: float, steps: int) -> None:
    out = ALL_ENCODERS[name](torch.rand(4, generator=gen(3)), time, dt)
    assert out.shape == (steps, 4)


def test_integer_and_bool_data_become_float32() -> None:
    assert E.repeat(torch.tensor([1, 2, 3]), 2).dtype == torch.float32
    assert E.repeat(torch.tensor([True, False]), 2).dtype == torch.float32
    out = E.latency(torch.tensor([0, 1, 2]), 3)
    assert spike_steps(out).tolist() == [-1, 1, 0]


@pytest.mark.parametrize("name", sorted(ALL_ENCODERS))
def test_empty_datum(name: str) -> None:
    assert ALL_ENCODERS[name](torch.zeros(0, 3), 5, 1.0).shape == (5, 0, 3)


# --------------------------------------------------------------------------- poisson / bernoulli


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_poisson_counts_match_rates(dt: float) -> None:
    rates = torch.tensor([0.0, 5.0, 20.0, 100.0, 500.0])
    steps = 20_000
    out = E.poisson(rates, steps * dt, dt, generator=gen(4))
    counts = out.sum(0)
    assert counts[0] == 0
    assert within_binomial(counts, steps, rates * dt / 1000)


def test_poisson_max_rate_is_one_spike_per_step() -> None:
    out = E.poisson(torch.tensor([2000.0]), 10, 0.5, generator=gen(5))
    assert out.all()


def test_bernoulli_probabilities() -> None:
    p = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    steps = 20_000
    out = E.bernoulli(p, steps, max_prob=0.5, generator=gen(6))
    counts = out.sum(0)
    assert counts[0] == 0
    assert within_binomial(counts, steps, 0.5 * p)
    assert E.bernoulli(torch.ones(3), 50, generator=gen(7)).all()


def test_generator_leaves_global_rng_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    E.poisson(torch.full((10,), 50.0), 20, generator=gen(8))
    E.bernoulli(torch.full((10,), 0.5), 20, generator=gen(8))
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------- deterministic codes


def test_rank_order_hand_example() -> None:
    # 1/x = [-, 1, 0.5, 0.25] -> (1/x - 0.25) / 0.75 * (T - 1) = [-, 3, 1, 0]
    out = E.rank_order(torch.tensor([0.0, 1.0, 2.0, 4.0]), 4)
    assert spike_steps(out).tolist() == [-1, 3, 1, 0]


def test_rank_order_equal_values_all_spike_first() -> None:
    out = E.rank_order(torch.tensor([[0.0, 3.0], [3.0, 3.0]]), 5)
    assert spike_steps(out).tolist() == [[-1, 0], [0, 0]]


@pytest.mark.parametrize(
    "encode",
    [
        lambda x: E.rank_order(x, 16),
        lambda x: E.latency(x, 16),
        lambda x: E.latency(x, 16, mode="log"),
        lambda x: E.latency(x / x.max(), 16, normalize=False),
    ],
    ids=["rank_order", "latency", "latency_log", "latency_unnormalized"],
)
def test_one_spike_per_nonzero_element_and_order(encode) -> None:
    x = torch.rand(2, 3, 4, 5, generator=gen(9))
    x = x.masked_fill(x < 0.3, 0.0)
    x[0, 0, 0, 0] = 1e-30  # tiny but positive: must still spike (last)
    out = encode(x)
    counts = out.sum(0)
    assert torch.equal(counts, (x > 0).long())
    steps = spike_steps(out)
    assert steps[0, 0, 0, 0] == 15
    assert steps.max() == 15 and steps[x > 0].min() == 0
    # Larger values never spike later.
    order = torch.argsort(x[x > 0], descending=True)
    assert bool((steps[x > 0][order].diff() >= 0).all())


def test_latency_linear_hand_example() -> None:
    # x / max = [0, .25, .5, 1] -> (1 - x) * (T - 1) = [-, 3, 2, 0]
    x = torch.tensor([0.0, 1.0, 2.0, 4.0])
    assert spike_steps(E.latency(x, 5)).tolist() == [-1, 3, 2, 0]
    assert spike_steps(E.latency(x / 4, 5, normalize=False)).tolist() == [-1, 3, 2, 0]
    # Without normalisation the scale matters.
    assert spike_steps(E.latency(x / 8, 5, normalize=False)).tolist() == [-1, 4, 3, 2]


def test_latency_log_hand_example() -> None:
    # 10 * (1 - ln(1 + (e - 1) x)): x=1 -> 0, x=0.5 -> 3.80 -> 4, x=0.1 -> 8.41 -> 8
    x = torch.tensor([1.0, 0.5, 0.1, 0.0])
    assert spike_steps(E.latency(x, 11, mode="log")).tolist() == [0, 4, 8, -1]
    assert spike_steps(E.latency(x, 11, mode="linear")).tolist() == [0, 5, 9, -1]


def test_latency_normalizes_over_whole_tensor() -> None:
    x = torch.tensor([[1.0, 2.0], [4.0, 0.0]])
    assert spike_steps(E.latency(x, 5)).tolist() == [[3, 2], [0, -1]]


def test_all_zero_datum_never_spikes() -> None:
    x = torch.zeros(3, 4)
    for encode in (E.rank_order, E.latency, E.single):
        assert not encode(x, 10).any()


def test_single_hand_example() -> None:
    x = torch.arange(1.0, 9.0)  # 1..8
    out = E.single(x, 5, sparsity=0.25)  # 0.75 quantile = 6.25 -> {7, 8}
    assert out[0].tolist() == [False] * 6 + [True] * 2
    assert not out[1:].any()
    out = E.single(x.view(2, 4), 5)  # median 4.5 -> {5, 6, 7, 8}
    assert out[0].sum() == 4 and out[0, 1].all()
    assert E.single(x, 5, sparsity=1.0)[0].sum() == 7  # all but the minimum
    assert not E.single(torch.full((5,), 2.0), 5).any()  # ties at the threshold never spike


# --------------------------------------------------------------------------- receptive fields


def test_grf_peaks_at_centres_and_one_sigma() -> None:
    n = 5
    centres = torch.arange(5.0)  # low=0, high=4, n=5 -> spacing = sigma = 1
    act = E.gaussian_receptive_fields(centres.unsqueeze(-1), n, 0.0, 4.0)
    assert act.shape == (5, 5)
    torch.testing.assert_close(act.diagonal(), torch.ones(5))
    # A neighbouring centre is exactly one sigma away.
    torch.testing.assert_close(act.diagonal(1), torch.full((4,), math.exp(-0.5)))
    torch.testing.assert_close(act, act.T)  # symmetric in |v - c|
    assert bool((act <= 1).all() and (act >= 0).all())


def test_grf_symmetry_and_sigma_scale() -> None:
    delta = torch.tensor([0.1, 0.37, 2.0])
    v = torch.cat([2.0 + delta, 2.0 - delta]).unsqueeze(-1)
    act = E.gaussian_receptive_fields(v, 5, 0.0, 4.0, sigma_scale=2.0)
    torch.testing.assert_close(act[:3, 2], act[3:, 2])
    one_spacing = E.gaussian_receptive_fields(torch.tensor([[1.0]]), 5, 0.0, 4.0, sigma_scale=2.0)
    torch.testing.assert_close(one_spacing[0, 0], torch.tensor(math.exp(-0.125)))


def test_grf_per_dimension_bounds_and_layout() -> None:
    # dim 0: centres 0, .5, 1 (sigma .5); dim 1: centres -2, 0, 2 (sigma 2)
    v = torch.tensor([[0.5, 2.0], [1.0, -2.0]]).double()
    act = E.gaussian_receptive_fields(v, 3, [0.0, -2.0], torch.tensor([1.0, 2.0]))
    assert act.shape == (2, 6) and act.dtype == torch.float64
    e1, e2 = math.exp(-0.5), math.exp(-2.0)  # one and two sigma away
    expected = [[e1, 1.0, e1, e2, e1, 1.0], [e2, e1, 1.0, 1.0, e1, e2]]
    torch.testing.assert_close(act, torch.tensor(expected, dtype=torch.float64))


def test_grf_single_field_and_out_of_range() -> None:
    act = E.gaussian_receptive_fields(torch.tensor([[1.0], [3.0], [-7.0]]), 1, 0.0, 2.0)
    # centre 1, sigma 2: v=3 is one sigma away; v=-7 is four sigma away (outside the range).
    torch.testing.assert_close(act[:, 0], torch.tensor([1.0, math.exp(-0.5), math.exp(-8.0)]))


def test_grf_batched_shape() -> None:
    act = E.gaussian_receptive_fields(torch.rand(4, 5, 3, generator=gen(10)), 7, -1.0, 1.0)
    assert act.shape == (4, 5, 21)


def test_population_shape_and_rates() -> None:
    values = torch.tensor([[0.2, -0.5], [0.9, 0.1]])
    steps, dt = 20_000, 0.5
    out = E.population(values, steps * dt, 3, -1.0, 1.0, dt=dt, max_rate=200.0, generator=gen(11))
    assert out.shape == (steps, 2, 6) and out.dtype == torch.bool
    prob = 200.0 * E.gaussian_receptive_fields(values, 3, -1.0, 1.0) * dt / 1000
    assert within_binomial(out.sum(0), steps, prob)


# --------------------------------------------------------------------------- seeding / purity

STOCHASTIC = {
    "bernoulli": lambda x, g: E.bernoulli(x, 50, generator=g),
    "poisson": lambda x, g: E.poisson(x * 300, 50, generator=g),
    "population": lambda x, g: E.population(x, 50, 4, 0.0, 1.0, max_rate=300.0, generator=g),
}


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_same_seed_same_output_different_seed_differs(name: str) -> None:
    x = torch.rand(4, 8, generator=gen(12))
    encode = STOCHASTIC[name]
    assert torch.equal(encode(x, gen(1)), encode(x, gen(1)))
    assert not torch.equal(encode(x, gen(1)), encode(x, gen(2)))


@pytest.mark.parametrize("name", sorted(ALL_ENCODERS))
def test_input_not_modified(name: str) -> None:
    x = torch.rand(3, 4, generator=gen(13))
    x[0, 0] = 0.0
    before = x.clone()
    ALL_ENCODERS[name](x, 5, 1.0)
    assert torch.equal(x, before)


def test_population_and_grf_inputs_not_modified() -> None:
    v, low, high = torch.rand(3, 2), torch.tensor([0.0, 0.1]), torch.tensor([1.0, 2.0])
    saved = [t.clone() for t in (v, low, high)]
    E.population(v, 5, 3, low, high, generator=gen(0))
    for t, s in zip((v, low, high), saved, strict=True):
        assert torch.equal(t, s)


@pytest.mark.parametrize("time", [1, 4])
def test_repeat_never_aliases_datum(time: int) -> None:
    x = torch.rand(3)
    before = x.clone()
    out = E.repeat(x, time)
    out.fill_(7.0)
    assert torch.equal(x, before)


# --------------------------------------------------------------------------- bad input

X = torch.tensor([0.2, 0.5])
BAD_INPUTS = [
    # (callable, exception, message regex)
    (lambda: E.poisson(X, -1.0), ValueError, "-1.0"),
    (lambda: E.poisson(X, 10, dt=0.0), ValueError, "dt must be > 0.*0.0"),
    (lambda: E.poisson(X, 10, dt=-0.5), ValueError, "-0.5"),
    (lambda: E.repeat(X, 1.0, dt=0.3), ValueError, "time=1.0 / dt=0.3"),
    (lambda: E.repeat(X, float("nan")), ValueError, "time must be finite, got nan"),
    (lambda: E.repeat(X, "10"), TypeError, "'10'"),
    (lambda: E.repeat([0.1, 0.2], 10), TypeError, "list"),
    (lambda: E.repeat(X.to(torch.complex64), 10), TypeError, "complex64"),
    (lambda: E.bernoulli(torch.tensor([0.5, 1.5]), 10), ValueError, r"\[0.0, 1.0\].*1.5"),
    (lambda: E.bernoulli(torch.tensor([-0.25]), 10), ValueError, "-0.25"),
    (lambda: E.bernoulli(X, 10, max_prob=0.0), ValueError, "max_prob.*0.0"),
    (lambda: E.bernoulli(X, 10, max_prob=1.5), ValueError, "max_prob.*1.5"),
    (lambda: E.bernoulli(X, 10, generator=0), TypeError, "generator"),
    (lambda: E.poisson(torch.tensor([-3.0]), 10), ValueError, "-3.0"),
    (lambda: E.poisson(torch.tensor([2500.0]), 10, dt=0.5), ValueError, "2500.0 Hz.*dt=0.5"),
    (lambda: E.rank_order(torch.tensor([1.0, -2.0]), 10), ValueError, "-2.0"),
    (lambda: E.latency(torch.tensor([-0.75]), 10), ValueError, "-0.75"),
    (lambda: E.latency(torch.tensor([2.0]), 10, normalize=False), ValueError, r"\[0.0, 1.0\].*2.0"),
    (lambda: E.latency(X, 10, mode="exp"), ValueError, r"\('linear', 'log'\), got 'exp'"),
    (lambda: E.latency(X, 10, normalize=1), TypeError, "normalize"),
    (lambda: E.single(X, 10, sparsity=0.0), ValueError, "sparsity.*0.0"),
    (lambda: E.single(X, 10, sparsity=1.25), ValueError, "sparsity.*1.25"),
    (lambda: E.gaussian_receptive_fields(X, 0, 0.0, 1.0), ValueError, "n_per_dim.*0"),
    (lambda: E.gaussian_receptive_fields(X, 2.5, 0.0, 1.0), TypeError, "2.5"),
    (lambda: E.gaussian_receptive_fields(X, 3, 1.0, 1.0), ValueError, "low=1.0 >= high=1.0"),
    (lambda: E.gaussian_receptive_fields(X, 3, [0, 2], [1, 1]), ValueError, "low=2.0 >= high=1"),
    (lambda: E.gaussian_receptive_fields(X, 3, [0, 0, 0], 1.0), ValueError, "D=2.*length 3"),
    (lambda: E.gaussian_receptive_fields(X, 3, 0.0, 1.0, 0.0), ValueError, "sigma_scale.*0.0"),
    (lambda: E.gaussian_receptive_fields(X, 3, 0.0, 1.0, -2.0), ValueError, "-2.0"),
    (lambda: E.gaussian_receptive_fields(X, 3, 0.0, float("inf")), ValueError, "high.*inf"),
    (lambda: E.gaussian_receptive_fields(torch.tensor(0.5), 3, 0, 1), ValueError, "0-d"),
    (lambda: E.population(X, 10, 3, 0.0, 1.0, max_rate=-5.0), ValueError, "-5.0"),
    (lambda: E.population(X, 10, 3, 0.0, 1.0, max_rate=1500.0), ValueError, "1500.0"),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD_INPUTS)
def test_bad_input_raises(call, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("name", sorted(ALL_ENCODERS))
def test_non_finite_datum_raises(name: str, bad: float) -> None:
    x = torch.tensor([0.1, bad, 0.3])
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        ALL_ENCODERS[name](x, 5, 1.0)


def test_non_finite_population_values_raise() -> None:
    with pytest.raises(ValueError, match=r"values must be finite.*nan"):
        E.population(torch.tensor([float("nan")]), 5, 3, 0.0, 1.0)


# --------------------------------------------------------------------------- device


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@CUDA
@pytest.mark.parametrize("name", sorted(ALL_ENCODERS))
def test_device_follows_datum(name: str) -> None:
    x = torch.rand(3, 4, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    encode = {
        "bernoulli": lambda: E.bernoulli(x, 5, generator=g),
        "poisson": lambda: E.poisson(x, 5, generator=g),
    }.get(name, lambda: ALL_ENCODERS[name](x, 5, 1.0))
    assert encode().device == x.device


@CUDA
def test_generator_on_wrong_device_type_raises() -> None:
    with pytest.raises(ValueError, match="generator is on device cpu"):
        E.poisson(torch.rand(3, device="cuda"), 5, generator=gen(0))
