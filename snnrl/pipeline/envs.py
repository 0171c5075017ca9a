"""Environment drivers: one interface over a single env, a list of envs and a Gymnasium vector env.

The trainer sees ``n`` environments as one batch. A driver steps them, resets the ones it is told
to (with the seeds it is given, where it can), and says which results are real transitions.

* :class:`EnvList` (a single ``gymnasium.Env`` or a list of them, stepped in this process):
  every episode is reset with its own seed, so runs are reproducible and resumable episode by
  episode. This is what the trainer builds from agent presets.
* :class:`AsyncEnvList` (environment factories): the same, spread over worker processes and
  this one (an even share per core by default), so the emulators step in parallel; the trainer
  prepares the reward delivery while the workers step. Runs are bit-identical to
  :class:`EnvList`'s (every episode is reset with its seed and the encoders' random streams
  live in the environments). Agent presets ask for it with ``[env] vectorization = "async"``.
* :class:`VectorEnvDriver` (a ``gymnasium.vector.VectorEnv``): ``AutoresetMode.DISABLED``
  resets exactly like :class:`EnvList` (``reset(seed=[...], options={"reset_mask": m})``);
  ``SAME_STEP`` returns the reset observation in the step that ends an episode; ``NEXT_STEP``
  (Gymnasium's default) returns it in the *next* step, whose action is ignored: that step is
  reported as not valid, and the trainer neither counts nor rewards it and puts that
  environment's network state back at rest. With the two autoreset modes only the first reset
  is seeded.

Shape:
    observations ``(n, *single observation shape)``; rewards, flags ``(n,)``.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["AsyncEnvList", "EnvDriver", "EnvList", "EnvWorkerError", "VectorEnvDriver", "make_driver"]


class EnvDriver(Protocol):
    """What the trainer asks of its environments: a batch of ``n``, reset and stepped by mask.

    Attributes:
        n: number of environments (the batch size).
        seeded: whether :meth:`reset` honours per-environment seeds.
        steps_all: whether :meth:`step` steps every environment, active or not (finished ones
            must then be reset before the next step).
        life_lost: ``(n,)`` bool, the environments whose ``info["lives"]`` went down in the last step.
    """

    n: int
    seeded: bool
    steps_all: bool
    life_lost: np.ndarray
    observation_space: Any
    action_space: Any

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        """Reset the environments where ``mask``; returns the observations of all ``(n, *obs)``."""
        ...

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step; returns ``(obs, reward, terminated, truncated, valid)``, each with ``n`` rows."""
        ...

    def intensities(self) -> np.ndarray:
        """The noise-free intensities behind the last observations, ``(n, n_neurons)`` (a critic's
        ``reads = "rates"``)."""
        ...

    def close(self) -> None:
        """Close the environments."""
        ...


def _encoding_wrapper(env: Any) -> Any:
    """The spike-encoding wrapper in ``env``'s wrapper chain, or None."""
    from snnrl.wrappers.encoding import SpikeEncodingObservation

    while env is not None:
        if isinstance(env, SpikeEncodingObservation):
            return env
        env = getattr(env, "env", None)
    return None


class _StepRecord:
    """What one :meth:`step` of a list driver fills in, environment by environment."""

    def __init__(self, n: int) -> None:
        self.reward = np.zeros(n, dtype=np.float64)
        self.terminated = np.zeros(n, dtype=bool)
        self.truncated = np.zeros(n, dtype=bool)

    def put(self, driver: Any, i: int, obs: Any, r: Any, term: Any, trunc: Any, lives: int) -> None:
        """Record environment ``i``'s transition on ``driver`` (its ``obs``, ``lives``, ``life_lost``)."""
        driver.obs[i] = obs
        self.reward[i], self.terminated[i], self.truncated[i] = float(r), bool(term), bool(trunc)
        driver.life_lost[i] = 0 <= lives < driver.lives[i]
        driver.lives[i] = lives

    def result(self, driver: Any, active: np.ndarray) -> tuple[np.ndarray, ...]:
        return driver.obs.copy(), self.reward, self.terminated, self.truncated, active.copy()


class EnvList:
    """Single environments stepped one after the other (see the module docstring)."""

    seeded = True
    steps_all = False

    def __init__(self, envs: Any) -> None:
        self.envs = list(envs) if isinstance(envs, Sequence) else [envs]
        if not self.envs:
            raise ValueError("no environments given")
        for env in self.envs:
            if not hasattr(env, "step") or hasattr(env, "num_envs"):
                raise TypeError(f"expected gymnasium.Env instances, got {type(env).__name__}")
        first = self.envs[0]
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.n = len(self.envs)
        self.obs = np.zeros((self.n, *self.observation_space.shape), dtype=self.observation_space.dtype)
        self.lives = np.full(self.n, -1, dtype=np.int64)
        self.life_lost = np.zeros(self.n, dtype=bool)
        """After :meth:`step`: environments whose ``info["lives"]`` (Atari) went down in that step."""

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        """Reset the environments where ``mask`` is True (``seeds``: one per environment)."""
        for i in np.flatnonzero(mask):
            obs, info = self.envs[i].reset(seed=seeds[i])
            self.obs[i] = obs
            self.lives[i] = int(info.get("lives", -1))
        return self.obs.copy()

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step the active environments; returns ``(obs, reward, terminated, truncated, valid)``."""
        record = _StepRecord(self.n)
        self.life_lost[:] = False
        for i in np.flatnonzero(active):
            obs, r, term, trunc, info = self.envs[i].step(actions[i])
            record.put(self, int(i), obs, r, term, trunc, int(info.get("lives", -1)))
        return record.result(self, active)

    def intensities(self) -> np.ndarray:
        """The noise-free intensities behind each environment's last observation (its spike
        encoder's ``last_intensity``), ``(n, n_neurons)`` float32."""
        rows = []
        for env in self.envs:
            wrapper = _encoding_wrapper(env)
            if wrapper is None or getattr(wrapper, "last_intensity", None) is None:
                raise ValueError("critic reads = \"rates\" needs environments that encode their observations into "
                                 "spikes (an environment preset with an [encoder]); these have none")
            rows.append(wrapper.last_intensity)
        return np.stack(rows)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class EnvWorkerError(RuntimeError):
    """An environment's worker process failed with an error that cannot be re-raised as itself
    (or it exited)."""


def _error(e: Exception, index: int) -> tuple[Any, ...]:
    """A worker's answer for the error ``e`` of environment ``index``: the exception itself where
    it survives pickling."""
    text, tb = f"{type(e).__name__}: {e}", traceback.format_exc()
    try:
        pickle.loads(pickle.dumps(e))
    except Exception:
        return ("error", None, text, tb, index)
    return ("error", e, text, tb, index)


def _answer(env: Any, wrapper: Any, command: str, arg: Any) -> tuple[Any, ...]:
    """One environment's part of an answer: ``(obs, lives, intensity)`` after a reset (``arg``:
    the seed), ``(obs, reward, terminated, truncated, lives, intensity)`` after a step (``arg``:
    the action)."""
    if command == "reset":
        obs, info = env.reset(seed=arg)
        result: tuple[Any, ...] = (obs,)
    else:
        obs, r, term, trunc, info = env.step(arg)
        result = (obs, r, term, trunc)
    intensity = getattr(wrapper, "last_intensity", None) if wrapper is not None else None
    return (*result, int(info.get("lives", -1)), intensity)


def _worker(conn: Any, parent_conn: Any, factories: Sequence[Callable[[], Any]], first: int) -> None:
    """A worker of :class:`AsyncEnvList` hosting the environments ``first, first + 1, ...``: build
    them, then answer ``(command, [(k, argument), ...])`` messages (``k``: the position among this
    worker's environments) until ``"close"`` or until the parent is gone. Each answer is
    ``("ok", [result, ...])`` or ``("error", exception or None, "Type: message", traceback,
    environment index)``."""
    parent_conn.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    envs: list[Any] = []
    try:
        for factory in factories:
            envs.append(factory())
        wrappers = [_encoding_wrapper(env) for env in envs]
        answer: tuple[Any, ...] = ("ok", (envs[0].observation_space, envs[0].action_space))
        ready = True
    except Exception as e:
        answer, ready = _error(e, first + len(envs)), False
    while True:
        try:
            conn.send(answer)
            if not ready:
                for env in envs:
                    env.close()
                return
            command, items = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if command == "close":
            for env in envs:
                env.close()
            return
        results, k = [], 0
        try:
            for k, arg in items:
                results.append(_answer(envs[k], wrappers[k], command, arg))
            answer = ("ok", results)
        except Exception as e:
            answer = _error(e, first + k)


def _blocks(start: int, stop: int, parts: int) -> list[range]:
    """``range(start, stop)`` cut into ``parts`` contiguous blocks whose sizes differ by at most one."""
    size, extra = divmod(stop - start, parts)
    bounds = [start]
    for p in range(parts):
        bounds.append(bounds[-1] + size + (p < extra))
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the system reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _check_layout(n: int, workers: int | None, local: int | None) -> tuple[int, int]:
    """``(workers, local)`` with the defaults of :class:`AsyncEnvList`, or a clear error."""
    if local is None:
        w = workers if workers is not None else max(1, min(n, _cores()) - 1)
        if isinstance(w, int) and w >= 1:
            local = n // (w + 1)
    if not isinstance(local, int) or isinstance(local, bool) or not 0 <= local < n:
        raise ValueError(f"local must be an int in [0, {n - 1}] (at least one of the {n} environments in a "
                         f"worker process), got {local!r}")
    if workers is None:
        workers = max(1, min(n - local, _cores() - (1 if local else 0)))
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= n - local:
        raise ValueError(f"workers must be an int in [1, {n - local}] (the environments outside this process), "
                         f"got {workers!r}")
    return workers, local


class AsyncEnvList:
    """:class:`EnvList` with the environments spread over worker processes and this one (see the
    module docstring).

    Args:
        factories: one callable per environment that builds it (a ``gymnasium.Env``), e.g.
            ``functools.partial(build_env, preset)``; with the ``spawn`` start method they must pickle.
        context: the multiprocessing start method (default ``fork`` where there is one, else ``spawn``).
        workers: worker processes (default: one per core this process may use, but one; at least
            one, at most one per environment outside this process).
        local: environments stepped in this process, the first ``local`` ones (default: an even
            share, ``n // (workers + 1)``; 0 puts every environment in a worker). The others are
            dealt to the workers in contiguous blocks of sizes differing by at most one.

    :meth:`step` sends every worker its environments' actions, then steps the local
    environments while the workers step theirs, then collects the answers. This process would
    otherwise sit waiting for the workers (and, on a small machine, for the operating system to
    wake them and then itself: a few hundred microseconds a round trip), so the default layout
    gives it an even share. An error in a worker is raised here: the worker's exception itself
    where it pickles (with a note that names the environment and carries the worker's
    traceback), else an :class:`EnvWorkerError` with its message; a worker that exits is an
    :class:`EnvWorkerError`. Workers are daemons and exit when this process does.
    """

    seeded = True
    steps_all = False

    def __init__(self, factories: Sequence[Callable[[], Any]], context: str | None = None, *,
                 workers: int | None = None, local: int | None = None) -> None:
        if not factories:
            raise ValueError("no environment factories given")
        self.n = len(factories)
        n_workers, self.local = _check_layout(self.n, workers, local)
        ctx: Any = mp.get_context(context or ("fork" if "fork" in mp.get_all_start_methods() else "spawn"))
        #: the environments of each worker process
        self.blocks = _blocks(self.local, self.n, n_workers)
        #: worker and position of every environment outside this process
        self._where = {i: (w, k) for w, block in enumerate(self.blocks) for k, i in enumerate(block)}
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        self._envs: list[Any] = []
        self._closed = False
        self._sent: tuple[str, dict[int, Any], dict[int, list[tuple[int, Any]]]] | None = None
        self._active = np.zeros(self.n, dtype=bool)
        try:
            for block in self.blocks:  # workers first: they build their environments while we build ours
                conn, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, conn, [factories[i] for i in block], block.start),
                                   daemon=True)
                proc.start()
                child.close()
                self._conns.append(conn)
                self._procs.append(proc)
            for i in range(self.local):
                self._envs.append(factories[i]())  # (closed by close() if a later one fails)
            spaces = self._collect(range(len(self.blocks)))
        except BaseException:
            self.close()
            raise
        self._wrappers = [_encoding_wrapper(env) for env in self._envs]
        self.observation_space, self.action_space = spaces[0]
        self.obs = np.zeros((self.n, *self.observation_space.shape), dtype=self.observation_space.dtype)
        self.lives = np.full(self.n, -1, dtype=np.int64)
        self.life_lost = np.zeros(self.n, dtype=bool)
        """After :meth:`step`: environments whose ``info["lives"]`` (Atari) went down in that step."""
        self._intensity: list[Any] = [None] * self.n

    def _collect(self, workers: Sequence[int]) -> list[Any]:
        """The answers of ``workers``, in order; after reading them all, raise the first error among them."""
        answers, error = [], None
        for w in workers:
            try:
                answer = self._conns[w].recv()
            except (EOFError, OSError):
                self._procs[w].join(timeout=1)
                first = self.blocks[w].start
                answer = ("error", None, f"its worker process exited (exit code {self._procs[w].exitcode})", "", first)
            if answer[0] == "error" and error is None:
                error = answer[1:]
            answers.append(answer[1])
        if error is not None:
            exc, text, tb, i = error
            if exc is not None:
                exc.add_note(f"(raised in the worker process of environment {i}; its traceback:)\n{tb}")
                raise exc
            raise EnvWorkerError(f"environment {i}: {text}" + (f"\n{tb}" if tb else ""))
        return answers

    def _send(self, command: str, args: dict[int, Any]) -> None:
        """Send ``command`` with ``args[i]`` to the worker of every environment ``i >= local`` in
        ``args``; :meth:`_finish` completes the exchange."""
        if self._closed:
            raise ValueError("the environments are closed")
        if self._sent is not None:
            raise RuntimeError("a step_async() is waiting for its step_wait()")
        items: dict[int, list[tuple[int, Any]]] = {}
        for i, arg in args.items():
            if i >= self.local:
                w, k = self._where[i]
                items.setdefault(w, []).append((k, arg))
        for w, part in items.items():
            try:
                self._conns[w].send((command, part))
            except (BrokenPipeError, OSError):
                pass  # the worker exited: _collect says so
        self._sent = (command, args, items)

    def _finish(self) -> list[tuple[int, tuple[Any, ...]]]:
        """Run the command of :meth:`_send` on this process's environments, then collect the
        workers' answers: ``(i, answer)`` pairs, this process's first."""
        if self._sent is None:
            raise RuntimeError("step_wait() without a step_async()")
        command, args, items = self._sent
        self._sent = None
        busy = list(items)
        try:
            out = [(i, _answer(self._envs[i], self._wrappers[i], command, arg))
                   for i, arg in args.items() if i < self.local]
        except BaseException:
            with contextlib.suppress(Exception):  # read the workers' answers: the pipes stay in step
                self._collect(busy)
            raise
        for w, answers in zip(busy, self._collect(busy), strict=True):
            out.extend((self.blocks[w][k], answer) for (k, _), answer in zip(items[w], answers, strict=True))
        return out

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        """Reset the environments where ``mask`` is True (``seeds``: one per environment)."""
        self._send("reset", {int(i): seeds[int(i)] for i in np.flatnonzero(mask)})
        for i, (obs, lives, intensity) in self._finish():
            self.obs[i] = obs
            self.lives[i] = lives
            self._intensity[i] = intensity
        return self.obs.copy()

    def step_async(self, actions: np.ndarray, active: np.ndarray) -> None:
        """Send the active environments' actions to the workers and return at once; the caller may
        work while they step, then calls :meth:`step_wait` (which steps this process's
        environments and collects the workers' results)."""
        self._send("step", {int(i): actions[i] for i in np.flatnonzero(active)})
        self._active = active.copy()

    def step_wait(self) -> tuple[np.ndarray, ...]:
        """The results of :meth:`step_async`'s step: ``(obs, reward, terminated, truncated, valid)``."""
        record = _StepRecord(self.n)
        self.life_lost[:] = False
        for i, (obs, r, term, trunc, lives, intensity) in self._finish():
            record.put(self, i, obs, r, term, trunc, lives)
            self._intensity[i] = intensity
        return record.result(self, self._active)

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step the active environments; returns ``(obs, reward, terminated, truncated, valid)``."""
        self.step_async(actions, active)
        return self.step_wait()

    def intensities(self) -> np.ndarray:
        """As :meth:`EnvList.intensities` (the workers send them with every observation)."""
        if any(v is None for v in self._intensity):
            raise ValueError("critic reads = \"rates\" needs environments that encode their observations into "
                             "spikes (an environment preset with an [encoder]); these have none")
        return np.stack(self._intensity)

    def close(self) -> None:
        """Stop the workers (each closes its environments) and close this process's; closing again
        does nothing."""
        if self._closed:
            return
        self._closed = True
        for conn in self._conns:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for env in self._envs:
            env.close()
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in self._conns:
            conn.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):  # never closed: hang up, and the workers exit
            for conn in self._conns:
                conn.close()


class VectorEnvDriver:
    """A ``gymnasium.vector.VectorEnv`` (see the module docstring for the autoreset modes)."""

    def __init__(self, venv: Any) -> None:
        from gymnasium.vector import AutoresetMode

        self.venv = venv
        self.n = int(venv.num_envs)
        self.observation_space = venv.single_observation_space
        self.action_space = venv.single_action_space
        mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.mode = AutoresetMode(mode) if not isinstance(mode, AutoresetMode) else mode
        self.seeded = self.mode == AutoresetMode.DISABLED
        self.steps_all = self.mode == AutoresetMode.DISABLED  # finished envs must be reset before the next step
        self._modes = AutoresetMode
        self.obs: np.ndarray | None = None
        self.life_lost = np.zeros(self.n, dtype=bool)
        self._lives = np.full(self.n, -1, dtype=np.int64)
        self._started = False
        self._pending = np.zeros(self.n, dtype=bool)  # NEXT_STEP: reset happens at the next step

    def reset(self, mask: np.ndarray, seeds: Sequence[int | None]) -> np.ndarray:
        if not self._started or (bool(mask.all()) and self.mode != self._modes.DISABLED):
            if self.mode == self._modes.DISABLED and all(s is not None for s in seeds):
                obs, _ = self.venv.reset(seed=[int(s) for s in seeds])  # type: ignore[arg-type]
            else:
                obs, _ = self.venv.reset(seed=seeds[0] if seeds else None)
            self._started = True
            self._pending[:] = False
            self.obs = np.array(obs)
            return self.obs.copy()
        if self.mode == self._modes.DISABLED:
            obs, _ = self.venv.reset(seed=[int(s) if s is not None else None for s in seeds],
                                     options={"reset_mask": np.asarray(mask, dtype=bool)})
            self.obs = np.array(obs)
        elif self.mode == self._modes.NEXT_STEP:
            self._pending |= mask
        return self.obs.copy()

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, terminated, truncated, infos = self.venv.step(actions)
        self.obs = np.array(obs)
        valid = active & ~self._pending
        lives = np.asarray(infos.get("lives", np.full(self.n, -1)), dtype=np.int64) if isinstance(infos, dict) \
            else np.full(self.n, -1)
        self.life_lost = valid & (lives >= 0) & (lives < self._lives)
        self._lives = lives
        self._pending[:] = False
        return (self.obs.copy(), np.asarray(reward, dtype=np.float64), np.asarray(terminated, dtype=bool),
                np.asarray(truncated, dtype=bool), valid)

    def intensities(self) -> np.ndarray:
        raise ValueError("critic reads = \"rates\" needs single environments (a list of gymnasium.Env), "
                         "not a vector env: its sub-environments' encoders are out of reach")

    def close(self) -> None:
        self.venv.close()


def make_driver(envs: Any) -> EnvDriver:
    """The driver for ``envs``: a ``gymnasium.Env``, a list of them or a ``VectorEnv``."""
    if isinstance(envs, (EnvList, AsyncEnvList, VectorEnvDriver)):
        return envs
    if hasattr(envs, "num_envs") and hasattr(envs, "single_action_space"):
        return VectorEnvDriver(envs)
    return EnvList(envs)
