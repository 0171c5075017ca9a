"""Learning curves: episode returns, their moving average and reference lines, as a PNG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from snnrl.analysis.plotting import _pyplot, save_figure

__all__ = ["moving_average", "plot_learning_curve"]


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values (the first entries average what there is)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return a
    window = max(1, int(window))
    c = np.cumsum(np.insert(a, 0, 0.0))
    idx = np.arange(1, a.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_learning_curve(
    returns: Sequence[float],
    path: str | Path,
    *,
    window: int = 20,
    references: Mapping[str, float] | None = None,
    baseline_returns: Sequence[float] | None = None,
    title: str | None = None,
) -> Path:
    """Write the episode returns, their moving average and horizontal reference lines to an image.

    Args:
        returns: training returns, one per episode.
        path: output file (``.png``).
        window: moving-average window (episodes).
        references: label -> value, drawn as dashed horizontal lines (e.g. ``{"random": 1.3,
            "evaluation (100 ep.)": 210.5}``).
        baseline_returns: returns of a random policy on the same episode seeds; drawn as points
            and their mean.
        title: figure title.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(1, len(returns) + 1)
    if len(returns):
        ax.plot(x, returns, color="0.75", lw=0.8, label="episode return")
        ax.plot(x, moving_average(returns, window), color="C0", lw=2.0, label=f"mean of last {window}")
    if baseline_returns is not None and len(baseline_returns):
        bx = np.arange(1, len(baseline_returns) + 1)
        ax.scatter(bx, baseline_returns, s=6, color="C3", alpha=0.5, label="random policy, same seeds")
        ax.axhline(float(np.mean(baseline_returns)), color="C3", ls="--", lw=1.2,
                   label=f"random mean {np.mean(baseline_returns):.2f}")
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{(i + 4) % 10}", ls=":", lw=1.2, label=f"{label}: {value:.2f}")
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, 110)
