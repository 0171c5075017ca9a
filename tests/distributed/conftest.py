"""The scale-out tests need the ``distributed`` extra (Ray, Optuna, rliable) and skip without it;
the Ray tests of a module share one local runtime."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray runtime (2 CPUs) for a test module; the commands use it and leave it running."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("optuna")
    pytest.importorskip("rliable.library")
    from snnrl.distributed.runtime import OBJECT_STORE_BYTES

    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()

