"""Encoder objects: the functions of :mod:`snnrl.functional.encoding` with bound parameters.

Every encoder is built with keyword arguments (``time`` may also be positional), validates them
at construction, and maps a datum ``(*shape)`` to a time-major train ``(T, *shape)``.

Stochastic encoders (:class:`BernoulliEncoder`, :class:`PoissonEncoder`,
:class:`PopulationEncoder`) draw from an optional ``torch.Generator``: pass ``generator=`` to
share one, or ``seed=`` to have the encoder create its own (not both). Without either they use
torch's global generator. :meth:`Encoder.seed` reseeds; on deterministic encoders it does nothing,
so callers can reseed any encoder uniformly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl.functional import encoding as F
from snnrl.functional.encoding import Bound
from snnrl.registry import register

__all__ = [
    "BernoulliEncoder",
    "Encoder",
    "LatencyEncoder",
    "PoissonEncoder",
    "PopulationEncoder",
    "RankOrderEncoder",
    "RepeatEncoder",
    "SingleEncoder",
]

_MAX_SEED = 2**64 - 1


class Encoder(ABC):
    """Base class: maps a datum to a time-major spike train (or current) of ``steps`` steps.

    Attributes:
        time: duration in ms.
        dt: step length in ms.
        generator: the ``torch.Generator`` used, or None (deterministic encoders, or torch's
            global generator).

    Shape:
        ``datum``: ``(*shape)``; output: ``(steps, *shape)`` (for :class:`PopulationEncoder`
        ``(*batch, D)`` -> ``(steps, *batch, D * n_per_dim)``).
    """

    stochastic: ClassVar[bool] = False

    def __init__(self, time: float, dt: float = 1.0) -> None:
        F.num_steps(time, dt)
        self.time = float(time)
        self.dt = float(dt)
        self.generator: torch.Generator | None = None

    @property
    def steps(self) -> int:
        """Number of simulation steps, ``round(time / dt)``."""
        return F.num_steps(self.time, self.dt)

    @abstractmethod
    def __call__(self, datum: Tensor) -> Tensor:
        """Encode ``datum`` ``(*shape)`` into a ``(steps, *shape)`` tensor."""

    def seed(self, seed: int | None = None) -> Encoder:
        """Reseed the encoder's generator; a no-op for deterministic encoders.

        Args:
            seed: the new seed, or None for a fresh non-deterministic one.

        Returns:
            ``self``, for chaining.
        """
        _check_seed(seed)
        return self

    def _params(self) -> dict[str, object]:
        """Parameters shown by ``repr``, in order."""
        return {"time": self.time, "dt": self.dt}

    def _rng_params(self) -> dict[str, object]:
        """Randomness settings shown last by ``repr``."""
        return {}

    def __repr__(self) -> str:
        params = {**self._params(), **self._rng_params()}
        args = ", ".join(f"{k}={v!r}" for k, v in params.items())
        return f"{type(self).__name__}({args})"


def _check_seed(seed: int | None) -> None:
    if seed is None:
        return
    checks.integer("seed", checks.integer("seed", seed, what="an int or None"), 0, _MAX_SEED,
                   what="in [0, 2**64 - 1]")


class _StochasticEncoder(Encoder):
    """Encoder that owns an optional generator (see the module docstring).

    A generator the encoder created itself (from ``seed``) follows the data: when called on a
    different device type it is recreated there from the same seed. A generator passed in must
    already be on the data's device.
    """

    stochastic: ClassVar[bool] = True

    def __init__(
        self,
        time: float,
        dt: float,
        generator: torch.Generator | None,
        seed: int | None,
    ) -> None:
        super().__init__(time, dt)
        if generator is not None and seed is not None:
            raise ValueError(
                f"pass either generator or seed, not both (got seed={seed} and a generator)"
            )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
        self.generator = generator
        self._seed: int | None = None
        self._owns_generator = False
        if seed is not None:
            self.seed(seed)

    def seed(self, seed: int | None = None) -> Encoder:
        """Reseed the generator (creating one if the encoder had none).

        Args:
            seed: the new seed, or None for a fresh non-deterministic one.

        Returns:
            ``self``, for chaining.
        """
        _check_seed(seed)
        if self.generator is None:
            self.generator = torch.Generator()
            self._owns_generator = True
        if seed is None:
            self._seed = self.generator.seed()
        else:
            self._seed = int(seed)
            self.generator.manual_seed(self._seed)
        return self

    def _generator_for(self, datum: Tensor) -> torch.Generator | None:
        gen = self.generator
        if (
            gen is not None
            and self._owns_generator
            and isinstance(datum, Tensor)
            and gen.device.type != datum.device.type
        ):
            gen = torch.Generator(device=datum.device)
            gen.manual_seed(self._seed)
            self.generator = gen
        return gen

    def _rng_params(self) -> dict[str, object]:
        if self.generator is not None and not self._owns_generator:
            return {"generator": self.generator}
        return {"seed": self._seed}


class _FunctionEncoder(Encoder):
    """A deterministic encoder with no parameters besides ``time`` and ``dt``: it calls
    ``_function(datum, time, dt)``."""

    _function: ClassVar[Callable[[Tensor, float, float], Tensor]]

    def __init__(self, time: float, *, dt: float = 1.0) -> None:
        super().__init__(time, dt)

    def __call__(self, datum: Tensor) -> Tensor:
        return type(self)._function(datum, self.time, self.dt)


@register("encoder")
class SingleEncoder(Encoder):
    """One spike at step 0 for the top ``sparsity`` fraction of values; see ``F.single``."""

    def __init__(self, time: float, *, dt: float = 1.0, sparsity: float = 0.5) -> None:
        super().__init__(time, dt)
        self.sparsity = checks.in_range("sparsity", checks.real("sparsity", sparsity), 0, 1.0, low_open=True)

    def __call__(self, datum: Tensor) -> Tensor:
        return F.single(datum, self.time, self.dt, sparsity=self.sparsity)

    def _params(self) -> dict[str, object]:
        return {**super()._params(), "sparsity": self.sparsity}


@register("encoder")
class RepeatEncoder(_FunctionEncoder):
    """The datum repeated at every step, as a float current; see ``F.repeat``."""

    _function = F.repeat


@register("encoder")
class BernoulliEncoder(_StochasticEncoder):
    """Bernoulli spikes with probability ``max_prob * datum`` per step; see ``F.bernoulli``."""

    def __init__(
        self,
        time: float,
        *,
        dt: float = 1.0,
        max_prob: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(time, dt, generator, seed)
        self.max_prob = checks.in_range("max_prob", checks.real("max_prob", max_prob), 0, 1.0, low_open=True)

    def __call__(self, datum: Tensor) -> Tensor:
        return F.bernoulli(
            datum, self.time, self.dt, max_prob=self.max_prob, generator=self._generator_for(datum)
        )

    def _params(self) -> dict[str, object]:
        return {**super()._params(), "max_prob": self.max_prob}


@register("encoder")
class PoissonEncoder(_StochasticEncoder):
    """Poisson spikes from rates in Hz (Bernoulli approximation); see ``F.poisson``."""

    def __init__(
        self,
        time: float,
        *,
        dt: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(time, dt, generator, seed)

    def __call__(self, datum: Tensor) -> Tensor:
        return F.poisson(datum, self.time, self.dt, generator=self._generator_for(datum))


@register("encoder")
class RankOrderEncoder(_FunctionEncoder):
    """One spike per positive element, larger values earlier; see ``F.rank_order``."""

    _function = F.rank_order


@register("encoder")
class LatencyEncoder(Encoder):
    """Time-to-first-spike code; see ``F.latency``."""

    def __init__(
        self, time: float, *, dt: float = 1.0, normalize: bool = True, mode: str = "linear"
    ) -> None:
        super().__init__(time, dt)
        checks.choice("mode", mode, F.LATENCY_MODES)
        checks.boolean("normalize", normalize)
        self.normalize = normalize
        self.mode = mode

    def __call__(self, datum: Tensor) -> Tensor:
        return F.latency(datum, self.time, self.dt, normalize=self.normalize, mode=self.mode)

    def _params(self) -> dict[str, object]:
        return {**super()._params(), "normalize": self.normalize, "mode": self.mode}


@register("encoder")
class PopulationEncoder(_StochasticEncoder):
    """Poisson spikes from Gaussian receptive fields; see ``F.population``.

    Shape:
        ``datum``: ``(*batch, D)``; output: ``(steps, *batch, D * n_per_dim)``.
    """

    def __init__(
        self,
        time: float,
        *,
        n_per_dim: int,
        low: Bound,
        high: Bound,
        dt: float = 1.0,
        max_rate: float = 100.0,
        sigma_scale: float = 1.0,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(time, dt, generator, seed)
        self.n_per_dim = F.check_n_per_dim(n_per_dim)
        self.max_rate = F.check_max_rate(max_rate, self.dt)
        self.sigma_scale = checks.positive("sigma_scale", checks.real("sigma_scale", sigma_scale))
        F.check_bounds(low, high, torch.empty(0, dtype=torch.float64))
        self.low = low
        self.high = high

    def __call__(self, datum: Tensor) -> Tensor:
        return F.population(
            datum,
            self.time,
            self.n_per_dim,
            self.low,
            self.high,
            dt=self.dt,
            max_rate=self.max_rate,
            sigma_scale=self.sigma_scale,
            generator=self._generator_for(datum),
        )

    def _params(self) -> dict[str, object]:
        own = {
            "n_per_dim": self.n_per_dim,
            "low": self.low,
            "high": self.high,
            "max_rate": self.max_rate,
            "sigma_scale": self.sigma_scale,
        }
        return {**super()._params(), **own}
