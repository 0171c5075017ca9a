"""Matplotlib plots written straight to image files (no display needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'snnrl[vision]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    """Render ``fig`` (format from the suffix, e.g. ``.png``) and write it atomically: a killed
    writer leaves the old image or the new one, never half of one; then close the figure."""
    import io

    from snnrl.checkpoint import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    finally:
        _pyplot().close(fig)
    write_atomic(path, buf.getvalue())
    return path


def plot_raster(spikes: Mapping[str, Tensor], path: str | Path, dt: float = 1.0, title: str | None = None) -> Path:
    """Write a spike raster, one panel per population, to an image file.

    Args:
        spikes: population name -> boolean spikes of one batch element.
        path: output file (the format follows the suffix, e.g. ``.png``).
        dt: step length in ms (for the time axis).
        title: figure title.

    Returns:
        The path written.

    Shape:
        each spike tensor: ``(T, n)`` (flatten the population shape first).
    """
    if not spikes:
        raise ValueError("spikes is empty: give at least one population")
    for name, s in spikes.items():
        if s.dim() != 2:
            raise ValueError(f"spikes[{name!r}] has shape {tuple(s.shape)}, expected (T, n)")
    plt = _pyplot()
    heights = [max(1.0, min(4.0, s.shape[1] / 25)) for s in spikes.values()]
    fig, axes = plt.subplots(len(spikes), 1, figsize=(9, 1.0 + sum(heights)), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (name, s) in zip(axes[:, 0], spikes.items(), strict=True):
        t, n = s.detach().cpu().nonzero(as_tuple=True)
        ax.scatter(t.numpy() * dt, n.numpy(), s=1.5, c="k", marker="|")
        ax.set_ylabel(f"{name}\nneuron")
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        rate = s.float().mean().item() * 1000.0 / dt
        ax.set_title(f"{name}: {s.shape[1]} neurons, mean rate {rate:.1f} Hz", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time (ms)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, 120)
