r"""Connection adapters: where a rule's maths meets one connection type's weights.

Every rule in :mod:`snnrl.learning.rules` is written once, in terms of three operations on
presynaptic quantities ``pre`` ``(B, *source.shape)`` and postsynaptic quantities ``post``
``(B, *target.shape)``:

* :meth:`ConnectionAdapter.correlation`: the batch-weighted sum of correlations
  ``sum_b g_b correlate(pre_b, post_b)``, a weight-shaped tensor (a two-factor weight change);
* :meth:`ConnectionAdapter.accumulate` / :meth:`ConnectionAdapter.add_batch_weighted`: a
  per-batch-element eligibility ``(B, *weight.shape)`` that correlations are added to, and the
  weight change ``sum_b g_b z_b`` it produces;
* :meth:`ConnectionAdapter.stdp_eligibility`: the eligibility trace of pair-based STDP
  (Florian 2007's ``z``), the costly part of MSTDPET.

:class:`ConnectionAdapter` implements them for **any** connection with the connection interface
only (``correlate``, ``apply_update``), so every connection type works. A connection type may
have a faster adapter: it is found in a registry keyed by the connection's exact class
(:func:`register_adapter`, :func:`adapter_for`). We chose a registry over a capability method on
the connection classes so that connection classes stay free of rule-specific code (their authors
implement ``correlate`` and are done) and rules never dispatch on classes: a rule asks
``adapter_for(connection)`` once, in ``bind``. A subclass of a registered type gets the generic
adapter unless it registers one itself (it may have changed the weight layout).

The dense :class:`~snnrl.network.connections.Connection` has :class:`DenseAdapter`: correlations
are matrix products instead of per-batch outer products, and on CPU the STDP eligibility is kept
in a factorised form that each step touches only the rows of presynaptic neurons that spiked
(see :class:`FactorizedSTDPEligibility`). Tests check that both adapters give the same weights.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnrl._tensors import as_dtype
from snnrl.functional.plasticity import decay_add_
from snnrl.network import compiled
from snnrl.network.connections.dense import Connection

if TYPE_CHECKING:
    from snnrl.network.connections.base import AbstractConnection

__all__ = [
    "ConnectionAdapter",
    "DenseAdapter",
    "FactorizedSTDPEligibility",
    "STDPEligibility",
    "ScaledSTDPEligibility",
    "STDPParameters",
    "adapter_for",
    "register_adapter",
]

#: A batch weight: a number (same for every batch element), a ``(B,)`` tensor, or a neuron-specific
#: ``(B, *target.shape)`` tensor (see :mod:`snnrl.network.modulator`).
BatchWeight = float | Tensor


def _per_neuron(g: BatchWeight) -> bool:
    return isinstance(g, Tensor) and g.dim() > 1

_ADAPTERS: dict[type, type[ConnectionAdapter]] = {}


def register_adapter(connection_type: type, adapter_type: type[ConnectionAdapter]) -> None:
    """Use ``adapter_type`` for connections whose exact class is ``connection_type``."""
    if not isinstance(adapter_type, type) or not issubclass(adapter_type, ConnectionAdapter):
        raise TypeError(f"adapter_type must be a ConnectionAdapter subclass, got {adapter_type!r}")
    _ADAPTERS[connection_type] = adapter_type


def adapter_for(connection: AbstractConnection) -> ConnectionAdapter:
    """The adapter registered for ``type(connection)``, else the generic :class:`ConnectionAdapter`."""
    return _ADAPTERS.get(type(connection), ConnectionAdapter)(connection)


def _flat(x: Tensor) -> Tensor:
    """``(B, *shape)`` -> ``(B, n)`` (a view when possible)."""
    return x.reshape(x.shape[0], -1)


class STDPParameters:
    r"""Constants of pair-based STDP with traces (Florian 2007), discretised for one step ``dt``.

    Attributes:
        decay_plus, decay_minus, decay_e: ``exp(-dt / tc)`` for ``P+``, ``P-`` and ``z``.
        a_plus, a_minus: trace increments per pre / post spike.
        nu_pre, nu_post: learning rates of the pre-triggered (``s_pre x P-``) and
            post-triggered (``P+ x s_post``) terms of ``zeta``.
        tc_e: eligibility time constant (ms); ``z`` receives ``zeta / tc_e``.
    """

    __slots__ = ("a_minus", "a_plus", "decay_e", "decay_minus", "decay_plus", "nu_post", "nu_pre", "tc_e")

    def __init__(self, *, tc_plus: float, tc_minus: float, tc_e: float, a_plus: float, a_minus: float,
                 nu_pre: float, nu_post: float, dt: float) -> None:
        self.decay_plus = math.exp(-dt / tc_plus)
        self.decay_minus = math.exp(-dt / tc_minus)
        self.decay_e = math.exp(-dt / tc_e)
        self.a_plus, self.a_minus = float(a_plus), float(a_minus)
        self.nu_pre, self.nu_post = float(nu_pre), float(nu_post)
        self.tc_e = float(tc_e)


class STDPEligibility(nn.Module):
    r"""Eligibility trace of pair-based STDP, per batch element (the plain equations).

    Each :meth:`step`, with this step's spikes ``s_pre``, ``s_post``:

    .. math::
        P^+ &\leftarrow P^+ e^{-dt/\tau_+} + A_+ s_{pre}, \qquad
        P^- \leftarrow P^- e^{-dt/\tau_-} + A_- s_{post}, \\
        \zeta &= \nu_{post}\, P^+ \otimes s_{post} + \nu_{pre}\, s_{pre} \otimes P^-, \qquad
        z \leftarrow z\, e^{-dt/\tau_z} + \zeta / \tau_z

    with ``⊗`` the connection's ``correlate``. :meth:`apply` adds ``sum_b g_b z_b`` to the
    weights. Buffers: ``p_plus`` ``(B, *source.shape)``, ``p_minus`` ``(B, *target.shape)``,
    ``z`` ``(B, *weight.shape)``.
    """

    # buffers (registered by resize; annotated for type checkers: nn.Module.__getattr__ is untyped)
    p_plus: Tensor
    p_minus: Tensor
    z: Tensor

    def __init__(self, adapter: ConnectionAdapter, params: STDPParameters, batch_size: int) -> None:
        super().__init__()
        self.adapter = adapter
        self.params = params
        self.batch_size = 0
        self.resize(batch_size)

    def resize(self, batch_size: int) -> None:
        """(Re)allocate zeroed state for ``batch_size`` batch elements."""
        conn = self.adapter.connection
        like = conn.weight
        self.batch_size = batch_size
        self.register_buffer("p_plus", like.new_zeros((batch_size, *conn.source.shape)))
        self.register_buffer("p_minus", like.new_zeros((batch_size, *conn.target.shape)))
        self.register_buffer("z", like.new_zeros((batch_size, *like.shape)))

    def reset(self, mask: Tensor | None = None) -> None:
        """Zero the state of all batch elements or of those where ``mask`` is True."""
        for buf in (self.p_plus, self.p_minus, self.z):
            if mask is None:
                buf.zero_()
            else:
                buf[mask] = 0.0

    def step(self, s_pre: Tensor, s_post: Tensor) -> None:
        """Advance traces and eligibility by one step. Shape: ``(B, *source.shape)``, ``(B, *target.shape)``."""
        p = self.params
        dtype = self.z.dtype
        decay_add_(self.p_plus, p.decay_plus, s_pre, p.a_plus)
        decay_add_(self.p_minus, p.decay_minus, s_post, p.a_minus)
        self.z.mul_(p.decay_e)
        if p.nu_post:
            self.adapter.accumulate(self.z, self.p_plus, as_dtype(s_post, dtype), p.nu_post / p.tc_e)
        if p.nu_pre:
            self.adapter.accumulate(self.z, as_dtype(s_pre, dtype), self.p_minus, p.nu_pre / p.tc_e)

    def apply(self, g: BatchWeight) -> None:
        """Add ``sum_b g_b z_b`` to the connection's weights (with its decay and constraints)."""
        self.adapter.add_batch_weighted(self.z, g)

    def flush(self) -> None:
        """Finish deferred bookkeeping (this class defers nothing)."""

    def step_sequence(self, s_pre: Tensor, s_post: Tensor) -> None:
        """:meth:`step` for each step of a run. Shape: ``(T, B, *source.shape)``, ``(T, B, *target.shape)``."""
        for t in range(s_pre.shape[0]):
            self.step(s_pre[t], s_post[t])

    def traces(self) -> tuple[Tensor, Tensor]:
        """``(P+, P-)`` as true values. Shape: ``(B, *source.shape)``, ``(B, *target.shape)``."""
        return self.p_plus, self.p_minus

    def value(self) -> Tensor:
        """The eligibility ``z`` as a true value. Shape: ``(B, *weight.shape)``."""
        return self.z


class _ScaledSTDPEligibility(STDPEligibility, ABC):
    """Shared bookkeeping of the dense eligibilities: decays as global scales, steps in windows.

    * ``P+ = A p``, ``P- = M m``, ``z = E z~`` with ``A = e^{-n dt/tau+}``, ``M = e^{-n dt/tau-}``,
      ``E = e^{-n dt/tau_z}`` after ``n`` steps since the last renormalisation: a step multiplies
      three Python floats instead of touching every entry, and increments are divided by the
      current scale. When a scale falls below ``1e-4`` (every ~9 time constants) the state is
      renormalised to true values and the scales reset to 1. The scales are ``extra_state``.
    * A step only records its spikes (two copies) and its coefficients (Python floats); up to
      ``capacity`` recorded steps are processed at once by :meth:`flush`, with cumulative sums
      over time and batched products (a handful of tensor operations per window instead of per
      step). Every method that reads, saves or moves the state flushes first, so what can be
      observed is the state of the plain equations, step by step.

    Buffers: ``p`` ``(B, n_pre)``, ``m`` ``(B, n_post)`` (the scaled traces) and the subclass's
    eligibility.
    """

    p: Tensor
    m: Tensor
    _pend_post: Tensor
    _MIN_SCALE = 1e-4
    #: Steps recorded before they are processed (or before anything reads the state).
    capacity = 64

    def resize(self, batch_size: int) -> None:
        like = self.adapter.connection.weight
        n_pre, n_post = like.shape
        self.batch_size = batch_size
        self.register_buffer("p", like.new_zeros((batch_size, n_pre)))
        self.register_buffer("m", like.new_zeros((batch_size, n_post)))
        self._allocate_eligibility(batch_size, n_pre, n_post)
        self.register_buffer("_pend_post", like.new_zeros((self.capacity, batch_size, n_post)), persistent=False)
        self._pend_pre: Tensor | None = None  # (capacity, B, n_pre), the dtype of the presynaptic activity
        self._coef: list[tuple[float, float, float, float]] = []
        self._slots()
        self._reset_scales()

    def _slots(self) -> None:
        """Per-step views of the recording buffers, shaped like the populations (no indexing per step)."""
        conn = self.adapter.connection
        b = self.batch_size
        post = self._buffers["_pend_post"]
        self._post_slots = [x.view(b, *conn.target.shape) for x in post.unbind(0)]
        pre = self._pend_pre
        self._pre_slots = None if pre is None else [x.view(b, *conn.source.shape) for x in pre.unbind(0)]

    @abstractmethod
    def _allocate_eligibility(self, batch_size: int, n_pre: int, n_post: int) -> None:
        """Register the eligibility buffers for ``batch_size`` elements."""

    def _reset_scales(self) -> None:
        self._scales = [1.0, 1.0, 1.0]  # A, M, E

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # type: ignore[no-untyped-def]  # nn.Module's
        self.flush()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def get_extra_state(self) -> dict[str, list[float]]:
        self.flush()
        return {"scales": list(self._scales)}

    def set_extra_state(self, state: dict[str, list[float]]) -> None:
        self._coef = []
        self._scales = [float(v) for v in state["scales"]]

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]  # nn.Module's signature
        self.flush()
        self._pend_pre = None
        out = super()._apply(fn, recurse)
        self._slots()
        return out

    def step(self, s_pre: Tensor, s_post: Tensor) -> None:
        prm, scales = self.params, self._scales
        a = scales[0] = scales[0] * prm.decay_plus
        mm = scales[1] = scales[1] * prm.decay_minus
        e = scales[2] = scales[2] * prm.decay_e
        coef = self._coef
        n = len(coef)
        slots = self._pre_slots
        if slots is None or slots[0].dtype != s_pre.dtype:
            self.flush()
            n = 0
            self._pend_pre = s_pre.new_zeros((self.capacity, self.batch_size, s_pre[0].numel()))
            self._slots()
            slots = self._pre_slots
        slots[n].copy_(s_pre)
        self._post_slots[n].copy_(s_post)
        te = prm.tc_e * e
        # per step: p += kp s_pre, m += km s_post, beta and mu weigh the two zeta terms
        coef.append((prm.a_plus / a, prm.a_minus / mm, prm.nu_post * a / te, prm.nu_pre * mm / te))
        low = self._MIN_SCALE
        if a < low or mm < low or e < low:
            self._renormalize()  # flushes first
        elif n + 1 == self.capacity:
            self.flush()

    def step_sequence(self, s_pre: Tensor, s_post: Tensor) -> None:
        """Record a whole run: the same as :meth:`step` for each step, with one copy per window.

        Shape: ``s_pre`` ``(T, B, *source.shape)``, ``s_post`` ``(T, B, *target.shape)``.
        """
        prm = self.params
        steps, b = s_pre.shape[0], self.batch_size
        pre = s_pre.reshape(steps, b, -1)
        post = s_post.reshape(steps, b, -1)
        if self._pend_pre is None or self._pend_pre.dtype != pre.dtype:
            self.flush()
            self._pend_pre = pre.new_zeros((self.capacity, b, pre.shape[2]))
            self._slots()
        low = self._MIN_SCALE
        t = 0
        while t < steps:
            coef, scales = self._coef, self._scales  # (renormalisation replaces both)
            n = len(coef)
            take = min(self.capacity - n, steps - t)
            small = False
            for i in range(take):
                a = scales[0] = scales[0] * prm.decay_plus
                mm = scales[1] = scales[1] * prm.decay_minus
                e = scales[2] = scales[2] * prm.decay_e
                te = prm.tc_e * e
                coef.append((prm.a_plus / a, prm.a_minus / mm, prm.nu_post * a / te, prm.nu_pre * mm / te))
                if a < low or mm < low or e < low:
                    take, small = i + 1, True
                    break
            self._pend_pre[n : n + take].copy_(pre[t : t + take])
            self._buffers["_pend_post"][n : n + take].copy_(post[t : t + take])
            t += take
            if small:
                self._renormalize()  # flushes first
            elif n + take == self.capacity:
                self.flush()

    def flush(self) -> None:
        """Process the recorded steps (see the class docstring)."""
        coef = self._coef
        n = len(coef)
        if not n:
            return
        self._coef = []
        p = self._buffers["p"]
        c = torch.tensor(coef, dtype=p.dtype).t().to(p.device).view(4, n, 1, 1)
        self._flush(self._pend_pre[:n], self._pend_post[:n], c[0], c[1], c[2], c[3])

    @abstractmethod
    def _flush(self, pre: Tensor, post: Tensor, kp: Tensor, km: Tensor, beta: Tensor, mu: Tensor) -> None:
        """Process ``n`` recorded steps. Shape: ``pre`` ``(n, B, n_pre)``, ``post`` ``(n, B, n_post)``,
        coefficients ``(n, 1, 1)``."""

    @staticmethod
    def _trajectory(start: Tensor, increments: Tensor) -> Tensor:
        """``start + cumsum(increments)`` over time, summed in the order of the step-by-step equations.

        Shape: ``start`` ``(B, n)``, ``increments`` ``(n_steps, B, n)`` (overwritten) -> ``(n_steps, B, n)``.
        """
        increments[0].add_(start)
        return torch.cumsum(increments, 0)

    @abstractmethod
    def _scale_state(self, e: float) -> None:
        """Multiply the eligibility by ``e`` (renormalisation)."""

    def _renormalize(self) -> None:
        self.flush()
        a, mm, e = self._scales
        self._scale_state(e)
        self.p.mul_(a)
        self.m.mul_(mm)
        self._reset_scales()

    def reset(self, mask: Tensor | None = None) -> None:
        self.flush()
        for buf in self._buffers.values():
            if buf is None or buf is self._buffers["_pend_post"]:
                continue
            if mask is None:
                buf.zero_()
            else:
                buf[mask] = 0.0
        if mask is None:
            self._reset_scales()

    def traces(self) -> tuple[Tensor, Tensor]:
        self.flush()
        conn = self.adapter.connection
        a, mm, _ = self._scales
        b = self.batch_size
        return (self.p * a).view(b, *conn.source.shape), (self.m * mm).view(b, *conn.target.shape)


class ScaledSTDPEligibility(_ScaledSTDPEligibility):
    r"""STDP eligibility of a small dense ``(n_pre, n_post)`` weight: plain equations, global scales.

    A window of ``n`` recorded steps is processed in about a dozen tensor operations: the scaled
    traces' trajectories ``p(t)``, ``m(t)`` by cumulative sums, then both ``zeta`` terms of all
    steps by one (batched) matrix product,
    ``z~ += [p(t) | mu_t s_pre(t)]_t @ [beta_t s_post(t) ; m(t)]_t``
    (``beta = nu_post A / (tau_z E)``, ``mu = nu_pre M / (tau_z E)``, the traces including each
    step's spikes). A reward adds ``E sum_b g_b z~_b`` to the weights in one pass. Buffers:
    ``p``, ``m`` and ``zs`` ``(B, n_pre, n_post)`` (the scaled ``z~``).
    """

    zs: Tensor

    def _allocate_eligibility(self, batch_size: int, n_pre: int, n_post: int) -> None:
        self.register_buffer("zs", self.p.new_zeros((batch_size, n_pre, n_post)))

    def _flush(self, pre: Tensor, post: Tensor, kp: Tensor, km: Tensor, beta: Tensor, mu: Tensor) -> None:
        p, m, zs = self.p, self.m, self.zs
        pre = pre.to(p.dtype)
        p_t = self._trajectory(p, pre * kp)
        m_t = self._trajectory(m, post * km)
        left = torch.cat([p_t, pre.mul_(mu)])  # (2n, B, n_pre)
        right = torch.cat([post * beta, m_t])  # (2n, B, n_post)
        if zs.shape[0] == 1:
            zs[0].addmm_(left[:, 0].t(), right[:, 0])
        else:
            zs.baddbmm_(left.permute(1, 2, 0), right.transpose(0, 1))
        p.copy_(p_t[-1])
        m.copy_(m_t[-1])

    def _scale_state(self, e: float) -> None:
        self.zs.mul_(e)

    def apply(self, g: BatchWeight) -> None:
        self.flush()
        self.adapter.add_batch_weighted(self.zs, g * self._scales[2])

    def value(self) -> Tensor:
        self.flush()
        return self.zs * self._scales[2]


class FactorizedSTDPEligibility(_ScaledSTDPEligibility):
    r"""STDP eligibility of a large dense ``(n_pre, n_post)`` weight, updated only where spikes occur.

    Same equations as :class:`STDPEligibility`, stored so that a step costs
    ``O(k_pre * n_post + n_pre + n_post)`` for ``k_pre`` presynaptic spikes instead of
    ``O(n_pre * n_post)``:

    * every decay is a global scale and steps are processed in windows (see
      :class:`_ScaledSTDPEligibility`): ``P+ = A p``, ``P- = M m``, ``z = E z~``;
    * the post-triggered term ``sum_s beta_s p(s) ⊗ s_post(s)`` (``beta = nu_post A / (tau_z E)``),
      which would touch whole columns, is rewritten with the cumulative post vector
      ``c(t) = sum_{s<=t} beta_s s_post(s)`` as ``p(t) ⊗ c(t) - sum_{s'} u(s') ⊗ c(s'-1)`` where
      ``u(s') = A_+ s_pre(s') / A(s')`` are the increments of ``p``. So
      ``z~ = p ⊗ c + K`` where ``K`` changes only in the rows of presynaptic spikes:

      .. math:: K_{i\cdot} \mathrel{+}= s_{pre,i}(t)\,\big(\mu_t\, m(t) - \tfrac{A_+}{A_t}\, c(t-1)\big),
                \qquad \mu = \nu_{pre} M / (\tau_z E).

      A window's rows are computed for all its steps at once (trajectories of ``m`` and ``c`` by
      cumulative sums); the rows of each presynaptic neuron's spikes in the window are summed
      (``embedding_bag``: the rows are a small table that stays in cache) and added to ``K``
      once per neuron, so a long window writes each row of ``K`` at most once.

    Folding (``K += p ⊗ c``, ``c = 0``: one pass) keeps ``z~`` and is done before each weight
    update, which is then one fused pass ``w += E sum_b g_b K_b``; it bounds the round-off of
    the difference ``p ⊗ c - sum u ⊗ c`` too. Renormalisation (every ~9 time constants) folds,
    then rescales to true values. Buffers: ``p``, ``m``, ``c`` ``(B, n)``, ``k``
    ``(B, n_pre, n_post)``.
    """

    c: Tensor
    k: Tensor

    def _allocate_eligibility(self, batch_size: int, n_pre: int, n_post: int) -> None:
        self.register_buffer("c", self.p.new_zeros((batch_size, n_post)))
        self.register_buffer("k", self.p.new_zeros((batch_size, n_pre, n_post)))
        self._folded = True  # c == 0

    def reset(self, mask: Tensor | None = None) -> None:
        super().reset(mask)
        if mask is None:
            self._folded = True

    def set_extra_state(self, state: dict[str, list[float]]) -> None:
        super().set_extra_state(state)
        self._folded = False

    def _flush(self, pre: Tensor, post: Tensor, kp: Tensor, km: Tensor, beta: Tensor, mu: Tensor) -> None:
        p, m, c, k = self.p, self.m, self.c, self.k
        n, b, n_pre = pre.shape
        n_post = m.shape[1]
        m_t = self._trajectory(m, post * km)
        m.copy_(m_t[-1])
        if self.params.nu_post:
            c_t = self._trajectory(c, post * beta)
            c_prev = torch.cat([c.unsqueeze(0), c_t[:-1]])  # c before each step's post spikes
            c.copy_(c_t[-1])
            self._folded = False
        else:
            c_prev = c.expand(n, b, n_post)
        rows = m_t.mul_(mu).sub_(c_prev * kp)  # (n, B, n_post): the row of a spike at each step
        # the presynaptic spikes ordered by neuron (b, i), then by step: one bag per neuron
        # (nonzero of the transposed view lists them in that order without a transposed copy)
        by_step = pre.reshape(n, b * n_pre)
        kernels = learning_kernels() if by_step.dtype == torch.bool and k.is_cpu else None
        if kernels is not None:  # the same sums in the same order, in one compiled pass
            p_flat = p.view(-1) if self.params.a_plus else p.new_empty(0)
            kernels.add_spike_rows(by_step.numpy(), rows.view(n * b, n_post).numpy(), kp.view(n).numpy(),
                   k.view(-1, n_post).numpy(), p_flat.numpy(), b)
            return
        found = _nonzero_by_column(by_step)
        if found is None:
            return
        neuron, step = found
        row = step if b == 1 else step * b + torch.div(neuron, n_pre, rounding_mode="floor")
        weights = None if by_step.dtype == torch.bool else by_step[step, neuron].to(rows.dtype)
        neurons, counts = torch.unique_consecutive(neuron, return_counts=True)
        offsets = counts.cumsum(0).sub_(counts)
        # each neuron's rows summed over its spikes (real-valued activity weighs them)
        added = F.embedding_bag(row, rows.view(n * b, n_post), offsets, mode="sum", per_sample_weights=weights)
        k.view(-1, n_post).index_add_(0, neurons, added)
        if self.params.a_plus:
            inc = kp.view(n).index_select(0, step)
            p.view(-1).index_add_(0, neuron, inc if weights is None else inc.mul_(weights))

    def fold(self) -> None:
        """``K += p ⊗ c``, ``c = 0`` (``z~`` unchanged)."""
        self.flush()
        if not self._folded:
            self.k.addcmul_(self.p.unsqueeze(2), self.c.unsqueeze(1))
            self.c.zero_()
            self._folded = True

    def _renormalize(self) -> None:
        self.fold()
        super()._renormalize()

    def _scale_state(self, e: float) -> None:
        self.k.mul_(e)

    def apply(self, g: BatchWeight) -> None:
        self.fold()
        self.adapter.add_batch_weighted(self.k, g * self._scales[2])

    def value(self) -> Tensor:
        self.flush()
        return torch.baddbmm(self.k, self.p.unsqueeze(2), self.c.unsqueeze(1)) * self._scales[2]


_KERNELS: Any = None


def learning_kernels() -> Any:
    """The module of the learning rules' compiled kernels (``snnrl.learning._stdp_kernel``), or
    None without Numba or with ``SNNRL_COMPILED=0``. Each kernel's caller then takes its PyTorch
    path (the same sums in the same order, so the same bits; tests compare the two): the row
    accumulation of :class:`FactorizedSTDPEligibility` (``embedding_bag`` and ``index_add_``)
    and e-prop's trace window (``mul`` and ``add_`` per step)."""
    global _KERNELS
    if not compiled._enabled:
        return None
    if _KERNELS is None:
        try:
            from snnrl.learning import _stdp_kernel
        except ImportError:
            _KERNELS = False
        else:
            _KERNELS = _stdp_kernel
    return _KERNELS or None


def _nonzero_by_column(x: Tensor) -> tuple[Tensor, Tensor] | None:
    """The nonzero entries of a 2-D ``x`` ordered by column, then by row: ``(columns, rows)``
    (None if there are none), what ``x.t().nonzero()`` lists.

    On CPU numpy's ``flatnonzero`` of the transposed view finds them in a third to a half of the
    time of torch's ``nonzero`` on that (non-contiguous) view (0.10 against 0.27 ms for 16 steps
    x 6400 inputs); the indices and their order are the same."""
    if x.is_cpu:
        flat = np.flatnonzero(x.numpy().T)
        if not flat.size:
            return None
        idx = torch.from_numpy(flat)
        column = torch.div(idx, x.shape[0], rounding_mode="floor")
        return column, idx.sub_(column * x.shape[0])
    nz = x.t().nonzero()
    if not nz.shape[0]:
        return None
    column, row = nz.t().contiguous().unbind(0)
    return column, row


class ConnectionAdapter:
    """Generic adapter: works on any connection through ``correlate`` and ``apply_update``.

    Args:
        connection: the connection whose weights the rule changes.
    """

    def __init__(self, connection: AbstractConnection) -> None:
        self.connection = connection

    def correlation(self, terms: Sequence[tuple[Tensor, Tensor, BatchWeight]]) -> Tensor:
        """``sum over terms of sum_b g_b correlate(pre_b, post_b)``.

        Args:
            terms: ``(pre, post, g)`` triples; ``g`` a number, a ``(B,)`` tensor or a
                ``(B, *target.shape)`` tensor (multiplies ``post``).

        Shape:
            ``pre``: ``(B, *source.shape)``; ``post``: ``(B, *target.shape)``; output
            ``weight.shape``.
        """
        total: Tensor | None = None
        for pre, post, g in terms:
            if _per_neuron(g):  # a neuron-specific factor weighs the postsynaptic side
                post, g = post.to(g.dtype) * g, 1.0
            corr = self.connection.correlate(pre, post)
            if isinstance(g, Tensor):
                part = torch.tensordot(g.to(corr.dtype), corr, dims=1)
            else:
                part = corr.sum(0) * g
            total = part if total is None else total.add_(part)
        assert total is not None, "correlation() needs at least one term"
        return total

    def accumulate(self, z: Tensor, pre: Tensor, post: Tensor, alpha: float) -> None:
        """``z += alpha * correlate(pre, post)`` for every batch element.

        Shape:
            ``z``: ``(B, *weight.shape)``; ``pre``, ``post``: as :meth:`correlation`.
        """
        z.add_(self.connection.correlate(pre, post), alpha=alpha)

    def accumulate_window(self, z: Tensor, pre: Tensor, post: Tensor, alpha: Sequence[float]) -> None:
        """``z += sum_t alpha_t correlate(pre[t], post[t])``: :meth:`accumulate` for several steps.

        Shape:
            ``z``: ``(B, *weight.shape)``; ``pre``: ``(T, B, *source.shape)``; ``post``:
            ``(T, B, *target.shape)``; ``alpha``: ``T`` numbers.
        """
        for t, a in enumerate(alpha):
            self.accumulate(z, pre[t], post[t], a)

    def weight_change(self, z: Tensor, g: BatchWeight) -> Tensor:
        """``sum_b g_b z_b``. Shape: ``z`` ``(B, *weight.shape)``; output ``weight.shape``.

        A neuron-specific ``g`` ``(B, *target.shape)`` needs one weight per synapse with the
        target neurons on its last axis (:class:`DenseAdapter`); this generic adapter refuses it:
        its eligibility has already summed the synapses that share a weight.
        """
        if _per_neuron(g):
            raise ValueError(f"a neuron-specific modulator of shape {tuple(g.shape)} needs a connection with one "
                             f"weight per synapse (a dense Connection); {type(self.connection).__name__} "
                             "shares weights between synapses, so its eligibility cannot be weighted per neuron "
                             "after the fact: deliver a number or a (B,) tensor")
        if isinstance(g, Tensor):
            return torch.tensordot(g.to(z.dtype), z, dims=1)
        return z.sum(0) * g

    def add_batch_weighted(self, z: Tensor, g: BatchWeight) -> None:
        """Add ``sum_b g_b z_b`` to the weights (``apply_update``: decay and constraints follow)."""
        self.connection.apply_update(self.weight_change(z, g))

    def apply_update(self, dw: Tensor) -> None:
        """``connection.apply_update(dw)``."""
        self.connection.apply_update(dw)

    def stdp_eligibility(self, params: STDPParameters, batch_size: int) -> STDPEligibility:
        """A new pair-STDP eligibility for this connection (the plain equations)."""
        return STDPEligibility(self, params, batch_size)


class DenseAdapter(ConnectionAdapter):
    """Adapter of the dense :class:`~snnrl.network.connections.Connection` (``weight (n_pre, n_post)``).

    * correlations are ``(g * pre)^T @ post`` matrix products, not ``(B, n_pre, n_post)`` outer
      products;
    * eligibilities are accumulated with batched rank-one updates (``baddbmm``);
    * ``sum_b g_b z_b`` is added to the weights in one fused pass (``addmv``/``add_``) followed
      by the connection's weight decay and ``constrain()`` -- the same steps, in the same order,
      as ``apply_update``, without materialising the change;
    * the pair-STDP eligibility keeps its decays as global scales: a
      :class:`ScaledSTDPEligibility` (two rank-one updates per step) for weights of at most
      ``factorize_above`` entries, else, on CPU, a :class:`FactorizedSTDPEligibility` that
      touches only the rows of spiking presynaptic neurons (on GPU the plain
      :class:`STDPEligibility`, whose dense updates suit the device).
    """

    def correlation(self, terms: Sequence[tuple[Tensor, Tensor, BatchWeight]]) -> Tensor:
        out: Tensor | None = None
        dtype = self.connection.weight.dtype
        for pre, post, g in terms:
            a = as_dtype(_flat(pre), dtype)
            b = as_dtype(_flat(post), dtype)
            if _per_neuron(g):
                b, g = b * _flat(g).to(dtype), 1.0
            if isinstance(g, Tensor):
                a = a * g.to(dtype).unsqueeze(1)
                alpha = 1.0
            else:
                alpha = float(g)
            if out is None:
                out = torch.mm(a.t(), b)
                if alpha != 1.0:
                    out.mul_(alpha)
            else:
                out.addmm_(a.t(), b, alpha=alpha)
        assert out is not None, "correlation() needs at least one term"
        return out

    def weight_change(self, z: Tensor, g: BatchWeight) -> Tensor:
        if _per_neuron(g):
            return torch.einsum("bij,bj->ij", z, _flat(g).to(z.dtype))
        return super().weight_change(z, g)

    def accumulate_window(self, z: Tensor, pre: Tensor, post: Tensor, alpha: Sequence[float]) -> None:
        # one batched product for the whole window: (B, n_pre, T) @ (B, T, n_post)
        steps, dtype = pre.shape[0], z.dtype
        a = as_dtype(pre.reshape(steps, pre.shape[1], -1), dtype)
        if any(x != 1.0 for x in alpha):
            a = a * torch.tensor(list(alpha), dtype=dtype, device=z.device).view(-1, 1, 1)
        b = as_dtype(post.reshape(steps, post.shape[1], -1), dtype)
        z.baddbmm_(a.permute(1, 2, 0), b.transpose(0, 1))

    def accumulate(self, z: Tensor, pre: Tensor, post: Tensor, alpha: float) -> None:
        dtype = z.dtype
        z.baddbmm_(as_dtype(_flat(pre), dtype).unsqueeze(2), as_dtype(_flat(post), dtype).unsqueeze(1), alpha=alpha)

    def add_batch_weighted(self, z: Tensor, g: BatchWeight) -> None:
        conn = self.connection
        w = conn.weight.data
        if _per_neuron(g):  # sum_b z_b[i, j] g_b[j]
            gf = _flat(g).to(w.dtype)
            if z.shape[0] == 1:
                w.addcmul_(z[0], gf)
            else:
                w.add_(torch.einsum("bij,bj->ij", z, gf))
        elif isinstance(g, Tensor):
            w.view(-1).addmv_(z.reshape(z.shape[0], -1).t(), g.to(w.dtype))
        elif z.shape[0] == 1:
            w.add_(z[0], alpha=g)
        else:
            w.view(-1).addmv_(z.reshape(z.shape[0], -1).t(), w.new_full((z.shape[0],), g))
        if conn.weight_decay:
            w.mul_(1.0 - conn.weight_decay)
        conn.constrain()

    #: Weights with more entries than this get the factorised eligibility (on CPU).
    factorize_above = 1 << 14

    def stdp_eligibility(self, params: STDPParameters, batch_size: int) -> STDPEligibility:
        w = self.connection.weight
        if w.numel() <= self.factorize_above:
            return ScaledSTDPEligibility(self, params, batch_size)
        if w.is_cpu:
            return FactorizedSTDPEligibility(self, params, batch_size)
        return STDPEligibility(self, params, batch_size)


register_adapter(Connection, DenseAdapter)
