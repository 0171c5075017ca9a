"""Callbacks of the episode pipeline, in the style of stable-baselines3's.

A callback's public hooks do the bookkeeping and call one protected method that does the work;
returning False from ``_on_step``, ``_on_update`` or ``_on_episode_end`` stops training after
the current step (the trainer finishes the step, writes its final checkpoint and returns).

Hooks (``trainer`` is the :class:`~snnrl.pipeline.Trainer`, available as ``self.trainer``):

* ``on_training_start()`` / ``on_training_end()``;
* ``on_step()`` after every environment step (``self.n_calls`` counts them);
* ``on_update(modulator)`` after every reward delivery to the network (training only);
* ``on_episode_end(episode)`` for every finished episode, with an :class:`EpisodeInfo`.

Callbacks record scalars through ``self.logger`` (a :class:`Logger`, as stable-baselines3's
``self.logger.record(key, value)``); the callbacks of one :class:`CallbackList` share its logger,
and the TensorBoard callback writes what it dumps.

Built in: :class:`CheckpointCallback` (every N episodes), :class:`EvalCallback` (periodic
deterministic evaluation that keeps the best policy, as stable-baselines3's), :class:`StopTrainingOnEpisodes`
(stop after N episodes: a "kill" in tests), :class:`StopTrainingOnReward` (early stop once the
mean return of the last episodes reaches a threshold), :class:`StopOnTimeBudget`,
:class:`ProgressBarCallback` (tqdm: episodes, return, steps/s) and :class:`PrintCallback`.
The TensorBoard writer is :class:`snnrl.pipeline.tensorboard.TensorBoardCallback`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snnrl import _checks as checks

if TYPE_CHECKING:
    from snnrl.pipeline.trainer import Trainer

__all__ = [
    "Callback",
    "CallbackList",
    "CheckpointCallback",
    "EpisodeInfo",
    "EvalCallback",
    "Logger",
    "PrintCallback",
    "ProgressBarCallback",
    "StopOnTimeBudget",
    "StopTrainingOnEpisodes",
    "StopTrainingOnReward",
]


@dataclasses.dataclass(frozen=True)
class EpisodeInfo:
    """A finished episode.

    Attributes:
        index: the episode's number (0-based, in order of completion).
        env: the environment (batch element) it ran in.
        ret: the environment's return (sum of raw rewards).
        length: steps.
        shaped_return: sum of the shaped rewards (what the reward signal saw).
        modulator_mean: mean modulator delivered per step (0 when not learning).
        modulator_abs: mean absolute modulator per step.
        terminated: the episode ended in a terminal state (not a time limit).
        seed: the seed its reset used (None for environments the trainer does not seed).
        rates: mean firing rate (Hz) per layer over the episode (when recorded, else empty).
        training: whether the episode learned.
    """

    index: int
    env: int
    ret: float
    length: int
    shaped_return: float
    modulator_mean: float
    modulator_abs: float
    terminated: bool
    seed: int | None
    rates: dict[str, float]
    training: bool


class Logger:
    """Scalars that callbacks record, handed to the logger's outputs (stable-baselines3's ``Logger``).

    ``record(key, value)`` keeps the latest value per key; ``dump(step)`` hands every recorded
    value to every output, ``output(key, value, step)``, and forgets them (without outputs they
    are dropped). :class:`~snnrl.pipeline.tensorboard.TensorBoardCallback` is an output of its
    callbacks' logger and dumps it after every training episode and at the end of training.
    """

    def __init__(self) -> None:
        self.name_to_value: dict[str, float] = {}
        self.outputs: list[Callable[[str, float, int], None]] = []

    def record(self, key: str, value: float) -> None:
        """Record ``value`` under ``key`` (e.g. ``"eval/mean_return"``) until the next dump."""
        self.name_to_value[key] = float(value)

    def dump(self, step: int) -> None:
        """Hand the recorded values to the outputs at ``step`` and forget them."""
        for key, value in self.name_to_value.items():
            for output in self.outputs:
                output(key, value, step)
        self.name_to_value.clear()

    def add_output(self, output: Callable[[str, float, int], None]) -> None:
        """Also hand dumped values to ``output(key, value, step)`` (once, however often added)."""
        if output not in self.outputs:
            self.outputs.append(output)

    def remove_output(self, output: Callable[[str, float, int], None]) -> None:
        """Stop handing dumped values to ``output``."""
        if output in self.outputs:
            self.outputs.remove(output)


class Callback:
    """Base class (see the module docstring). Subclasses override the ``_on_*`` methods.

    Attributes:
        trainer: the trainer it is attached to (set by :meth:`init_callback`).
        logger: where it records scalars (a :class:`CallbackList` hands its own to its callbacks).
    """

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.logger = Logger()
        self.n_calls = 0
        self.n_episodes = 0

    def init_callback(self, trainer: Trainer) -> None:
        """Attach to ``trainer`` (called by the trainer before training starts)."""
        self.trainer = trainer
        self._init_callback()

    def _init_callback(self) -> None:
        pass

    def on_training_start(self) -> None:
        self._on_training_start()

    def _on_training_start(self) -> None:
        pass

    def on_step(self) -> bool:
        """After every environment step; False stops training."""
        self.n_calls += 1
        return self._on_step()

    def _on_step(self) -> bool:
        return True

    def on_update(self, modulator: Any) -> bool:
        """After every reward delivery (``modulator``: a float or a ``(B,)`` tensor); False stops."""
        return self._on_update(modulator)

    def _on_update(self, modulator: Any) -> bool:
        return True

    def on_episode_end(self, episode: EpisodeInfo) -> bool:
        """After every finished episode; False stops training."""
        self.n_episodes += 1
        return self._on_episode_end(episode)

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        return True

    def on_training_end(self) -> None:
        self._on_training_end()

    def _on_training_end(self) -> None:
        pass


class CallbackList(Callback):
    """Several callbacks as one (every hook is called on each; any False stops training). They
    share one :class:`Logger`: ``logger``, or a new one."""

    def __init__(self, callbacks: Iterable[Callback], logger: Logger | None = None) -> None:
        super().__init__()
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        if logger is not None:
            self.logger = logger

    def _init_callback(self) -> None:
        for cb in self.callbacks:
            cb.logger = self.logger
            cb.init_callback(self.trainer)  # type: ignore[arg-type]

    def _on_training_start(self) -> None:
        for cb in self.callbacks:
            cb.on_training_start()

    def _on_step(self) -> bool:
        return all([cb.on_step() for cb in self.callbacks])

    def _on_update(self, modulator: Any) -> bool:
        return all([cb.on_update(modulator) for cb in self.callbacks])

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        return all([cb.on_episode_end(episode) for cb in self.callbacks])

    def _on_training_end(self) -> None:
        for cb in self.callbacks:
            cb.on_training_end()


class CheckpointCallback(Callback):
    """Save a resumable checkpoint every ``every_episodes`` episodes (atomically, replacing the last).

    Args:
        every_episodes: interval in finished episodes (>= 1).
        path: the checkpoint file (``.safetensors``).
        keep: also keep a numbered copy ``<stem>_ep<N>.safetensors`` of each one.
    """

    def __init__(self, every_episodes: int, path: str | os.PathLike[str], keep: bool = False) -> None:
        super().__init__()
        self.every = checks.integer("every_episodes", every_episodes, 1)
        self.path = Path(path)
        self.keep = keep
        self.saved: list[Path] = []

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        trainer = self.trainer
        if trainer is not None and trainer.episodes_done % self.every == 0:
            trainer.save_checkpoint(self.path)
            self.saved.append(self.path)
            if self.keep:
                numbered = self.path.with_name(f"{self.path.stem}_ep{trainer.episodes_done}{self.path.suffix}")
                trainer.save_checkpoint(numbered)
                self.saved.append(numbered)
        return True


class EvalCallback(Callback):
    """Every ``every`` training episodes, play ``episodes`` evaluation episodes without learning
    (deterministic decoding, seeds ``derive_seed(seed, 1, k)``) and keep the best policy.

    Its state (:attr:`history`, :attr:`best`, :attr:`stopped`; :meth:`state_dict`) goes into the
    trainer's checkpoints under ``trainer.metadata["eval_callback"]`` and is restored from the
    trainer when the callback is attached (:meth:`load_state_dict`), so a resumed run continues
    the history and the selection of the best policy. Each evaluation's mean return goes to the
    logger as ``eval/mean_return``. Put it before a :class:`CheckpointCallback`, so that a
    checkpoint of the same episode holds that episode's evaluation.

    Where it plays: with ``eval_env`` (a ``gymnasium.Env``, a list of them or a vector env, as
    stable-baselines3's ``EvalCallback(eval_env)``), a copy of the policy plays on those
    environments, so the training environments, the network's state and the decoder's random
    state are not touched (this works whatever the number of training environments). Without
    it, the evaluation runs between two training episodes on the training environment, which
    must then be a single one. Either way it draws from a copy of the policy's random state
    (:meth:`Trainer.evaluate`), so training goes on exactly as without evaluations, and a run
    resumed from any checkpoint repeats them exactly.

    Args:
        every: interval in finished training episodes (>= 1).
        episodes: evaluation episodes per evaluation.
        best_path: where to save the best policy so far (a resumable checkpoint), or None.
        seed: seed of the evaluation episodes (default: the trainer's seed + 1; the final
            evaluation of a run uses the trainer's seed, so the selection does not see it).
        stop_return: stop training once an evaluation's mean return reaches this (as
            stable-baselines3's ``StopTrainingOnRewardThreshold`` on a new best), or None: never.
        eval_env: environments of its own (see above), or None.

    Attributes:
        history: ``(episode, mean return)`` of every evaluation so far.
        best: ``(episode, mean return)`` of the best one, or None.
        stopped: the episode after which ``stop_return`` stopped training, or None.
    """

    state_key = "eval_callback"
    """The key of :meth:`state_dict` in ``trainer.metadata`` (and so in checkpoints)."""

    def __init__(self, every: int, episodes: int = 10, best_path: str | os.PathLike[str] | None = None,
                 seed: int | None = None, stop_return: float | None = None, eval_env: Any = None) -> None:
        super().__init__()
        self.eval_env = eval_env
        self._eval_trainer: Trainer | None = None
        self.every = checks.integer("every", every, 1)
        self.episodes = checks.integer("episodes", episodes, 1)
        self.best_path = Path(best_path) if best_path is not None else None
        self.seed = None if seed is None else checks.integer("seed", seed, 0)
        self.stop_return = None if stop_return is None else checks.finite("stop_return", stop_return)
        self.history: list[tuple[int, float]] = []
        self.best: tuple[int, float] | None = None
        self.stopped: int | None = None

    def state_dict(self) -> dict[str, Any]:
        """The evaluation state as plain data (JSON)."""
        return {"history": [[episode, mean] for episode, mean in self.history],
                "best": list(self.best) if self.best is not None else None, "stopped": self.stopped}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` (an empty mapping: start afresh)."""
        self.history = [(int(episode), float(mean)) for episode, mean in state.get("history", [])]
        best, stopped = state.get("best"), state.get("stopped")
        self.best = (int(best[0]), float(best[1])) if best is not None else None
        self.stopped = int(stopped) if stopped is not None else None

    def _init_callback(self) -> None:
        metadata = self.trainer.metadata if self.trainer is not None else {}
        state = metadata.get(self.state_key)
        if state is None and "eval_history" in metadata:  # a checkpoint written before the state had a key
            state = {"history": metadata["eval_history"], "best": metadata.get("best_eval"),
                     "stopped": metadata.get("eval_stopped")}
        self.load_state_dict(state if isinstance(state, Mapping) else {})

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        trainer = self.trainer
        if trainer is None or not episode.training or trainer.episodes_done % self.every:
            return True
        seed = trainer.seed + 1 if self.seed is None else self.seed
        if self.eval_env is not None:
            returns = self._evaluate_copy(trainer, seed)
        elif trainer.n_envs != 1:
            raise ValueError(f"EvalCallback without eval_env needs a single training environment, the trainer has "
                             f"{trainer.n_envs}: pass EvalCallback(..., eval_env=<environments of its own>)")
        else:
            returns, _ = trainer.evaluate(self.episodes, seed=seed)
        mean = sum(returns) / len(returns)
        step = trainer.episodes_done
        self.history.append((step, mean))
        self.logger.record("eval/mean_return", mean)
        self.logger.dump(step)
        if self.best is None or mean > self.best[1]:
            self.best = (step, mean)
            trainer.metadata[self.state_key] = self.state_dict()
            if self.best_path is not None:
                trainer.save_checkpoint(self.best_path)
        stop = self.stop_return is not None and mean >= self.stop_return
        if stop:
            self.stopped = step
        trainer.metadata[self.state_key] = self.state_dict()
        return not stop


    def _evaluate_copy(self, trainer: Trainer, seed: int) -> list[float]:
        """Evaluate a copy of the trainer's policy on :attr:`eval_env` (the training state is untouched)."""
        policy = copy.deepcopy(trainer.policy)
        if self._eval_trainer is None:  # the trainer's own class: no import of the trainer module here
            self._eval_trainer = type(trainer)(policy, self.eval_env, seed=trainer.seed,
                                               max_episode_steps=trainer.max_episode_steps)
        else:
            self._eval_trainer.policy = policy
        returns, _ = self._eval_trainer.evaluate(self.episodes, seed=seed)
        return returns


class StopTrainingOnEpisodes(Callback):
    """Stop after ``episodes`` more finished episodes (what a killed run looks like, in tests)."""

    def __init__(self, episodes: int) -> None:
        super().__init__()
        self.episodes = checks.integer("episodes", episodes, 1)

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        return self.n_episodes < self.episodes


class StopTrainingOnReward(Callback):
    """Early stop once the mean return of the last ``window`` episodes reaches ``threshold``."""

    def __init__(self, threshold: float, window: int = 100) -> None:
        super().__init__()
        self.threshold = checks.finite("threshold", threshold)
        self.window = checks.integer("window", window, 1)

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        returns = self.trainer.returns if self.trainer is not None else []
        if len(returns) < self.window:
            return True
        recent = returns[-self.window:]
        return sum(recent) / len(recent) < self.threshold


class StopOnTimeBudget(Callback):
    """Stop after the episode during which ``minutes`` of wall-clock time ran out."""

    def __init__(self, minutes: float) -> None:
        super().__init__()
        self.seconds = checks.positive("minutes", minutes) * 60.0
        self.start = 0.0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        return time.perf_counter() - self.start < self.seconds


def _recent_mean(values: list[float], n: int = 100) -> float:
    recent = values[-n:]
    return sum(recent) / len(recent) if recent else float("nan")


class ProgressBarCallback(Callback):
    """A tqdm progress bar over episodes showing the last and mean return and steps/s.

    With a time budget (``minutes > 0``, see :class:`StopOnTimeBudget`) the bar shows the time
    left instead of an episode total (the budget, not the episode count, usually ends the run).
    Without tqdm installed it prints one line every ``fallback_every`` episodes instead.
    """

    def __init__(self, total: int | None = None, fallback_every: int = 10, file: Any = None,
                 minutes: float = 0.0) -> None:
        super().__init__()
        self.minutes = checks.positive("minutes", minutes, strict=False)
        self.total = None if self.minutes > 0 or total is None else checks.integer("total", total, 0)
        self.fallback_every = checks.integer("fallback_every", fallback_every, 1)
        self.file = file if file is not None else sys.stderr
        self.bar: Any = None
        self.start = 0.0
        self.steps0 = 0

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()
        self.steps0 = self.trainer.total_steps if self.trainer is not None else 0
        try:
            from tqdm import tqdm
        except ImportError:
            return
        done = self.trainer.episodes_done if self.trainer is not None else 0
        self.bar = tqdm(total=self.total, initial=done, unit="ep", desc="episodes", file=self.file,
                        dynamic_ncols=True, mininterval=0.5)

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        trainer = self.trainer
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = (trainer.total_steps - self.steps0) / elapsed if trainer is not None else 0.0
        mean = _recent_mean(trainer.returns) if trainer is not None else float("nan")
        if self.bar is not None:
            self.bar.update(1)
            postfix = {"return": f"{episode.ret:.1f}", "mean100": f"{mean:.1f}", "steps/s": f"{rate:.0f}"}
            if self.minutes > 0:
                left = max(0, round(self.minutes * 60 - elapsed))
                postfix["left"] = f"{left // 60}:{left % 60:02d}"
            self.bar.set_postfix(postfix, refresh=False)
        elif self.n_episodes % self.fallback_every == 0:
            print(f"episode {episode.index + 1}: return {episode.ret:.1f}, mean100 {mean:.2f}, "
                  f"{rate:.0f} steps/s", file=self.file, flush=True)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class PrintCallback(Callback):
    """Print a line per ``every`` finished episodes (return, length, mean of the last 100)."""

    def __init__(self, every: int = 1, file: Any = None) -> None:
        super().__init__()
        self.every = checks.integer("every", every, 1)
        self.file = file if file is not None else sys.stdout

    def _on_episode_end(self, episode: EpisodeInfo) -> bool:
        if self.n_episodes % self.every == 0:
            mean = _recent_mean(self.trainer.returns) if self.trainer is not None else float("nan")
            print(f"episode {episode.index + 1}: return {episode.ret:.2f}, length {episode.length}, "
                  f"mean100 {mean:.2f}", file=self.file, flush=True)
        return True
