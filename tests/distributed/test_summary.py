"""The aggregate of several runs (rliable's IQM and stratified-bootstrap intervals), and ``snnrl summarize``."""

import csv
import json

import numpy as np
import pytest

pytest.importorskip("rliable.library")

from snnrl.cli import main
from snnrl.distributed.summary import aggregate_curve, aggregate_scores, summarize_runs


def _run(path, seed, returns, final, history=((5, 1.0), (10, 2.0)), agent="cue_bandit", env="cue_bandit"):
    """A run directory with the results.json of a finished run."""
    path.mkdir(parents=True)
    tail = returns[-100:]
    result = {"agent": agent, "env": env, "seed": seed, "run_dir": str(path), "episodes": len(returns),
              "total_steps": 20 * len(returns), "seconds": 1.0, "steps_per_second": 20.0,
              "train_returns": list(returns), "train_last_100": {"mean": float(np.mean(tail)), "n": len(tail)},
              "checkpoint": str(path / "checkpoint.safetensors"), "resumed_from": None,
              "evaluation": {"mean": final, "std": 0.0, "returns": [final]},
              "eval_history": [list(h) for h in history]}
    (path / "results.json").write_text(json.dumps(result))
    return path


def test_scores_iqm_mean_and_their_intervals():
    scores = [0.0, 1.0, 2.0, 3.0, 100.0]
    agg = aggregate_scores(scores, reps=300)
    assert agg["iqm"]["value"] == pytest.approx(2.0)  # 25 % trimmed from each end: mean of 1, 2, 3
    assert agg["mean"]["value"] == pytest.approx(21.2) and set(agg) == {"iqm", "mean"}
    for m in agg.values():
        assert m["low"] <= m["value"] <= m["high"]
    assert agg["mean"]["high"] > 50  # resamples with the outlier twice or more
    same = aggregate_scores([7.0] * 4, reps=100)
    assert same["iqm"] == {"value": 7.0, "low": 7.0, "high": 7.0}
    assert aggregate_scores(scores, reps=300, seed=3) == aggregate_scores(scores, reps=300, seed=3)


def test_curve_iqm_per_point():
    curves = np.array([[0.0, 10.0, 20.0], [0.0, 12.0, 20.0], [4.0, 14.0, 20.0], [0.0, 100.0, 20.0]])
    agg = aggregate_curve(curves, reps=200)
    assert agg["iqm"] == pytest.approx([0.0, 13.0, 20.0])  # each point: the mean of the middle two runs
    assert all(lo <= v <= hi for lo, v, hi in zip(agg["low"], agg["iqm"], agg["high"], strict=True))
    assert agg["low"][2] == agg["high"][2] == 20.0


def test_summarize_runs_writes_json_csv_and_png(tmp_path):
    runs = [_run(tmp_path / f"r{s}", s, list(np.linspace(-20, 20, 30 + s)), final=float(s)) for s in range(4)]
    summary = summarize_runs(runs, tmp_path / "summary", reps=200)
    assert summary["runs"] == 4 and summary["agent"] == "cue_bandit"
    assert summary["final"]["iqm"]["value"] == pytest.approx(1.5)  # scores 0, 1, 2, 3: mean of 1 and 2
    curve = summary["curve"]
    assert curve["episodes_per_run"] == 30 and curve["truncated"] is True  # cut to the shortest run
    assert curve["episode"][0] == 1 and curve["episode"][-1] == 30 and len(curve["iqm"]) == 30
    assert summary["eval_curve"]["episode"] == [5, 10] and summary["eval_curve"]["iqm"] == [1.0, 2.0]
    written = json.loads((tmp_path / "summary" / "summary.json").read_text())
    assert written["final"] == summary["final"]
    with open(tmp_path / "summary" / "evaluation.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seed"]) for r in rows] == [0, 1, 2, 3] and [float(r["score"]) for r in rows] == [0, 1, 2, 3]
    png = (tmp_path / "summary" / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_summarize_refuses_unfinished_and_mixed_runs(tmp_path):
    a = _run(tmp_path / "a", 0, [1.0, 2.0], 1.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no readable results\.json"):
        summarize_runs([a, tmp_path / "empty"], tmp_path / "s")
    b = _run(tmp_path / "b", 0, [1.0, 2.0], 1.0, agent="cartpole", env="cartpole")
    with pytest.raises(ValueError, match="different agents or environments"):
        summarize_runs([a, b], tmp_path / "s")


def test_summarize_command(tmp_path, capsys):
    runs = [str(_run(tmp_path / "runs" / f"r{s}", s, [0.0, 5.0, 10.0], final=10.0 + s)) for s in range(3)]
    assert main(["summarize", *runs, "--reps", "200", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "3 runs of cue_bandit on cue_bandit" in out and "iqm       11.000" in out
    assert (tmp_path / "runs" / "summary" / "summary.json").is_file()  # beside the runs by default
    assert not (tmp_path / "runs" / "summary" / "learning_curves.png").exists()
    assert main(["summarize", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snnrl summarize: ") and "nowhere" in err[0]
