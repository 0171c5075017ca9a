"""Images of spikes and weights as arrays (no matplotlib): for TensorBoard and quick looks.

Shape:
    every function returns ``(H, W)`` float32 in ``[0, 1]`` (grayscale), or ``(H, W, 3)`` uint8
    for :func:`raster_image` (layers in alternating tints).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["raster_image", "tile_images", "weight_image"]


def _normalize(a: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(a)), float(np.max(a))
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return np.zeros_like(a, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def tile_images(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
    """A grid of equally sized images ``(N, h, w)`` -> ``(H, W)`` with ``pad`` pixels between them."""
    n, h, w = images.shape
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32) * 0.5
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[i]
    return out


def weight_image(weight: Tensor, source_shape: Sequence[int] | None = None, max_tiles: int = 100) -> np.ndarray:
    """A dense weight matrix ``(n_pre, n_post)`` as a grayscale image in ``[0, 1]``.

    When the source population is 2-D (``source_shape = (H, W)``, e.g. an 80x80 Atari input),
    each postsynaptic neuron's incoming weights are drawn as an ``H x W`` tile (its receptive
    field), the first ``max_tiles`` neurons in a grid, each tile normalised on its own.
    Otherwise the matrix itself, ``(n_pre, n_post)`` rows by columns, normalised as a whole.
    Other weight shapes are flattened to ``(shape[0], -1)``.
    """
    w = weight.detach().float().cpu()
    w = w.reshape(w.shape[0], -1) if w.dim() != 2 else w
    if source_shape is not None and len(source_shape) >= 2 and math.prod(source_shape) == w.shape[0]:
        h, width = int(source_shape[-2]), int(math.prod(source_shape) // source_shape[-2])
        fields = w.t()[:max_tiles].reshape(-1, h, width).numpy()
        return tile_images(np.stack([_normalize(f) for f in fields]))
    return _normalize(w.numpy())


def raster_image(spikes: Mapping[str, Tensor], max_neurons: int = 128, time_scale: int = 2) -> np.ndarray:
    """A spike raster of several populations stacked vertically, ``(H, W, 3)`` uint8.

    Each population is ``(T, n)`` (one batch element; flatten its shape first). Populations
    with more than ``max_neurons`` neurons show their ``max_neurons`` most active ones. Time runs
    left to right, ``time_scale`` pixels per step; spikes are bright on a dark background,
    populations alternate between two tints, separated by a gray line.
    """
    if not spikes:
        raise ValueError("spikes is empty")
    tints = (np.array([255, 255, 255]), np.array([255, 200, 90]))
    blocks = []
    for k, (name, s) in enumerate(spikes.items()):
        if s.dim() != 2:
            raise ValueError(f"spikes[{name!r}] has shape {tuple(s.shape)}, expected (T, n)")
        s = s.detach().cpu().float()
        if s.shape[1] > max_neurons:
            keep = torch.topk(s.sum(0), max_neurons).indices.sort().values
            s = s[:, keep]
        grid = (s.t().numpy() > 0)  # (n, T)
        grid = np.repeat(grid, time_scale, axis=1)
        img = np.zeros((*grid.shape, 3), dtype=np.uint8) + 20
        img[grid] = tints[k % 2]
        blocks.append(img)
        blocks.append(np.full((1, grid.shape[1], 3), 110, dtype=np.uint8))
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0))) for b in blocks[:-1]]
    return np.concatenate(blocks, axis=0)
