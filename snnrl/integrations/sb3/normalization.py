r"""Observation statistics of models trained with stable-baselines3's ``VecNormalize``.

Many RL Zoo models were trained on observations normalised by ``VecNormalize`` and kept the
running statistics in ``vecnormalize.pkl`` beside the model; the policy only ever saw

.. math::
    \hat o = \mathrm{clip}\big((o - \mu) / \sqrt{\sigma^2 + \epsilon},\ -c,\ c\big)

(``VecNormalize.normalize_obs``: float64 arithmetic, then ``float32``), so both the ANN and the
converted SNN must see the same. :class:`ObsNormalization` holds ``mu``, ``sigma^2``, ``epsilon``
and ``c`` (``clip_obs``) as plain data and applies them exactly as SB3 does;
:class:`NormalizedModel` puts them in front of an SB3 model, so that its ``predict`` takes the
environment's raw observations like the converted policy does. Reading the file is
:func:`snnrl.integrations.sb3.read_vecnormalize`.

**Folding.** Without the clip the normalisation is affine, ``diag(1/s) (o - mu)``, and folds into
the first ``Linear`` layer: ``W' = W diag(1/s)``, ``b' = b - W (mu / s)`` (exact in real
arithmetic; the float32 results differ from SB3's two-step computation by rounding only). The clip
is then a no-op exactly when no observation can leave ``[mu - c s, mu + c s]``: the conversion folds
only when the observation space is bounded and its bounds lie inside that interval in every
dimension (:meth:`ObsNormalization.clip_can_bind`), and otherwise keeps the normalisation, clip
included, as an input transform of the converted policy, computed like SB3 before the network.

This module needs only numpy and torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["NormalizedModel", "ObsNormalization"]


@dataclass(frozen=True, eq=False)
class ObsNormalization:
    """``VecNormalize``'s observation statistics: ``clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``.

    Args:
        mean: running mean of the observations (float64, the observation shape).
        var: running variance (same shape, ``>= 0``).
        epsilon: added to ``var`` (SB3's default 1e-8).
        clip_obs: the bound of the normalised observations (SB3's default 10).

    Raises:
        ValueError: shapes that differ, non-finite statistics, a negative variance, ``epsilon < 0``
            or ``clip_obs <= 0`` (the message names the value).
    """

    mean: np.ndarray
    var: np.ndarray
    epsilon: float = 1e-8
    clip_obs: float = 10.0

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        var = np.asarray(self.var, dtype=np.float64)
        if mean.shape != var.shape:
            raise ValueError(f"mean has shape {mean.shape} but var has shape {var.shape}; expected the same shape")
        if not (np.isfinite(mean).all() and np.isfinite(var).all()):
            raise ValueError("mean and var must be finite; the statistics hold NaN or inf")
        if (var < 0).any():
            raise ValueError(f"var must be >= 0, got a minimum of {float(var.min())}")
        if not (np.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        if not (np.isfinite(self.clip_obs) and self.clip_obs > 0):
            raise ValueError(f"clip_obs must be a finite number > 0, got {self.clip_obs!r}")
        if float(np.min(var + self.epsilon, initial=1.0)) <= 0:
            raise ValueError("var + epsilon must be > 0 (a constant observation needs epsilon > 0)")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "var", var)
        object.__setattr__(self, "epsilon", float(self.epsilon))
        object.__setattr__(self, "clip_obs", float(self.clip_obs))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one observation."""
        return tuple(self.mean.shape)

    @property
    def scale(self) -> np.ndarray:
        """``sqrt(var + epsilon)``, float64."""
        return np.sqrt(self.var + self.epsilon)

    def __call__(self, observation: Any) -> np.ndarray:
        """Normalise raw observations exactly as ``VecNormalize.normalize_obs`` does.

        Shape:
            ``observation``: ``shape`` or ``(B, *shape)``; output the same, float32.
        """
        obs = np.asarray(observation)
        if obs.shape != self.shape and obs.shape[1:] != self.shape:
            raise ValueError(f"observation has shape {obs.shape}, expected {self.shape} or (B, *{self.shape}) "
                             "(the VecNormalize statistics' shape)")
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip_obs,
                       self.clip_obs).astype(np.float32)

    def clip_can_bind(self, low: Any, high: Any) -> bool:
        """Whether an observation within ``[low, high]`` (the observation space) can be clipped."""
        lo = np.broadcast_to(np.asarray(low, dtype=np.float64), self.shape)
        hi = np.broadcast_to(np.asarray(high, dtype=np.float64), self.shape)
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            return True
        reach = np.maximum(np.abs(lo - self.mean), np.abs(hi - self.mean)) / self.scale
        return bool((reach > self.clip_obs).any())

    def fold(self, linear: nn.Linear) -> nn.Linear:
        """A new ``Linear`` equal to ``linear`` applied to the normalised (unclipped) input.

        ``W' = W diag(1/s)``, ``b' = b - W (mean / s)`` with ``s = sqrt(var + epsilon)``, computed in
        float64 and stored in ``linear``'s dtype.
        """
        n = int(np.prod(self.shape))
        if linear.in_features != n:
            raise ValueError(f"cannot fold statistics of {n} values into {linear} ({linear.in_features} inputs)")
        w = linear.weight.detach().double().cpu()
        b = linear.bias.detach().double().cpu() if linear.bias is not None else torch.zeros(w.shape[0],
                                                                                          dtype=torch.float64)
        inv = torch.from_numpy(1.0 / self.scale.reshape(-1))
        shift = torch.from_numpy(self.mean.reshape(-1)) * inv
        folded = nn.Linear(linear.in_features, linear.out_features, bias=True, dtype=linear.weight.dtype)
        with torch.no_grad():
            folded.weight.copy_(w * inv)
            folded.bias.copy_(b - w @ shift)
        return folded.requires_grad_(False)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints' metadata); :meth:`from_dict` reads it back exactly."""
        return {"shape": list(self.shape), "mean": self.mean.ravel().tolist(), "var": self.var.ravel().tolist(),
                "epsilon": self.epsilon, "clip_obs": self.clip_obs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObsNormalization:
        """The statistics written by :meth:`as_dict`."""
        try:
            shape = tuple(int(d) for d in data["shape"])
            return cls(np.asarray(data["mean"], dtype=np.float64).reshape(shape),
                       np.asarray(data["var"], dtype=np.float64).reshape(shape), float(data["epsilon"]),
                       float(data["clip_obs"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"bad observation statistics {dict(data)!r}: {e}") from None


class NormalizedModel:
    """An SB3 model and the ``VecNormalize`` statistics it was trained with.

    :meth:`predict` takes the environment's raw observations and normalises them before the
    model decides, as ``VecNormalize`` did during training, so the model can be evaluated,
    compared and converted on raw observations like a model trained without normalisation.

    Args:
        model: the SB3 model (``DQN``, ``PPO``, ...).
        normalization: its observation statistics.
        source: where the statistics were read from (for reports).

    Raises:
        ValueError: statistics whose shape is not the model's observation shape.
    """

    def __init__(self, model: Any, normalization: ObsNormalization, source: str | None = None) -> None:
        space = getattr(model, "observation_space", None)
        shape = tuple(getattr(space, "shape", None) or ())
        if space is not None and shape != normalization.shape:
            raise ValueError(f"the VecNormalize statistics have shape {normalization.shape} but the model's "
                             f"observations have shape {shape}: they belong to another model")
        self.model = model
        self.normalization = normalization
        self.source = source

    @property
    def policy(self) -> Any:
        """The model's policy."""
        return self.model.policy

    @property
    def observation_space(self) -> Any:
        """The model's observation space (raw observations, before normalisation)."""
        return self.model.observation_space

    @property
    def action_space(self) -> Any:
        """The model's action space."""
        return self.model.action_space

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, Any]:
        """SB3's ``predict`` on raw observations (normalised here first)."""
        return self.model.predict(self.normalization(observation), state, episode_start, deterministic)

    def __repr__(self) -> str:
        where = f", source={self.source!r}" if self.source else ""
        return f"NormalizedModel({type(self.model).__name__}{where})"
