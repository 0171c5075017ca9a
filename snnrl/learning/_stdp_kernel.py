"""The Numba kernel of :class:`snnrl.learning.adapters.FactorizedSTDPEligibility` (imported only
when that eligibility first flushes a window with Numba available, so ``import snnrl`` does not
load Numba). See :func:`snnrl.learning.adapters._compiled_rows` for when it is used."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["add_spike_rows"]


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
