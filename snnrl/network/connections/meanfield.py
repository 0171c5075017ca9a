"""Mean-field connection: one weight shared by every (source, target) pair."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl.network.connections.base import AbstractConnection, WeightLayout, check_endpoints
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity
from snnrl.registry import register

__all__ = ["MeanFieldConnection"]


@register("connection")
class MeanFieldConnection(AbstractConnection):
    """Mean-field connection: every pair ``(i, j)`` has the same weight, so each target neuron
    receives ``w * sum_i s_i`` (or ``w_j * sum_i s_i`` with one weight per target neuron).

    Unlike BindsNET's version (``s.mean() * w``, averaged over the batch as well), the input is
    the sum over the source of each batch element separately; scale ``w`` by ``1 / source.n``
    for a mean.

    Args:
        source: presynaptic population.
        target: postsynaptic population.
        w: the weight: a number, a 0-d tensor, or a tensor of ``target.shape`` (one weight per
            target neuron, shared by all its incoming pairs); default: one number drawn as
            :meth:`AbstractConnection._initial_weights`.
        wmin, wmax, weight_decay: see :class:`AbstractConnection`.
        norm: if given, the weights are scaled so that each target neuron's incoming absolute
            weights, ``source.n * |w|``, sum to ``norm``.
        dale: a 0-d bool tensor: True if the source is excitatory (``w >= 0``), False if
            inhibitory (``w <= 0``).
        delay: delay in steps (an int >= 0).
        generator: random source for the default weight.
        rule: learning rule.

    Shape:
        source ``(B, *source.shape)`` -> target ``(B, *target.shape)``; ``weight``: ``()`` or
        ``target.shape``; ``correlate`` output ``(B, *weight.shape)``.
    """

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        w: float | Tensor | None = None,
        *,
        wmin: float | Tensor = -math.inf,
        wmax: float | Tensor = math.inf,
        norm: float | None = None,
        weight_decay: float = 0.0,
        dale: Tensor | None = None,
        delay: int = 0,
        generator: torch.Generator | None = None,
        rule: Plasticity | None = None,
    ) -> None:
        check_endpoints(source, target)
        per_target = isinstance(w, Tensor) and w.dim() > 0
        if isinstance(w, Tensor) and per_target and tuple(w.shape) != tuple(target.shape):
            raise ValueError(f"w has shape {tuple(w.shape)}, expected () or target.shape = {target.shape}")
        if checks.is_real(w):
            w = torch.tensor(checks.finite("w", w, what="finite"))
        elif w is not None and not isinstance(w, Tensor):
            raise TypeError(f"w must be a number, a tensor or None, got {type(w).__name__}")
        super().__init__(source, target, w, wmin=wmin, wmax=wmax, norm=norm, weight_decay=weight_decay, dale=dale,
                         delay=delay, generator=generator, rule=rule, per_target=per_target)

    def _layout(self, per_target: bool) -> WeightLayout:
        shape = tuple(self.target.shape) if per_target else ()
        return WeightLayout(shape, "() or target.shape", [()], "source population (a 0-d tensor)", lambda sign: sign)

    def _propagate(self, s: Tensor) -> Tensor:
        w = self._parameters["weight"]
        batch = s.shape[0]
        total = s.reshape(batch, -1).sum(1, dtype=w.dtype)
        shape = self.target.shape
        return total.view(batch, *([1] * len(shape))) * w.expand(shape)

    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """Sum over all pairs of ``pre_i * post_j`` (``sum_i pre_i * sum_j post_j``), or over the
        pairs of each target neuron (``sum_i pre_i * post_j``) with per-target weights.

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``; output
            ``(B,)`` or ``(B, *target.shape)``.
        """
        w = self.weight
        b = pre.shape[0]
        total = pre.reshape(b, -1).sum(1, dtype=w.dtype)
        if w.dim() == 0:
            return total * post.reshape(b, -1).sum(1, dtype=w.dtype)
        return total.view(b, *([1] * w.dim())) * post.to(w.dtype)

    def normalize(self) -> None:
        """Set ``|w| = norm / source.n`` (each target neuron's incoming weights then sum to ``norm``;
        a zero weight stays zero)."""
        if self.norm is None:
            return
        w = self.weight.data
        w.copy_(torch.sign(w) * (self.norm / self.source.n))

    def extra_repr(self) -> str:
        return f"{self.source.n} -> {self.target.n}, weight shape {tuple(self.weight.shape)}, delay={self.delay}"
