"""Numba kernels of the observation wrappers (imported only when a wrapper first needs one with
Numba available, so ``import snnrl.wrappers`` does not load Numba). See
:func:`snnrl.wrappers._fast.compiled_kernels` for when they are used; each has a NumPy or OpenCV
reference path that gives the same bits, and tests compare the two."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["bernoulli_fill", "bernoulli_split", "foreground", "overlay_max", "overlay_max_checked", "palette_gray",
           "pool_max", "resize_area_u8", "scale_unit"]


@numba.njit(cache=True, nogil=True)
def resize_area_u8(src, x_src, x_alpha, y_dst, y_alpha, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """OpenCV's ``INTER_AREA`` shrink of a uint8 image by non-integer factors, bit for bit.

    OpenCV sums each source row's pixels into the destination columns they overlap
    (``row[dx] += pixel * x_alpha``, in source order, from 0), then each destination row's
    source rows (``acc[dy] += y_alpha * row``, in source order, from 0), in float32, and
    rounds half to even. Here each destination column adds its source columns' products in the
    same order (the first product stands for ``0 + product``, which is the same number; missing
    taps weigh 0), and each source row is added to its (at most two) destination rows; all-zero
    source rows are skipped. Adding ``+0.0`` to a non-negative float changes nothing, so the
    skipped and padded terms leave the bits alone.

    Shapes: ``src`` ``(H, W)`` uint8; ``x_src`` / ``x_alpha`` ``(m, w)`` (tap ``k`` of every
    destination column: int64 source column / float32 weight, 0 for padding); ``y_dst`` /
    ``y_alpha`` ``(H, 2)`` (int64 destination row, -1 for none / float32 weight); ``out``
    ``(h, w)`` uint8 (written and returned).
    """
    height, width = src.shape
    dh, dw = out.shape
    taps = x_src.shape[0]
    acc = np.zeros((dh, dw), np.float32)
    row = np.empty(dw, np.float32)
    for sy in range(height):
        hit = False
        for sx in range(width):
            hit |= src[sy, sx] != 0
        if not hit:
            continue
        line = src[sy]
        first, weight = x_src[0], x_alpha[0]
        for dx in range(dw):  # one pass per tap, over all columns: the loops vectorise
            row[dx] = np.float32(line[first[dx]]) * weight[dx]
        for k in range(1, taps):
            index, weight = x_src[k], x_alpha[k]
            for dx in range(dw):
                row[dx] += np.float32(line[index[dx]]) * weight[dx]
        for k in range(2):
            dy = y_dst[sy, k]
            if dy >= 0:
                beta = y_alpha[sy, k]
                for dx in range(dw):
                    acc[dy, dx] += beta * row[dx]
    for dy in range(dh):
        for dx in range(dw):
            r = np.rint(acc[dy, dx])
            out[dy, dx] = 255 if r > 255.0 else np.uint8(r)
    return out


@numba.njit(cache=True, nogil=True)
def bernoulli_split(prob, sure, index, thresholds):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """One pass over flat probabilities: ``sure[i] = prob[i] >= 1``; the indices of the elements
    with ``0 < prob < 1`` go to ``index`` (in order) and their 16-bit thresholds
    ``min(rint(prob * 65536), 65535)`` to ``thresholds``. Returns their count. NaN is neither.

    Shapes: ``prob`` ``(n,)`` float32; ``sure`` ``(n,)`` uint8, ``index`` ``(n,)`` int64,
    ``thresholds`` ``(n,)`` uint16 (filled in place)."""
    count = 0
    scale = np.float32(65536.0)
    for i in range(prob.shape[0]):
        p = prob[i]
        sure[i] = p >= 1.0
        if (p > 0.0) & (p < 1.0):  # rare in binarised frames; & (not "and") keeps one predictable branch
            index[count] = i
            t = np.rint(p * scale)
            thresholds[count] = 65535 if t > 65535.0 else np.uint16(t)
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def bernoulli_fill(sure, index, thresholds, draws, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``out[t] = sure`` at every step, then ``out[t, index[j]] = draws[t, j] < thresholds[j]``.

    Shapes: ``sure`` ``(n,)`` uint8; ``index`` / ``thresholds`` ``(m,)``; ``draws`` ``(T, m)``
    uint16; ``out`` ``(T, n)`` uint8 (written in place)."""
    steps, n = out.shape
    m = draws.shape[1]
    for t in range(steps):
        for i in range(n):
            out[t, i] = sure[i]
        for j in range(m):
            out[t, index[j]] = 1 if draws[t, j] < thresholds[j] else 0


@numba.njit(cache=True, nogil=True)
def overlay_max(stack, weights, high, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``out = min(max_i float32(stack[i]) * weights[i], high)`` element-wise, in float32 (what
    NumPy's multiply, ``max(axis=0)`` and ``minimum`` give: a maximum is exact). For stacks
    without NaN (uint8 frames, finite weights): the loops compile to vector max / min.

    Shapes: ``stack`` ``(k, n)``; ``weights`` ``(k,)`` float32; ``high`` / ``out`` ``(n,)`` float32."""
    k, n = stack.shape
    w0 = weights[0]
    for i in range(n):
        out[i] = np.float32(stack[0, i]) * w0
    for j in range(1, k):
        w = weights[j]
        for i in range(n):
            v = np.float32(stack[j, i]) * w
            out[i] = v if v > out[i] else out[i]
    for i in range(n):
        out[i] = high[i] if high[i] < out[i] else out[i]
    return out


@numba.njit(cache=True, nogil=True)
def scale_unit(x, inv, shift, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``out = clip(float32(x) * inv - shift, 0, 1)`` in float32 (``shift`` 0: no subtraction),
    as :class:`~snnrl.wrappers.scaling.UnitScaler`'s scalar fast path computes it with NumPy
    (NaN stays NaN, ``-0.0`` stays ``-0.0``). Returns the flat index of the first NaN, or -1.

    Shapes: ``x`` ``(n,)``; ``out`` ``(n,)`` float32."""
    n = x.shape[0]
    nan = 0
    zero, one = np.float32(0.0), np.float32(1.0)
    if shift != 0.0:
        for i in range(n):
            u = np.float32(x[i]) * inv - shift
            nan |= u != u
            u = zero if u < zero else u
            out[i] = one if u > one else u
    else:
        for i in range(n):
            u = np.float32(x[i]) * inv
            nan |= u != u
            u = zero if u < zero else u
            out[i] = one if u > one else u
    if nan:
        for i in range(n):
            if out[i] != out[i]:
                return i
    return -1


@numba.njit(cache=True, nogil=True)
def pool_max(x, rows, cols, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Max over ``rows x cols`` blocks: ``out[l, i, j] = max x[l, i*rows:(i+1)*rows, j*cols:(j+1)*cols]``.

    A maximum is exact, so any order gives NumPy's values, except for NaN and for which zero
    (``-0.0`` or ``+0.0``) a block of equal zeros returns. Returns True, leaving ``out``
    unfinished, when a NaN or a ``-0.0`` is seen: the caller then asks NumPy.

    Shapes: ``x`` ``(L, H, W)``; ``out`` ``(L, H / rows, W / cols)``, the dtype of ``x``."""
    lead, height, width = x.shape
    for l in range(lead):  # noqa: E741
        for i in range(height // rows):
            for j in range(width // cols):
                best = x[l, i * rows, j * cols]
                for r in range(i * rows, (i + 1) * rows):
                    for c in range(j * cols, (j + 1) * cols):
                        v = x[l, r, c]
                        if v != v or (v == 0 and np.signbit(v)):
                            return True
                        if v > best:
                            best = v
                out[l, i, j] = best
    return False


@numba.njit(cache=True, nogil=True)
def foreground(x, background, rate, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """``out = maximum(x - b, 0)``, then ``b += (x - b) * rate``, element-wise in float32: what
    :class:`~snnrl.wrappers.atari.SubtractBackground` computes with NumPy (``maximum`` keeps NaN
    and turns ``-0.0`` into ``+0.0``, as NumPy's does).

    Shapes: ``x``, ``background`` (updated in place) and ``out``: ``(n,)`` float32."""
    zero = np.float32(0.0)
    for i in range(x.shape[0]):
        d = x[i] - background[i]
        out[i] = d if (d > zero or d != d) else zero
        background[i] += (x[i] - background[i]) * rate
    return out


@numba.njit(cache=True, nogil=True)
def overlay_max_checked(stack, weights, high, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """:func:`overlay_max` for float stacks: returns True, leaving ``out`` unfinished, when a
    product is NaN or ``-0.0`` (NumPy's order then decides the result; the caller asks NumPy).

    Shapes: as :func:`overlay_max`."""
    k, n = stack.shape
    zero = np.float32(0.0)
    for i in range(n):
        best = np.float32(stack[0, i]) * weights[0]
        if best != best or (best == zero and np.signbit(best)):
            return True
        for j in range(1, k):
            v = np.float32(stack[j, i]) * weights[j]
            if v != v or (v == zero and np.signbit(v)):
                return True
            best = v if v > best else best
        out[i] = high[i] if high[i] < best else best
    return False


_BYTES = np.uint64(0x0101010101010101)


@numba.njit(cache=True, nogil=True)
def palette_gray(screen, table, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """ALE's grayscale frame from its palette-index frame: ``out = table[screen]``.

    ALE's ``getScreenGrayscale`` looks every pixel's palette index up in a fixed table; this does
    the same lookup with a table learned from ALE's own frames (``table[i]``, int16, -1 where
    index ``i`` has not been seen). Eight pixels at a time: a word of eight equal indices (the
    background) is one lookup. Returns False if the frame holds an index the table does not know
    (``out`` is then partly written and must be discarded).

    Shapes: ``screen`` and ``out`` ``(H, W)`` uint8, C-contiguous, ``H * W`` a multiple of 8;
    ``table`` ``(256,)`` int16.
    """
    src = screen.ravel()
    dst = out.ravel()
    src_words = src.view(np.uint64)
    dst_words = dst.view(np.uint64)
    seen = np.int16(0)
    for k in range(src_words.size):
        word = src_words[k]
        first = word & np.uint64(0xFF)
        if word == first * _BYTES:  # eight equal indices
            x = table[first]
            seen |= x
            dst_words[k] = np.uint64(x & 0xFF) * _BYTES
        else:
            for i in range(8 * k, 8 * k + 8):
                x = table[src[i]]
                seen |= x
                dst[i] = np.uint8(x & 0xFF)
    return seen >= 0
