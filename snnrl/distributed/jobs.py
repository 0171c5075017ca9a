"""One training run as a task on a worker: :func:`train_seed` (what a Ray task of a seed set or a
trial executes).

A job names its run directory in advance, so that the same call starts the run, continues it
after its worker died (Ray retries the task) and after the driver died (``--resume``):

* ``results.json`` there and readable: the run is finished; its results are returned and
  nothing is trained again;
* ``checkpoint.safetensors`` there: the run continues from it (the checkpoint is written
  atomically, so a killed worker leaves the last complete one; temporary files of the dead
  writer are removed);
* else a new run starts in the directory.

A run of a trial also reports every periodic evaluation (``training.eval_interval``) to the
study (:class:`~snnrl.distributed.study.StudyServer`, a Ray actor) and stops when the study
prunes the trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snnrl.pipeline.agent import AgentConfig
from snnrl.pipeline.callbacks import Callback, EpisodeInfo, EvalCallback
from snnrl.pipeline.run import CHECKPOINT_NAME, train_agent

__all__ = ["LOG_NAME", "SeedJob", "objective", "read_results", "train_seed"]

LOG_NAME = "train.log"
"""What a run on a worker prints goes to this file in its run directory."""


@dataclasses.dataclass(frozen=True)
class SeedJob:
    """One run: the preset (its ``training.seed`` set), where it goes and what :func:`train_agent` does."""

    config: AgentConfig
    """The agent preset with its overrides and seed."""
    run_dir: str
    """The run directory (on storage the worker can write)."""
    episodes: int | None = None
    """Training episodes (None: ``training.episodes``)."""
    minutes: float | None = None
    """Wall-clock budget (None: ``training.minutes``)."""
    eval_episodes: int | None = None
    """Final evaluation episodes (None: ``training.eval_episodes``)."""
    baseline_episodes: int | None = None
    """Random-baseline episodes (None: ``training.baseline_episodes``)."""
    tensorboard: bool = True
    """Write TensorBoard logs."""
    plot: bool = True
    """Write the run's learning-curve PNG."""
    reporter: Any = None
    """A study actor to report periodic evaluations to (trials only), or None."""
    trial: int | None = None
    """The trial's number (with ``reporter``)."""
    index: int = 0
    """The seed's index within its trial (with ``reporter``)."""

    @property
    def seed(self) -> int:
        """``training.seed``."""
        return self.config.seed


def read_results(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``results.json`` of a finished run, or None (absent, or cut short by a kill while it
    was written: such a run is not finished)."""
    path = Path(run_dir) / "results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "train_returns" in data else None


def objective(result: Mapping[str, Any]) -> float:
    """A run's score: the final evaluation's mean return, else the last periodic evaluation's,
    else the mean of the last 100 training returns."""
    evaluation = result.get("evaluation")
    if isinstance(evaluation, Mapping) and "mean" in evaluation:
        return float(evaluation["mean"])
    history = result.get("eval_history")
    if history:
        return float(history[-1][1])
    return float(result["train_last_100"]["mean"])


class _Reporter(Callback):
    """Reports each periodic evaluation (``eval/mean_return``) to the study actor and stops training
    once the trial is pruned; a resumed run first reports the evaluations its checkpoint holds."""

    def __init__(self, server: Any, trial: int, index: int) -> None:
        super().__init__()
        self.server = server
        self.trial = trial
        self.index = index
        self.pruned = False
        self._training = False

    def _report(self, step: int, value: float) -> None:
        import ray

        self.pruned = bool(ray.get(self.server.report.remote(self.trial, self.index, int(step), float(value))))

    def _init_callback(self) -> None:
        self.logger.add_output(self._output)

    def _on_training_start(self) -> None:
        self._training = True
        state = self.trainer.metadata.get(EvalCallback.state_key, {}) if self.trainer is not None else {}
        for step, value in state.get("history", []) if isinstance(state, Mapping) else []:
            self._report(step, value)

    def _output(self, key: str, value: float, step: int) -> None:
        if self._training and key == "eval/mean_return":
            self._report(step, value)

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        return not self.pruned

    def _on_training_end(self) -> None:
        self._training = False


def _node() -> dict[str, str]:
    """Where this task runs: the Ray node id (when on Ray) and the host name."""
    node = ""
    with contextlib.suppress(ImportError, Exception):
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    return {"node": node, "host": socket.gethostname()}


def _prepare(run_dir: Path) -> str | None:
    """Make ``run_dir`` ready for its run; the checkpoint to resume from (None: start afresh).

    What a killed run left besides its last checkpoint goes: temporary files of the dead writer
    and, where it died before its first checkpoint, everything but its log (a partial TensorBoard
    file, a best policy), so the new start writes a clean directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in run_dir.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    if (run_dir / CHECKPOINT_NAME).is_file():
        return str(run_dir)
    for path in run_dir.iterdir():
        if path.is_file() and path.name != LOG_NAME:
            path.unlink()
    return None


def train_seed(job: SeedJob) -> dict[str, Any]:
    """Run (or continue, or just read) the run of ``job`` (see the module docstring).

    Returns:
        ``{"seed", "run_dir", "status", "objective", "results", "node", "host", "seconds"}``:
        ``status`` is ``"finished"`` (trained now), ``"done"`` (finished before; nothing trained)
        or ``"pruned"`` (stopped by the study; ``results`` holds what it did).
    """
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    run_dir = Path(job.run_dir)
    done = read_results(run_dir)
    status = "done"
    pruned = False
    if done is None:
        resume = _prepare(run_dir)
        reporter = _Reporter(job.reporter, job.trial or 0, job.index) if job.reporter is not None else None
        with open(run_dir / LOG_NAME, "a") as log:
            result = train_agent(job.config, run_dir=None if resume else run_dir, resume=resume,
                                 episodes=job.episodes, minutes=job.minutes, eval_episodes=job.eval_episodes,
                                 baseline_episodes=job.baseline_episodes, tensorboard=job.tensorboard,
                                 progress=False, plot=job.plot, callbacks=[reporter] if reporter else [], log=log)
        done = result.to_dict()
        pruned = reporter is not None and reporter.pruned
        status = "pruned" if pruned else "finished"
    return {"seed": job.seed, "run_dir": str(run_dir), "status": status, "objective": objective(done),
            "results": done, "seconds": round(time.perf_counter() - t0, 2), **_node()}
