r"""Reward signals: what an environment's reward becomes before it modulates plasticity.

A three-factor rule multiplies its eligibility by the network's ``reward`` (a number, or a
``(B,)`` tensor with one value per batch element). A :class:`RewardSignal` turns the
environment's reward into that modulator. The pipeline calls, for every environment step,
``modulator = signal.step(reward, ...)`` and passes ``modulator`` to ``network.run(...,
reward=modulator)``; at episode boundaries it calls ``signal.end_episode(mask)`` (``mask``
``(B,)`` selects the batch elements whose episode ended; None: all).

* :class:`RawReward`: the reward itself (optionally scaled).
* :class:`MovingAverageRPE`: reward-prediction error ``r - r̄``, with ``r̄`` an exponential
  moving average of the reward per step, updated once per episode (BindsNET's ``MovingAvgRPE``)
  or every step.
* :class:`TDError`: the temporal-difference error ``δ = r + gamma V(s') - V(s)`` for a learned value
  estimate ``V`` supplied by the caller (e.g. a critic read out from the network); ``δ`` then
  modulates both the actor's and the critic's plasticity.

Numbers in, numbers out: a float reward gives a float modulator (the cheap path for rules);
a ``(B,)`` tensor gives a ``(B,)`` tensor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from snnrl import _checks as checks
from snnrl._tensors import all_finite
from snnrl.registry import register

__all__ = ["MovingAverageRPE", "RawReward", "RewardSignal", "TDError"]

Reward = float | Tensor


def _check(name: str, value: object, allow_none: bool = False) -> Reward | None:
    if value is None and allow_none:
        return None
    if isinstance(value, Tensor):
        if value.dim() > 1:
            raise ValueError(f"{name} must be a number or a (B,) tensor, got shape {tuple(value.shape)}")
        if not all_finite(value):
            raise ValueError(f"{name} contains NaN or infinite values")
        return value.float() if not value.is_floating_point() else value
    return checks.finite(name, value, what="a finite number or a tensor")


def _as_output(x: Tensor, like: Reward) -> Reward:
    return float(x) if not isinstance(like, Tensor) else x


class RewardSignal(nn.Module, ABC):
    """Base class of reward signals (see the module docstring).

    State (baselines, accumulators) is kept in buffers, so it is saved with ``state_dict``.
    """

    @abstractmethod
    def step(self, reward: Reward, *, value: Reward | None = None, next_value: Reward | None = None,
             terminated: bool | Tensor = False) -> Reward:
        """The modulator for the environment step that produced ``reward``.

        Args:
            reward: the environment's reward: a number or a ``(B,)`` tensor.
            value: ``V(s_t)``, the value estimate of the state the action was taken in (used
                by :class:`TDError`, ignored by the others).
            next_value: ``V(s_{t+1})`` (idem).
            terminated: whether ``s_{t+1}`` is terminal (no bootstrap); a bool or ``(B,)``.
        """

    def end_episode(self, mask: Tensor | None = None) -> None:
        """Called when episodes end (all batch elements, or those where ``mask`` is True)."""

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Forget per-episode state (not learned baselines)."""

    def forward(self, reward: Reward) -> Reward:
        """Same as ``step(reward)``."""
        return self.step(reward)


@register("reward")
class RawReward(RewardSignal):
    """The reward itself, times ``scale``.

    Args:
        scale: factor applied to the reward.
    """

    def __init__(self, *, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(_check("scale", scale))  # type: ignore[arg-type]

    def step(self, reward: Reward, *, value: Reward | None = None, next_value: Reward | None = None,
             terminated: bool | Tensor = False) -> Reward:
        r = _check("reward", reward)
        return r * self.scale if self.scale != 1.0 else r  # type: ignore[operator,return-value]


@register("reward")
class MovingAverageRPE(RewardSignal):
    r"""Reward-prediction error: ``δ_t = r_t - r̄`` with a moving-average prediction ``r̄``.

    ``update="episode"`` (default, as BindsNET's ``MovingAvgRPE``): at the end of an episode
    ``r̄ <- r̄ + (mean reward per step of the episode - r̄) / window``. ``update="step"``:
    after every step ``r̄ <- r̄ + (r_t - r̄) / window``.

    With a ``(B,)`` reward there is one prediction per batch element (one per environment of a
    vector env) unless ``shared=True``, where one prediction is learned from all of them.
    The per-element state is sized by the first ``(B,)`` reward and re-sized (zeroed) when the
    batch size changes.

    Args:
        window: averaging window ``W >= 1`` (episodes or steps).
        update: ``"episode"`` or ``"step"``.
        shared: one prediction for all batch elements.

    Attributes:
        baseline: the prediction ``r̄`` (a 0-d or ``(B,)`` tensor).
    """

    UPDATES = ("episode", "step")
    # buffers (annotated for type checkers: nn.Module.__getattr__ is untyped)
    baseline: Tensor
    episode_sum: Tensor
    episode_steps: Tensor

    def __init__(self, *, window: float = 10.0, update: str = "episode", shared: bool = False) -> None:
        super().__init__()
        window = checks.in_range("window", float(_check("window", window)), 1)  # type: ignore[arg-type]
        checks.choice("update", update, self.UPDATES)
        checks.boolean("shared", shared)
        self.window = window
        self.update = update
        self.shared = shared
        self.register_buffer("baseline", torch.zeros(()))
        self.register_buffer("episode_sum", torch.zeros(()))
        self.register_buffer("episode_steps", torch.zeros(()))

    def _fit(self, shape: torch.Size) -> None:
        if self.episode_sum.shape != shape:
            self.episode_sum = torch.zeros(shape, device=self.baseline.device)
            self.episode_steps = torch.zeros(shape, device=self.baseline.device)
            if not self.shared:
                self.baseline = torch.zeros(shape, device=self.baseline.device)

    def step(self, reward: Reward, *, value: Reward | None = None, next_value: Reward | None = None,
             terminated: bool | Tensor = False) -> Reward:
        r = _check("reward", reward)
        rt = r.to(self.baseline.device, self.baseline.dtype) if isinstance(r, Tensor) else torch.tensor(r)
        self._fit(rt.shape)
        delta = rt - self.baseline
        self.episode_sum += rt
        self.episode_steps += 1
        if self.update == "step":
            target = rt.mean() if self.shared else rt
            self.baseline += (target - self.baseline) / self.window
        return _as_output(delta, r)  # type: ignore[arg-type]

    def end_episode(self, mask: Tensor | None = None) -> None:
        steps = self.episode_steps
        if mask is None:
            mask = torch.ones(steps.shape, dtype=torch.bool, device=steps.device)
        elif mask.shape != steps.shape:
            raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {tuple(steps.shape)}")
        done = mask & (steps > 0)
        if self.update == "episode" and bool(done.any()):
            mean = self.episode_sum / steps.clamp(min=1)
            if self.shared:
                self.baseline += (mean[done].mean() - self.baseline) / self.window
            else:
                self.baseline = torch.where(done, self.baseline + (mean - self.baseline) / self.window,
                                            self.baseline)
        self.reset_state_variables(mask)

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        """Clear the episode accumulators (the learned prediction stays)."""
        if mask is None:
            self.episode_sum.zero_()
            self.episode_steps.zero_()
        else:
            self.episode_sum = self.episode_sum.masked_fill(mask, 0.0)
            self.episode_steps = self.episode_steps.masked_fill(mask, 0.0)


@register("reward")
class TDError(RewardSignal):
    r"""Temporal-difference error of a learned value estimate:

    .. math:: \delta_t = r_t + \gamma\,(1 - \text{terminated}_t)\,V(s_{t+1}) - V(s_t)

    The value estimate is the caller's (a critic population's rate, a linear readout, ...):
    pass ``value=V(s_t)`` and ``next_value=V(s_{t+1})`` to :meth:`step`. The same ``δ`` is the
    modulator of the actor's rules and the learning signal of the critic (Frémaux et al. 2013);
    the last one is kept in ``last_error``.

    Args:
        gamma: discount factor in ``[0, 1]``.
    """

    def __init__(self, *, gamma: float = 0.99) -> None:
        super().__init__()
        self.gamma = checks.in_range("gamma", float(_check("gamma", gamma)), 0, 1)  # type: ignore[arg-type]
        self.last_error: Reward | None = None

    def step(self, reward: Reward, *, value: Reward | None = None, next_value: Reward | None = None,
             terminated: bool | Tensor = False) -> Reward:
        r = _check("reward", reward)
        v = _check("value", value, allow_none=True)
        nv = _check("next_value", next_value, allow_none=True)
        if v is None or nv is None:
            raise ValueError("TDError.step needs value=V(s_t) and next_value=V(s_{t+1})")
        if isinstance(terminated, Tensor):
            keep = (~terminated.bool()).to(r.dtype if isinstance(r, Tensor) else torch.float32)
        elif isinstance(terminated, bool):
            keep = 0.0 if terminated else 1.0
        else:
            raise ValueError(f"terminated must be a bool or a bool tensor, got {terminated!r}")
        delta = r + self.gamma * keep * nv - v  # type: ignore[operator]
        if isinstance(delta, Tensor) and not any(isinstance(x, Tensor) and x.dim() for x in (r, v, nv, keep)):
            delta = delta.reshape(())
        if isinstance(delta, Tensor) and not isinstance(r, Tensor) and delta.dim() == 0:
            delta = float(delta)
        self.last_error = delta
        return delta

    def reset_state_variables(self, mask: Tensor | None = None) -> None:
        self.last_error = None
