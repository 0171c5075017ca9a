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
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnrl.network.nodes import Nodes

__all__ = ["AbstractConnection", "Connection"]

#: Below this many synapses the dense product is always used (the gather costs more than it saves).
_GATHER_MIN_SYNAPSES = 1 << 14


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
        self.rule: Any = None
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

    def reset_state_variables(self) -> None:
        """Reset any per-run state of the connection (none for dense connections)."""

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
