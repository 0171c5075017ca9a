r"""The third factor of three-factor learning: one type, checked once by the network.

A three-factor rule changes a weight by eligibility times a *modulator*. The modulator that
reaches a rule (``rule.step(connection, reward)``, ``rule.deliver(connection, modulator)``) is a
:data:`Modulator`:

* a number: the same value for every batch element and every neuron (the cheap special case);
* a ``(B,)`` tensor: one value per batch element (per environment of a vector env);
* a ``(B, *target.shape)`` tensor: one value per batch element and per target neuron, a
  *neuron-specific learning signal* (e-prop's ``L_j`` times the TD error, or a per-action error
  fed back to the output population).

``Network.deliver_reward(m, signals={layer: L})`` builds the last form: every plastic connection
whose target layer has a learning signal ``L`` ``(B, *layer.shape)`` receives ``m_b L_b``, the
others receive ``m``. :func:`check_modulator` and :func:`check_signal` are the only validation;
rules receive values that passed them (a rule called directly checks shapes itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import all_finite

__all__ = ["Modulator", "check_modulator", "check_signal", "is_per_neuron", "with_signal"]

Modulator = float | Tensor
"""A number, a ``(B,)`` tensor, or a ``(B, *target.shape)`` tensor (see the module docstring)."""


def check_modulator(value: object, batch_size: int, *, name: str = "reward") -> float | Tensor:
    """Validate a global modulator: a finite number, a 0-d tensor or a ``(B,)`` tensor.

    A 0-d or one-element CPU tensor becomes a float (the cheap path for rules); a ``(B,)``
    tensor stays a tensor.

    Raises:
        ValueError: naming ``name``, the bad value or shape and what was expected.

    Shape:
        ``value``: ``()`` or ``(B,)``.
    """
    if isinstance(value, Tensor):
        if value.dim() > 1 or (value.dim() == 1 and value.shape[0] != batch_size):
            raise ValueError(f"{name} must be a scalar or a (B,) tensor, B={batch_size}; got shape "
                             f"{tuple(value.shape)}")
        if value.is_cpu and value.numel() == 1 and (value.dim() == 0 or batch_size == 1):
            v = float(value.reshape(()))
            if not math.isfinite(v):
                raise ValueError(f"{name} contains NaN or infinite values")
            return v
        if not all_finite(value):
            raise ValueError(f"{name} contains NaN or infinite values")
        return value.float() if not value.is_floating_point() else value
    return checks.finite(name, value, what="a finite number or a tensor")


def check_signal(value: object, batch_size: int, shape: Sequence[int], *, name: str) -> Tensor:
    """Validate a neuron-specific learning signal for a layer of ``shape``.

    Shape:
        ``value``: ``(B, *shape)`` or ``(B, n)`` with ``n = prod(shape)``; output ``(B, *shape)``.
    """
    full = (batch_size, *shape)
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be a tensor of shape {full}, got {type(value).__name__}")
    if tuple(value.shape) != full:
        if value.dim() == 2 and value.shape[0] == batch_size and value.shape[1] == math.prod(shape):
            value = value.reshape(full)
        else:
            raise ValueError(f"{name} must have shape (B, *layer.shape) = {full}, got {tuple(value.shape)}")
    if not value.is_floating_point():
        value = value.float()
    if not all_finite(value):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def with_signal(modulator: float | Tensor, signal: Tensor) -> Tensor:
    """``m_b L_b``: the global modulator (a number or ``(B,)``) times a learning signal.

    Shape:
        ``modulator``: ``()`` or ``(B,)``; ``signal``: ``(B, *shape)``; output ``(B, *shape)``.
    """
    if isinstance(modulator, Tensor):
        m = modulator.to(signal.dtype).reshape(-1, *([1] * (signal.dim() - 1)))
        return signal * m
    return signal * modulator


def is_per_neuron(modulator: float | Tensor | None) -> bool:
    """Whether ``modulator`` is neuron-specific (a tensor with more than the batch dimension)."""
    return isinstance(modulator, Tensor) and modulator.dim() > 1
