"""Plots for the vision pipelines: learned weights, label assignments, accuracy curves.

All plots are written straight to image files (matplotlib's Agg backend, no display needed).
:func:`weight_grid` builds the weight mosaic as a tensor without matplotlib (for TensorBoard's
``add_image``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnrl.analysis.plotting import _pyplot, save_figure

__all__ = ["plot_accuracy", "plot_assignments", "plot_weight_grid", "weight_grid"]


def weight_grid(weight: Tensor, image_shape: tuple[int, int] = (28, 28), columns: int | None = None,
                pad: int = 1) -> Tensor:
    """Tile each neuron's input weights as an image: a mosaic scaled to ``[0, 1]`` per neuron.

    Args:
        weight: input weights, one column per neuron.
        image_shape: ``(H, W)`` of one neuron's receptive field (``H * W`` rows of ``weight``).
        columns: tiles per row (default: about square).
        pad: pixels between tiles.

    Shape:
        ``weight``: ``(H * W, N)``; output ``(rows * (H + pad) - pad, columns * (W + pad) - pad)``.
    """
    h, w = image_shape
    if weight.dim() != 2 or weight.shape[0] != h * w:
        raise ValueError(f"weight must be ({h * w}, N) for {image_shape} images, got {tuple(weight.shape)}")
    n = weight.shape[1]
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    x = weight.detach().to(torch.float32).cpu()
    lo, hi = x.min(0).values, x.max(0).values
    x = (x - lo) / (hi - lo).clamp(min=1e-12)
    out = torch.ones(rows * (h + pad) - pad, cols * (w + pad) - pad)
    for j in range(n):
        r, c = divmod(j, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = x[:, j].view(h, w)
    return out


def _save(fig: Any, plt: Any, path: str | Path) -> Path:
    return save_figure(fig, path, 120)


def plot_weight_grid(weight: Tensor, path: str | Path, image_shape: tuple[int, int] = (28, 28),
                     title: str | None = None) -> Path:
    """Write the input weights of every neuron as a grid of ``image_shape`` images.

    Shape:
        ``weight``: ``(H * W, N)``.
    """
    grid = weight_grid(weight, image_shape)
    plt = _pyplot()
    size = max(4.0, min(14.0, grid.shape[1] / 40))
    fig, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1] + 0.4))
    ax.imshow(grid.numpy(), cmap="hot_r", interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"input weights of {weight.shape[1]} neurons", fontsize=9)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_assignments(assignments: Tensor, path: str | Path, n_labels: int = 10, title: str | None = None) -> Path:
    """Write each neuron's assigned class as a labelled grid (grey: never fired, ``-1``).

    Shape:
        ``assignments``: ``(N,)``.
    """
    a = assignments.detach().cpu().long()
    n = a.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    plt = _pyplot()
    grid = torch.full((rows * cols,), float("nan"))
    grid[:n] = a.to(torch.float32).masked_fill(a < 0, float("nan"))
    fig, ax = plt.subplots(figsize=(max(4.0, cols * 0.45), max(3.5, rows * 0.45)))
    cmap = plt.get_cmap("tab10", n_labels)
    cmap = cmap.with_extremes(bad="lightgrey")
    im = ax.imshow(grid.view(rows, cols).numpy(), cmap=cmap, vmin=-0.5, vmax=n_labels - 0.5)
    if n <= 400:
        for j in range(n):
            r, c = divmod(j, cols)
            ax.text(c, r, "-" if a[j] < 0 else str(int(a[j])), ha="center", va="center", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, ticks=range(n_labels))
    counts = torch.bincount(a[a >= 0], minlength=n_labels).tolist()
    ax.set_title(title or f"class of each neuron; per class: {counts}", fontsize=7)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_accuracy(history: Sequence[Mapping[str, float]], path: str | Path, test: Mapping[str, float] | None = None,
                  title: str | None = None) -> Path:
    """Write training accuracy curves (one per ``train_acc*`` key of the history rows, against
    ``images``) and, as horizontal lines, the final test accuracies.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    keys = sorted({k for row in history for k in row if k.startswith("train_acc")})
    for k in keys:
        xs = [row["images"] for row in history if k in row]
        ys = [100 * row[k] for row in history if k in row]
        ax.plot(xs, ys, label=k.replace("train_acc_", "train, "))
    for i, (k, v) in enumerate((test or {}).items()):
        ax.axhline(100 * v, ls="--", lw=1, color=f"C{(i + len(keys)) % 10}", label=f"test, {k}: {100 * v:.2f} %")
    ax.set_xlabel("training images")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "accuracy", fontsize=9)
    fig.tight_layout()
    return _save(fig, plt, path)
