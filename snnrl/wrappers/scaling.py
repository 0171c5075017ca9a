"""Map observations to intensities in ``[0, 1]``, the common input of every spike encoder.

:class:`UnitScaler` turns one observation of a Gymnasium space into a float32 array of
intensities in ``[0, 1]``:

* ``Box``: element-wise. A dimension with finite bounds ``[low, high]`` is mapped affinely,
  ``u = (x - low) / (high - low)``. The bounds are the space's own unless ``low``/``high`` are
  given; values outside given bounds are clipped to the edge (``out_of_range="clip"``, the
  default) or raise (``out_of_range="error"``). A dimension whose bound is infinite (or at
  least float32's largest value, as some environments write "unbounded") is squashed smoothly
  (``unbounded="tanh"``, the default) with a per-dimension ``scale`` ``s``:

  - unbounded on both sides: ``u = 0.5 * (1 + tanh(x / s))``, so ``0 -> 0.5`` and
    ``+-s -> 0.5 +- 0.38``;
  - bounded below only: ``u = tanh((x - low) / s)``;
  - bounded above only: ``u = 1 - tanh((high - x) / s)``.

  Nothing is clipped silently: with ``unbounded="error"`` an unbounded dimension is refused at
  construction, with a message that says how to bound it. Give finite ``low``/``high`` for a
  linear code, or ``inf`` entries in them to squash chosen dimensions of a bounded space.
* ``MultiBinary``: the bits as 0.0 / 1.0.
* ``Discrete(n, start)``: a one-hot vector of length ``n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snnrl import _checks as checks
from snnrl.wrappers._fast import compiled_kernels

__all__ = ["OUT_OF_RANGE", "UNBOUNDED", "UnitScaler"]

UNBOUNDED = ("tanh", "error")
OUT_OF_RANGE = ("clip", "error")
_HUGE = float(np.finfo(np.float32).max)
_TOL = 1e-6
_KERNEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))
"""Observation dtypes whose scalar-range scaling runs the compiled kernel."""


def _as_bound(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A user-given bound broadcast to ``shape`` (float64; +-inf allowed, NaN not)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from err
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN, got {value!r}")
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ValueError(
            f"{name} has shape {arr.shape}, which does not broadcast to the observation shape {shape}"
        ) from None


class UnitScaler:
    """Maps observations of ``space`` to float32 intensities in ``[0, 1]`` (see module docs).

    Args:
        space: a Gymnasium ``Box``, ``MultiBinary`` or ``Discrete`` space.
        low: lower bounds replacing the space's (scalar or broadcastable to its shape; ``-inf``
            marks a dimension to squash); ``Box`` only.
        high: upper bounds replacing the space's; ``Box`` only.
        unbounded: ``"tanh"`` squashes dimensions with an infinite bound, ``"error"`` refuses them.
        scale: the squash width ``s`` (> 0), scalar or per element; unused by bounded dimensions.
        out_of_range: ``"clip"`` or ``"error"`` for values outside finite bounds.

    Attributes:
        shape: the shape of the intensities (the space's shape; ``(n,)`` for ``Discrete(n)``).

    Shape:
        observation: the space's shape; output: ``shape``.
    """

    def __init__(
        self,
        space: Any,
        low: Any = None,
        high: Any = None,
        unbounded: str = "tanh",
        scale: Any = 1.0,
        out_of_range: str = "clip",
    ) -> None:
        from gymnasium import spaces

        if unbounded not in UNBOUNDED:
            raise ValueError(f"unbounded must be one of {UNBOUNDED}, got {unbounded!r}")
        if out_of_range not in OUT_OF_RANGE:
            raise ValueError(f"out_of_range must be one of {OUT_OF_RANGE}, got {out_of_range!r}")
        self.out_of_range = out_of_range
        if isinstance(space, spaces.Discrete):
            self._kind = "discrete"
            self._start = int(space.start)
            self.shape: tuple[int, ...] = (int(space.n),)
        elif isinstance(space, spaces.MultiBinary):
            self._kind = "binary"
            self.shape = tuple(space.shape)
        elif isinstance(space, spaces.Box):
            self._kind = "box"
            self.shape = tuple(space.shape)
            self._init_box(space, low, high, unbounded, scale)
            return
        else:
            raise TypeError(f"spike encoding needs a Box, MultiBinary or Discrete observation space, got {space}")
        if low is not None or high is not None:
            raise ValueError(f"low/high only apply to Box observation spaces, not {space}")

    def _init_box(self, space: Any, low: Any, high: Any, unbounded: str, scale: Any) -> None:
        lo = space.low.astype(np.float64) if low is None else _as_bound(low, "low", self.shape)
        hi = space.high.astype(np.float64) if high is None else _as_bound(high, "high", self.shape)
        lo[lo <= -_HUGE] = -np.inf
        hi[hi >= _HUGE] = np.inf
        finite_lo, finite_hi = np.isfinite(lo), np.isfinite(hi)
        affine = finite_lo & finite_hi
        bad = np.argwhere(affine & (lo >= hi))
        if bad.size:
            i = tuple(int(j) for j in bad[0])
            raise ValueError(f"low must be < high, got low={lo[i]} >= high={hi[i]} at index {i}")
        if not affine.all() and unbounded == "error":
            idx = [tuple(int(j) for j in i) for i in np.argwhere(~affine)[:8]]
            raise ValueError(
                f"observation elements {idx} have an infinite bound; give finite low/high for them "
                "or use unbounded='tanh' (a smooth squash with width `scale`)"
            )
        s = _as_bound(scale, "scale", self.shape)
        if not (np.isfinite(s) & (s > 0)).all():
            raise ValueError(f"scale must be finite and > 0, got {scale!r}")
        self._all_affine = bool(affine.all())
        self._affine = affine
        self._both = ~finite_lo & ~finite_hi
        self._lo_only = finite_lo & ~finite_hi
        self._hi_only = ~finite_lo & finite_hi
        self._lo = np.where(finite_lo, lo, 0.0)
        self._hi = np.where(finite_hi, hi, 0.0)
        self._inv = np.where(affine, 1.0 / np.where(affine, hi - lo, 1.0), 0.0)
        self._scale = s
        # Fast path: one scalar range for every element (images: [0, 255] or [0, 1]).
        uniform = self._all_affine and lo.size > 0 and (lo == lo.flat[0]).all() and (hi == hi.flat[0]).all()
        self._scalar = (float(lo.flat[0]), float(1.0 / (hi.flat[0] - lo.flat[0]))) if uniform else None
        # the compiled path's float32 factor and shift (0: none), as the NumPy path rounds them
        self._kernel_args: tuple[np.float32, np.float32] | None = None if self._scalar is None else (
            np.float32(self._scalar[1]),
            np.float32(self._scalar[0] * self._scalar[1]) if self._scalar[0] != 0.0 else np.float32(0.0))
        self._lo32 = self._lo.astype(np.float32)
        self._inv32 = self._inv.astype(np.float32)
        self.low, self.high = lo, hi

    def __call__(self, obs: Any) -> np.ndarray:
        """Intensities in ``[0, 1]`` for one observation (a new float32 array).

        Raises:
            ValueError: an observation outside its space (a ``Discrete`` value out of range or
                not an int, a ``MultiBinary`` element other than 0/1, a NaN anywhere, a shape
                that is not the space's, a ``Box`` value outside given bounds with
                ``out_of_range="error"``); the message names the value.
        """
        if self._kind == "discrete":
            u = np.zeros(self.shape, np.float32)
            u[self._discrete_index(obs)] = 1.0
            return u
        x = np.asarray(obs)
        if x.shape != self.shape:
            raise ValueError(f"observation has shape {x.shape}, expected {self.shape}")
        if self._kind == "binary":
            if not ((x == 0) | (x == 1)).all():
                i = tuple(int(j) for j in np.argwhere((x != 0) & (x != 1))[0])
                raise ValueError(f"observation element {i} = {x[i]} of a MultiBinary space must be 0 or 1")
            return x.astype(np.float32)
        args = self._kernel_args
        if args is not None and self.out_of_range == "clip" and x.dtype in _KERNEL_DTYPES:
            kernels = compiled_kernels()
            if kernels is not None:  # the same float32 operations in one compiled pass (tested equal)
                u = np.empty(self.shape, np.float32)
                nan = kernels.scale_unit(x.reshape(-1), *args, u.reshape(-1))
                if nan >= 0:
                    i = tuple(int(j) for j in np.unravel_index(nan, self.shape))
                    raise ValueError(f"observation element {i} is {x[i]}; observations must not contain NaN")
                return u
        if self._scalar is not None:
            lo, inv = self._scalar
            u = np.multiply(x, np.float32(inv), dtype=np.float32)
            if lo != 0.0:
                u -= np.float32(lo * inv)
        elif self._all_affine:
            u = np.subtract(x, self._lo32, dtype=np.float32)
            u *= self._inv32
        else:
            u = self._mixed(x.astype(np.float64))
        if x.dtype.kind not in "biu":  # NaN passes every comparison: refused here, in both modes
            nan = np.isnan(u)
            if nan.any():
                i = tuple(int(j) for j in np.argwhere(nan)[0])
                raise ValueError(f"observation element {i} is {x[i]}; observations must not contain NaN")
        if self.out_of_range == "error":
            self._check_range(u, x)
        return np.clip(u, 0.0, 1.0, out=u)

    def _discrete_index(self, obs: Any) -> int:
        """The one-hot index of a ``Discrete(n, start)`` observation: an int in ``[start, start + n)``."""
        value = obs.item() if isinstance(obs, np.ndarray) and obs.shape == () else obs
        n, start = self.shape[0], self._start
        if not checks.is_int(value) or not start <= value < start + n:
            raise ValueError(f"observation {obs!r} is not in Discrete({n}, start={start}): expected an int in "
                             f"[{start}, {start + n - 1}]")
        return int(value) - start

    def _mixed(self, x: np.ndarray) -> np.ndarray:
        """Element-wise map for a Box with some unbounded dimensions (an infinite observation
        saturates; the branches not taken may hold NaN, which ``np.where`` drops)."""
        with np.errstate(invalid="ignore"):
            u = (x - self._lo) * self._inv
            z = x / self._scale
            u = np.where(self._both, 0.5 * (1.0 + np.tanh(z)), u)
            u = np.where(self._lo_only, np.tanh((x - self._lo) / self._scale), u)
            u = np.where(self._hi_only, 1.0 - np.tanh((self._hi - x) / self._scale), u)
        return u.astype(np.float32)

    def _check_range(self, u: np.ndarray, x: np.ndarray) -> None:
        outside = (u < -_TOL) | (u > 1.0 + _TOL)
        if outside.any():
            i = tuple(int(j) for j in np.argwhere(outside)[0])
            raise ValueError(
                f"observation element {i} = {x[i]} lies outside [low, high] = "
                f"[{self.low[i]}, {self.high[i]}] (out_of_range='error')"
            )

    def __repr__(self) -> str:
        return f"UnitScaler(kind={self._kind!r}, shape={self.shape}, out_of_range={self.out_of_range!r})"


def check_steps(steps: Any) -> int:
    """Check the time window ``T`` (an int >= 1)."""
    return checks.integer("steps", checks.integer("steps", steps, what="an int"), 1, what=">= 1")
