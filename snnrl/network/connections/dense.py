"""Dense all-to-all connection."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from snnrl._tensors import as_dtype
from snnrl.network.connections.base import AbstractConnection, WeightLayout
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity
from snnrl.registry import register

__all__ = ["Connection"]

#: Below this many synapses the dense product is always used (the gather costs more than it saves).
_GATHER_MIN_SYNAPSES = 1 << 14


@register("connection")
class Connection(AbstractConnection):
    """Dense all-to-all connection: ``I = s @ (W * intensity) (+ b)``.

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
        dale: Dale's rule, a bool tensor ``(source.n,)`` or ``source.shape``: True where the
            presynaptic neuron is excitatory (its outgoing weights are kept ``>= 0``), False
            where it is inhibitory (``<= 0``). Default weights take these signs.
        delay: steps each spike takes to arrive: an int for the whole connection, or an integer
            tensor ``(source.n, target.n)``, one delay per synapse.
        probability: chance that a synapse transmits a given spike (scalar or tensor
            broadcastable to the weights); None (the default) always transmits. Drawn from
            ``generator`` independently per synapse, step and batch element.
        intensity: multiplier of each synapse's transmission (scalar or tensor broadcastable
            to the weights); learning changes ``weight``, never ``intensity``.
        sparse_threshold: the row-gather path is used while the fraction of active source
            neurons is at most this.
        generator: random source for the default weight initialisation and the transmission
            draws (on the connection's device).
        rule: learning rule (see :class:`AbstractConnection`).

    Shape:
        source ``(B, *source.shape)`` -> target ``(B, *target.shape)``;
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
        dale: Tensor | None = None,
        delay: int | Tensor = 0,
        probability: float | Tensor | None = None,
        intensity: float | Tensor = 1.0,
        sparse_threshold: float = 0.2,
        generator: torch.Generator | None = None,
        rule: Plasticity | None = None,
    ) -> None:
        super().__init__(source, target, w, b=b, wmin=wmin, wmax=wmax, norm=norm, mask=mask, weight_decay=weight_decay,
                         dale=dale, delay=delay, probability=probability, intensity=intensity, generator=generator,
                         rule=rule, sparse_threshold=sparse_threshold)
        self.__dict__["_plain"] = not self.stochastic and not isinstance(self.intensity, Tensor)

    def _layout(self, sparse_threshold: float) -> WeightLayout:
        source, target = self.source, self.target
        self._set_sparse_threshold(sparse_threshold)
        self.__dict__["_out_shape"] = target.shape
        self.__dict__["_gather"] = source.n * target.n >= _GATHER_MIN_SYNAPSES
        return WeightLayout((source.n, target.n), "(source.n, target.n)", [(source.n,), source.shape],
                            "presynaptic neuron", lambda sign: sign.reshape(-1, 1), ((target.n,), "(target.n,)"),
                            synapse_delays=True)

    def _propagate(self, s: Tensor) -> Tensor:
        """Synaptic input ``s @ (W * intensity) + b`` (each synapse transmitting with its probability).

        Shape:
            ``s``: ``(B, *source.shape)``; output ``(B, *target.shape)``.
        """
        batch = s.shape[0]
        flat = s if s.dim() == 2 else s.reshape(batch, -1)
        w = self._parameters["weight"]
        if not self._plain:
            out = self._propagate_features(flat, w)
        else:
            out = None
            if self._gather and flat.dtype == torch.bool and flat.is_cpu and not self._dense_again(flat):
                nz = flat.nonzero()
                self.__dict__["_was_dense"] = dense = nz.shape[0] > self.sparse_threshold * flat.numel()
                if not dense:
                    if batch == 1:
                        offsets = torch.zeros(1, dtype=torch.long)
                    else:
                        offsets = torch.searchsorted(nz[:, 0].contiguous(), torch.arange(batch))
                    out = F.embedding_bag(nz[:, 1], w, offsets, mode="sum")
            if out is None:
                out = torch.mm(as_dtype(flat, w.dtype), w)
            if self.intensity != 1.0:
                out = out * self.intensity
        bias = self._parameters["bias"]
        if bias is not None:
            out = out + bias
        shape = self._out_shape
        return out if len(shape) == 1 else out.view(batch, *shape)

    def _dense_again(self, flat: Tensor) -> bool:
        """Whether the last bool input was above ``sparse_threshold`` and this one is too: it then
        goes to the matrix product without ``nonzero`` (counting costs about a tenth of it). The
        choice between the two products is always made on the exact count, so the result is the
        same as without this shortcut."""
        if not self.__dict__.get("_was_dense", False):
            return False
        if int(flat.count_nonzero()) > self.sparse_threshold * flat.numel():
            return True
        self.__dict__["_was_dense"] = False
        return False

    def _propagate_features(self, flat: Tensor, w: Tensor) -> Tensor:
        """Per-synapse intensity and/or random transmission: only the rows of active sources."""
        if not self.stochastic:
            return torch.mm(as_dtype(flat, w.dtype), w * self.intensity)
        index, rows = self._active_rows(flat, w)
        out = torch.zeros(flat.shape[0], w.shape[1], dtype=w.dtype, device=w.device)
        return out.index_add_(0, index[:, 0], rows)

    def _active_rows(self, flat: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, n_pre)`` activity -> the ``(b, i)`` pairs of nonzero entries ``(E, 2)`` and the
        currents they send, ``(E, n_post)``: weight rows times activity, intensity and draws."""
        nz = flat.nonzero()
        pre = nz[:, 1]
        rows = w.index_select(0, pre)
        if flat.dtype != torch.bool:
            rows = rows * flat[nz[:, 0], pre].to(w.dtype).unsqueeze(1)
        return nz, self._transmitted(rows, pre)

    def _synaptic_events(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        flat = s.reshape(s.shape[0], -1)
        w = self._parameters["weight"]
        nz, rows = self._active_rows(flat, w)
        n_post = w.shape[1]
        index = (nz[:, :1] * n_post + torch.arange(n_post, device=w.device)).view(-1)
        delay = self.delay.index_select(0, nz[:, 1]).view(-1)
        return index, rows.reshape(-1), delay

    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """Outer product per batch element.

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``; output
            ``(B, source.n, target.n)``.
        """
        b = pre.shape[0]
        dtype = self.weight.dtype
        return torch.einsum("bi,bj->bij", as_dtype(pre.reshape(b, -1), dtype), as_dtype(post.reshape(b, -1), dtype))

    def normalize(self) -> None:
        """Scale each target neuron's incoming weights so their absolute values sum to ``norm``."""
        if self.norm is None:
            return
        w = self.weight.data
        total = w.abs().sum(0, keepdim=True)
        w.mul_(self.norm / total.masked_fill_(total == 0, 1.0))

    def extra_repr(self) -> str:
        return (f"{self.source.n} -> {self.target.n}, bias={self.bias is not None}, norm={self.norm}"
                f"{f', max_delay={self.max_delay}' if self.max_delay else ''}")
