"""A whole training run in a run directory: what ``snnrl train`` and ``scripts/train_*.py`` do.

:func:`train_agent` builds the agent preset's environments, policy and reward signal, trains with
checkpoints, TensorBoard logs and a progress bar, then writes into the run directory
(``<runs>/<env>__<agent>__<seed>__<unix time>``, CleanRL's naming; a run that starts in the same
second as another of the same name gets ``_1``, ``_2``, ... appended):

* ``checkpoint.safetensors``: the latest checkpoint (every ``checkpoint_interval`` episodes and
  at the end; :func:`train_agent` with ``resume=`` continues from it);
* ``best.safetensors``: with ``training.eval_interval > 0``, the policy with the best periodic
  evaluation (``eval_interval_episodes`` episodes on seeds of their own);
* ``events.out.tfevents.*``: TensorBoard logs (``tensorboard --logdir runs``);
* ``learning_curve.png``: returns per episode, moving average, random baseline and evaluation;
* ``results.json``: the numbers (returns, evaluation, baseline, speed, seconds): a :class:`RunResult`.

The steps are functions of their own: :func:`build_trainer`, the run directory, the random
baseline, training, the final evaluation of the final and of the best policy, and the results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from snnrl import _checks as checks
from snnrl.checkpoint import write_atomic
from snnrl.learning.feedback import Feedback
from snnrl.network.nodes import Nodes
from snnrl.pipeline.agent import AgentConfig, AgentError, load_agent, preset_name
from snnrl.pipeline.build import (
    action_meanings,
    build_envs,
    build_policy,
    build_reward_signal,
    derive_seed,
    env_factories,
    env_preset,
    tie_mirror,
)
from snnrl.pipeline.callbacks import (
    Callback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    Logger,
    PrintCallback,
    ProgressBarCallback,
    StopOnTimeBudget,
)
from snnrl.pipeline.critic import Critic, SpikingCritic
from snnrl.pipeline.envs import AsyncEnvList, EnvList
from snnrl.pipeline.trainer import LinearCritic, RewardShaping, Trainer, summarize
from snnrl.policy.decoders import action_readout
from snnrl.policy.policy import SpikingPolicy

__all__ = ["BEST_NAME", "CHECKPOINT_NAME", "RunResult", "build_trainer", "find_resume_checkpoint", "run_name",
           "run_prefix", "train_agent"]

CHECKPOINT_NAME = "checkpoint.safetensors"
BEST_NAME = "best.safetensors"
_RUN_KEY = "run"
"""``trainer.metadata`` key of the run's own record (:class:`_RunRecord`)."""


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _component(text: str) -> str:
    """``text`` as one plain file-name component: other characters than letters, digits and
    ``. _ + -`` become ``-``, leading dots go (no ``..``, no hidden names); never empty."""
    return _UNSAFE.sub("-", text).lstrip(".") or "-"


def run_prefix(config: AgentConfig, seed: int | None = None) -> str:
    """``<env>__<agent>__<seed>__``, the start of the names of a preset's run directories. Built
    from sanitised components only, so a run directory always lands directly under the runs
    directory, whatever ``env.preset`` and ``name`` say (``../x``, an absolute path)."""
    seed = config.seed if seed is None else seed
    return f"{_component(config.env_name)}__{_component(config.name)}__{int(seed)}__"


def run_name(config: AgentConfig, seed: int | None = None, stamp: int | None = None) -> str:
    """``<env>__<agent>__<seed>__<unix time>`` (see :func:`run_prefix`)."""
    return f"{run_prefix(config, seed)}{int(time.time()) if stamp is None else int(stamp)}"


def _build_critic(config: AgentConfig, policy: SpikingPolicy) -> Critic | None:
    """The ``[critic]`` of a preset: a :class:`LinearCritic` or a :class:`SpikingCritic` on the input layer."""
    c = config.critic
    if c is None:
        return None
    layer = cast(Nodes, policy.network.layers[policy.input_layer])
    try:  # read here before the reward signal checks it: the same check, the same message
        gamma = checks.in_range("reward.signal.params.gamma",
                                dict(config.reward.signal.get("params", {})).get("gamma", 0.99), 0, 1)
    except checks.InvalidParameter as e:
        raise AgentError(str(e)) from None
    if c.type == "linear":
        return LinearCritic(layer.n, lr=c.lr, init=c.init, trace=c.trace, gamma=gamma, reads=c.reads,
                            bias_lr=c.bias_lr, reduction=c.reduction)
    low = 0.0 if c.weight_low is None else c.weight_low
    high = 4.0 if c.weight_high is None else c.weight_high
    return SpikingCritic(layer.n, neurons=c.neurons or 20, lr=c.lr, init=c.init,
                         readout=5.0 if c.readout is None else c.readout,
                         bias_lr=0.05 if c.bias_lr is None else c.bias_lr, weight_init=(low, high),
                         tc_e_trace=25.0 if c.tc_e_trace is None else c.tc_e_trace, gamma=gamma,
                         seed=derive_seed(config.seed, 4), dt=policy.network.dt, device=policy.device,
                         reduction=c.reduction)


def _build_feedback(config: AgentConfig, policy: SpikingPolicy) -> Feedback | None:
    """The ``[feedback]`` of a preset, for the policy's output layer and decoder."""
    f = config.feedback
    if f is None:
        return None
    decoder = action_readout(policy.decoder)
    if decoder is None:
        raise AgentError(f"[feedback] needs a decoder of a Discrete action space (it feeds back the action error); "
                         f"{type(policy.decoder).__name__} has none")
    seed = derive_seed(config.seed, 5) % (2**31) if f.seed is None else f.seed
    try:
        return Feedback(policy.network, policy.output_layer, decoder.n_actions,
                        neurons_per_action=decoder.neurons_per_action, hidden=f.hidden, mode=f.mode, scale=f.scale,
                        output_scale=f.output_scale, seed=seed)
    except ValueError as e:
        raise AgentError(str(e)) from None


def _action_meanings(config: AgentConfig, envs: EnvList | AsyncEnvList) -> list[str] | None:
    """The names of the environments' actions (built once here when they live in workers)."""
    if isinstance(envs, EnvList):
        return action_meanings(envs.envs[0])
    from snnrl.envs import build_env

    env = build_env(env_preset(config), encode=False)
    try:
        return action_meanings(env)
    finally:
        env.close()


def build_trainer(config: AgentConfig, *, num_envs: int | None = None, render_mode: str | None = None) -> Trainer:
    """The :class:`Trainer` an agent preset describes (environments, policy, reward, critic).

    With ``env.vectorization = "async"`` and more than one environment, the environments are
    spread over worker processes and this one, an even share per core
    (:class:`~snnrl.pipeline.envs.AsyncEnvList`; the same results as ``"sync"``); a single
    environment brings nothing to parallelise and is stepped in this process
    (:class:`~snnrl.pipeline.envs.EnvList`) either way."""
    n = int(config.env.num_envs if num_envs is None else num_envs)
    envs: EnvList | AsyncEnvList
    if config.env.vectorization == "async" and n > 1:
        envs = AsyncEnvList(env_factories(config, n, render_mode))
    else:
        envs = EnvList(build_envs(config, num_envs=n, render_mode=render_mode))
    try:
        policy = build_policy(config, envs.observation_space, envs.action_space, batch_size=envs.n)
        if config.policy.mirror:
            tie_mirror(config, policy, _action_meanings(config, envs))
        critic = _build_critic(config, policy)
        feedback = _build_feedback(config, policy)
        try:
            return Trainer(policy, envs, reward_signal=build_reward_signal(config),
                           shaping=RewardShaping.from_table(config.reward), critic=critic, feedback=feedback,
                           seed=config.seed,
                           max_episode_steps=config.env.max_episode_steps, agent=config.source,
                           lr_schedule=config.training.lr_schedule)
        except (TypeError, ValueError) as e:
            raise AgentError(str(e)) from None
    except BaseException:
        envs.close()
        raise


def find_resume_checkpoint(resume: str | os.PathLike[str], runs_dir: str | os.PathLike[str] | None = None,
                           prefix: str | None = None) -> Path:
    """The checkpoint to resume from: a checkpoint file, a run directory, or (``resume="last"``)
    the checkpoint written last (by modification time) of the run directories under ``runs_dir``
    whose names start with ``prefix``."""
    path = Path(resume)
    if str(resume) == "last":
        if runs_dir is None or prefix is None or not Path(runs_dir).is_dir():
            raise FileNotFoundError(f"no runs directory {str(runs_dir)!r} to resume from")
        candidates = [p / CHECKPOINT_NAME for p in Path(runs_dir).iterdir()
                      if p.name.startswith(prefix) and (p / CHECKPOINT_NAME).is_file()]
        if not candidates:
            raise FileNotFoundError(f"no run named {prefix}* with a checkpoint in {str(runs_dir)!r}")
        return max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.parent.name))
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    return path


@dataclasses.dataclass(frozen=True)
class _Options:
    """What one :func:`train_agent` call does: the arguments, defaults from ``[training]``."""

    episodes: int
    minutes: float
    eval_episodes: int
    baseline_episodes: int
    tensorboard: bool
    progress: bool
    plot: bool


@dataclasses.dataclass
class _RunRecord:
    """What a run keeps about itself in its checkpoints (``trainer.metadata["run"]``)."""

    run_dir: str
    agent: str
    env: str
    started: float
    """Unix time of the first start (a resumed run keeps it)."""
    baseline_returns: list[float] = dataclasses.field(default_factory=list)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> _RunRecord | None:
        """From a checkpoint's ``trainer.metadata`` (None: none there)."""
        record = metadata.get(_RUN_KEY)
        if isinstance(record, Mapping):
            return cls(str(record["run_dir"]), str(record["agent"]), str(record["env"]), float(record["started"]),
                       [float(r) for r in record.get("baseline_returns", [])])
        return None


@dataclasses.dataclass
class RunResult:
    """What :func:`train_agent` returns and writes to ``results.json`` (:meth:`to_dict`; the
    fields that default to None only where they are not None)."""

    agent: str
    """The agent preset's name."""
    env: str
    """The environment preset's name."""
    seed: int
    """``training.seed``."""
    run_dir: str
    """The run directory."""
    episodes: int
    """Training episodes done in all (resumed ones included)."""
    total_steps: int
    """Environment steps of those episodes."""
    seconds: float
    """Wall-clock seconds of this call's training (rounded to 0.01)."""
    steps_per_second: float
    """Environment steps per second of this call's training."""
    train_returns: list[float]
    """The return of every training episode."""
    train_last_100: dict[str, float]
    """:func:`~snnrl.pipeline.summarize` of the last 100 training returns."""
    checkpoint: str
    """The final checkpoint."""
    resumed_from: str | None
    """The checkpoint this run was resumed from, or None."""
    random_baseline: dict[str, float] | None = None
    """:func:`~snnrl.pipeline.summarize` of the random policy's returns on the first training seeds."""
    evaluation: dict[str, Any] | None = None
    """The final policy's deterministic evaluation: the summary, ``returns``, ``mean_length``."""
    evaluation_best: dict[str, Any] | None = None
    """The best policy's evaluation on the same episodes: the summary, ``returns``, its
    ``episode``, ``selection_mean`` (its periodic evaluation) and ``checkpoint``."""
    eval_history: list[list[float]] | None = None
    """``[episode, mean return]`` of every periodic evaluation."""
    eval_stopped: int | None = None
    """The episode after which a periodic evaluation reached ``training.eval_stop_return``."""
    learning_curve: str | None = None
    """The learning-curve PNG."""

    def to_dict(self) -> dict[str, Any]:
        """The content of ``results.json``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not (f.default is None and getattr(self, f.name) is None)}


def _options(config: AgentConfig, episodes: int | None, minutes: float | None, eval_episodes: int | None,
             baseline_episodes: int | None, tensorboard: bool, progress: bool, plot: bool) -> _Options:
    training = config.training
    return _Options(episodes=checks.integer("episodes", training.episodes if episodes is None else episodes, 1),
                    minutes=checks.positive("minutes", training.minutes if minutes is None else minutes,
                                            strict=False),
                    eval_episodes=checks.integer("eval_episodes", training.eval_episodes if eval_episodes is None
                                                 else eval_episodes, 0),
                    baseline_episodes=checks.integer("baseline_episodes", training.baseline_episodes
                                                     if baseline_episodes is None else baseline_episodes, 0),
                    tensorboard=tensorboard, progress=progress, plot=plot)


def _check_resume(ckpt: Path, config: AgentConfig) -> None:
    """Refuse a checkpoint of another agent or environment (read from its header only)."""
    from snnrl.checkpoint import CheckpointError, read_checkpoint_info

    try:
        metadata = read_checkpoint_info(ckpt)["metadata"]
    except (CheckpointError, OSError) as e:
        raise AgentError(f"cannot resume from {str(ckpt)!r}: {e}") from None
    training = metadata.get("snnrl_training")
    if not isinstance(training, Mapping):
        raise AgentError(f"cannot resume from {str(ckpt)!r}: it holds no training state (a policy checkpoint)")
    record = _RunRecord.from_metadata(training.get("metadata", {}))
    agent = metadata.get("agent")
    if record is not None:
        theirs = (record.agent, record.env)
    elif isinstance(agent, Mapping) and isinstance(agent.get("env"), Mapping):
        theirs = (str(agent.get("name", config.name)), preset_name(str(agent["env"].get("preset", "?"))))
    else:
        raise AgentError(f"cannot resume from {str(ckpt)!r}: it holds no agent preset (not written by snnrl train)")
    if theirs != (config.name, config.env_name):
        raise AgentError(f"cannot resume from {str(ckpt)!r}: it is a run of agent {theirs[0]!r} on env {theirs[1]!r}, "
                         f"not of agent {config.name!r} on env {config.env_name!r}")


def _resume_checkpoint(config: AgentConfig, resume: str | os.PathLike[str], runs_dir: str | os.PathLike[str],
                       out: TextIO) -> Path:
    """The checkpoint ``resume`` names, checked against ``config``."""
    prefix = run_prefix(config)
    ckpt = find_resume_checkpoint(resume, runs_dir, prefix)
    _check_resume(ckpt, config)
    if str(resume) == "last":
        print(f"the newest run of {prefix}* under {runs_dir} (its checkpoint was written last): {ckpt.parent}",
              file=out)
    return ckpt


def _make_dirs(path: Path, what: str) -> None:
    """``mkdir -p path``; a file in the way is a ``NotADirectoryError`` that says so."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"cannot use {str(path)!r} as the {what}: it, or a directory above it, is a file"
                                 ) from None


def _new_run_dir(runs_dir: str | os.PathLike[str], name: str) -> Path:
    """A new directory ``<runs_dir>/<name>`` (``<name>_1``, ``<name>_2``, ... where that exists)."""
    _make_dirs(Path(runs_dir), "runs directory")
    for i in range(10_000):
        path = Path(runs_dir) / (name if i == 0 else f"{name}_{i}")
        try:
            path.mkdir(exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run directory name {name}_<n> in {str(runs_dir)!r}")


def _prepare_run(trainer: Trainer, config: AgentConfig, ckpt: Path | None, runs_dir: str | os.PathLike[str],
                 run_dir: str | os.PathLike[str] | None, out: TextIO) -> tuple[Path, _RunRecord]:
    """Load the checkpoint to resume from (its directory is the run's) or make a new run directory;
    the run's record in ``trainer.metadata``."""
    if ckpt is not None:
        trainer.load_checkpoint(ckpt)
        run_path = ckpt.parent
        print(f"resuming {run_path} at episode {trainer.episodes_done}", file=out)
    elif run_dir is not None:
        run_path = Path(run_dir)
        _make_dirs(run_path, "run directory")
    else:
        run_path = _new_run_dir(runs_dir, run_name(config))
    record = _RunRecord.from_metadata(trainer.metadata)
    if record is None:
        trainer.metadata.pop("run_dir", None)  # checkpoints written before the record
        old = trainer.metadata.pop("baseline_returns", None)
        record = _RunRecord(run_path.name, config.name, config.env_name, time.time(),
                            [float(r) for r in old] if isinstance(old, list) else [])
    record.run_dir = run_path.name
    trainer.metadata[_RUN_KEY] = dataclasses.asdict(record)
    return run_path, record


def _callbacks(config: AgentConfig, options: _Options, run_path: Path, callbacks: Sequence[Callback],
               log: TextIO | None, out: TextIO) -> tuple[CallbackList, EvalCallback | None, Any]:
    """The run's callbacks (one logger), its :class:`EvalCallback` and TensorBoard callback (or None)."""
    training = config.training
    cbs: list[Callback] = []
    evaluation = None
    if training.eval_interval:  # before the checkpoint: a checkpoint holds its own episode's evaluation
        # several training environments: the evaluation plays a copy of the policy on one of its own
        eval_env = build_envs(config, num_envs=1)[0] if config.env.num_envs > 1 else None
        evaluation = EvalCallback(training.eval_interval, training.eval_interval_episodes,
                                  best_path=run_path / BEST_NAME, stop_return=training.eval_stop_return,
                                  eval_env=eval_env)
        cbs.append(evaluation)
    if training.checkpoint_interval:
        cbs.append(CheckpointCallback(training.checkpoint_interval, run_path / CHECKPOINT_NAME))
    tb = None
    if options.tensorboard:
        from snnrl.pipeline.tensorboard import TensorBoardCallback

        tb = TensorBoardCallback(str(run_path), hparams=config.source, log_interval=training.log_interval,
                                 image_interval=training.image_interval)
        cbs.append(tb)
    if options.minutes > 0:
        cbs.append(StopOnTimeBudget(options.minutes))
    if options.progress:
        cbs.append(ProgressBarCallback(total=options.episodes, minutes=options.minutes))
    elif log is not None:
        cbs.append(PrintCallback(every=max(1, options.episodes // 20), file=out))
    cbs.extend(callbacks)
    return CallbackList(cbs, logger=Logger()), evaluation, tb


def _baseline(trainer: Trainer, record: _RunRecord, episodes: int, out: TextIO) -> None:
    """Play the random baseline on the first training seeds, unless the run has one."""
    if episodes and not record.baseline_returns:
        t0 = time.perf_counter()
        record.baseline_returns, _ = trainer.run_random(episodes)
        trainer.metadata[_RUN_KEY] = dataclasses.asdict(record)
        print(f"random policy on the training seeds of episodes 1-{episodes}: mean return "
              f"{summarize(record.baseline_returns)['mean']:.2f} ({time.perf_counter() - t0:.1f} s)", file=out)


def _train(trainer: Trainer, config: AgentConfig, options: _Options, cbs: CallbackList, run_path: Path,
           out: TextIO) -> tuple[float, int]:
    """Train and write the final checkpoint; returns the seconds and the steps it took."""
    print(f"training {config.name} on {config.env_name} (seed {config.seed}) for up to {options.episodes} episodes"
          f"{f' or {options.minutes:g} min' if options.minutes > 0 else ''}; run directory {run_path}", file=out)
    t0 = time.perf_counter()
    steps0 = trainer.total_steps
    trainer.learn(options.episodes, callback=cbs)
    seconds = time.perf_counter() - t0
    trainer.save_checkpoint(run_path / CHECKPOINT_NAME)
    return seconds, trainer.total_steps - steps0


def _evaluate_final(trainer: Trainer, result: RunResult, episodes: int, out: TextIO) -> None:
    """The final policy's deterministic evaluation on the evaluation seeds."""
    returns, lengths = trainer.evaluate(episodes)
    result.evaluation = {**summarize(returns), "returns": returns, "mean_length": sum(lengths) / len(lengths),
                         "deterministic": True}
    print(f"evaluation over {episodes} episodes: mean return {result.evaluation['mean']:.2f} "
          f"+- {result.evaluation['std']:.2f}", file=out)


def _evaluate_best(trainer: Trainer, result: RunResult, best: tuple[int, float], path: Path, episodes: int,
                   out: TextIO) -> None:
    """The best policy's evaluation on the same episodes: its weights in the trainer's policy slot,
    played with the same environments (every episode is reset with its seed)."""
    from snnrl.policy import load_policy

    final = trainer.policy
    trainer.policy, _ = load_policy(path, final.device)
    try:
        returns, _ = trainer.evaluate(episodes)
    finally:
        trainer.policy = final
    result.evaluation_best = {**summarize(returns), "returns": returns, "episode": best[0],
                              "selection_mean": best[1], "deterministic": True, "checkpoint": str(path)}
    print(f"best policy (episode {best[0]}, periodic evaluation {best[1]:.2f}): mean return "
          f"{result.evaluation_best['mean']:.2f} +- {result.evaluation_best['std']:.2f} over "
          f"{episodes} evaluation episodes", file=out)


def _evaluate(trainer: Trainer, result: RunResult, evaluation: EvalCallback | None, run_path: Path,
              config: AgentConfig, episodes: int, out: TextIO) -> None:
    """The final evaluations and what the periodic ones found (also those of a resumed run that
    no longer evaluates periodically)."""
    if evaluation is None and (EvalCallback.state_key in trainer.metadata or "eval_history" in trainer.metadata):
        evaluation = EvalCallback(1)
        evaluation.init_callback(trainer)
    if episodes:
        _evaluate_final(trainer, result, episodes, out)
        if evaluation is not None and evaluation.best is not None and (run_path / BEST_NAME).is_file():
            _evaluate_best(trainer, result, evaluation.best, run_path / BEST_NAME, episodes, out)
    if evaluation is not None and evaluation.history:
        result.eval_history = [[episode, mean] for episode, mean in evaluation.history]
    if evaluation is not None and evaluation.stopped is not None:
        result.eval_stopped = evaluation.stopped
        threshold = config.training.eval_stop_return
        print(f"stopped after episode {evaluation.stopped}: a periodic evaluation reached "
              f"{'the stop return' if threshold is None else f'{threshold:g}'}", file=out)


def _plot(trainer: Trainer, config: AgentConfig, result: RunResult, baseline: list[float], run_path: Path,
          episodes: int, out: TextIO) -> None:
    """``learning_curve.png``, with the evaluations as reference lines."""
    try:
        from snnrl.analysis.learning import plot_learning_curve
    except ImportError as e:
        print(f"no learning-curve PNG: {e}", file=out)
        return
    refs = {}
    if result.evaluation is not None:
        refs[f"final policy, evaluation ({episodes} ep.)"] = result.evaluation["mean"]
    if result.evaluation_best is not None:
        refs[f"best policy (ep. {result.evaluation_best['episode']}), evaluation ({episodes} ep.)"] = \
            result.evaluation_best["mean"]
    try:
        plot_learning_curve(trainer.returns, run_path / "learning_curve.png",
                            window=max(5, min(100, len(trainer.returns) // 10 or 1)), references=refs,
                            baseline_returns=baseline or None,
                            title=f"{config.name} on {config.env_name}, seed {config.seed}")
    except ImportError as e:
        print(f"no learning-curve PNG: {e}", file=out)
        return
    result.learning_curve = str(run_path / "learning_curve.png")


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
) -> RunResult:
    """Train an agent preset in a run directory; returns the results (also in ``results.json``).

    Args:
        agent: an agent preset (path, name or :class:`AgentConfig`).
        overrides: ``key.path=value`` changes to the preset.
        runs_dir: where new run directories go.
        run_dir: the run directory (default: a new ``<runs_dir>/<run_name>``).
        resume: continue from a checkpoint, a run directory, or ``"last"`` (the run of this
            env/agent/seed under ``runs_dir`` whose checkpoint was written last); the run
            directory is the checkpoint's. A checkpoint of another agent or environment is an
            :class:`AgentError`, raised before anything is built.
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
        callbacks: more callbacks (they share the run's :class:`~snnrl.pipeline.callbacks.Logger`).
        log: where to print (default stdout).
    """
    out = log if log is not None else sys.stdout
    config = load_agent(agent, overrides)
    options = _options(config, episodes=episodes, minutes=minutes, eval_episodes=eval_episodes,
                       baseline_episodes=baseline_episodes, tensorboard=tensorboard, progress=progress, plot=plot)
    ckpt = _resume_checkpoint(config, resume, runs_dir, out) if resume is not None else None
    trainer = build_trainer(config)
    try:
        return _run(trainer, config, options, ckpt, runs_dir, run_dir, callbacks, log, out)
    finally:
        trainer.close()


def _run(trainer: Trainer, config: AgentConfig, options: _Options, ckpt: Path | None,
         runs_dir: str | os.PathLike[str], run_dir: str | os.PathLike[str] | None, callbacks: Sequence[Callback],
         log: TextIO | None, out: TextIO) -> RunResult:
    """:func:`train_agent` once the trainer is built."""
    run_path, record = _prepare_run(trainer, config, ckpt, runs_dir, run_dir, out)
    cbs, evaluation, tb = _callbacks(config, options, run_path, callbacks, log, out)
    _baseline(trainer, record, options.baseline_episodes, out)
    seconds, steps = _train(trainer, config, options, cbs, run_path, out)
    result = RunResult(
        agent=config.name, env=config.env_name, seed=config.seed, run_dir=str(run_path),
        episodes=trainer.episodes_done, total_steps=trainer.total_steps, seconds=round(seconds, 2),
        steps_per_second=round(steps / max(seconds, 1e-9), 1), train_returns=list(trainer.returns),
        train_last_100=summarize(trainer.returns[-100:]), checkpoint=str(run_path / CHECKPOINT_NAME),
        resumed_from=str(ckpt) if ckpt is not None else None,
        random_baseline=summarize(record.baseline_returns) if record.baseline_returns else None)
    _evaluate(trainer, result, evaluation, run_path, config, options.eval_episodes, out)
    if tb is not None:
        if result.evaluation is not None:
            cbs.logger.record("eval/mean_return", result.evaluation["mean"])
            cbs.logger.dump(trainer.episodes_done)
        tb.close()
    if options.plot:
        _plot(trainer, config, result, record.baseline_returns, run_path, options.eval_episodes, out)
    write_atomic(run_path / "results.json", (json.dumps(result.to_dict(), indent=1) + "\n").encode())
    print(f"{trainer.episodes_done} episodes, {trainer.total_steps} steps in {seconds:.1f} s "
          f"({result.steps_per_second:.0f} steps/s); mean return of the last 100: "
          f"{result.train_last_100['mean']:.2f}", file=out)
    print(f"wrote {result.checkpoint}, {run_path / 'results.json'}"
          + (f", {result.learning_curve}" if result.learning_curve is not None else ""), file=out)
    return result
