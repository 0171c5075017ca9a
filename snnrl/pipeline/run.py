"""A whole training run in a run directory: what ``snnrl train`` and ``scripts/train_*.py`` do.

:func:`train_agent` builds the agent preset's environments, policy and reward signal, trains with
checkpoints, TensorBoard logs and a progress bar, then writes into the run directory
(``<runs>/<env>__<agent>__<seed>__<unix time>``, CleanRL's naming):

* ``checkpoint.safetensors``: the latest checkpoint (every ``checkpoint_interval`` episodes and
  at the end; :func:`train_agent` with ``resume=`` continues from it);
* ``best.safetensors``: with ``training.eval_interval > 0``, the policy with the best periodic
  evaluation (``eval_interval_episodes`` episodes on seeds of their own);
* ``events.out.tfevents.*``: TensorBoard logs (``tensorboard --logdir runs``);
* ``learning_curve.png``: returns per episode, moving average, random baseline and evaluation;
* ``results.json``: the numbers (returns, evaluation, baseline, speed, seconds).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from snnrl.pipeline.agent import AgentConfig, AgentError, load_agent
from snnrl.pipeline.build import build_envs, build_policy, build_reward_signal
from snnrl.pipeline.callbacks import (
    Callback,
    CheckpointCallback,
    EvalCallback,
    PrintCallback,
    ProgressBarCallback,
    StopOnTimeBudget,
)
from snnrl.pipeline.schedule import LearningRateSchedule
from snnrl.pipeline.trainer import LinearCritic, RewardShaping, Trainer, summarize

__all__ = ["BEST_NAME", "CHECKPOINT_NAME", "build_trainer", "find_resume_checkpoint", "run_name", "train_agent"]

CHECKPOINT_NAME = "checkpoint.safetensors"
BEST_NAME = "best.safetensors"


def run_name(config: AgentConfig, seed: int | None = None, stamp: int | None = None) -> str:
    """``<env>__<agent>__<seed>__<unix time>``."""
    seed = config.seed if seed is None else seed
    return f"{config.env_name}__{config.name}__{seed}__{int(time.time()) if stamp is None else stamp}"


def build_trainer(config: AgentConfig, *, num_envs: int | None = None, render_mode: str | None = None) -> Trainer:
    """The :class:`Trainer` an agent preset describes (environments, policy, reward, critic)."""
    envs = build_envs(config, num_envs=num_envs, render_mode=render_mode)
    first = envs[0]
    policy = build_policy(config, first.observation_space, first.action_space, batch_size=len(envs))
    critic = None
    if config.critic is not None:
        layer = policy.network.layers[policy.input_layer]
        gamma = float(dict(config.reward["signal"].get("params", {})).get("gamma", 0.99))
        critic = LinearCritic(layer.n, lr=config.critic["lr"], init=config.critic["init"],
                              trace=config.critic["trace"], gamma=gamma)
    schedule = config.training.get("lr_schedule")
    try:
        return Trainer(policy, envs, reward_signal=build_reward_signal(config),
                       shaping=RewardShaping.from_table(config.reward), critic=critic, seed=config.seed,
                       max_episode_steps=config.env["max_episode_steps"], agent=config.source,
                       lr_schedule=LearningRateSchedule.from_table(schedule) if schedule is not None else None)
    except (TypeError, ValueError) as e:
        raise AgentError(str(e)) from None


def find_resume_checkpoint(resume: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None,
                           prefix: str | None = None) -> Path:
    """The checkpoint to resume from: a checkpoint file, a run directory, or (``resume="last"``)
    the newest run directory under ``runs_dir`` whose name starts with ``prefix``."""
    path = Path(resume)
    if str(resume) == "last":
        if runs_dir is None or prefix is None or not Path(runs_dir).is_dir():
            raise FileNotFoundError(f"no runs directory {str(runs_dir)!r} to resume from")
        candidates = sorted((p for p in Path(runs_dir).iterdir() if p.name.startswith(prefix)
                             and (p / CHECKPOINT_NAME).is_file()), key=lambda p: p.name)
        if not candidates:
            raise FileNotFoundError(f"no run named {prefix}* with a checkpoint in {str(runs_dir)!r}")
        return candidates[-1] / CHECKPOINT_NAME
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    return path


def train_agent(
    agent: str | os.PathLike[str] | AgentConfig,
    overrides: Sequence[str] = (),
    *,
    runs_dir: str | os.PathLike[str] = "runs",
    run_dir: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    episodes: int | None = None,
    minutes: float | None = None,
    tensorboard: bool = True,
    progress: bool = True,
    plot: bool = True,
    baseline_episodes: int | None = None,
    eval_episodes: int | None = None,
    callbacks: Sequence[Callback] = (),
    log: TextIO | None = None,
) -> dict[str, Any]:
    """Train an agent preset in a run directory; returns the results (also in ``results.json``).

    Args:
        agent: an agent preset (path, name or :class:`AgentConfig`).
        overrides: ``key.path=value`` changes to the preset.
        runs_dir: where new run directories go.
        run_dir: the run directory (default ``<runs_dir>/<run_name>``).
        resume: continue from a checkpoint, a run directory, or ``"last"`` (the newest run of
            this env/agent/seed under ``runs_dir``); the run directory is the checkpoint's.
        episodes: total episodes (default ``training.episodes``).
        minutes: wall-clock budget (default ``training.minutes``; 0: none).
        tensorboard: write TensorBoard logs.
        progress: show a progress bar (tqdm) or periodic lines.
        plot: write ``learning_curve.png`` (needs matplotlib).
        baseline_episodes: first play this many episodes with uniformly random actions on the
            training seeds (the random baseline of the learning curve; default
            ``training.baseline_episodes``).
        eval_episodes: deterministic evaluation episodes at the end (default
            ``training.eval_episodes``).
        callbacks: more callbacks.
        log: where to print (default stdout).
    """
    import sys

    out = log if log is not None else sys.stdout
    config = load_agent(agent, overrides)
    training = config.training
    episodes = int(training["episodes"] if episodes is None else episodes)
    minutes = float(training["minutes"] if minutes is None else minutes)
    eval_episodes = int(training["eval_episodes"] if eval_episodes is None else eval_episodes)
    baseline_episodes = int(training["baseline_episodes"] if baseline_episodes is None else baseline_episodes)
    trainer = build_trainer(config)
    resumed_from = None
    if resume is not None:
        ckpt = find_resume_checkpoint(resume, runs_dir, f"{config.env_name}__{config.name}__{config.seed}__")
        trainer.load_checkpoint(ckpt)
        resumed_from = str(ckpt)
        run_path = ckpt.parent
        print(f"resuming {run_path} at episode {trainer.episodes_done}", file=out)
    else:
        run_path = Path(run_dir) if run_dir is not None else Path(runs_dir) / run_name(config)
    run_path.mkdir(parents=True, exist_ok=True)
    trainer.metadata["run_dir"] = run_path.name
    checkpoint = run_path / CHECKPOINT_NAME
    cbs: list[Callback] = []
    if training["checkpoint_interval"]:
        cbs.append(CheckpointCallback(training["checkpoint_interval"], checkpoint))
    tb = None
    if tensorboard:
        from snnrl.pipeline.tensorboard import TensorBoardCallback

        tb = TensorBoardCallback(str(run_path), hparams=config.source, log_interval=training["log_interval"],
                                 image_interval=training["image_interval"])
        cbs.append(tb)
    if training["eval_interval"]:
        cbs.append(EvalCallback(training["eval_interval"], training["eval_interval_episodes"],
                                best_path=run_path / BEST_NAME, writer=tb, stop_return=training["eval_stop_return"]))
    if minutes > 0:
        cbs.append(StopOnTimeBudget(minutes))
    if progress:
        cbs.append(ProgressBarCallback(total=episodes, minutes=minutes))
    elif log is not None:
        cbs.append(PrintCallback(every=max(1, episodes // 20), file=out))
    cbs.extend(callbacks)
    baseline = trainer.metadata.get("baseline_returns")
    if baseline_episodes and not baseline:
        t0 = time.perf_counter()
        baseline, _ = trainer.run_random(baseline_episodes)
        trainer.metadata["baseline_returns"] = baseline
        print(f"random policy on the training seeds of episodes 1-{baseline_episodes}: mean return "
              f"{summarize(baseline)['mean']:.2f} ({time.perf_counter() - t0:.1f} s)", file=out)
    print(f"training {config.name} on {config.env_name} (seed {config.seed}) for up to {episodes} episodes"
          f"{f' or {minutes:g} min' if minutes > 0 else ''}; run directory {run_path}", file=out)
    t0 = time.perf_counter()
    steps0 = trainer.total_steps
    trainer.learn(episodes, callback=cbs)
    seconds = time.perf_counter() - t0
    trainer.save_checkpoint(checkpoint)
    results: dict[str, Any] = {
        "agent": config.name, "env": config.env_name, "seed": config.seed, "run_dir": str(run_path),
        "episodes": trainer.episodes_done, "total_steps": trainer.total_steps,
        "seconds": round(seconds, 2),
        "steps_per_second": round((trainer.total_steps - steps0) / max(seconds, 1e-9), 1),
        "train_returns": trainer.returns, "train_last_100": summarize(trainer.returns[-100:]),
        "checkpoint": str(checkpoint), "resumed_from": resumed_from,
    }
    if baseline:
        results["random_baseline"] = summarize(baseline)
    if eval_episodes:
        returns, lengths = trainer.evaluate(eval_episodes)
        results["evaluation"] = {**summarize(returns), "returns": returns, "mean_length": sum(lengths) / len(lengths),
                                 "deterministic": True}
        print(f"evaluation over {eval_episodes} episodes: mean return {results['evaluation']['mean']:.2f} "
              f"+- {results['evaluation']['std']:.2f}", file=out)
    best = trainer.metadata.get("best_eval")
    if eval_episodes and best is not None and (run_path / BEST_NAME).is_file():
        best_trainer = build_trainer(config)
        best_trainer.load_checkpoint(run_path / BEST_NAME)
        returns, lengths = best_trainer.evaluate(eval_episodes)
        best_trainer.close()
        results["evaluation_best"] = {**summarize(returns), "returns": returns, "episode": best[0],
                                      "selection_mean": best[1], "deterministic": True,
                                      "checkpoint": str(run_path / BEST_NAME)}
        print(f"best policy (episode {best[0]}, periodic evaluation {best[1]:.2f}): mean return "
              f"{results['evaluation_best']['mean']:.2f} +- {results['evaluation_best']['std']:.2f} over "
              f"{eval_episodes} evaluation episodes", file=out)
    if trainer.metadata.get("eval_history"):
        results["eval_history"] = trainer.metadata["eval_history"]
    if trainer.metadata.get("eval_stopped") is not None:
        results["eval_stopped"] = trainer.metadata["eval_stopped"]
        print(f"stopped after episode {trainer.metadata['eval_stopped']}: a periodic evaluation reached "
              f"{training['eval_stop_return']:g}", file=out)
    if tb is not None:
        if "evaluation" in results:
            tb.writer.add_scalar("eval/mean_return", results["evaluation"]["mean"], trainer.episodes_done)
        tb.close()
    if plot:
        try:
            from snnrl.analysis.learning import plot_learning_curve

            refs = {}
            if "evaluation" in results:
                refs[f"final policy, evaluation ({eval_episodes} ep.)"] = results["evaluation"]["mean"]
            if "evaluation_best" in results:
                refs[f"best policy (ep. {best[0]}), evaluation ({eval_episodes} ep.)"] = \
                    results["evaluation_best"]["mean"]
            plot_learning_curve(trainer.returns, run_path / "learning_curve.png", window=max(5, min(100, len(
                trainer.returns) // 10 or 1)), references=refs, baseline_returns=baseline,
                title=f"{config.name} on {config.env_name}, seed {config.seed}")
            results["learning_curve"] = str(run_path / "learning_curve.png")
        except ImportError as e:
            print(f"no learning-curve PNG: {e}", file=out)
    (run_path / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"{trainer.episodes_done} episodes, {trainer.total_steps} steps in {seconds:.1f} s "
          f"({results['steps_per_second']:.0f} steps/s); mean return of the last 100: "
          f"{results['train_last_100']['mean']:.2f}", file=out)
    print(f"wrote {checkpoint}, {run_path / 'results.json'}"
          + (f", {results['learning_curve']}" if "learning_curve" in results else ""), file=out)
    trainer.close()
    return results
