"""Connections between populations.

Every connection type implements the small :class:`AbstractConnection` interface:

* ``compute(s)``: synaptic input to the target for the source's spikes of one step;
* ``compute_sequence(s_seq)``: the same for many steps at once (used when the source's activity
  is known in advance and the weights do not change during a run);
* ``correlate(pre, post)``: for every weight, the sum over the synapses that share it of
  ``pre_i * post_j``, per batch element. A learning rule computes its weight change from
  these correlations of spikes and traces, so it never needs to know the connection's class;
* ``apply_update(dw)``: add a weight change and re-impose the constraints (mask, bounds).

Weights are a non-trainable ``nn.Parameter`` named ``weight`` (alias ``w``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from snnrl.learning.base import LearningRule
from snnrl.network.nodes import Nodes

__all__ = ["AbstractConnection", "clamp_"]



def _bound(name: str, value: float | Tensor, shape: tuple[int, ...]) -> float | Tensor:
    if isinstance(value, Tensor):
        try:
            torch.broadcast_shapes(value.shape, shape)
        except RuntimeError:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}, expected a scalar or a tensor broadcastable "
                f"to the weight shape {shape}"
            ) from None
        return value.float()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number or a tensor, got {value!r}")
    return float(value)


def clamp_(w: Tensor, lo: float | Tensor, hi: float | Tensor) -> Tensor:
    """Clamp ``w`` in place to ``[lo, hi]`` (scalars or broadcastable tensors); returns ``w``."""
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        lo_t = lo if isinstance(lo, Tensor) else torch.tensor(lo, dtype=w.dtype, device=w.device)
        hi_t = hi if isinstance(hi, Tensor) else torch.tensor(hi, dtype=w.dtype, device=w.device)
        return torch.clamp(w, min=lo_t.to(w.dtype), max=hi_t.to(w.dtype), out=w)
    if lo > -math.inf or hi < math.inf:
        w.clamp_(min=lo, max=hi)
    return w


class AbstractConnection(nn.Module, ABC):
    """Base class of connections (see the module docstring for the interface).

    Args:
        source: presynaptic population.
        target: postsynaptic population.
        wmin: lower weight bound (scalar or tensor broadcastable to the weights).
        wmax: upper weight bound.
        norm: if given, ``normalize()`` scales each target neuron's incoming absolute weights
            to sum to ``norm``.
        weight_decay: fraction of each weight removed per learning update.

    Subclasses take a ``rule`` argument (a :class:`snnrl.learning.LearningRule` or None) and call
    :meth:`set_rule` with it once their weights exist.
    """

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        *,
        wmin: float | Tensor = -math.inf,
        wmax: float | Tensor = math.inf,
        norm: float | None = None,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(source, Nodes) or not isinstance(target, Nodes):
            raise TypeError(
                f"source and target must be Nodes, got {type(source).__name__} and {type(target).__name__}"
            )
        if norm is not None and not norm > 0:
            raise ValueError(f"norm must be > 0 or None, got {norm!r}")
        if not 0.0 <= weight_decay < 1.0:
            raise ValueError(f"weight_decay must be in [0, 1), got {weight_decay!r}")
        # Plain references, not submodules: the network owns the layers (no duplicate state_dict entries).
        self.__dict__["source"] = source
        self.__dict__["target"] = target
        self.norm = norm
        self.weight_decay = float(weight_decay)
        self.rule: LearningRule | None = None
        self._wmin_raw, self._wmax_raw = wmin, wmax

    # ------------------------------------------------------------ the interface
    weight: nn.Parameter

    @property
    def w(self) -> Tensor:
        """The weights (alias of ``weight``)."""
        return self.weight

    @abstractmethod
    def compute(self, s: Tensor) -> Tensor:
        """Synaptic input to the target for one step of source activity.

        Shape:
            ``s``: ``(B, *source.shape)``; output ``(B, *target.shape)``.
        """

    def compute_sequence(self, s: Tensor) -> Tensor:
        """Synaptic input for ``T`` steps of source activity with fixed weights.

        Shape:
            ``s``: ``(T, B, *source.shape)``; output ``(T, B, *target.shape)``.
        """
        t, b = s.shape[:2]
        return self.compute(s.reshape(t * b, *s.shape[2:])).view(t, b, *self.target.shape)

    @abstractmethod
    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """Per-weight correlation ``sum_{synapses of w} pre_i * post_j`` for each batch element.

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``;
            output ``(B, *weight.shape)``.
        """

    def apply_update(self, dw: Tensor) -> None:
        """Add ``dw`` to the weights, then apply weight decay and the constraints.

        Shape:
            ``dw``: ``weight.shape``.
        """
        w = self.weight.data
        w.add_(dw)
        if self.weight_decay:
            w.mul_(1.0 - self.weight_decay)
        self.constrain()

    def constrain(self) -> None:
        """Impose weight bounds (and, in subclasses, masks) on the weights in place."""
        clamp_(self.weight.data, self.wmin, self.wmax)

    def normalize(self) -> None:
        """Scale incoming weights so that each target neuron's absolute weights sum to ``norm``."""

    def set_rule(self, rule: LearningRule | None) -> None:
        """Attach (or, with None, remove) the learning rule."""
        if rule is not None and not isinstance(rule, LearningRule):
            raise TypeError(f"rule must be a LearningRule instance, got {type(rule).__name__}")
        self.rule = rule
        if rule is not None:
            rule.bind(self)

    def reset_state_variables(self) -> None:
        """Reset per-run state: the learning rule's traces and eligibility."""
        if self.rule is not None:
            self.rule.reset_state_variables()

    @property
    def state_names(self) -> tuple[str, ...]:
        """Recordable variables of this connection."""
        return ("w", "weight", *tuple(name for name, _ in self.named_buffers(recurse=False)))

    def _init_bounds(self, shape: tuple[int, ...]) -> None:
        self.wmin = _bound("wmin", self._wmin_raw, shape)
        self.wmax = _bound("wmax", self._wmax_raw, shape)
        if not isinstance(self.wmin, Tensor) and not isinstance(self.wmax, Tensor) and self.wmin > self.wmax:
            raise ValueError(f"wmin={self.wmin} is greater than wmax={self.wmax}")
        for name in ("wmin", "wmax"):
            if isinstance(getattr(self, name), Tensor):
                value = getattr(self, name)
                delattr(self, name)
                self.register_buffer(name, value)
        del self._wmin_raw, self._wmax_raw

    def _initial_weights(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        """BindsNET's default: ``U(wmin, wmax)`` when both bounds are finite scalars, else
        ``U(0, 1)`` clamped to the bounds."""
        u = torch.rand(shape, generator=generator)
        lo, hi = self.wmin, self.wmax
        if not isinstance(lo, Tensor) and not isinstance(hi, Tensor) and math.isfinite(lo) and math.isfinite(hi):
            return lo + (hi - lo) * u
        return clamp_(u, lo, hi)


