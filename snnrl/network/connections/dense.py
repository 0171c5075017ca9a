"""Dense all-to-all connection."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnrl.learning.base import LearningRule
from snnrl.network.connections.base import AbstractConnection
from snnrl.network.nodes import Nodes
from snnrl.registry import register

__all__ = ["Connection"]

#: Below this many synapses the dense product is always used (the gather costs more than it saves).
_GATHER_MIN_SYNAPSES = 1 << 14


@register("connection")
class Connection(AbstractConnection):
    """Dense all-to-all connection: ``I = s @ W (+ b)``.

    On CPU, when the source emits boolean spikes and few of them are active, only the weight
    rows of active neurons are summed (``embedding_bag``), which is much cheaper than the dense
    product at the low firing rates typical of SNNs. On GPU the dense product is always used.

    Args:
        source: presynaptic population.
        target: postsynaptic population.
        w: initial weights ``(source.n, target.n)``; default as :meth:`_initial_weights`.
        b: bias added to every step's input, ``(target.n,)``, or None.
        wmin, wmax, norm, weight_decay: see :class:`AbstractConnection`.
        mask: boolean ``(source.n, target.n)``; ``True`` where a synapse exists. Absent
            synapses are held at zero weight.
        sparse_threshold: the row-gather path is used while the fraction of active source
            neurons is at most this.
        generator: random source for the default weight initialisation.
        rule: learning rule (see :class:`AbstractConnection`).

    Shape:
        ``weight``: ``(source.n, target.n)``.
    """

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        w: Tensor | None = None,
        *,
        b: Tensor | None = None,
        wmin: float | Tensor = -math.inf,
        wmax: float | Tensor = math.inf,
        norm: float | None = None,
        mask: Tensor | None = None,
        weight_decay: float = 0.0,
        sparse_threshold: float = 0.2,
        generator: torch.Generator | None = None,
        rule: LearningRule | None = None,
    ) -> None:
        super().__init__(source, target, wmin=wmin, wmax=wmax, norm=norm, weight_decay=weight_decay)
        shape = (source.n, target.n)
        self._init_bounds(shape)
        if w is None:
            w = self._initial_weights(shape, generator)
        elif not isinstance(w, Tensor) or tuple(w.shape) != shape:
            got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"w has shape {got}, expected (source.n, target.n) = {shape}")
        elif not w.is_floating_point():
            raise TypeError(f"w must be a floating-point tensor, got dtype {w.dtype}")
        elif not torch.isfinite(w).all():
            raise ValueError("w contains NaN or infinite values")
        self.weight = nn.Parameter(w.detach().clone(), requires_grad=False)
        if b is not None:
            if not isinstance(b, Tensor) or tuple(b.shape) != (target.n,):
                got = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"b has shape {got}, expected (target.n,) = ({target.n},)")
            b = nn.Parameter(b.detach().to(self.weight.dtype).clone(), requires_grad=False)
        self.register_parameter("bias", b)
        if mask is not None:
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != shape:
                got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
                raise ValueError(f"mask must be a bool tensor of shape {shape}, got {got}")
            self.register_buffer("mask", mask.clone())
        else:
            self.mask = None
        if not 0.0 <= sparse_threshold <= 1.0:
            raise ValueError(f"sparse_threshold must be in [0, 1], got {sparse_threshold!r}")
        self.sparse_threshold = float(sparse_threshold)
        self.constrain()
        if norm is not None:
            self.normalize()

        self.__dict__["_out_shape"] = target.shape
        self.__dict__["_gather"] = self.weight.numel() >= _GATHER_MIN_SYNAPSES
        self.set_rule(rule)

    def compute(self, s: Tensor) -> Tensor:
        """Synaptic input ``s @ W + b``.

        Shape:
            ``s``: ``(B, *source.shape)``; output ``(B, *target.shape)``.
        """
        batch = s.shape[0]
        flat = s if s.dim() == 2 else s.reshape(batch, -1)
        w = self._parameters["weight"]
        out = None
        if self._gather and flat.dtype == torch.bool and flat.is_cpu:
            nz = flat.nonzero()
            if nz.shape[0] <= self.sparse_threshold * flat.numel():
                if batch == 1:
                    offsets = torch.zeros(1, dtype=torch.long)
                else:
                    offsets = torch.searchsorted(nz[:, 0].contiguous(), torch.arange(batch))
                out = F.embedding_bag(nz[:, 1], w, offsets, mode="sum")
        if out is None:
            out = torch.mm(flat.to(w.dtype), w)
        bias = self._parameters["bias"]
        if bias is not None:
            out = out + bias
        shape = self._out_shape
        return out if len(shape) == 1 else out.view(batch, *shape)

    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """Outer product per batch element.

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``; output
            ``(B, source.n, target.n)``.
        """
        b = pre.shape[0]
        dtype = self.weight.dtype
        return torch.einsum("bi,bj->bij", pre.reshape(b, -1).to(dtype), post.reshape(b, -1).to(dtype))

    def constrain(self) -> None:
        """Bounds, then the structural mask (absent synapses stay at zero)."""
        super().constrain()
        if self.mask is not None:
            self.weight.data.masked_fill_(~self.mask, 0.0)

    def normalize(self) -> None:
        """Scale each target neuron's incoming weights so their absolute values sum to ``norm``."""
        if self.norm is None:
            return
        w = self.weight.data
        total = w.abs().sum(0, keepdim=True)
        w.mul_(self.norm / total.masked_fill_(total == 0, 1.0))

    def extra_repr(self) -> str:
        return f"{self.source.n} -> {self.target.n}, bias={self.bias is not None}, norm={self.norm}"
