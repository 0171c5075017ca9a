"""Spike-encoding observation wrappers: every observation becomes a spike train of ``T`` steps.

Each wrapper first maps the observation to intensities ``u`` in ``[0, 1]`` with a
:class:`~snnrl.wrappers.scaling.UnitScaler` (affine for bounded ``Box`` dimensions, a documented
``tanh`` squash for unbounded ones, one-hot for ``Discrete``, bits for ``MultiBinary``; the
keyword arguments ``low``, ``high``, ``unbounded``, ``scale`` and ``out_of_range`` configure it),
then encodes ``u`` over ``steps`` time steps of ``dt`` ms:

* :class:`PoissonObservation`: spikes with probability ``u * max_rate * dt / 1000`` per step;
* :class:`BernoulliObservation`: spikes with probability ``u * max_prob`` per step;
* :class:`RankOrderObservation`: one spike per ``u > 0``, larger values earlier (relative code);
* :class:`LatencyObservation`: one spike per ``u > 0`` at step ``round((1 - u) * (T - 1))``;
* :class:`PopulationObservation`: Gaussian receptive fields per element, then Poisson spikes;
  space ``Box(0, 1, (T, D * n_per_dim), uint8)``;
* :class:`JointPopulationObservation`: Gaussian receptive fields on a grid over the joint
  observation space (one neuron per grid point, "place cells"), then Poisson spikes; space
  ``Box(0, 1, (T, n_per_dim ** D), uint8)``;
* :class:`RepeatObservation`: ``u`` repeated at every step (a current, not spikes);
  space ``Box(0, 1, (T, *shape), float32)``.

Every other wrapper's observation space is ``Box(0, 1, (T, *shape), uint8)``.

Spike trains are ``uint8`` arrays of 0/1, time-major: ``(T, *shape)`` per environment and
``(num_envs, T, *shape)`` from a vector environment (move the axis to get snnrl's ``(T, B, ...)``).
The probabilities and spike times are those of :mod:`snnrl.functional.encoding` (the
deterministic codes call it); the random draws come from the wrapper's own
``numpy.random.Generator``, which ``reset(seed=...)`` reseeds from a stream derived from the seed
(not the environment's ``np_random``, so encoding never changes the environment's dynamics).
The same seed gives the same spike trains. Before the first seeded reset the generator is
seeded from the operating system's entropy.

Stochastic codes draw random numbers only for elements with ``0 < p < 1``: elements with
``p = 0`` never spike and elements with ``p >= 1`` spike at every step, so sparse inputs
(binarised Atari frames, frame differences) cost little. They compare 16-bit random integers
with ``round(p * 65536)``: probabilities are resolved to 1/65536 (see :func:`bernoulli_spikes`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from snnrl import _checks as checks
from snnrl.functional import encoding as F
from snnrl.wrappers._fast import compiled_kernels
from snnrl.wrappers.scaling import UnitScaler, check_steps

__all__ = [
    "BernoulliObservation",
    "Draws16",
    "JointPopulationObservation",
    "LatencyObservation",
    "PoissonObservation",
    "PopulationObservation",
    "RankOrderObservation",
    "RepeatObservation",
    "SpikeEncodingObservation",
]

_STREAM_KEY = 0x5EED_E2C0  # separates the encoder's random stream from the env's own


def encoder_rng(seed: int | None) -> np.random.Generator:
    """The encoder's generator for a ``reset`` seed (None: fresh OS entropy)."""
    if seed is None:
        return np.random.default_rng()
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(_STREAM_KEY,))))


class Draws16:
    """The 16-bit draws of a generator, taken ahead in blocks: :meth:`take` returns what
    ``rng.integers(0, 65536, shape, dtype=np.uint16)`` would return, one NumPy call per
    block instead of one per observation (a call costs about 6 us however few it draws).

    NumPy splits each 32-bit output into two 16-bit draws, low half first, and a call that
    draws an odd number drops the unused half of its last output. So one large call gives the
    draws of consecutive small calls, with one draw skipped after each odd-sized one; that is
    what :meth:`take` does (tested against separate calls). Only :meth:`take` may use ``rng``.

    Args:
        rng: the generator (this object owns it from now on).
        block: draws taken ahead at a time (rounded up to an even number).
    """

    def __init__(self, rng: np.random.Generator, block: int = 8192) -> None:
        self.rng = rng
        self.block = block + (block & 1)
        self._buffer = np.empty(0, np.uint16)
        self._pos = 0

    def take(self, shape: tuple[int, int]) -> np.ndarray:
        """The next ``shape`` draws (``rng.integers(0, 65536, shape, dtype=np.uint16)``)."""
        n = shape[0] * shape[1]
        need = n + (n & 1)
        left = self._buffer.size - self._pos  # always even
        if need > left:
            rest = self._buffer[self._pos:]
            fresh = self.rng.integers(0, 65536, max(self.block, need - left), dtype=np.uint16)
            self._buffer, self._pos = np.concatenate([rest, fresh]), 0
        out = self._buffer[self._pos:self._pos + n]
        self._pos += need
        if self._pos >= self.block and self._pos == self._buffer.size:  # a large take: drop the buffer
            self._buffer, self._pos = np.empty(0, np.uint16), 0
        return out.reshape(shape)


def bernoulli_spikes(prob: np.ndarray, steps: int, rng: np.random.Generator | Draws16) -> np.ndarray:
    """Independent spikes with per-step probability ``prob`` (values outside ``[0, 1]`` clip).

    Elements with ``prob <= 0`` never spike and elements with ``prob >= 1`` spike at every step,
    without random numbers. The others compare 16-bit random integers with
    ``round(prob * 65536)`` (at most 65535), so a probability is resolved to 1/65536 (an
    error below ``2e-5``); that is 2-3 times faster than drawing floats. Random numbers are drawn only
    for those elements, ``(steps, n_partial)`` of them, in flat element order (from ``rng``, a
    generator or its :class:`Draws16`, which gives the same draws).

    Shape:
        ``prob``: ``(*shape)``; output: ``(steps, *shape)`` uint8 of 0/1.
    """
    flat = prob.reshape(-1)
    kernels = compiled_kernels() if flat.dtype == np.float32 else None
    if kernels is not None:  # the same draws and comparisons in two compiled passes (tested equal)
        sure8 = np.empty(flat.size, np.uint8)
        index = np.empty(flat.size, np.int64)
        thresholds = np.empty(flat.size, np.uint16)
        count = kernels.bernoulli_split(flat, sure8, index, thresholds)
        draws = _draw16(rng, (steps, count)) if count else np.empty((steps, 0), np.uint16)
        out = np.empty((steps, flat.size), dtype=np.uint8)
        kernels.bernoulli_fill(sure8, index, thresholds, draws, out)
        return out.reshape(steps, *prob.shape)
    sure = flat >= 1.0
    partial = flat > 0.0
    partial &= ~sure
    index = np.flatnonzero(partial)
    count = index.size
    if count == flat.size:  # dense: no scatter needed
        draws = _draw16(rng, (steps, count))
        out = np.empty((steps, count), dtype=np.uint8)
        np.less(draws, _thresholds(flat), out=out.view(bool))
        return out.reshape(steps, *prob.shape)
    out = np.empty((steps, flat.size), dtype=np.uint8)
    out[:] = sure.view(np.uint8)  # every step: 1 where p >= 1, else 0 (a row copy, no mask indexing)
    if count:
        draws = _draw16(rng, (steps, count))
        out[:, index] = draws < _thresholds(flat[index])
    return out.reshape(steps, *prob.shape)


def _draw16(rng: np.random.Generator | Draws16, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(rng, Draws16):
        return rng.take(shape)
    return rng.integers(0, 65536, shape, dtype=np.uint16)


def _thresholds(prob: np.ndarray) -> np.ndarray:
    """16-bit thresholds for probabilities in ``(0, 1)``: ``P(draw < t) = t / 65536``."""
    return np.minimum(np.rint(prob * 65536.0), 65535.0).astype(np.uint16)


class SpikeEncodingObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs, ABC):
    """Base class: scale the observation to ``[0, 1]``, then encode it over ``steps`` steps.

    Subclasses implement :meth:`encode`. See the module docstring for the scaling arguments.

    Args:
        env: the environment (Box, MultiBinary or Discrete observations).
        steps: the time window ``T`` (steps per observation), >= 1.
        dt: the step length in ms (used by rate codes: probability = rate * dt / 1000).
        low, high, unbounded, scale, out_of_range: see :class:`~snnrl.wrappers.scaling.UnitScaler`.

    Shape:
        observation: ``(T, *shape)`` (``(T, D * n)`` for :class:`PopulationObservation`).
    """

    def __init__(
        self,
        env: Any,
        steps: int,
        *,
        dt: float = 1.0,
        low: Any = None,
        high: Any = None,
        unbounded: str = "tanh",
        scale: Any = 1.0,
        out_of_range: str = "clip",
    ) -> None:
        self._init_encoder(env, steps, {}, dt, low, high, unbounded, scale, out_of_range)

    def _init_encoder(
        self,
        env: Any,
        steps: int,
        options: dict[str, Any],
        dt: float,
        low: Any,
        high: Any,
        unbounded: str,
        scale: Any,
        out_of_range: str,
    ) -> None:
        """The shared initialiser; ``options`` are a subclass's own constructor arguments.

        Records the constructor arguments (``steps``, then ``options``, then the common ones)
        for the environment's spec, unless a subclass recorded them already, then checks the
        common arguments and builds the scaler and the observation space.
        """
        gym.utils.RecordConstructorArgs.__init__(
            self, steps=steps, **options, dt=dt, low=low, high=high, unbounded=unbounded, scale=scale,
            out_of_range=out_of_range,
        )  # fmt: skip
        gym.ObservationWrapper.__init__(self, env)
        self.steps = check_steps(steps)
        self.dt = checks.positive("dt", checks.real("dt", dt))
        self.scaler = UnitScaler(env.observation_space, low, high, unbounded, scale, out_of_range)
        self.observation_space = self._make_space(self.scaler.shape)
        self._rng = Draws16(encoder_rng(None))

    def _make_space(self, shape: tuple[int, ...]) -> Any:
        return gym.spaces.Box(0, 1, (self.steps, *shape), dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset the environment; a ``seed`` also reseeds the encoder's generator."""
        if seed is not None:
            self._rng = Draws16(encoder_rng(seed))
        return super().reset(seed=seed, options=options)

    def observation(self, observation: Any) -> np.ndarray:
        """Encode one observation into a ``(T, ...)`` array; keeps its noise-free
        :meth:`intensity` in :attr:`last_intensity`."""
        u = self.scaler(observation)
        self.last_intensity = self.intensity(u)
        return self.encode(u)

    def intensity(self, u: np.ndarray) -> np.ndarray:
        """What the spikes of one step encode, without their sampling noise: one value in
        ``[0, 1]`` per input neuron (the scaled observation; a population code's receptive-field
        activations). A value-estimate that reads it instead of the spikes sees the same state
        without the Poisson noise.

        Shape: ``(*shape)`` -> ``(n_neurons,)``.
        """
        return np.asarray(u, dtype=np.float32).reshape(-1)

    @abstractmethod
    def encode(self, u: np.ndarray) -> np.ndarray:
        """Encode intensities ``u`` in ``[0, 1]`` (float32, ``(*shape)``) into ``(T, ...)``."""


class PoissonObservation(SpikeEncodingObservation):
    """Poisson spikes at rate ``u * max_rate`` (Bernoulli approximation, as ``F.poisson``).

    Args:
        env: the environment.
        steps: the time window ``T``.
        max_rate: the rate in Hz of an element with ``u = 1``, in ``[0, 1000 / dt]``.
        dt: the step length in ms.
        low, high, unbounded, scale, out_of_range: see :class:`~snnrl.wrappers.scaling.UnitScaler`.

    Example:
        >>> import gymnasium as gym
        >>> env = PoissonObservation(gym.make("CartPole-v1"), 16, max_rate=200.0, high=[2.4, 3, 0.21, 3.5],
        ...                          low=[-2.4, -3, -0.21, -3.5])
        >>> env.observation_space
        Box(0, 1, (16, 4), uint8)
    """

    def __init__(
        self,
        env: Any,
        steps: int,
        *,
        max_rate: float = 100.0,
        dt: float = 1.0,
        low: Any = None,
        high: Any = None,
        unbounded: str = "tanh",
        scale: Any = 1.0,
        out_of_range: str = "clip",
    ) -> None:
        self._init_encoder(env, steps, {"max_rate": max_rate}, dt, low, high, unbounded, scale, out_of_range)
        self.max_rate = F.check_max_rate(max_rate, self.dt)
        self._p_max = np.float32(self.max_rate * self.dt / 1000.0)

    def encode(self, u: np.ndarray) -> np.ndarray:
        return bernoulli_spikes(u * self._p_max, self.steps, self._rng)


class BernoulliObservation(SpikeEncodingObservation):
    """Spikes with probability ``u * max_prob`` per step (as ``F.bernoulli``).

    With binary inputs and ``max_prob = 1`` the code is deterministic (every active element
    spikes at every step).

    Args:
        env: the environment.
        steps: the time window ``T``.
        max_prob: the per-step probability for ``u = 1``, in ``(0, 1]``.
        dt: the step length in ms (unused by the code itself).
        low, high, unbounded, scale, out_of_range: see :class:`~snnrl.wrappers.scaling.UnitScaler`.
    """

    def __init__(
        self,
        env: Any,
        steps: int,
        *,
        max_prob: float = 1.0,
        dt: float = 1.0,
        low: Any = None,
        high: Any = None,
        unbounded: str = "tanh",
        scale: Any = 1.0,
        out_of_range: str = "clip",
    ) -> None:
        self._init_encoder(env, steps, {"max_prob": max_prob}, dt, low, high, unbounded, scale, out_of_range)
        self.max_prob = checks.in_range("max_prob", checks.real("max_prob", max_prob), 0, 1.0, low_open=True)

    def encode(self, u: np.ndarray) -> np.ndarray:
        prob = u if self.max_prob == 1.0 else u * np.float32(self.max_prob)
        return bernoulli_spikes(prob, self.steps, self._rng)


class RankOrderObservation(SpikeEncodingObservation):
    """One spike per element with ``u > 0``, larger values earlier (``F.rank_order``).

    The spike times are relative to the observation's own largest and smallest positive values,
    so the code is invariant to a common scale. Deterministic. Takes the arguments of
    :class:`SpikeEncodingObservation`.
    """

    def encode(self, u: np.ndarray) -> np.ndarray:
        return F.rank_order(torch.from_numpy(u), float(self.steps)).numpy().view(np.uint8)


class LatencyObservation(SpikeEncodingObservation):
    """Time-to-first-spike code (``F.latency``): one spike per ``u > 0``, larger earlier.

    Args:
        env: the environment.
        steps: the time window ``T``.
        mode: ``"linear"`` (``step = round((1 - u)(T - 1))``) or ``"log"``.
        normalize: divide by the observation's maximum first (relative code); the default
            ``False`` keeps the absolute intensity, so ``u = 1`` always spikes at step 0.
        dt: the step length in ms.
        low, high, unbounded, scale, out_of_range: see :class:`~snnrl.wrappers.scaling.UnitScaler`.
    """

    def __init__(
        self,
        env: Any,
        steps: int,
        *,
        mode: str = "linear",
        normalize: bool = False,
        dt: float = 1.0,
        low: Any = None,
        high: Any = None,
        unbounded: str = "tanh",
        scale: Any = 1.0,
        out_of_range: str = "clip",
    ) -> None:
        options = {"mode": mode, "normalize": normalize}
        self._init_encoder(env, steps, options, dt, low, high, unbounded, scale, out_of_range)
        checks.choice("mode", mode, F.LATENCY_MODES)
        checks.boolean("normalize", normalize)
        self.mode = mode
        self.normalize = normalize

    def encode(self, u: np.ndarray) -> np.ndarray:
        spikes = F.latency(torch.from_numpy(u), float(self.steps), normalize=self.normalize, mode=self.mode)
        return spikes.numpy().view(np.uint8)


class PopulationObservation(SpikeEncodingObservation):
    """Population code: ``n_per_dim`` Gaussian receptive fields per element, then Poisson spikes.

    The observation is flattened to ``D`` intensities ``u``; element ``d`` feeds ``n_per_dim``
    curves with centres evenly spaced on ``[0, 1]`` (both ends) and width
    ``sigma = sigma_scale / (n_per_dim - 1)`` (``sigma_scale`` for one curve), exactly
    ``F.gaussian_receptive_fields(u, n_per_dim, 0, 1, sigma_scale)``. Neuron ``d * n_per_dim + k``
    spikes with probability ``max_rate * dt / 1000 * exp(-(u_d - c_k)^2 / (2 sigma^2))``.
    Because the curves tile the scaled range, unbounded dimensions are covered through the
    ``tanh`` squash instead of falling off the last curve.

    Args:
        env: the environment.
        steps: the time window ``T``.
        n_per_dim: neurons per observation element, >= 1.
        max_rate: the rate in Hz of a neuron at its centre, in ``[0, 1000 / dt]``.
        sigma_scale: width of the curves relative to their spacing, > 0.
        dt: the step length in ms.
        low, high, unbounded, scale, out_of_range: see :class:`~snnrl.wrappers.scaling.UnitScaler`.

    Shape:
        observation: ``(T, D * n_per_dim)`` with ``D`` the number of observation elements.
    """

    def __init__(
        self,
        env: Any,
        steps: int,
        *,
        n_per_dim: int = 10,
        max_rate: float = 100.0,
        sigma_scale: float = 1.0,
        dt: float = 1.0,
        low: Any = None,
        high: Any = None,
        unbounded: str = "tanh",
        scale: Any = 1.0,
        out_of_range: str = "clip",
    ) -> None:
        options = {"n_per_dim": n_per_dim, "max_rate": max_rate, "sigma_scale": sigma_scale}
        self.n_per_dim = F.check_n_per_dim(n_per_dim)  # _make_space needs it
        self._init_encoder(env, steps, options, dt, low, high, unbounded, scale, out_of_range)
        self.max_rate = F.check_max_rate(max_rate, self.dt)
        self.sigma_scale = checks.positive("sigma_scale", checks.real("sigma_scale", sigma_scale))
        n = self.n_per_dim
        self._centres = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])
        sigma = self.sigma_scale / (n - 1) if n > 1 else self.sigma_scale
        self._inv_two_sigma2 = 1.0 / (2.0 * sigma * sigma)
        self._p_max = self.max_rate * self.dt / 1000.0

    def _make_space(self, shape: tuple[int, ...]) -> Any:
        return gym.spaces.Box(0, 1, (self.steps, math.prod(shape) * self.n_per_dim), dtype=np.uint8)

    def receptive_fields(self, u: np.ndarray) -> np.ndarray:
        """Activations in ``[0, 1]``, ``(D * n_per_dim,)``, dimension-major."""
        d = u.reshape(-1, 1).astype(np.float64) - self._centres
        return np.exp(-(d * d) * self._inv_two_sigma2).reshape(-1)

    def intensity(self, u: np.ndarray) -> np.ndarray:
        return self.receptive_fields(u).astype(np.float32)

    def encode(self, u: np.ndarray) -> np.ndarray:
        prob = (self.receptive_fields(u) * self._p_max).astype(np.float32)
        return bernoulli_spikes(prob, self.steps, self._rng)


#: The most neurons a joint population code may have (``n_per_dim ** D``).
MAX_JOINT_NEURONS = 65536


class JointPopulationObservation(PopulationObservation):
    """Population code on the joint space: one neuron per point of a grid over all ``D`` elements.

    Neuron ``(k_1, ..., k_D)`` (row-major index) has the Gaussian receptive field centred on
    ``(c_{k_1}, ..., c_{k_D})``, the centres and width of :class:`PopulationObservation`:

    ``p = max_rate * dt / 1000 * exp(-sum_d (u_d - c_{k_d})^2 / (2 sigma^2))``,

    the product of the per-element curves. Unlike the per-element code, whose neurons each see
    one element, a neuron here fires only for one region of the whole observation space (a
    "place cell"; a smooth version of tile coding), so a linear readout of its spikes can
    represent any function of the observation that is smooth on the scale of ``sigma``, e.g. a
    value or an action that depends on the pole's angle *and* its velocity together. The
    number of neurons is ``n_per_dim ** D`` (at most :data:`MAX_JOINT_NEURONS`).

    Args:
        env: the environment.
        steps: the time window ``T``.
        n_per_dim: grid points per observation element, >= 1.
        max_rate: the rate in Hz of a neuron at its centre, in ``[0, 1000 / dt]``.
        sigma_scale: width of the curves relative to the grid spacing, > 0.
        dt: the step length in ms.
        low, high, unbounded, scale, out_of_range: see :class:`~snnrl.wrappers.scaling.UnitScaler`.

    Shape:
        observation: ``(T, n_per_dim ** D)`` with ``D`` the number of observation elements.

    Example:
        >>> import gymnasium as gym
        >>> env = JointPopulationObservation(gym.make("CartPole-v1"), 16, n_per_dim=6,
        ...                                  low=[-2.4, -3, -0.21, -3.5], high=[2.4, 3, 0.21, 3.5])
        >>> env.observation_space
        Box(0, 1, (16, 1296), uint8)
    """

    def _make_space(self, shape: tuple[int, ...]) -> Any:
        n = self.n_per_dim ** math.prod(shape)
        if n > MAX_JOINT_NEURONS:
            raise ValueError(
                f"a joint population code of n_per_dim={self.n_per_dim} over {math.prod(shape)} observation "
                f"elements needs {n} neurons, more than {MAX_JOINT_NEURONS}; use fewer points per element "
                "or the per-element 'population' code"
            )
        return gym.spaces.Box(0, 1, (self.steps, n), dtype=np.uint8)

    def receptive_fields(self, u: np.ndarray) -> np.ndarray:
        """Activations in ``[0, 1]``, ``(n_per_dim ** D,)``, row-major over the grid."""
        per_dim = super().receptive_fields(u).reshape(-1, self.n_per_dim)
        out = per_dim[0]
        for curve in per_dim[1:]:
            out = np.multiply.outer(out, curve).reshape(-1)
        return out


class RepeatObservation(SpikeEncodingObservation):
    """The intensities ``u`` repeated at every step: a constant input current, not spikes.

    Observation space: ``Box(0, 1, (T, *shape), float32)``. Deterministic. Takes the arguments
    of :class:`SpikeEncodingObservation`.
    """

    def _make_space(self, shape: tuple[int, ...]) -> Any:
        return gym.spaces.Box(0.0, 1.0, (self.steps, *shape), dtype=np.float32)

    def encode(self, u: np.ndarray) -> np.ndarray:
        return np.broadcast_to(u, (self.steps, *u.shape)).copy()
