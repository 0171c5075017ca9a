"""Helpers of the scale-out tests: the fast task's settings, and processes found and ended by id.

Processes are only ever looked up among those this test process started (its descendants, or the
sessions of the commands it ran) and ended by their ids.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CUE = str(REPO / "agents" / "cue_bandit.toml")
NU = "network.connections.0.rule.params.nu"
FAST = ["training.eval_interval=5", "training.eval_interval_episodes=2", "training.eval_episodes=5",
        "training.checkpoint_interval=5"]
"""cue_bandit with a periodic evaluation every 5 episodes, short evaluations, frequent checkpoints."""


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, session id)`` of ``pid`` (Linux /proc), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[3])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root: int) -> list[int]:
    """The processes below ``root``."""
    parents = {pid: st[0] for pid in _pids() if (st := _stat(pid)) is not None}
    out, frontier = [], {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        out.extend(children)
        frontier = children
    return out


def session(sid: int) -> list[int]:
    """The processes of session ``sid``."""
    return [pid for pid in _pids() if (st := _stat(pid)) is not None and st[1] == sid]


def wait_for(condition: Callable[[], object], timeout: float, what: str, poll: float = 0.1) -> object:
    """``condition()`` once it is truthy; fails the test after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def running_task(name: str = "train_seed") -> int | None:
    """The pid of a Ray worker of this test process that runs the task ``name`` now."""
    for pid in descendants(os.getpid()):
        if _cmdline(pid).startswith(f"ray::{name}"):
            return pid
    return None


def end_session(sid: int, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, the processes of session ``sid`` (one this test started)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session(sid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace
        while session(sid) and time.monotonic() < end:
            time.sleep(0.1)
        if not session(sid):
            return


def snnrl_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``snnrl ARGS`` in a session of its own (so that it and its Ray runtime can be ended together)."""
    return subprocess.Popen([sys.executable, "-m", "snnrl.cli", *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
