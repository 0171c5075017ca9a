"""The aggregate of several runs of one agent (its seeds): ``snnrl summarize`` and ``train --seeds``.

Following rliable (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"), the
aggregate is the interquartile mean (IQM, the 25 % trimmed mean) over runs with a 95 % interval
from the stratified bootstrap (``rliable.library.get_interval_estimates``), for

* the learning curve: each run's training returns (moving average over ``window`` episodes),
  aggregated at up to ``points`` episodes (all runs cut to the shortest);
* the periodic evaluations, where all runs have them at the same episodes;
* the final score of each run (:func:`~snnrl.distributed.jobs.objective`: the final
  evaluation's mean return), with the mean as well.

:func:`summarize_runs` writes ``summary.json`` (all of it), ``evaluation.csv`` (one row per run)
and ``learning_curves.png`` (each run's curve, the IQM and its interval) into a directory.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnrl.analysis.learning import moving_average
from snnrl.distributed._deps import require
from snnrl.distributed.jobs import objective, read_results

__all__ = ["CONFIDENCE", "aggregate_curve", "aggregate_scores", "plot_summary", "summarize_runs"]

CONFIDENCE = 0.95


def _interval(scores: np.ndarray, func: Callable[[np.ndarray], np.ndarray], reps: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """rliable's point estimate and stratified-bootstrap interval ``(2, K)`` of ``func`` on
    ``scores`` ``(runs, tasks, ...)``."""
    library = require("rliable.library", "the summary of several runs")
    state = np.random.get_state()  # rliable draws its resamples from NumPy's global generator
    np.random.seed(seed)
    try:
        points, intervals = library.get_interval_estimates({"runs": scores}, func, reps=reps,
                                                           confidence_interval_size=CONFIDENCE)
    finally:
        np.random.set_state(state)
    return np.asarray(points["runs"], dtype=np.float64), np.asarray(intervals["runs"], dtype=np.float64)


def _iqm_per_point(scores: np.ndarray) -> np.ndarray:
    """``rliable.metrics.aggregate_iqm`` at each point of the last axis, in one call.

    Shape: ``(runs, tasks, P) -> (P,)``."""
    import scipy.stats

    return np.asarray(scipy.stats.trim_mean(scores.reshape(-1, scores.shape[-1]), proportiontocut=0.25, axis=0))


def aggregate_curve(curves: np.ndarray, reps: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """The IQM over runs at each point of ``curves`` with its 95 % bootstrap interval.

    Shape: ``curves`` ``(runs, P)``; each list of the result has ``P`` entries.
    """
    point, interval = _interval(np.asarray(curves, dtype=np.float64)[:, None, :], _iqm_per_point, reps, seed)
    return {"iqm": point.tolist(), "low": interval[0].tolist(), "high": interval[1].tolist()}


def aggregate_scores(scores: Sequence[float], reps: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """IQM and mean of one score per run, each ``{"value", "low", "high"}`` (95 % interval).

    (rliable's median is the median over tasks of the mean over runs: with one task, the mean.)"""
    metrics = require("rliable.metrics", "the summary of several runs")
    names = ("iqm", "mean")

    def func(s: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s)])

    point, interval = _interval(np.asarray(scores, dtype=np.float64).reshape(-1, 1), func, reps, seed)
    return {n: {"value": float(point[i]), "low": float(interval[0, i]), "high": float(interval[1, i])}
            for i, n in enumerate(names)}


def _load(run_dirs: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """The results of each run, checked to be finished runs of one agent on one environment."""
    if not run_dirs:
        raise ValueError("no run directories to summarize")
    results = []
    for d in run_dirs:
        r = read_results(d)
        if r is None:
            raise FileNotFoundError(f"{str(d)!r} has no readable results.json: not a finished run (continue it "
                                    "with snnrl train --resume)")
        results.append(r)
    kinds = sorted({(str(r["agent"]), str(r["env"])) for r in results})
    if len(kinds) > 1:
        raise ValueError(f"the runs are of different agents or environments {kinds}; summarize the runs of one "
                         "agent on one environment")
    return results


def _eval_curves(results: Sequence[Mapping[str, Any]]) -> tuple[list[int], np.ndarray] | None:
    """The periodic evaluations ``(episodes, (runs, E))`` where every run has them at the same episodes."""
    histories = [r.get("eval_history") or [] for r in results]
    episodes = [[int(e) for e, _ in h] for h in histories]
    if not episodes[0] or any(e != episodes[0] for e in episodes):
        return None
    return episodes[0], np.array([[float(v) for _, v in h] for h in histories])


def _row(run_dir: str | os.PathLike[str], r: Mapping[str, Any]) -> dict[str, Any]:
    ev, best = r.get("evaluation") or {}, r.get("evaluation_best") or {}
    return {"seed": r["seed"], "run_dir": str(run_dir), "episodes": r["episodes"], "total_steps": r["total_steps"],
            "seconds": r["seconds"], "train_last_100_mean": r["train_last_100"]["mean"],
            "eval_mean": ev.get("mean"), "eval_std": ev.get("std"), "best_eval_mean": best.get("mean"),
            "score": objective(r)}


def summarize_runs(run_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                   reps: int = 2000, seed: int = 0, points: int = 100, plot: bool = True) -> dict[str, Any]:
    """Aggregate finished runs of one agent into ``out_dir`` (see the module docstring).

    Args:
        run_dirs: run directories with a ``results.json``.
        out_dir: where ``summary.json``, ``evaluation.csv`` and ``learning_curves.png`` go.
        reps: bootstrap resamples (rliable recommends thousands; 2000 take about a second).
        seed: seed of the bootstrap.
        points: at most this many episodes of the learning curve are aggregated.
        plot: write the PNG (needs matplotlib; without it the PNG is left out).

    Returns:
        The content of ``summary.json``.

    Raises:
        FileNotFoundError: a directory without a finished run.
        ValueError: runs of different agents or environments.
    """
    results = _load(run_dirs)
    length = min(len(r["train_returns"]) for r in results)
    window = max(1, min(100, length // 10))
    smoothed = np.array([moving_average(r["train_returns"][:length], window) for r in results])
    index = np.unique(np.linspace(0, length - 1, min(points, length)).round().astype(int)) if length else \
        np.array([], dtype=int)
    rows = [_row(d, r) for d, r in zip(run_dirs, results, strict=True)]
    summary: dict[str, Any] = {
        "agent": results[0]["agent"], "env": results[0]["env"], "runs": len(results),
        "method": "interquartile mean over runs, 95 % stratified-bootstrap interval (rliable)", "reps": reps,
        "confidence": CONFIDENCE,
        "final": {"score": "final evaluation's mean return (else the last periodic evaluation, else the mean of "
                           "the last 100 training returns)",
                  **aggregate_scores([row["score"] for row in rows], reps, seed)},
        "curve": {"episodes_per_run": length, "truncated": any(len(r["train_returns"]) > length for r in results),
                  "window": window, "episode": (index + 1).tolist(),
                  **(aggregate_curve(smoothed[:, index], reps, seed) if length else {})},
        "runs_table": rows,
    }
    evals = _eval_curves(results)
    if evals is not None:
        summary["eval_curve"] = {"episode": evals[0], **aggregate_curve(evals[1], reps, seed)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    with open(out / "evaluation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if plot:
        try:
            summary["plot"] = str(plot_summary(summary, smoothed, out / "learning_curves.png"))
        except ImportError:
            pass
        else:
            (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def plot_summary(summary: Mapping[str, Any], smoothed: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Each run's smoothed training returns, their IQM and 95 % interval, and (a second panel) the
    periodic evaluations' IQM and interval.

    Shape: ``smoothed`` ``(runs, episodes)``.
    """
    from snnrl.analysis.plotting import _pyplot, save_figure

    plt = _pyplot()
    curve, evals = summary["curve"], summary.get("eval_curve")
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(12 if evals else 8, 4.5), squeeze=False)
    ax = axes[0, 0]
    x = np.arange(1, smoothed.shape[1] + 1)
    for i, row in enumerate(smoothed):
        ax.plot(x, row, color="0.7", lw=0.8, label="each seed" if i == 0 else None)
    if "iqm" in curve:
        ax.plot(curve["episode"], curve["iqm"], color="C0", lw=2.2, label="IQM")
        ax.fill_between(curve["episode"], curve["low"], curve["high"], color="C0", alpha=0.25, label="95 % CI")
    final = summary["final"]["iqm"]
    ax.set_title(f"{summary['agent']} on {summary['env']}: {summary['runs']} seeds, training returns "
                 f"(mean of {curve['window']})\nfinal score IQM {final['value']:.2f} "
                 f"[{final['low']:.2f}, {final['high']:.2f}]", fontsize=10)
    panels = [(ax, "return")]
    if evals:
        ev = axes[0, 1]
        ev.plot(evals["episode"], evals["iqm"], color="C1", lw=2.2, marker="o", ms=3, label="IQM")
        ev.fill_between(evals["episode"], evals["low"], evals["high"], color="C1", alpha=0.25, label="95 % CI")
        ev.set_title("periodic evaluation (mean return)", fontsize=10)
        panels.append((ev, "evaluation return"))
    for a, label in panels:
        a.set_xlabel("episode")
        a.set_ylabel(label)
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, path, 110)
