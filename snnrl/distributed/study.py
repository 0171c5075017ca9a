"""``snnrl tune``: an Optuna study whose trials train on Ray.

Design: Optuna's own storage (an RDB: a local SQLite file by default, a database URL for several
drivers) holds the study, and Ray runs the trials. One Ray actor on the driver's node,
:class:`StudyServer`, is the only process that opens the storage: it asks the TPE sampler for
parameters, receives the periodic evaluations of the runs, prunes with Optuna's median pruner
(as the RL Zoo) and tells the results. A trial is ``seeds_per_trial`` runs
(:func:`~snnrl.distributed.jobs.train_seed` tasks, one CPU each, possibly in parallel); its
intermediate value at an evaluation episode is the mean over its seeds, and its value the mean of
their final scores (:func:`~snnrl.distributed.jobs.objective`).

Faults: Ray retries a run whose worker died, from the run's last checkpoint (periodic
evaluations already reported are not counted twice); a run that still fails marks its trial
failed with the error, and the study goes on. When the driver dies, the trials it left running
stay RUNNING in the storage; ``--resume`` continues them (their runs resume from their
checkpoints, finished runs are read back) and then asks for new trials up to ``--trials``
finished ones (complete, pruned or failed). Do not resume a study that another driver is still
working on.

Files in the output directory: ``study.db`` (the default storage), ``trials/trial_NNNN/seed_S/``
(run directories), ``trials.csv``, ``best.json``, ``<agent>-tuned.toml`` (the preset with the best
parameters, ready for ``snnrl train --agent``) and the plots ``optimization_history.png``,
``param_importances.png`` and ``intermediate_values.png``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from snnrl.distributed._deps import require
from snnrl.distributed.jobs import SeedJob, train_seed
from snnrl.distributed.runtime import describe_error, pin_to_this_node, ray_runtime
from snnrl.distributed.seedset import RETRIES
from snnrl.distributed.space import Param, override, parse_param
from snnrl.pipeline.agent import AgentConfig, apply_overrides, load_agent
from snnrl.toml import dumps

__all__ = ["SearchSettings", "StudyError", "StudyServer", "default_storage", "open_study", "run_search",
           "trial_dir", "write_report"]

_ATTR = "snnrl"
"""The study's user attribute that holds its :class:`SearchSettings`."""


class StudyError(ValueError):
    """A study that exists where a new one was asked for, or is missing or different where it is resumed."""


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """What a study searches and how; stored with the study, so that ``--resume`` runs the same search."""

    agent: str
    """The agent's name."""
    env: str
    """The environment preset's name."""
    space: tuple[str, ...]
    """The ``--param`` texts."""
    seeds_per_trial: int
    """Runs per trial (seeds ``training.seed`` + 0, 1, ...)."""
    episodes: int
    """Training episodes per run."""
    eval_interval: int
    """Episodes between the periodic evaluations that the pruner sees."""
    overrides: tuple[str, ...] = ()
    """``key.path=value`` overrides of the preset."""
    prune: bool = True
    """Prune with the median pruner."""
    pruner_startup_trials: int = 5
    """Trials that finish before the pruner prunes (Optuna's ``n_startup_trials``)."""
    sampler_startup_trials: int = 10
    """Random trials before TPE models the results."""
    sampler_seed: int | None = None
    """Seed of the sampler (None: random)."""

    MUST_MATCH = ("agent", "env", "space", "seeds_per_trial", "episodes", "eval_interval", "overrides")

    @property
    def params(self) -> list[Param]:
        """The parsed search space."""
        return [parse_param(text) for text in self.space]

    @property
    def warmup_steps(self) -> int:
        """Episodes before the pruner prunes: a third of the run (the RL Zoo's warm-up)."""
        return self.episodes // 3

    def to_dict(self) -> dict[str, Any]:
        """As plain data (the study's user attribute)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSettings:
        """From :meth:`to_dict`."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**values)


def default_storage(out: str | os.PathLike[str]) -> str:
    """``sqlite:///<out>/study.db`` (an absolute path)."""
    return f"sqlite:///{(Path(out) / 'study.db').resolve()}"


def trial_dir(out: str | os.PathLike[str], number: int, seed: int) -> Path:
    """The run directory of ``seed`` in trial ``number``."""
    return Path(out) / "trials" / f"trial_{number:04d}" / f"seed_{seed}"


def _quiet(optuna: Any) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def open_study(storage: str, name: str, settings: SearchSettings, *, resume: bool) -> SearchSettings:
    """Create the study (``resume=False``) or check the one to continue; the settings to run with
    (a resumed study's own, where ``settings.space`` is empty).

    Raises:
        StudyError: a new study whose name is taken, a resumed one that is missing or was started
            with other settings.
    """
    optuna = require("optuna", "snnrl tune")
    _quiet(optuna)
    try:
        names = optuna.study.get_all_study_names(storage)
    except Exception as e:  # the storage's own errors (SQLAlchemy, a missing database driver, a bad URL)
        text = str(e).strip().splitlines()
        raise StudyError(f"cannot open the Optuna storage {storage!r}: {type(e).__name__}: "
                         f"{text[0] if text else ''}") from None
    if not resume:
        if name in names:
            raise StudyError(f"a study {name!r} exists in {storage}: --resume continues it, --study NAME starts "
                             "another")
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
        study.set_user_attr(_ATTR, settings.to_dict())
        return settings
    if name not in names:
        raise StudyError(f"no study {name!r} in {storage} to resume (studies there: {sorted(names)})")
    stored = optuna.load_study(study_name=name, storage=storage).user_attrs.get(_ATTR)
    if not isinstance(stored, Mapping):
        raise StudyError(f"the study {name!r} in {storage} was not made by snnrl tune")
    theirs = SearchSettings.from_dict(stored)
    if not settings.space:
        settings = dataclasses.replace(settings, space=theirs.space)
    for key in SearchSettings.MUST_MATCH:
        if getattr(settings, key) != getattr(theirs, key):
            raise StudyError(f"the study {name!r} ran with {key} = {getattr(theirs, key)!r}, not "
                             f"{getattr(settings, key)!r}; resume it with the same settings or start another "
                             "with --study NAME")
    return settings


class StudyServer:
    """The study, served to the driver and the runs (a Ray actor on the driver's node; a plain
    object in tests): the one process that opens the storage.

    Args:
        storage: the Optuna storage URL.
        name: the study's name (it exists: :func:`open_study`).
        settings: the search.
    """

    def __init__(self, storage: str, name: str, settings: SearchSettings) -> None:
        optuna = require("optuna", "snnrl tune")
        _quiet(optuna)
        self._optuna = optuna
        existing = len(optuna.load_study(study_name=name, storage=storage).trials)
        seed = None if settings.sampler_seed is None else settings.sampler_seed + existing  # a resumed study
        sampler = optuna.samplers.TPESampler(n_startup_trials=settings.sampler_startup_trials, seed=seed,
                                             multivariate=True, constant_liar=True)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=settings.pruner_startup_trials,
                                             n_warmup_steps=settings.warmup_steps) if settings.prune \
            else optuna.pruners.NopPruner()
        self.study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        self.seeds = settings.seeds_per_trial
        self.distributions = {p.key: p.distribution() for p in settings.params}
        self.trials: dict[int, Any] = {}
        self.values: dict[int, dict[int, dict[int, float]]] = {}
        self.reported: dict[int, set[int]] = {}
        self.pruned: set[int] = set()

    def start(self) -> list[tuple[int, dict[str, Any]]]:
        """The trials a stopped driver left running, to continue: ``(number, params)`` each (those
        that their reported evaluations already prune are told pruned instead)."""
        state = self._optuna.trial.TrialState
        out = []
        for frozen in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            trial = self._optuna.trial.Trial(self.study, frozen._trial_id)  # continue it under its number
            self.trials[frozen.number] = trial
            self.reported[frozen.number] = set(frozen.intermediate_values)
            if frozen.intermediate_values and self.study.pruner.prune(self.study, frozen):
                self.pruned.add(frozen.number)
                self.finish(frozen.number, None, None, {})
                continue
            out.append((frozen.number, dict(frozen.params)))
        return out

    def ask(self) -> tuple[int, dict[str, Any]]:
        """A new trial: ``(number, params)``."""
        trial = self.study.ask(self.distributions)
        self.trials[trial.number] = trial
        self.reported[trial.number] = set()
        return trial.number, dict(trial.params)

    def report(self, number: int, index: int, step: int, value: float) -> bool:
        """Run ``index`` of trial ``number`` evaluated ``value`` after ``step`` episodes; True: the
        trial is pruned (stop). Once every run of the trial has reported ``step``, their mean is
        the trial's intermediate value there and the pruner decides."""
        if number in self.pruned or number not in self.trials:  # pruned, or already told (stop)
            return True
        at_step = self.values.setdefault(number, {}).setdefault(step, {})
        at_step.setdefault(index, float(value))
        if len(at_step) == self.seeds and step not in self.reported[number]:
            trial = self.trials[number]
            trial.report(sum(at_step.values()) / len(at_step), step)
            self.reported[number].add(step)
            if trial.should_prune():
                self.pruned.add(number)
        return number in self.pruned

    def is_pruned(self, number: int) -> bool:
        """Whether trial ``number`` is pruned."""
        return number in self.pruned

    def finish(self, number: int, value: float | None, error: str | None, attrs: Mapping[str, Any]) -> str:
        """Tell the trial's end: failed (``error``), pruned, or complete with ``value``; its state."""
        state = self._optuna.trial.TrialState
        trial = self.trials.pop(number)
        for key, v in attrs.items():
            trial.set_user_attr(key, v)
        if error is not None:
            trial.set_user_attr("error", error)
            self.study.tell(trial, state=state.FAIL)
            return "failed"
        if number in self.pruned:
            self.study.tell(trial, state=state.PRUNED)
            return "pruned"
        self.study.tell(trial, value)
        return "complete"

    def finished(self) -> int:
        """Trials that are complete, pruned or failed."""
        state = self._optuna.trial.TrialState
        return len(self.study.get_trials(deepcopy=False, states=(state.COMPLETE, state.PRUNED, state.FAIL)))


@dataclasses.dataclass
class _Trial:
    """A trial the driver runs: its parameters and the outcomes of its runs so far."""

    number: int
    params: dict[str, Any]
    outcomes: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    errors: dict[int, str] = dataclasses.field(default_factory=dict)


def _jobs(trial: _Trial, base: AgentConfig, settings: SearchSettings, out: Path, server: Any,
          tensorboard: bool) -> list[SeedJob]:
    """The runs of ``trial`` (one per seed)."""
    config = base.with_overrides([override(k, v) for k, v in trial.params.items()])
    jobs = []
    for index in range(settings.seeds_per_trial):
        seed = base.seed + index
        jobs.append(SeedJob(config=config.with_overrides([f"training.seed={seed}"]),
                            run_dir=str(trial_dir(out, trial.number, seed)), tensorboard=tensorboard, plot=False,
                            reporter=server, trial=trial.number, index=index))
    return jobs


def _finish(trial: _Trial, server: Any, ray: Any, out: TextIO) -> str:
    """Tell the study how ``trial`` ended; print a line."""
    scores = [trial.outcomes[i]["objective"] for i in sorted(trial.outcomes)]
    error = "; ".join(f"seed index {i}: {e}" for i, e in sorted(trial.errors.items())) or None
    value = sum(scores) / len(scores) if scores and error is None else None
    attrs = {"scores": scores, "run_dirs": [trial.outcomes[i]["run_dir"] for i in sorted(trial.outcomes)]}
    state = ray.get(server.finish.remote(trial.number, value, error, attrs))
    params = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
    what = {"complete": f"score {value:.3f} (seeds: {', '.join(f'{s:.2f}' for s in scores)})" if value is not None
            else "complete", "pruned": "pruned", "failed": f"failed: {error}"}[state]
    print(f"trial {trial.number} ({params}): {what}", file=out, flush=True)
    return state


def run_search(config: AgentConfig, settings: SearchSettings, *, storage: str, name: str,
               out_dir: str | os.PathLike[str], trials: int, workers: int | None = None, address: str | None = None,
               tensorboard: bool = False, out: TextIO) -> None:
    """Run the study ``name`` (made by :func:`open_study`) until it has ``trials`` finished trials.

    Args:
        config: the agent preset with ``settings.overrides`` applied.
        settings: the search (:func:`open_study`'s).
        storage: the Optuna storage URL.
        name: the study's name.
        out_dir: where the trials' run directories go (on storage every node can write).
        trials: finished trials (complete, pruned, failed) to reach.
        workers: runs at a time (default: the runtime's CPUs).
        address: a Ray cluster, or None: a local runtime.
        tensorboard: the runs write TensorBoard logs.
        out: where to print a line per trial.
    """
    ray = require("ray", "snnrl tune")
    base = config.with_overrides([f"training.episodes={settings.episodes}",
                                  f"training.eval_interval={settings.eval_interval}"])
    with ray_runtime(address, cpus=workers, needed_for="snnrl tune") as runtime:
        limit = workers or runtime.cpus
        server = ray.remote(StudyServer).options(num_cpus=0, scheduling_strategy=pin_to_this_node()).remote(
            storage, name, settings)
        running = {n: _Trial(n, p) for n, p in ray.get(server.start.remote())}
        done = ray.get(server.finished.remote())
        print(f"study {name!r} ({storage}): {done} trials finished, {len(running)} to continue, up to {trials}; "
              f"{limit} runs at a time on {runtime.nodes} node(s) with {runtime.cpus} CPUs", file=out, flush=True)
        queue: deque[SeedJob] = deque(j for t in running.values()
                                      for j in _jobs(t, base, settings, Path(out_dir), server, tensorboard))
        remote = ray.remote(train_seed).options(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)
        inflight: dict[Any, SeedJob] = {}
        while True:
            while len(inflight) < limit:
                if not queue:
                    if done + len(running) >= trials:
                        break
                    trial = _Trial(*ray.get(server.ask.remote()))
                    running[trial.number] = trial
                    queue.extend(_jobs(trial, base, settings, Path(out_dir), server, tensorboard))
                job = queue.popleft()
                inflight[remote.remote(job)] = job
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                job = inflight.pop(ref)
                trial = running[job.trial or 0]
                try:
                    trial.outcomes[job.index] = ray.get(ref)
                except ray.exceptions.RayError as e:
                    trial.errors[job.index] = describe_error(e)
                if len(trial.outcomes) + len(trial.errors) == settings.seeds_per_trial:
                    _finish(running.pop(trial.number), server, ray, out)
                    done += 1
        ray.kill(server)


def _rows(trials: Sequence[Any], keys: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete is not None and t.datetime_start is not None else None
        rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                     **{k: t.params.get(k) for k in keys}, "seconds": seconds,
                     "last_step": t.last_step, "scores": json.dumps(t.user_attrs.get("scores", [])),
                     "error": t.user_attrs.get("error", "")})
    return rows


def _tuned_preset(agent: str, settings: SearchSettings, best: Any, name: str, storage: str, path: Path) -> Path:
    """Write the preset with the best parameters (the study's overrides applied, the network inline)."""
    config = load_agent(agent, settings.overrides)
    source = dict(config.source)
    if isinstance(source.get("network"), str):
        source["network"] = dict(config.network)
    doc = apply_overrides(source, [override(k, v) for k, v in best.params.items()])
    doc["name"] = f"{config.name}-tuned"
    doc["description"] = f"{config.description} (tuned by snnrl tune, study {name})".strip()
    header = (f"# Written by snnrl tune: study {name!r} ({storage}), best of its trials: trial {best.number}, "
              f"score {best.value:.4g}\n# (the mean final evaluation of {settings.seeds_per_trial} seed(s) after "
              f"{settings.episodes} episodes). Parameters:\n"
              + "".join(f"#   {k} = {v!r}\n" for k, v in best.params.items()))
    path.write_text(header + dumps(doc))
    load_agent(path)  # it must load as it is
    return path


def _plots(optuna: Any, study: Any, out: Path, complete: int) -> list[Path]:
    """The optimization history, parameter importances and intermediate values (as there is data)."""
    try:
        from snnrl.analysis.plotting import _pyplot

        plt = _pyplot()
    except ImportError:
        return []
    with plt.rc_context():  # Optuna's plots switch the style of the process (ggplot)
        return _optuna_plots(optuna, study, out, complete, plt)


def _optuna_plots(optuna: Any, study: Any, out: Path, complete: int, plt: Any) -> list[Path]:
    from snnrl.analysis.plotting import save_figure

    vm = optuna.visualization.matplotlib
    plots = [("optimization_history.png", vm.plot_optimization_history, complete >= 1),
             ("param_importances.png", vm.plot_param_importances, complete >= 2),
             ("intermediate_values.png", vm.plot_intermediate_values,
              any(t.intermediate_values for t in study.get_trials(deepcopy=False)))]
    written = []
    for file, plot, wanted in plots:
        if not wanted:
            continue
        try:
            ax = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. importances of parameters that never varied
            continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 4.5)
        fig.tight_layout()
        written.append(save_figure(fig, out / file, 110))
    return written


def write_report(agent: str, settings: SearchSettings, *, storage: str, name: str, out_dir: str | os.PathLike[str],
                 out: TextIO) -> dict[str, Any]:
    """``trials.csv``, ``best.json``, the tuned preset and the plots of the study; returns ``best.json``'s
    content (empty without a complete trial)."""
    optuna = require("optuna", "snnrl tune")
    _quiet(optuna)
    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    keys = [p.key for p in settings.params]
    rows = _rows(trials, keys)
    with open(out_path / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["number", "state", "value", *keys, "seconds", "last_step", "scores",
                                               "error"])
        writer.writeheader()
        writer.writerows(rows)
    counts = {s: sum(r["state"] == s for r in rows) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
    complete = counts["COMPLETE"]
    best: dict[str, Any] = {}
    if complete:
        trial = study.best_trial
        preset = _tuned_preset(agent, settings, trial, name, storage, out_path / f"{settings.agent}-tuned.toml")
        best = {"study": name, "storage": storage, "trial": trial.number, "value": trial.value,
                "params": trial.params, "scores": trial.user_attrs.get("scores", []), "preset": str(preset),
                "trials": counts, "written": time.time()}
        (out_path / "best.json").write_text(json.dumps(best, indent=1) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plots = _plots(optuna, study, out_path, complete)
    print(f"study {name!r}: {complete} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed"
          + (f"; best: trial {best['trial']}, score {best['value']:.3f} with "
             + ", ".join(f"{k}={v!r}" for k, v in best["params"].items()) if best else "; no complete trial"),
          file=out)
    print(f"wrote {out_path / 'trials.csv'}" + (f", {best['preset']}" if best else "")
          + "".join(f", {p}" for p in plots), file=out, flush=True)
    return best
