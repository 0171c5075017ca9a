"""The Numba kernel of :mod:`snnrl.network.compiled` (imported only when that path first runs,
so ``import snnrl`` does not load Numba). See that module for what it computes and why."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba.extending import intrinsic

__all__ = ["lif_window"]


@intrinsic
def fma(typingctx: Any, a: Any, b: Any, c: Any) -> Any:  # pragma: no cover - compiled
    """``a * b + c`` rounded once (LLVM's fma), as ``torch.addcmul`` computes it on CPUs with FMA."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.fma(*args)

    return a(a, b, c), codegen


@numba.njit(cache=True, nogil=True)
def _synaptic_input(x, prev, conns, weights, biases, tmp):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``x += s_prev @ W + b`` for every connection between LIF layers, each connection's sum
    over the active source neurons in index order (then its bias) added to ``x`` in turn."""
    for c in range(conns.shape[1]):
        src, ns, tgt, nt, woff, boff = conns[0, c], conns[1, c], conns[2, c], conns[3, c], conns[4, c], conns[5, c]
        for k in range(nt):
            tmp[k] = 0.0
        for j in range(ns):
            if prev[src + j]:
                row = woff + j * nt
                for k in range(nt):
                    tmp[k] += weights[row + k]
        if boff >= 0:
            for k in range(nt):
                tmp[k] += biases[boff + k]
        for k in range(nt):
            x[tgt + k] += tmp[k]


@numba.njit(cache=True, nogil=True)
def _lif_update(x, v, rc, s, params):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One LIF step of every neuron, as ``snnrl.functional.lif.lif_discrete`` computes it."""
    leak, decay, rest, thresh = params[0], params[1], params[2], params[3]
    reset, refrac, use_refrac, lbound = params[4], params[5], params[6], params[7]
    neg_dt = params[8, 0]
    for i in range(x.shape[0]):
        vi = fma(v[i], decay[i], rest[i]) if leak[i] != 0.0 else v[i]
        r = rc[i]
        refractory = use_refrac[i] != 0.0
        if not (refractory and r > 0.0):
            vi = vi + x[i]
        fired = vi >= thresh[i]
        if fired:
            vi = reset[i]
        if vi < lbound[i]:
            vi = lbound[i]
        if refractory:
            r = r + neg_dt
            if fired:
                r = refrac[i]
        v[i] = vi
        rc[i] = r
        s[i] = fired


@numba.njit(cache=True, nogil=True)
def lif_window(pre, state, s0, params, conns, weights, biases, out_s, rec):  # type: ignore[no-untyped-def]  # pragma: no cover
    """A whole run: ``pre`` ``(T, B, n)`` precomputed input, ``state`` ``(2, B, n)`` voltages and
    refractory counts (updated in place), ``s0`` ``(B, n)`` the spikes before the run, ``out_s``
    ``(T, B, n)`` the spikes, ``rec`` ``(T, 2, B, n)`` the state after every step (or empty)."""
    steps, batch, n = pre.shape
    x = np.empty(n, pre.dtype)
    width = 1
    for c in range(conns.shape[1]):
        width = max(width, conns[3, c])
    tmp = np.empty(width, pre.dtype)
    for t in range(steps):
        for b in range(batch):
            x[:] = pre[t, b]
            _synaptic_input(x, s0[b] if t == 0 else out_s[t - 1, b], conns, weights, biases, tmp)
            _lif_update(x, state[0, b], state[1, b], out_s[t, b], params)
            if rec.shape[0] > 0:
                rec[t, :, b] = state[:, b]
