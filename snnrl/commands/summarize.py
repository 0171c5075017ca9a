"""``snnrl summarize``: the aggregate of finished runs of one agent (IQM, 95 % bootstrap intervals)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from snnrl.commands._args import positive_int


def _run_dirs(paths: list[str]) -> list[Path]:
    """The run directories: each path, or the runs of a seed set (a directory with seeds.json)."""
    from snnrl.distributed.seedset import MANIFEST, SeedSet

    out: list[Path] = []
    for text in paths:
        path = Path(text)
        if (path / MANIFEST).is_file():
            seed_set = SeedSet.read(path)
            out.extend(seed_set.run_dir(s) for s in seed_set.seeds)
        else:
            out.append(path)
    return out


def summarize(args: argparse.Namespace) -> int:
    from snnrl.distributed.summary import summarize_runs

    try:
        runs = _run_dirs(args.runs)
        if args.out is not None:
            out = Path(args.out)
        elif len({p.resolve().parent for p in runs}) == 1:
            out = runs[0].resolve().parent / "summary"
        else:
            raise ValueError("the runs are in different directories: say where the summary goes with --out DIR")
        summary = summarize_runs(runs, out, reps=args.reps, plot=not args.no_plot)
    except (FileNotFoundError, ValueError) as e:
        print(f"snnrl summarize: {e}", file=sys.stderr)
        return 2
    final = summary["final"]
    print(f"{summary['runs']} runs of {summary['agent']} on {summary['env']}; final score (95 % CI, "
          f"{args.reps} bootstrap resamples):")
    for key in ("iqm", "mean"):
        print(f"  {key:6s} {final[key]['value']:9.3f}  [{final[key]['low']:.3f}, {final[key]['high']:.3f}]")
    print(f"wrote {out / 'summary.json'}, {out / 'evaluation.csv'}"
          + (f", {summary['plot']}" if "plot" in summary else ""))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``summarize`` on the ``snnrl`` command."""
    p = sub.add_parser("summarize", help="aggregate finished runs of one agent (IQM, 95 %% bootstrap intervals)",
                       description="Aggregate finished runs (their results.json) of one agent on one environment: "
                                   "learning curves of all runs with their interquartile mean and a 95 % stratified "
                                   "bootstrap interval (rliable), the final evaluation per run, summary.json, "
                                   "evaluation.csv and learning_curves.png. Needs snnrl[distributed].")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="run directories, or seed-set directories (snnrl train --seeds) for all their runs")
    p.add_argument("--out", help="where the summary goes (default: <the runs' directory>/summary)")
    p.add_argument("--reps", type=positive_int, default=2000, help="bootstrap resamples (default: 2000)")
    p.add_argument("--no-plot", action="store_true", help="no learning_curves.png (no matplotlib needed)")
    p.set_defaults(func=summarize)
