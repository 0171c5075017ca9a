"""Seed sets: ``snnrl train --agent X --seeds 0-9``, the seeds of one preset in parallel on Ray.

A seed set is a directory (``<runs>/<env>__<agent>__seeds<spec>__<unix time>``) that holds::

    seeds.json                          the manifest: preset, overrides, options, seeds, outcomes
    <env>__<agent>__<seed>__<time>/     each seed's run directory, exactly as ``snnrl train`` writes it
    summary/                            the aggregate (:func:`~snnrl.distributed.summary.summarize_runs`)

Each seed is one Ray task (:func:`~snnrl.distributed.jobs.train_seed`) with one CPU; Ray retries a
task whose worker died, and the retry continues from the run's last checkpoint. Continuing a set
(``--resume``) skips the seeds whose ``results.json`` is there and resumes the others from their
checkpoints. A seed that fails is recorded in the manifest with its error; the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from snnrl.distributed._deps import require
from snnrl.distributed.jobs import SeedJob, read_results, train_seed
from snnrl.distributed.runtime import describe_error, ray_runtime, submit_bounded
from snnrl.distributed.summary import summarize_runs
from snnrl.pipeline.agent import AgentConfig, AgentError, load_agent
from snnrl.pipeline.run import build_trainer, run_name

__all__ = ["MANIFEST", "RETRIES", "SeedSet", "find_seed_set", "parse_seeds", "plan_seed_set", "run_seed_set"]

MANIFEST = "seeds.json"
RETRIES = 2
"""Times Ray retries a seed whose worker died (each retry continues from the last checkpoint)."""

_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seeds(text: str) -> tuple[int, ...]:
    """The seeds of ``--seeds``: ``"0-9"``, ``"3"`` or a comma list of both (``"0,4,10-12"``).

    >>> parse_seeds("0-3,7")
    (0, 1, 2, 3, 7)

    Raises:
        ValueError: a malformed part, an empty range (``5-2``) or a seed given twice.
    """
    seeds: list[int] = []
    for part in text.split(","):
        match = _PART.match(part.strip())
        if match is None:
            raise ValueError(f"--seeds {text!r}: {part.strip()!r} is not a seed or a range; expected seeds >= 0 "
                             "as START-END or a comma list, e.g. 0-9 or 0,3,5-7")
        start, end = int(match[1]), int(match[2] if match[2] is not None else match[1])
        if end < start:
            raise ValueError(f"--seeds {text!r}: the range {part.strip()!r} is empty ({start} > {end}); "
                             f"expected START-END with START <= END, e.g. {end}-{start}")
        seeds.extend(range(start, end + 1))
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f"--seeds {text!r}: seed {twice[0]} is given twice")
    return tuple(seeds)


def _spec(seeds: Sequence[int]) -> str:
    """``0-9`` for consecutive seeds, else the first and last with the count (``0_to_12x5``)."""
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return f"{seeds[0]}_to_{seeds[-1]}x{len(seeds)}"


@dataclasses.dataclass
class SeedSet:
    """A seed set's manifest (``seeds.json``)."""

    path: Path
    """The set's directory."""
    agent: str
    """The ``--agent`` argument (a preset path or name)."""
    name: str
    """The agent's name."""
    env: str
    """The environment preset's name."""
    seeds: tuple[int, ...]
    """The seeds."""
    overrides: tuple[str, ...]
    """``key.path=value`` overrides of the preset."""
    options: dict[str, Any]
    """``episodes``, ``minutes``, ``eval_episodes``, ``baseline_episodes`` (None: the preset's),
    ``tensorboard``, ``plot`` (False: off; None or absent: on)."""
    stamp: int
    """Unix time of the set's start."""
    runs: dict[int, str]
    """Each seed's run directory name (``<env>__<agent>__<seed>__<stamp>``, as a single run's)."""
    outcomes: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per seed: ``status``, ``objective``, ``node``, ``host`` or ``error``."""

    def run_dir(self, seed: int) -> Path:
        """The run directory of ``seed``."""
        return self.path / self.runs[seed]

    def to_dict(self) -> dict[str, Any]:
        """The manifest's content."""
        return {"agent": self.agent, "name": self.name, "env": self.env, "seeds": list(self.seeds),
                "overrides": list(self.overrides), "options": self.options, "stamp": self.stamp,
                "runs": {str(s): self.runs[s] for s in self.seeds},
                "outcomes": {str(s): o for s, o in sorted(self.outcomes.items())}}

    def write(self) -> None:
        """Write ``seeds.json`` (atomically: a killed driver leaves the previous one)."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        os.replace(tmp, self.path / MANIFEST)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SeedSet:
        """The seed set in directory ``path``.

        Raises:
            FileNotFoundError: no ``seeds.json`` there (or not readable).
        """
        path = Path(path)
        try:
            data = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as e:
            raise FileNotFoundError(f"no seed set in {str(path)!r} (its {MANIFEST} is missing or unreadable: "
                                    f"{e})") from None
        return cls(path=path, agent=str(data["agent"]), name=str(data["name"]), env=str(data["env"]),
                   seeds=tuple(int(s) for s in data["seeds"]), overrides=tuple(data["overrides"]),
                   options=dict(data["options"]), stamp=int(data["stamp"]),
                   runs={int(s): str(name) for s, name in data["runs"].items()},
                   outcomes={int(s): dict(o) for s, o in data.get("outcomes", {}).items()})


def find_seed_set(resume: str | os.PathLike[str], runs_dir: str | os.PathLike[str], prefix: str) -> Path:
    """The seed set to continue: a set directory, or (``resume="last"``) the set under ``runs_dir``
    named ``prefix*`` whose manifest was written last."""
    if str(resume) != "last":
        return Path(resume)
    candidates = [p for p in Path(runs_dir).glob(f"{prefix}*") if (p / MANIFEST).is_file()] \
        if Path(runs_dir).is_dir() else []
    if not candidates:
        raise FileNotFoundError(f"no seed set named {prefix}* in {str(runs_dir)!r} to resume")
    return max(candidates, key=lambda p: ((p / MANIFEST).stat().st_mtime_ns, p.name))


def _prefix(config: AgentConfig) -> str:
    """``<env>__<agent>`` as in the preset's run directory names."""
    return run_name(config, 0, 0).rsplit("__", 2)[0]


def plan_seed_set(agent: str, overrides: Sequence[str], seeds: Sequence[int] | None, *, options: Mapping[str, Any],
                  runs_dir: str | os.PathLike[str] = "runs", set_dir: str | os.PathLike[str] | None = None,
                  resume: str | os.PathLike[str] | None = None) -> tuple[SeedSet, AgentConfig]:
    """The seed set to run and its preset, checked (the preset is built once); writes nothing.

    A new set takes ``seeds`` and ``options``; a resumed one (``resume``: its directory or
    ``"last"``) keeps its own seeds, overrides (``overrides`` go on top) and options (those in
    ``options`` that are not None replace them).

    Raises:
        AgentError: a bad preset or override, another agent's set, seeds that differ from the set's,
            or a new set in a directory that holds one.
        FileNotFoundError: no set to resume.
    """
    if resume is None:
        if not seeds:
            raise AgentError("--seeds needs at least one seed")
        config = load_agent(agent, overrides)
        stamp = int(time.time())
        path = Path(set_dir) if set_dir is not None else \
            Path(runs_dir) / f"{_prefix(config)}__seeds{_spec(seeds)}__{stamp}"
        if (path / MANIFEST).is_file():
            raise AgentError(f"{str(path)!r} holds a seed set already: --resume {path} continues it")
        seed_set = SeedSet(path=path, agent=str(agent), name=config.name, env=config.env_name, seeds=tuple(seeds),
                           overrides=tuple(overrides), options=dict(options), stamp=stamp,
                           runs={s: run_name(config, s, stamp) for s in seeds})
    else:
        probe = load_agent(agent, overrides)
        seed_set = SeedSet.read(find_seed_set(resume, runs_dir, f"{_prefix(probe)}__seeds"))
        if seeds and tuple(seeds) != seed_set.seeds:
            raise AgentError(f"the seed set {str(seed_set.path)!r} has seeds {_spec(seed_set.seeds)}, not "
                             f"{_spec(seeds)}; leave out --seeds to continue it")
        seed_set.overrides = (*seed_set.overrides, *overrides)
        seed_set.options.update({k: v for k, v in options.items() if v is not None})
        config = load_agent(agent, seed_set.overrides)
        if (config.name, config.env_name) != (seed_set.name, seed_set.env):
            raise AgentError(f"cannot resume {str(seed_set.path)!r}: it is a seed set of agent {seed_set.name!r} on "
                             f"env {seed_set.env!r}, not of agent {config.name!r} on env {config.env_name!r}")
    build_trainer(config).close()  # a network or environment error now, not in every task
    return seed_set, config


def _job(seed_set: SeedSet, config: AgentConfig, seed: int) -> SeedJob:
    o = seed_set.options
    return SeedJob(config=config.with_overrides([f"training.seed={seed}"]), run_dir=str(seed_set.run_dir(seed)),
                   episodes=o.get("episodes"), minutes=o.get("minutes"), eval_episodes=o.get("eval_episodes"),
                   baseline_episodes=o.get("baseline_episodes"), tensorboard=o.get("tensorboard") is not False,
                   plot=o.get("plot") is not False)


def run_seed_set(seed_set: SeedSet, config: AgentConfig, *, workers: int | None = None, address: str | None = None,
                 out: TextIO, reps: int = 2000) -> list[int]:
    """Train the seeds of ``seed_set`` that have not finished, on Ray, then write the summary.

    Args:
        seed_set: from :func:`plan_seed_set`.
        config: its preset (with the overrides).
        workers: seeds in parallel (default: the runtime's CPUs; locally also the CPUs it starts with).
        address: a Ray cluster (None: a local runtime on this machine).
        out: where to print one line per seed and the summary.
        reps: bootstrap resamples of the summary's intervals.

    Returns:
        The seeds that failed (empty: all finished).

    Raises:
        AddressError: the cluster cannot be reached (before anything is written).
    """
    ray = require("ray", "snnrl train --seeds")
    todo = [s for s in seed_set.seeds if read_results(seed_set.run_dir(s)) is None]
    with ray_runtime(address, cpus=workers or min(len(todo) or 1, os.cpu_count() or 1),
                     needed_for="snnrl train --seeds") as runtime:
        limit = workers or runtime.cpus
        seed_set.write()
        print(f"seed set {seed_set.path}: seeds {_spec(seed_set.seeds)} of {seed_set.name} on {seed_set.env}, "
              f"{len(seed_set.seeds) - len(todo)} finished before, {len(todo)} to run, {limit} at a time on "
              f"{runtime.nodes} node(s) with {runtime.cpus} CPUs", file=out, flush=True)
        remote = ray.remote(train_seed).options(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)
        for job, outcome, error in submit_bounded(remote.remote, [_job(seed_set, config, s) for s in todo], limit):
            if error is not None:
                seed_set.outcomes[job.seed] = {"status": "failed", "error": describe_error(error)}
                print(f"seed {job.seed}: failed: {seed_set.outcomes[job.seed]['error']}", file=out, flush=True)
            else:
                seed_set.outcomes[job.seed] = {k: outcome[k] for k in ("status", "objective", "node", "host",
                                                                      "seconds")}
                print(f"seed {job.seed}: {outcome['status']}, score {outcome['objective']:.2f} "
                      f"({outcome['seconds']:.1f} s on {outcome['host']}) in {job.run_dir}", file=out, flush=True)
            seed_set.write()
    finished = [s for s in seed_set.seeds if read_results(seed_set.run_dir(s)) is not None]
    if finished:
        summary = summarize_runs([seed_set.run_dir(s) for s in finished], seed_set.path / "summary", reps=reps)
        final = summary["final"].get("iqm")
        print(f"summary of {len(finished)} seeds in {seed_set.path / 'summary'}"
              + (f": final score IQM {final['value']:.2f} [{final['low']:.2f}, {final['high']:.2f}] (95 % CI)"
                 if final else ""), file=out, flush=True)
    return [s for s in seed_set.seeds if s not in finished]
