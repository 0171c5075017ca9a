"""The Numba kernels of the learning rules (imported only when a rule first needs one with Numba
available, so ``import snnrl`` does not load Numba): the row accumulation of
:class:`snnrl.learning.adapters.FactorizedSTDPEligibility` and the presynaptic trace window of
:class:`snnrl.learning.eprop.EProp` (``EProp.step_sequence``); loaded by
:func:`snnrl.learning.adapters.learning_kernels`. Each computes the bits of the
PyTorch path it replaces; tests compare the two."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["add_spike_rows", "lif_trace_window"]


@numba.njit(cache=True, nogil=True)
def add_spike_rows(pre, rows, kp, k, p, batch):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """For every presynaptic neuron ``col`` that spiked in the window: ``k[col] += sum_t rows[t, b]``
    and ``p[col] += sum_t kp[t]`` over its spikes' steps ``t`` in order (``b`` its batch element).

    Shapes: ``pre`` ``(n, B * n_pre)`` bool, ``rows`` ``(n * B, n_post)``, ``kp`` ``(n,)``, ``k``
    ``(B * n_pre, n_post)``, ``p`` ``(B * n_pre,)`` (``k`` and ``p`` updated in place; ``p`` may be
    empty to leave it alone). Each neuron's rows are summed from zero in step order and the sum is
    then added to ``k``, as ``embedding_bag`` followed by ``index_add_`` computes it."""
    n, total = pre.shape
    n_pre = total // batch
    n_post = rows.shape[1]
    acc = np.empty(n_post, rows.dtype)
    with_p = p.shape[0] > 0
    for col in range(total):
        b = col // n_pre
        hit = False
        for t in range(n):
            if pre[t, col]:
                if not hit:
                    hit = True
                    acc[:] = 0.0
                r = t * batch + b
                for j in range(n_post):
                    acc[j] += rows[r, j]
                if with_p:
                    p[col] += kp[t]
        if hit:
            for j in range(n_post):
                k[col, j] += acc[j]


@numba.njit(cache=True, nogil=True)
def lif_trace_window(window, first, count, zbar, pre, start, alpha):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """e-prop's presynaptic trace over ``count`` steps, written into a window buffer:
    ``window[first] = zbar``, ``window[first + j] = window[first + j - 1] * alpha + pre[start + j - 1]``,
    then ``zbar = window[first + count - 1] * alpha + pre[start + count - 1]``.

    A product, then a sum, each rounded to the arrays' dtype (``alpha`` is a scalar of that
    dtype): what ``torch.mul(x, alpha).add_(s)`` computes on CPU. Shapes: ``window``
    ``(capacity, m)``, ``zbar`` ``(m,)``, ``pre`` ``(T, m)``, all of one float dtype."""
    m = zbar.shape[0]
    for i in range(m):
        window[first, i] = zbar[i]
    for j in range(1, count):
        for i in range(m):
            window[first + j, i] = window[first + j - 1, i] * alpha + pre[start + j - 1, i]
    last = first + count - 1
    for i in range(m):
        zbar[i] = window[last, i] * alpha + pre[start + count - 1, i]
