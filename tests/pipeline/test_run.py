"""A training run in a run directory (``train_agent``): unique run directories, resume of the run
written last, refusal of another agent's checkpoint, exact resume of periodic evaluation and best
policy, the typed result and the callbacks' logger."""

import io
import json
import os
import threading

import pytest

from snnrl.pipeline import Callback, CallbackList, EvalCallback
from snnrl.pipeline.callbacks import Logger
from snnrl.pipeline.run import RunResult, run_name, train_agent

AGENT = "agents/cue_bandit.toml"
QUIET = {"tensorboard": False, "progress": False, "plot": False}


def at_time(monkeypatch, stamp):
    """Make ``train_agent`` name its run directory as if it started at unix time ``stamp``."""
    import snnrl.pipeline.run as run_module

    monkeypatch.setattr(run_module, "run_name", lambda config: run_name(config, stamp=stamp))


def test_two_runs_of_the_same_name_in_the_same_second_get_two_directories(tmp_path, monkeypatch):
    at_time(monkeypatch, 1234)
    first = train_agent(AGENT, runs_dir=tmp_path, episodes=1, eval_episodes=0, **QUIET, log=io.StringIO())
    second = train_agent(AGENT, runs_dir=tmp_path, episodes=1, eval_episodes=0, **QUIET, log=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cue_bandit__cue_bandit__0__1234",
                                                          "cue_bandit__cue_bandit__0__1234_1"]
    assert first.run_dir != second.run_dir
    for res in (first, second):
        assert json.loads((tmp_path / os.path.basename(res.run_dir) / "results.json").read_text())["episodes"] == 1


def test_run_directories_are_created_exclusively(tmp_path):
    from snnrl.pipeline.run import _new_run_dir

    made = []
    threads = [threading.Thread(target=lambda: made.append(_new_run_dir(tmp_path, "run"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and {p.name for p in made} == {"run", *(f"run_{i}" for i in range(1, 8))}


def test_resume_takes_the_checkpoint_written_last_and_says_which(tmp_path, monkeypatch):
    at_time(monkeypatch, 2000)
    later_name = train_agent(AGENT, runs_dir=tmp_path, episodes=1, eval_episodes=0, **QUIET, log=io.StringIO())
    at_time(monkeypatch, 1000)
    written_last = train_agent(AGENT, runs_dir=tmp_path, episodes=1, eval_episodes=0, **QUIET, log=io.StringIO())
    ckpt = os.path.join(written_last.run_dir, "checkpoint.safetensors")
    os.utime(os.path.join(later_name.run_dir, "checkpoint.safetensors"), ns=(10**18, 10**18))
    os.utime(ckpt, ns=(2 * 10**18, 2 * 10**18))
    out = io.StringIO()
    res = train_agent(AGENT, runs_dir=tmp_path, resume="last", episodes=2, eval_episodes=0, **QUIET, log=out)
    assert res.run_dir == written_last.run_dir and res.resumed_from == ckpt and res.episodes == 2
    text = out.getvalue()
    assert f"(its checkpoint was written last): {written_last.run_dir}" in text
    assert f"resuming {written_last.run_dir} at episode 1" in text


class Killed(Exception):
    pass


class KillAfter(Callback):
    """Kill the process (an exception) after ``episodes`` episodes: what is on disk is what stays."""

    def __init__(self, episodes):
        super().__init__()
        self.episodes = episodes

    def _on_episode_end(self, episode):
        if self.trainer.episodes_done >= self.episodes:
            raise Killed
        return True


def test_periodic_evaluation_and_best_policy_resume_exactly(tmp_path):
    overrides = ["training.eval_interval=2", "training.eval_interval_episodes=2", "training.checkpoint_interval=2"]
    kw = {"episodes": 8, "eval_episodes": 3, **QUIET, "log": io.StringIO()}
    full = train_agent(AGENT, overrides, runs_dir=tmp_path / "full", **kw)
    with pytest.raises(Killed):  # killed after episode 5: the checkpoint of episode 4 and its evaluation stay
        train_agent(AGENT, overrides, runs_dir=tmp_path / "killed", callbacks=[KillAfter(5)], **kw)
    (run,) = (tmp_path / "killed").iterdir()
    resumed = train_agent(AGENT, overrides, runs_dir=tmp_path / "killed", resume=run, **kw)
    assert isinstance(resumed, RunResult) and resumed.resumed_from == str(run / "checkpoint.safetensors")
    assert full.eval_history is not None and [h[0] for h in full.eval_history] == [2, 4, 6, 8]
    assert resumed.eval_history == full.eval_history
    assert resumed.train_returns == full.train_returns and resumed.evaluation == full.evaluation
    best, best_resumed = dict(full.evaluation_best or {}), dict(resumed.evaluation_best or {})
    assert best.pop("checkpoint") != best_resumed.pop("checkpoint")
    assert best == best_resumed
    assert json.loads((run / "results.json").read_text()) == json.loads(json.dumps(resumed.to_dict()))


def test_resume_refuses_a_checkpoint_of_another_agent_or_env(tmp_path):
    done = train_agent(AGENT, runs_dir=tmp_path, episodes=1, eval_episodes=0, **QUIET, log=io.StringIO())
    with pytest.raises(ValueError, match="it is a run of agent 'cue_bandit' on env 'cue_bandit', not of agent "
                                         "'cartpole' on env 'cartpole'"):
        train_agent("agents/cartpole.toml", resume=done.run_dir, **QUIET, log=io.StringIO())
    # the check comes first: a network that does not fit the environment is never built
    with pytest.raises(ValueError, match="not of agent 'cue_bandit' on env 'cartpole'"):
        train_agent(AGENT, ["env.preset=cartpole"], resume=done.run_dir, **QUIET, log=io.StringIO())


def test_callbacks_share_a_logger_that_the_outputs_dump():
    written = []
    logger = Logger()
    logger.add_output(lambda key, value, step: written.append((key, value, step)))
    logger.add_output(logger.outputs[0])  # once only
    a, b = Callback(), EvalCallback(1)
    cbs = CallbackList([a, CallbackList([b])], logger=logger)
    cbs.init_callback(None)  # type: ignore[arg-type]
    assert a.logger is logger and b.logger is logger
    a.logger.record("eval/mean_return", 3)
    b.logger.record("x", 1.5)
    logger.dump(7)
    logger.dump(8)  # nothing new
    assert written == [("eval/mean_return", 3.0, 7), ("x", 1.5, 7)]
