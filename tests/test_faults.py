"""Fault injection (issue 13): training killed at random points, with SIGKILL, including during a
checkpoint write and during a periodic evaluation. After each kill the newest checkpoint loads,
resuming leaves nothing half-written behind, and the resumed run equals the uninterrupted one:
returns, periodic evaluations, the best policy and its evaluation. Periodic evaluations draw from
a copy of the training's random state, so they never change what training does."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snnrl.pipeline import Callback, load_agent
from snnrl.pipeline.run import CHECKPOINT_NAME, build_trainer, train_agent

REPO = Path(__file__).resolve().parents[1]
QUIET = {"tensorboard": False, "progress": False, "plot": False}


class Killed(Exception):
    pass


class KillAfter(Callback):
    """Stop the run with an exception after ``episodes`` episodes (what is on disk stays)."""

    def __init__(self, episodes: int) -> None:
        super().__init__()
        self.episodes = episodes

    def _on_episode_end(self, episode):
        if self.trainer.episodes_done >= self.episodes:
            raise Killed
        return True


def comparable(result) -> dict:
    """What must be equal between an uninterrupted run and a resumed one."""
    d = result.to_dict() if not isinstance(result, dict) else dict(result)
    best = dict(d.get("evaluation_best") or {})
    best.pop("checkpoint", None)
    keys = ("episodes", "total_steps", "train_returns", "random_baseline", "evaluation", "eval_history",
            "eval_stopped")
    return {**{k: d.get(k) for k in keys}, "evaluation_best": best}


# --------------------------------------------------------------------- in-process, exact resume
# (agent, overrides, kills): cartpole (slower) only with the checkpoint that falls on an evaluation
PRESETS = [("agents/cue_bandit.toml", [], (5, 7)), ("agents/cartpole.toml", ["policy.voltage_noise=1.0"], (7,))]
EVAL = ["training.eval_interval=2", "training.eval_interval_episodes=2", "training.checkpoint_interval=3"]


@pytest.mark.parametrize(("agent", "extra", "kills"), PRESETS, ids=["cue_bandit", "cartpole"])
def test_periodic_evaluation_and_best_policy_resume_exactly(tmp_path, agent, extra, kills):
    """Checkpoints every 3 episodes, evaluations every 2: a run killed after episode 5 resumes from
    episode 3 (between two evaluations), one killed after 7 from episode 6 (a checkpoint that falls
    on an evaluation); both end as the uninterrupted run. Training with the evaluations is training
    without them."""
    overrides = [*EVAL, *extra]
    kw = {"episodes": 8, "eval_episodes": 2, "baseline_episodes": 0, **QUIET, "log": io.StringIO()}
    full = train_agent(agent, overrides, runs_dir=tmp_path / "full", **kw)
    assert [h[0] for h in full.eval_history or []] == [2, 4, 6, 8] and full.evaluation_best is not None
    for kill in kills:
        runs = tmp_path / f"killed{kill}"
        with pytest.raises(Killed):
            train_agent(agent, overrides, runs_dir=runs, callbacks=[KillAfter(kill)], **kw)
        (run,) = runs.iterdir()
        resumed = train_agent(agent, overrides, runs_dir=runs, resume=run, **kw)
        assert comparable(resumed) == comparable(full), kill
    plain = build_trainer(load_agent(agent, overrides))
    plain.learn(8)  # no EvalCallback: no evaluations
    assert plain.returns == full.train_returns  # the evaluations did not disturb training


# ------------------------------------------------------------------------ SIGKILL, subprocess
AGENT = "agents/cue_bandit.toml"
OVERRIDES = ["training.eval_interval=2", "training.eval_interval_episodes=2", "training.checkpoint_interval=1"]
KW = {"episodes": 16, "eval_episodes": 2, "baseline_episodes": 2, **QUIET}

# The child trains AGENT in RUN. PAUSE names a point ("write": the Nth checkpoint write, halfway
# through its bytes; "eval": the first step of the Nth evaluation) where it touches MARKER and
# sleeps, so that the parent kills it there; "none" lets it run.
CHILD = """
import json, os, sys, time
import torch
torch.set_num_threads(1)
run, pause, nth, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
agent, overrides, kw = json.loads(sys.argv[5])
calls = [0]

def stop_here():
    calls[0] += 1
    if calls[0] == nth:
        open(marker, "w").close()
        time.sleep(120)

if pause == "write":
    import snnrl.checkpoint as ck

    def chunks(payload):
        view = memoryview(payload)
        yield view[: len(view) // 2]
        stop_here()
        yield view[len(view) // 2:]

    ck._chunks = chunks
elif pause == "eval":
    from snnrl.pipeline import Callback
    from snnrl.pipeline.trainer import Trainer

    class Pause(Callback):
        def _on_step(self):
            if self.n_calls == 1:
                stop_here()
            return True

    evaluate = Trainer.evaluate

    def paused(self, *args, **kw):
        return evaluate(self, *args, callback=Pause(), **kw)

    Trainer.evaluate = paused
from snnrl.pipeline.run import train_agent
train_agent(agent, overrides, run_dir=run, log=open(os.devnull, "w"), **kw)
"""


def _kill_child(run: Path, pause: str, nth: int, delay: float) -> bool:
    """Start the child, kill it with SIGKILL at the pause point (or ``delay`` s after its first
    checkpoint); returns whether it was killed (False: it finished first)."""
    marker = run.parent / f"{run.name}.paused"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    args = [str(run), pause, str(nth), str(marker), json.dumps([AGENT, OVERRIDES, KW])]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        wait_for = marker if pause != "none" else run / CHECKPOINT_NAME
        while not wait_for.exists():
            if child.poll() is not None:
                raise AssertionError(f"the child ended before {wait_for.name}: {child.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {wait_for.name} after 120 s")
            time.sleep(0.01)
        time.sleep(delay)
        killed = child.poll() is None
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stderr.close()
    return killed


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    runs = tmp_path_factory.mktemp("uninterrupted")
    return comparable(train_agent(AGENT, OVERRIDES, runs_dir=runs, log=io.StringIO(), **KW))


def _points(seed: int = 13):
    """Kill points: during a checkpoint write and during an evaluation (at a random one of each),
    and twice at a random time."""
    rng = random.Random(seed)
    return [("write", rng.randint(2, 16), 0.0), ("eval", rng.randint(1, 7), 0.0),
            ("none", 0, rng.uniform(0.0, 0.6)), ("none", 0, rng.uniform(0.0, 0.6))]


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize(("pause", "nth", "delay"), _points(), ids=["checkpoint-write", "evaluation", "random-1",
                                                                   "random-2"])
def test_sigkill_leaves_a_loadable_checkpoint_and_resume_is_exact(tmp_path, uninterrupted, pause, nth, delay):
    run = tmp_path / "run"
    killed = _kill_child(run, pause, nth, delay)
    assert killed or pause == "none"
    ckpt = run / CHECKPOINT_NAME
    stale = sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp"))
    if pause == "write":
        assert stale, "the kill did not land inside a checkpoint write"
    trainer = build_trainer(load_agent(AGENT, OVERRIDES))
    trainer.load_checkpoint(ckpt)  # the newest checkpoint is whole
    assert 1 <= trainer.episodes_done <= KW["episodes"]
    resumed = train_agent(AGENT, OVERRIDES, resume=run, log=io.StringIO(), **KW)
    assert comparable(resumed) == uninterrupted
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # nothing half-written remains
    assert comparable(json.loads((run / "results.json").read_text())) == uninterrupted


def test_a_figure_that_fails_half_way_leaves_the_old_image(tmp_path, monkeypatch):
    """Plots are written like checkpoints: rendered in memory, then renamed over the old file."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from snnrl.analysis.learning import plot_learning_curve

    path = tmp_path / "learning_curve.png"
    plot_learning_curve([1.0, 2.0, 3.0], path)
    old = path.read_bytes()
    assert old.startswith(b"\x89PNG")
    savefig = Figure.savefig

    def half(self, fname, **kw):
        fname.write(b"\x89PNG half an image")
        raise RuntimeError("killed while rendering")

    monkeypatch.setattr(Figure, "savefig", half)
    with pytest.raises(RuntimeError, match="killed"):
        plot_learning_curve([5.0, 1.0, 4.0, 2.0], path)
    assert path.read_bytes() == old
    monkeypatch.setattr(Figure, "savefig", savefig)
    plot_learning_curve([5.0, 1.0, 4.0, 2.0], path)
    assert path.read_bytes() != old and path.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["learning_curve.png"]  # no temporary files left
