"""``snnrl train --seeds --address``: a two-node Ray cluster on this machine, started as users start one.

A head (``ray start --head``) and a second node (``ray start --address``), one CPU each, addressed
at 127.0.0.1 (Ray advertises the machine's own address for a loopback one; nothing leaves it),
with token authentication as Ray sets it up (``RAY_AUTH_MODE=token`` and a token of the test's
own in ``RAY_AUTH_TOKEN``, for the nodes and the driver). The seeds must land on both nodes. Each
``ray start`` runs in a session of its own; the test ends those sessions' processes at the end.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from distributed_helpers import CUE, FAST, end_session

pytest.importorskip("ray")
pytest.importorskip("rliable.library")

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_nodes():
    """``(address, env)`` of a two-node cluster on this machine; its processes are ended afterwards."""
    if not RAY.is_file():
        pytest.skip(f"no ray command beside {sys.executable}")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="snnrl-ray-", dir="/tmp")  # short: Ray's socket paths must stay < 108 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    sessions = []

    def start(*args: str) -> None:
        p = subprocess.Popen([str(RAY), "start", *args], start_new_session=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)
        sessions.append(p.pid)
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out[-3000:]

    try:
        start("--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
              f"--temp-dir={temp}", "--disable-usage-stats")
        start(f"--address=127.0.0.1:{port}", "--num-cpus=1")
        yield f"127.0.0.1:{port}", env
    finally:
        for sid in sessions:
            end_session(sid, grace=0.5)
        shutil.rmtree(temp, ignore_errors=True)


def test_seeds_run_on_both_nodes_of_a_cluster(two_nodes, tmp_path):
    address, env = two_nodes
    runs = tmp_path / "runs"
    driver = subprocess.run([sys.executable, "-m", "snnrl.cli", "train", "--agent", CUE, "--seeds", "0-3", "--address",
                             address, "--runs-dir", str(runs), "--no-tensorboard", "--no-plot", *FAST],
                            capture_output=True, text=True, env=env, timeout=240, start_new_session=True)
    assert driver.returncode == 0, driver.stdout[-3000:] + driver.stderr[-3000:]
    assert "2 at a time on 2 node(s) with 2 CPUs" in driver.stdout
    (manifest,) = runs.glob("*/seeds.json")
    outcomes = json.loads(manifest.read_text())["outcomes"]
    assert sorted(outcomes) == ["0", "1", "2", "3"] and {o["status"] for o in outcomes.values()} == {"finished"}
    assert len({o["node"] for o in outcomes.values()}) == 2  # the tasks landed on both nodes
    assert json.loads((manifest.parent / "summary" / "summary.json").read_text())["runs"] == 4
