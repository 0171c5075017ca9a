"""The Ray runtime the scale-out commands run on: a local one by default, a cluster by address.

Without an address, :func:`ray_runtime` starts a Ray runtime in this process on this machine's
cores (``ray.init(address="local", num_cpus=...)``, no dashboard, a small object store) and stops
it at the end. With one it joins an existing cluster:

* ``auto``: the cluster that ``ray start --head`` started on this machine (or ``RAY_ADDRESS``);
* ``HOST:PORT``: the head's GCS address (``ray start --head --port=6379`` prints it);
* ``ray://HOST:PORT``: Ray Client (the head's client server, port 10001 by default).

:func:`check_address` refuses a malformed or unreachable address before anything starts (a TCP
connection to the port, a few seconds at most). When Ray is already initialised in this process
(a notebook, the tests), :func:`ray_runtime` uses that runtime and leaves it running.

Tasks run with one CPU each and one torch thread (:func:`submit_bounded` keeps at most ``limit``
of them in flight; Ray schedules them on the nodes).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from snnrl.distributed._deps import require

__all__ = ["OBJECT_STORE_BYTES", "AddressError", "Runtime", "check_address", "describe_error", "parse_address",
           "pin_to_this_node", "ray_runtime", "submit_bounded"]

OBJECT_STORE_BYTES = 128 * 1024**2
"""Object store of the local runtime: results are small JSON-like dicts."""

_J = TypeVar("_J")


class AddressError(ValueError):
    """A Ray address that is malformed or where no cluster answers."""


def parse_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto``.

    Raises:
        AddressError: anything else (naming the forms that are accepted).
    """
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise AddressError(f"--address {address!r} is not a Ray address; expected auto, HOST:PORT "
                           "(the head's GCS port, e.g. 127.0.0.1:6379) or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse ``address`` unless it parses and its port accepts a TCP connection within ``timeout`` s
    (``auto`` is resolved by Ray itself, see :func:`ray_runtime`).

    Raises:
        AddressError: malformed, or nothing listens there.
    """
    target = parse_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as e:
        raise AddressError(f"cannot reach a Ray cluster at --address {address!r} ({e.strerror or e}); start one "
                           "with 'ray start --head' (see the README) or leave out --address for a local "
                           "runtime") from None


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The runtime :func:`ray_runtime` provides."""

    address: str | None
    """The cluster's address, or None: a local runtime started by this process."""
    nodes: int
    """Alive nodes."""
    cpus: int
    """CPUs of all nodes together (Ray's resource count)."""


def _summary(address: str | None) -> Runtime:
    ray = require("ray", "running on Ray")
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return Runtime(address=address, nodes=len(nodes), cpus=int(ray.cluster_resources().get("CPU", 0)))


@contextmanager
def ray_runtime(address: str | None = None, cpus: int | None = None, needed_for: str = "running on Ray"
                ) -> Iterator[Runtime]:
    """A Ray runtime for the duration of the ``with`` block.

    Args:
        address: a cluster address (:func:`check_address` first), or None: start a local runtime
            with ``cpus`` CPUs (default: this machine's).
        cpus: CPUs of the local runtime (ignored with an address: the cluster has its own).
        needed_for: what needs Ray, for the ImportError of a missing extra.

    Raises:
        AddressError: the cluster at ``address`` cannot be joined (``auto`` with none running).
    """
    ray = require("ray", needed_for)
    if ray.is_initialized():
        yield _summary(address)
        return
    if address is not None:
        check_address(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise AddressError(f"cannot join the Ray cluster at --address {address!r}: {e}") from None
    else:
        ray.init(address="local", num_cpus=cpus or os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield _summary(address)
    finally:
        ray.shutdown()


def pin_to_this_node() -> Any:
    """A scheduling strategy that places an actor on the driver's node (where its files are)."""
    ray = require("ray", "running on Ray")
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)


def describe_error(error: BaseException) -> str:
    """One line for an error of a task: the task's own exception, or what happened to its worker."""
    ray = require("ray", "running on Ray")
    exceptions = ray.exceptions
    if isinstance(error, exceptions.RayTaskError):
        cause = getattr(error, "cause", None)
        if isinstance(cause, BaseException) and not isinstance(cause, exceptions.RayTaskError):
            return f"{type(cause).__name__}: {cause}"
    if isinstance(error, (exceptions.WorkerCrashedError, exceptions.NodeDiedError)):
        return f"its worker died (killed, out of memory or its node lost) and the retries ran out: {error}"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


def submit_bounded(submit: Callable[[_J], Any], jobs: Iterable[_J], limit: int
                   ) -> Iterator[tuple[_J, Any, BaseException | None]]:
    """Submit ``submit(job)`` (an ObjectRef) for each job, at most ``limit`` in flight, and yield
    ``(job, result, None)`` or ``(job, None, error)`` as they finish (in order of completion)."""
    ray = require("ray", "running on Ray")
    pending = iter(jobs)
    inflight: dict[Any, _J] = {}
    while True:
        while len(inflight) < max(1, limit):
            job = next(pending, None)
            if job is None:
                break
            inflight[submit(job)] = job
        if not inflight:
            return
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for ref in ready:
            job = inflight.pop(ref)
            try:
                yield job, ray.get(ref), None
            except ray.exceptions.RayError as e:
                yield job, None, e
