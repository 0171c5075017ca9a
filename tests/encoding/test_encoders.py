"""Tests for the encoder objects in snnrl.encoding."""

from __future__ import annotations

import pytest
import torch

from snnrl.encoding import (
    BernoulliEncoder,
    Encoder,
    LatencyEncoder,
    PoissonEncoder,
    PopulationEncoder,
    RankOrderEncoder,
    RepeatEncoder,
    SingleEncoder,
)
from snnrl.functional import encoding as E

X = torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(0))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# (encoder factory taking optional seed, the equivalent functional call taking a generator)
STOCHASTIC = {
    "bernoulli": (
        lambda **kw: BernoulliEncoder(10, dt=0.5, max_prob=0.7, **kw),
        lambda x, g: E.bernoulli(x, 10, 0.5, max_prob=0.7, generator=g),
    ),
    "poisson": (
        lambda **kw: PoissonEncoder(10, dt=0.5, **kw),
        lambda x, g: E.poisson(x, 10, 0.5, generator=g),
    ),
    "population": (
        lambda **kw: PopulationEncoder(
            10, dt=0.5, n_per_dim=3, low=0.0, high=[1.0, 1.0, 2.0, 2.0], max_rate=300.0, **kw
        ),
        lambda x, g: E.population(
            x, 10, 3, 0.0, [1.0, 1.0, 2.0, 2.0], dt=0.5, max_rate=300.0, generator=g
        ),
    ),
}
# Poisson reads rates in Hz.
STOCHASTIC_INPUT = {"bernoulli": X, "poisson": X * 300, "population": X}

DETERMINISTIC = {
    "single": (SingleEncoder(10, dt=0.5, sparsity=0.3), lambda x: E.single(x, 10, 0.5, 0.3)),
    "repeat": (RepeatEncoder(10, dt=0.5), lambda x: E.repeat(x, 10, 0.5)),
    "rank_order": (RankOrderEncoder(10, dt=0.5), lambda x: E.rank_order(x, 10, 0.5)),
    "latency": (
        LatencyEncoder(10, dt=0.5, normalize=False, mode="log"),
        lambda x: E.latency(x, 10, 0.5, normalize=False, mode="log"),
    ),
}


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_stochastic_encoder_matches_functional(name: str) -> None:
    make, functional = STOCHASTIC[name]
    x = STOCHASTIC_INPUT[name]
    encoder = make(seed=7)
    assert encoder.steps == 20
    out = encoder(x)
    torch.testing.assert_close(out, functional(x, gen(7)), rtol=0, atol=0)
    # An explicit generator is used as given (and advanced).
    g = gen(7)
    shared = make(generator=g)
    assert shared.generator is g
    torch.testing.assert_close(shared(x), out, rtol=0, atol=0)
    assert not torch.equal(shared(x), out)


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_encoder_matches_functional(name: str) -> None:
    encoder, functional = DETERMINISTIC[name]
    assert encoder.steps == 20
    assert encoder.generator is None
    torch.testing.assert_close(encoder(X), functional(X), rtol=0, atol=0)
    assert encoder.seed(3) is encoder  # a no-op, but callable uniformly


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_reseeding(name: str) -> None:
    make, _ = STOCHASTIC[name]
    x = STOCHASTIC_INPUT[name]
    encoder = make(seed=1)
    first, second = encoder(x), encoder(x)
    assert not torch.equal(first, second)  # the stream advances
    assert torch.equal(encoder.seed(1)(x), first)  # reseeding restarts it
    assert not torch.equal(encoder.seed(2)(x), first)
    # seed() on an encoder without a generator creates one.
    unseeded = make()
    assert unseeded.generator is None
    assert torch.equal(unseeded.seed(1)(x), first)
    # seed(None): a fresh non-deterministic seed.
    assert not torch.equal(unseeded.seed(None)(x), unseeded.seed(None)(x))


def test_unseeded_encoder_uses_global_rng() -> None:
    encoder = PoissonEncoder(50)
    rates = torch.full((10,), 200.0)
    torch.manual_seed(3)
    first = encoder(rates)
    torch.manual_seed(3)
    assert torch.equal(encoder(rates), first)


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_stochastic_encoder_input_not_modified(name: str) -> None:
    make, _ = STOCHASTIC[name]
    x = STOCHASTIC_INPUT[name].clone()
    before = x.clone()
    make(seed=0)(x)
    assert torch.equal(x, before)


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_encoder_input_not_modified(name: str) -> None:
    x = X.clone()
    DETERMINISTIC[name][0](x)
    assert torch.equal(x, X)


def test_population_encoder_shape() -> None:
    encoder = PopulationEncoder(5, n_per_dim=4, low=-1.0, high=1.0, seed=0)
    assert encoder(torch.zeros(8, 3)).shape == (5, 8, 12)


def test_encoder_is_abstract_and_subclassable() -> None:
    with pytest.raises(TypeError):
        Encoder(10)  # type: ignore[abstract]

    class Ones(Encoder):
        def __call__(self, datum: torch.Tensor) -> torch.Tensor:
            return torch.ones(self.steps, *datum.shape, dtype=torch.bool)

    assert Ones(3, dt=0.5)(torch.zeros(2)).shape == (6, 2)


def test_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        PoissonEncoder(10, 0.5)  # type: ignore[misc]


def test_repr_shows_parameters() -> None:
    assert repr(PoissonEncoder(10, dt=0.5, seed=3)) == "PoissonEncoder(time=10.0, dt=0.5, seed=3)"
    assert (
        repr(LatencyEncoder(4)) == "LatencyEncoder(time=4.0, dt=1.0, normalize=True, mode='linear')"
    )
    text = repr(PopulationEncoder(4, n_per_dim=3, low=0.0, high=2.0, max_rate=50.0))
    assert text == (
        "PopulationEncoder(time=4.0, dt=1.0, n_per_dim=3, low=0.0, high=2.0, max_rate=50.0, "
        "sigma_scale=1.0, seed=None)"
    )
    assert "generator=" in repr(BernoulliEncoder(4, generator=gen(0)))
    assert "sparsity=0.5" in repr(SingleEncoder(4))


BAD_CONSTRUCTION = [
    (lambda: PoissonEncoder(-2.0), ValueError, "-2.0"),
    (lambda: PoissonEncoder(10, dt=0.0), ValueError, "dt must be > 0.*0.0"),
    (lambda: RepeatEncoder(10, dt=3.0), ValueError, "time=10.0 / dt=3.0"),
    (lambda: RankOrderEncoder("5"), TypeError, "'5'"),
    (lambda: SingleEncoder(10, sparsity=0.0), ValueError, "sparsity.*0.0"),
    (lambda: BernoulliEncoder(10, max_prob=1.5), ValueError, "max_prob.*1.5"),
    (lambda: LatencyEncoder(10, mode="cubic"), ValueError, "'cubic'"),
    (lambda: PopulationEncoder(10, n_per_dim=0, low=0, high=1), ValueError, "n_per_dim.*0"),
    (lambda: PopulationEncoder(10, n_per_dim=3, low=1, high=0), ValueError, "low=1.0 >= high=0.0"),
    (
        lambda: PopulationEncoder(10, n_per_dim=3, low=[0, 0], high=[1, 1, 1]),
        ValueError,
        "got 2 and 3",
    ),
    (
        lambda: PopulationEncoder(10, n_per_dim=3, low=0, high=1, sigma_scale=-1.0),
        ValueError,
        "sigma_scale.*-1.0",
    ),
    (
        lambda: PopulationEncoder(10, n_per_dim=3, low=0, high=1, dt=2.0, max_rate=600.0),
        ValueError,
        "600.0",
    ),
    (lambda: PoissonEncoder(10, seed=1, generator=gen(1)), ValueError, "seed=1"),
    (lambda: PoissonEncoder(10, seed=-1), ValueError, "-1"),
    (lambda: PoissonEncoder(10, seed=1.5), TypeError, "1.5"),
    (lambda: PoissonEncoder(10, generator=5), TypeError, "5"),
    (lambda: PoissonEncoder(10).seed(2**64), ValueError, str(2**64)),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD_CONSTRUCTION)
def test_bad_parameters_fail_at_construction(call, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_bad_datum_raises_at_call() -> None:
    with pytest.raises(ValueError, match=r"-1\.0"):
        PoissonEncoder(10, seed=0)(torch.tensor([-1.0]))
    with pytest.raises(ValueError, match=r"D=2.*length 3"):
        PopulationEncoder(10, n_per_dim=2, low=[0, 0, 0], high=1.0)(torch.zeros(4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_owned_generator_follows_data_device() -> None:
    encoder = PoissonEncoder(10, seed=4)
    rates = torch.full((5,), 100.0, device="cuda")
    out = encoder(rates)
    assert out.device == rates.device
    assert encoder.generator.device.type == "cuda"
    assert torch.equal(PoissonEncoder(10, seed=4)(rates), out)
