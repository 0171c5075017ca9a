"""``snnrl train --seeds``, ``snnrl tune`` and their faults on a real local Ray runtime (2 CPUs).

Workers and drivers are really killed (SIGKILL): a worker of this test process found by its task's
process title, a driver that runs in a session of its own (with its own Ray runtime).
"""

import csv
import json
import os
import signal
import threading

import pytest
from distributed_helpers import CUE, FAST, NU, end_session, running_task, snnrl_process, wait_for

from snnrl.cli import main
from snnrl.pipeline import load_agent


def _set_dir(runs):
    (path,) = [p for p in runs.iterdir() if (p / "seeds.json").is_file()]
    return path


def _results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


def test_three_seeds_in_parallel_and_their_summary(ray_local, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--agent", CUE, "--seeds", "0-2", "--workers", "2", "--runs-dir", str(runs),
                 "--no-tensorboard", *FAST]) == 0
    set_dir = _set_dir(runs)
    manifest = json.loads((set_dir / "seeds.json").read_text())
    assert manifest["seeds"] == [0, 1, 2]
    assert {o["status"] for o in manifest["outcomes"].values()} == {"finished"}
    for seed in (0, 1, 2):
        run = set_dir / manifest["runs"][str(seed)]
        assert run.name.startswith(f"cue_bandit__cue_bandit__{seed}__")
        for name in ("checkpoint.safetensors", "best.safetensors", "learning_curve.png", "train.log"):
            assert (run / name).is_file(), (seed, name)
        res = _results(run)
        assert res["seed"] == seed and res["episodes"] == 20 and res["evaluation"]["mean"] == 20.0  # learned
    summary = json.loads((set_dir / "summary" / "summary.json").read_text())
    assert summary["runs"] == 3 and summary["final"]["iqm"] == {"value": 20.0, "low": 20.0, "high": 20.0}
    assert summary["curve"]["episode"] == list(range(1, 21)) and len(summary["eval_curve"]["episode"]) == 4
    assert [row["seed"] for row in summary["runs_table"]] == [0, 1, 2]
    assert (set_dir / "summary" / "learning_curves.png").stat().st_size > 10_000
    assert "summary of 3 seeds" in capsys.readouterr().out
    # the same summary from the set's directory
    assert main(["summarize", str(set_dir), "--out", str(tmp_path / "again"), "--no-plot", "--reps", "2000"]) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["final"] == summary["final"] and again["curve"] == summary["curve"]
    # a finished set trains nothing when continued
    mtimes = {p: p.stat().st_mtime_ns for p in set_dir.glob("*/results.json")}
    assert main(["train", "--agent", CUE, "--seeds", "0-2", "--runs-dir", str(runs), "--resume"]) == 0
    assert "3 finished before, 0 to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in set_dir.glob("*/results.json")} == mtimes


def test_tune_finds_the_better_learning_rate(ray_local, tmp_path, capsys):
    out = tmp_path / "tune"
    args = ["tune", "--agent", CUE, "--trials", "4", "--workers", "2", "--out", str(out), "--eval-interval", "5",
            "--sampler-seed", "0", "--pruner-startup-trials", "1", *FAST]
    assert main([*args, "--param", f"{NU}=choice(0.002, 0.2)"]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["params"] == {NU: 0.2} and best["value"] == 20.0
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3]
    assert {float(r[NU]) for r in rows} == {0.002, 0.2}  # both were tried
    for row in rows:  # the slow rate never learns in 20 episodes: pruned, or complete with a low score
        assert row["state"] in ("COMPLETE", "PRUNED")
        if float(row[NU]) == 0.002:
            assert row["state"] == "PRUNED" or float(row["value"]) < 0
    tuned = load_agent(out / "cue_bandit-tuned.toml")
    assert tuned.name == "cue_bandit-tuned" and tuned.network["connections"][0]["rule"]["params"]["nu"] == 0.2
    assert tuned.training.eval_interval == 5  # the study's overrides; not its episodes or evaluation interval
    for png in ("optimization_history.png", "param_importances.png", "intermediate_values.png"):
        assert (out / png).stat().st_size > 5_000, png
    assert "best: trial" in capsys.readouterr().out
    # continued to 6 trials: the finished ones stay as they are (the search space is the study's own)
    assert main([*args[:4], "6", *args[5:], "--resume"]) == 0
    with open(out / "trials.csv") as f:
        again = list(csv.DictReader(f))
    assert len(again) == 6 and again[:4] == rows
    assert "4 trials finished, 0 to continue, up to 6" in capsys.readouterr().out


def test_a_killed_worker_is_retried_from_its_checkpoint(ray_local, tmp_path):
    runs = tmp_path / "runs"
    codes = []
    thread = threading.Thread(target=lambda: codes.append(main(
        ["train", "--agent", CUE, "--seeds", "7", "--runs-dir", str(runs), "--no-tensorboard", "--no-plot",
         "--episodes", "400", "training.checkpoint_interval=10"])))  # seconds of run left to kill
    thread.start()
    try:
        ckpt = wait_for(lambda: next(runs.glob("*/*/checkpoint.safetensors"), None), 60, "the first checkpoint")
        pid = wait_for(running_task, 30, "the worker of the seed")
        os.kill(pid, signal.SIGKILL)
    finally:
        thread.join(timeout=180)
    assert codes == [0]
    res = _results(ckpt.parent)
    assert res["episodes"] == 400 and res["resumed_from"] == str(ckpt)  # the retry continued the run
    assert "resuming" in (ckpt.parent / "train.log").read_text()
    assert not list(ckpt.parent.glob(".*.tmp"))


def test_a_trial_whose_worker_dies_fails_with_its_error_and_the_study_goes_on(ray_local, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setattr("snnrl.distributed.study.RETRIES", 0)  # no retry: the trial fails
    out = tmp_path / "tune"
    codes = []
    thread = threading.Thread(target=lambda: codes.append(main(
        ["tune", "--agent", CUE, "--trials", "2", "--workers", "1", "--out", str(out), "--episodes", "120",
         "--param", f"{NU}=uniform(0.1, 0.3)", "--no-prune", "training.eval_interval_episodes=1",
         "training.eval_episodes=2"])))
    thread.start()
    try:
        pid = wait_for(running_task, 60, "the worker of the first trial")
        os.kill(pid, signal.SIGKILL)
    finally:
        thread.join(timeout=240)
    assert codes == [0]
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["state"] for r in rows] == ["FAIL", "COMPLETE"]
    assert "its worker died" in rows[0]["error"]
    assert "trial 0 (" in capsys.readouterr().out


def test_a_killed_seed_set_driver_is_continued_without_repeating_finished_seeds(ray_local, tmp_path, capsys):
    runs = tmp_path / "runs"
    driver = snnrl_process(["train", "--agent", CUE, "--seeds", "0-1", "--workers", "1", "--runs-dir", str(runs),
                            "--no-tensorboard", "--no-plot", "--episodes", "200", "training.checkpoint_interval=10"])
    # 200 episodes: the second seed is still running (seconds) when the driver is killed after the first
    try:
        finished = wait_for(lambda: next(runs.glob("*/*/results.json"), None), 120, "a finished seed")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        end_session(driver.pid)  # its Ray runtime went with it; nothing may be left
    before = finished.read_bytes()
    set_dir = _set_dir(runs)
    assert main(["train", "--agent", CUE, "--runs-dir", str(runs), "--seeds", "0-1", "--resume", "--no-plot"]) == 0
    assert "1 finished before, 1 to run" in capsys.readouterr().out
    assert finished.read_bytes() == before  # not trained again
    manifest = json.loads((set_dir / "seeds.json").read_text())
    assert all(_results(set_dir / name)["episodes"] == 200 for name in manifest["runs"].values())
    assert json.loads((set_dir / "summary" / "summary.json").read_text())["runs"] == 2


def test_a_killed_tune_driver_is_continued_without_repeating_finished_trials(ray_local, tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    out = tmp_path / "tune"
    # 400 episodes: the second trial runs for seconds after its first checkpoint (with 40, a fast
    # machine finished it between two polls and the state waited for never showed)
    args = ["tune", "--agent", CUE, "--trials", "2", "--out", str(out), "--episodes", "400", "--eval-interval", "10",
            "--param", f"{NU}=uniform(0.1, 0.3)", "--no-prune", "training.checkpoint_interval=10",
            "training.eval_episodes=2", "training.eval_interval_episodes=2"]
    driver = snnrl_process([*args, "--workers", "1"])
    storage = f"sqlite:///{out / 'study.db'}"

    def running_with_checkpoint():
        try:
            trials = optuna.load_study(study_name="cue_bandit", storage=storage).trials
        except Exception:  # not created yet
            return False
        return any(t.state.name == "COMPLETE" for t in trials) and any(
            t.state.name == "RUNNING" and (out / "trials" / f"trial_{t.number:04d}" / "seed_0" /
                                           "checkpoint.safetensors").is_file() for t in trials)

    try:
        wait_for(running_with_checkpoint, 120, "a complete trial and a running one with a checkpoint", poll=0.3)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        end_session(driver.pid)
    study = optuna.load_study(study_name="cue_bandit", storage=storage)
    done = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    left = [t.number for t in study.trials if t.state.name == "RUNNING"]
    run = {n: out / "trials" / f"trial_{n:04d}" / "seed_0" for n in left}
    resumable = [n for n in left if (run[n] / "checkpoint.safetensors").is_file()
                 and not (run[n] / "results.json").is_file()]
    assert done and resumable
    assert main([*args, "--resume"]) == 0
    assert f"{len(done)} trials finished, {len(left)} to continue" in capsys.readouterr().out
    trials = optuna.load_study(study_name="cue_bandit", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    assert {n: trials[n].value for n in done} == done  # finished trials were not run again
    for n in resumable:  # continued under its number, its run from its checkpoint
        assert _results(run[n])["resumed_from"] == str(run[n] / "checkpoint.safetensors")
        assert "resuming" in (run[n] / "train.log").read_text()
