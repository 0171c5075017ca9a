"""Sparse connections: only the synapses that exist are stored (memory proportional to their count)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from snnrl import _checks as checks
from snnrl._tensors import as_dtype
from snnrl.network.connections.base import AbstractConnection, WeightLayout, check_endpoints
from snnrl.network.nodes import Nodes
from snnrl.network.plasticity import Plasticity
from snnrl.registry import register

__all__ = ["RandomSparseConnection", "SparseConnection", "random_pairs"]

#: Below this many synapses the all-synapse path is always used (the gather costs more than it saves).
_GATHER_MIN_SYNAPSES = 1 << 12

#: Per-window cost of the active-row path, in synapse-entry equivalents (sets the window length).
_WINDOW_OVERHEAD = 16

_SPARSE_LAYOUTS = (torch.sparse_coo, torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc)


def _synapse_list(
    w: Tensor | None, indices: Tensor | None, n_pre: int, n_post: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(pre, post, values or None)`` from the constructor's ``w`` / ``indices`` arguments."""
    if indices is not None:
        if (not isinstance(indices, Tensor) or indices.dtype == torch.bool or indices.is_floating_point()
                or indices.is_complex() or indices.dim() != 2 or indices.shape[0] != 2):
            got = (tuple(indices.shape), indices.dtype) if isinstance(indices, Tensor) else type(indices).__name__
            raise ValueError(f"indices must be an integer tensor of shape (2, nnz) (pre; post), got {got}")
        pre, post = indices.detach().long().clone()
        for name, idx, n in (("presynaptic", pre, n_pre), ("postsynaptic", post, n_post)):
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
                raise ValueError(
                    f"{name} indices must lie in [0, {n}), got values from {int(idx.min())} to {int(idx.max())}"
                )
        if w is not None and (not isinstance(w, Tensor) or tuple(w.shape) != (pre.numel(),)):
            got = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(f"with indices, w must be the ({pre.numel()},) synapse values or None, got {got}")
        return pre, post, w
    if not isinstance(w, Tensor):
        raise ValueError(
            "give the synapses: w as a (source.n, target.n) sparse or dense tensor, or indices=(2, nnz) "
            f"(with w the nnz values or None); got w={type(w).__name__}"
        )
    if tuple(w.shape) != (n_pre, n_post):
        raise ValueError(f"w has shape {tuple(w.shape)}, expected (source.n, target.n) = {(n_pre, n_post)}")
    if not w.is_floating_point():
        raise TypeError(f"w must be a floating-point tensor, got dtype {w.dtype}")
    w = w.detach()
    if w.layout in _SPARSE_LAYOUTS:
        coo = (w if w.layout == torch.sparse_coo else w.to_sparse_coo()).coalesce()
        pre, post = coo.indices()
        return pre.clone(), post.clone(), coo.values().clone()
    pre, post = w.nonzero(as_tuple=True)
    return pre, post, w[pre, post]


@register("connection")
class SparseConnection(AbstractConnection):
    """Sparse connection: a list of synapses ``(pre_i, post_j, w)``; ``I_j = sum w * s_i``.

    Only existing synapses are stored: their weights ``(nnz,)``, an int32 presynaptic and an
    int64 postsynaptic index list, so memory grows with the synapse count (16 bytes a synapse,
    plus small per-window tables, against 4 bytes a *pair* for :class:`Connection`). Synapses
    are kept sorted by presynaptic neuron (stable order), and every per-synapse argument given
    in the order of ``indices`` is reordered with them.

    Propagation on CPU visits, for each active source neuron, only its own synapses: they are
    contiguous, and are gathered as fixed-length windows (``window`` entries, chosen from the
    row lengths) and summed into the target with one ``scatter_add``, so the work is
    proportional to the number of active synapses, not to ``source.n * target.n``. With many
    active inputs (more than ``sparse_threshold`` of them), on GPU, or for small connections,
    every synapse is visited once (``index_select`` + ``index_add``) with no host
    synchronisation.

    Args:
        source: presynaptic population.
        target: postsynaptic population.
        w: the synapses as a ``(source.n, target.n)`` tensor, sparse (any layout; duplicate
            entries are summed) or dense (its non-zero entries become the synapses); or, with
            ``indices``, the ``(nnz,)`` initial weights (None: drawn as
            :meth:`AbstractConnection._initial_weights`).
        indices: ``(2, nnz)`` integer tensor of (presynaptic, postsynaptic) flat neuron indices;
            a pair may appear more than once (parallel synapses, e.g. with different delays).
        b: bias ``(target.n,)`` or None.
        wmin, wmax: bounds, scalars or ``(nnz,)`` tensors.
        norm: if given, ``normalize()`` scales each target neuron's incoming absolute weights to
            sum to ``norm``.
        mask: bool ``(nnz,)``: synapses held at zero weight where False.
        weight_decay: see :class:`AbstractConnection`.
        dale: bool ``(source.n,)`` or ``source.shape``: True where the presynaptic neuron is
            excitatory (its weights are kept ``>= 0``), False where inhibitory (``<= 0``).
            Default weights take these signs.
        delay: an int for the whole connection, or an integer ``(nnz,)`` tensor, one delay per
            synapse (in steps).
        probability: transmission probability, a scalar or ``(nnz,)``; None always transmits.
            Drawn from ``generator`` per synapse, step and batch element.
        intensity: multiplier of each synapse's transmission, a scalar or ``(nnz,)``.
        sparse_threshold: the active-row path is used while the fraction of non-zero source
            entries (counted per window of synapses) is at most this.
        generator: random source for the default weights and the transmission draws.
        rule: learning rule.

    Shape:
        source ``(B, *source.shape)`` -> target ``(B, *target.shape)``; ``weight``: ``(nnz,)``;
        ``pre_index``, ``post_index``: ``(nnz,)``; ``correlate`` output ``(B, nnz)``.
    """

    # buffers (annotated for type checkers: nn.Module.__getattr__ is untyped); the _win_* and
    # _mask_table tables are set by _index_rows
    pre_index: Tensor
    post_index: Tensor
    _win_row: Tensor
    _win_start: Tensor
    _win_mask: Tensor
    _mask_table: Tensor

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        w: Tensor | None = None,
        *,
        indices: Tensor | None = None,
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
        check_endpoints(source, target)
        pre, post, values = _synapse_list(w, indices, source.n, target.n)
        nnz = pre.numel()
        if nnz >= 2**31:
            raise ValueError(f"too many synapses ({nnz}); at most 2**31 - 1 are supported")
        order = None
        if nnz > 1 and not bool((pre[1:] >= pre[:-1]).all()):
            order = torch.argsort(pre, stable=True)
            pre, post = pre[order], post[order]

        def arrange(t: Any) -> Any:
            if order is not None and isinstance(t, Tensor) and t.dim() == 1 and t.shape[0] == nnz:
                return t[order]
            return t

        values, mask, delay, probability, intensity, wmin, wmax = map(
            arrange, (values, mask, delay, probability, intensity, wmin, wmax))
        super().__init__(source, target, values, b=b, wmin=wmin, wmax=wmax, norm=norm, mask=mask,
                         weight_decay=weight_decay, dale=dale, delay=delay, probability=probability,
                         intensity=intensity, generator=generator, rule=rule, pre=pre, post=post,
                         sparse_threshold=sparse_threshold)

    def _layout(self, pre: Tensor, post: Tensor, sparse_threshold: float) -> WeightLayout:
        source = self.source
        self.register_buffer("pre_index", pre.to(torch.int32))
        self.register_buffer("post_index", post.clone())  # int64: scatter_add takes it as is
        for name in ("_win_row", "_win_start", "_win_mask", "_mask_table"):
            self.register_buffer(name, None, persistent=False)
        self._index_rows()
        self.register_load_state_dict_post_hook(_reindex_after_load)
        self._set_sparse_threshold(sparse_threshold)
        self.__dict__["_gather"] = pre.numel() >= _GATHER_MIN_SYNAPSES
        return WeightLayout((pre.numel(),), "(nnz,)", [(source.n,), source.shape], "presynaptic neuron",
                            lambda sign: sign.reshape(-1).to(torch.int8)[pre], ((self.target.n,), "(target.n,)"),
                            synapse_delays=True)

    def _index_rows(self) -> None:
        """Tables of the active-row path (rebuilt from ``pre_index`` after loading a state dict).

        The synapses of each presynaptic neuron are contiguous in the sorted lists. They are cut
        into *windows* of ``window`` consecutive entries, so that a step gathers whole windows
        (row copies of a strided view, far cheaper than gathering synapse by synapse). A window
        may run past its row's end (into the next rows' synapses); a row of ``_mask_table``
        zeroes those entries. Windows that would run past the end of the lists are moved back
        to fit, with a mask row of their own.
        """
        pre = self.pre_index.long().cpu()
        nnz, n_pre = pre.numel(), self.source.n
        count = torch.bincount(pre, minlength=n_pre)
        width = _window_width(count, nnz)
        per_row = (count + width - 1) // width
        ptr = torch.zeros(n_pre + 1, dtype=torch.long)
        ptr[1:] = per_row.cumsum(0)
        n_win = int(ptr[-1])
        row = torch.repeat_interleave(torch.arange(n_pre), per_row, output_size=n_win)
        j = torch.arange(n_win) - ptr[:-1][row]
        start = (count.cumsum(0) - count)[row] + j * width
        rem = (count[row] - j * width).clamp_(max=width)
        moved = start.clamp(max=max(nnz - width, 0))
        shift = start - moved
        tail = (shift > 0).nonzero().flatten()
        mask_id = rem.clone()
        mask_id[tail] = width + 1 + torch.arange(tail.numel())
        cols = torch.arange(width)
        table = cols < torch.arange(width + 1).unsqueeze(1)  # row r: the first r entries
        tail_rows = (cols >= shift[tail].unsqueeze(1)) & (cols < (shift + rem)[tail].unsqueeze(1))
        device = self.pre_index.device
        dtype = self.weight.dtype if "weight" in self._parameters else torch.get_default_dtype()
        self.window = width
        self._win_row = row.to(device)
        self.__dict__["_batch_rows"] = None
        self._win_start = moved.to(device)
        self._win_mask = mask_id.to(device)
        self._mask_table = torch.cat([table, tail_rows]).to(device=device, dtype=dtype)

    # ------------------------------------------------------------------ properties
    @property
    def nnz(self) -> int:
        """Number of synapses."""
        return self.weight.shape[0]

    @property
    def density(self) -> float:
        """Fraction of the ``source.n * target.n`` pairs that have a synapse."""
        return self.nnz / (self.source.n * self.target.n)

    @property
    def indices(self) -> Tensor:
        """``(2, nnz)`` long tensor of the synapses' (presynaptic, postsynaptic) neuron indices."""
        return torch.stack([self.pre_index.long(), self.post_index.long()])

    def to_sparse(self) -> Tensor:
        """The weights as a coalesced sparse COO tensor ``(source.n, target.n)`` (parallel synapses summed)."""
        shape = (self.source.n, self.target.n)
        return torch.sparse_coo_tensor(self.indices, self.weight.detach(), shape, check_invariants=False).coalesce()

    def to_dense(self) -> Tensor:
        """The weights as a dense ``(source.n, target.n)`` tensor (parallel synapses summed)."""
        w = self.weight.detach()
        out = torch.zeros(self.source.n, self.target.n, dtype=w.dtype, device=w.device)
        return out.index_put_((self.pre_index.long(), self.post_index.long()), w, accumulate=True)

    # ------------------------------------------------------------------ propagation
    def _active_windows(self, flat: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None, int]:
        """The windows whose presynaptic neuron is active in ``flat`` ``(B, n_pre)``: their indices
        ``(W,)``, their batch element (None when B = 1), the source activity they carry (None for
        boolean spikes), and the number of candidate (batch element, window) pairs."""
        if flat.shape[0] == 1:
            active = flat[0].index_select(0, self._win_row)
            wins = active.nonzero().flatten()
            batch = None
        else:
            cached = self.__dict__.get("_batch_rows")
            if cached is None or cached.shape[0] != flat.shape[0] or cached.device != flat.device:
                offsets = torch.arange(flat.shape[0], device=flat.device).mul_(flat.shape[1]).unsqueeze(1)
                cached = offsets + self._win_row.unsqueeze(0)  # flat index of each (batch element, window)
                self.__dict__["_batch_rows"] = cached
            active = flat.reshape(-1).index_select(0, cached.view(-1)).view(flat.shape[0], -1)
            batch, wins = active.nonzero().unbind(1)
        act = None
        if flat.dtype != torch.bool:
            act = active[wins] if batch is None else active[batch, wins]
        return wins, batch, act, active.numel()

    def _window_currents(self, wins: Tensor, batch: Tensor | None, act: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """``(target position b * n_post + j, current, window start)`` of every synapse of the
        given windows (see :meth:`_active_windows`), as ``(W, window)`` blocks (entries outside
        a window's row carry zero current)."""
        w = self._parameters["weight"]
        starts = self._win_start.index_select(0, wins)
        width = self.window
        vals = _windows(w, starts, width).mul_(self._mask_table.index_select(0, self._win_mask.index_select(0, wins)))
        if act is not None:
            vals.mul_(act.to(w.dtype).unsqueeze(1))
        inten = self.intensity
        if isinstance(inten, Tensor):
            vals.mul_(_windows(inten, starts, width) if inten.numel() > 1 else inten)
        elif inten != 1.0:
            vals.mul_(inten)
        if self.stochastic:
            p = self.probability
            if isinstance(p, Tensor) and p.numel() > 1:
                p = _windows(p, starts, width)
            draws = torch.rand(vals.shape, generator=self.__dict__["generator"], dtype=vals.dtype, device=vals.device)
            vals.mul_(draws < p)
        where = _windows(self.post_index, starts, width)
        if batch is not None:
            where += (batch * self.target.n).unsqueeze(1)
        return where, vals, starts

    def _propagate(self, s: Tensor) -> Tensor:
        batch = s.shape[0]
        flat = s if s.dim() == 2 else s.reshape(batch, -1)
        w = self._parameters["weight"]
        n_post = self.target.n
        out = None
        if self._gather and flat.is_cpu:
            wins, rows, act, candidates = self._active_windows(flat)
            if wins.shape[0] <= self.sparse_threshold * candidates:
                where, vals, _ = self._window_currents(wins, rows, act)
                out = torch.zeros(batch * n_post, dtype=w.dtype, device=w.device)
                out = out.scatter_add_(0, where.view(-1), vals.view(-1)).view(batch, n_post)
        if out is None:  # every synapse once
            x = as_dtype(flat, w.dtype).index_select(1, self.pre_index) * w
            x = self._transmitted(x, None)
            out = torch.zeros(batch, n_post, dtype=w.dtype, device=w.device).index_add_(1, self.post_index, x)
        bias = self._parameters["bias"]
        if bias is not None:
            out = out + bias
        return out.view(batch, *self.target.shape)

    def _synaptic_events(self, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        flat = s.reshape(s.shape[0], -1)
        if self.nnz == 0:
            empty = torch.zeros(0, dtype=torch.long, device=s.device)
            return empty, torch.zeros(0, dtype=self.weight.dtype, device=s.device), empty
        where, vals, starts = self._window_currents(*self._active_windows(flat)[:3])
        return where.view(-1), vals.view(-1), _windows(self.delay, starts, self.window).view(-1)

    # ------------------------------------------------------------------ learning
    def correlate(self, pre: Tensor, post: Tensor) -> Tensor:
        """For each synapse ``k``: ``pre[pre_index[k]] * post[post_index[k]]`` (the entries of the
        dense outer product at the stored synapses).

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``; output ``(B, nnz)``.
        """
        b = pre.shape[0]
        dtype = self.weight.dtype
        x = as_dtype(pre.reshape(b, -1), dtype).index_select(1, self.pre_index)
        return x.mul_(as_dtype(post.reshape(b, -1), dtype).index_select(1, self.post_index))

    def normalize(self) -> None:
        """Scale each target neuron's incoming weights so their absolute values sum to ``norm``."""
        if self.norm is None:
            return
        w = self.weight.data
        total = torch.zeros(self.target.n, dtype=w.dtype, device=w.device).index_add_(0, self.post_index, w.abs())
        w.mul_((self.norm / total.masked_fill_(total == 0, 1.0)).index_select(0, self.post_index))

    def extra_repr(self) -> str:
        return (f"{self.source.n} -> {self.target.n}, nnz={self.nnz} (density {self.density:.3g}), "
                f"bias={self.bias is not None}, norm={self.norm}, max_delay={self.max_delay}")


def _window_width(count: Tensor, nnz: int) -> int:
    """Window length (a power of two, at most 256) that minimises the entries visited plus a
    per-window overhead, over all presynaptic neurons."""
    best, best_cost = 1, None
    for p in range(9):
        width = 1 << p
        if width > max(nnz, 1):
            break
        windows = int(((count + width - 1) // width).sum())
        cost = windows * (width + _WINDOW_OVERHEAD)
        if best_cost is None or cost < best_cost:
            best, best_cost = width, cost
    return best


def _windows(t: Tensor, starts: Tensor, width: int) -> Tensor:
    """Rows ``t[s : s + width]`` for each ``s`` in ``starts`` of a contiguous 1-D tensor ``t``.

    Shape:
        ``t``: ``(N,)``; ``starts``: ``(W,)``; output ``(W, width)`` (a copy).
    """
    return t.as_strided((t.shape[0] - width + 1, width), (1, 1)).index_select(0, starts)


def _reindex_after_load(module: SparseConnection, incompatible_keys: Any) -> None:
    module._index_rows()


def random_pairs(n_pre: int, n_post: int, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Flat indices ``i * n_post + j`` of a Bernoulli(p) subset of all pairs, in increasing order.

    Memory and time are proportional to the number of pairs drawn, not to ``n_pre * n_post``:
    the gaps between successive chosen pairs are geometric random variables.

    Shape:
        output ``(nnz,)``, int64.
    """
    total = n_pre * n_post
    if p <= 0.0 or total == 0:
        return torch.zeros(0, dtype=torch.long)
    if p >= 1.0:
        return torch.arange(total)
    log_q = math.log1p(-p)
    expected = total * p
    chunk = int(expected + 5.0 * math.sqrt(expected) + 16)
    parts = []
    last = -1
    while True:
        u = torch.rand(chunk, generator=generator, dtype=torch.float64)
        gaps = torch.floor(torch.log1p(-u) / log_q).long()  # failures before each success
        pos = last + torch.cumsum(gaps + 1, 0)
        if int(pos[-1]) >= total:
            parts.append(pos[pos < total])
            return torch.cat(parts)
        parts.append(pos)
        last = int(pos[-1])


@register("connection")
class RandomSparseConnection(SparseConnection):
    """Sparse connection in which each ``(source, target)`` pair has a synapse with probability
    ``connectivity``, independently (memory and construction time proportional to the
    synapse count).

    Args:
        source: presynaptic population.
        target: postsynaptic population.
        connectivity: probability in ``[0, 1]`` that a pair is connected.
        w: initial weight of every synapse; None draws them as
            :meth:`AbstractConnection._initial_weights` (with Dale's rule, in the sign of the
            presynaptic neuron).
        allow_autapses: when ``source is target``, whether a neuron may connect to itself.
        delay: an int for the whole connection, or ``(low, high)``: per-synapse delays drawn
            uniformly from ``low..high`` steps.
        generator: random source for the structure, the delays, the default weights and the
            transmission draws (a seeded generator makes the structure reproducible, which a
            checkpoint restored from the constructor arguments relies on).
        b, wmin, wmax, norm, weight_decay, dale, probability, intensity, sparse_threshold, rule:
            as :class:`SparseConnection` (per-synapse tensors are ``(nnz,)`` and are rarely
            useful here, as nnz is known only after construction).

    Shape:
        source ``(B, *source.shape)`` -> target ``(B, *target.shape)``; ``weight``: ``(nnz,)``
        with ``nnz ~ Binomial(source.n * target.n, connectivity)``.
    """

    def __init__(
        self,
        source: Nodes,
        target: Nodes,
        connectivity: float,
        w: float | None = None,
        *,
        allow_autapses: bool = True,
        b: Tensor | None = None,
        wmin: float | Tensor = -math.inf,
        wmax: float | Tensor = math.inf,
        norm: float | None = None,
        weight_decay: float = 0.0,
        dale: Tensor | None = None,
        delay: int | tuple[int, int] = 0,
        probability: float | Tensor | None = None,
        intensity: float | Tensor = 1.0,
        sparse_threshold: float = 0.2,
        generator: torch.Generator | None = None,
        rule: Plasticity | None = None,
    ) -> None:
        check_endpoints(source, target)
        connectivity = checks.in_range("connectivity", connectivity, 0, 1, what="a probability in [0, 1]")
        if w is not None:
            checks.finite("w", w, what="a finite number (the initial weight of every synapse) or None")
        if isinstance(delay, list):  # a (low, high) pair read back from a spec
            delay = tuple(delay)  # type: ignore[assignment]
        if isinstance(delay, tuple):
            if (len(delay) != 2 or not all(checks.is_int(d) for d in delay)
                    or not 0 <= delay[0] <= delay[1]):
                raise ValueError(f"delay must be an int >= 0 or a (low, high) pair of ints, 0 <= low <= high; "
                                 f"got {delay!r}")
        pos = random_pairs(source.n, target.n, float(connectivity), generator)
        pre, post = pos // target.n, pos % target.n
        if source is target and not allow_autapses:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        nnz = pre.numel()
        per_synapse_delay: int | Tensor = delay  # type: ignore[assignment]
        if isinstance(delay, tuple):
            per_synapse_delay = torch.randint(delay[0], delay[1] + 1, (nnz,), generator=generator)
        values = None if w is None else torch.full((nnz,), float(w))
        super().__init__(
            source, target, values, indices=torch.stack([pre, post]), b=b, wmin=wmin, wmax=wmax, norm=norm,
            weight_decay=weight_decay, dale=dale, delay=per_synapse_delay, probability=probability,
            intensity=intensity, sparse_threshold=sparse_threshold, generator=generator, rule=rule,
        )
        self.connectivity = float(connectivity)
