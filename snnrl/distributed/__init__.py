"""Scale-out on Ray: many seeds, hyperparameter searches and their aggregates (``pip install 'snnrl[distributed]'``).

* :mod:`.seedset`: ``snnrl train --seeds 0-9``: the seeds of a preset as Ray tasks, each in its own
  run directory, and their summary;
* :mod:`.study`: ``snnrl tune``: an Optuna study (TPE, median pruning on the periodic evaluation)
  whose trials run as Ray tasks; the study lives in Optuna's storage (a local SQLite file by default);
* :mod:`.space`: the ``--param key.path=DIST`` search space;
* :mod:`.summary`: IQM and bootstrap intervals of several runs (rliable): ``snnrl summarize``;
* :mod:`.jobs`: one run on a worker (start, continue after a kill, or read a finished one);
* :mod:`.runtime`: the Ray runtime (local by default, a cluster by address).

Importing this package imports neither Ray, Optuna nor rliable: each is imported where it is used,
and a missing one raises an ImportError naming the extra.
"""

from snnrl.distributed._deps import INSTALL_HINT
from snnrl.distributed.jobs import SeedJob, objective, read_results, train_seed
from snnrl.distributed.runtime import AddressError, Runtime, check_address, ray_runtime
from snnrl.distributed.seedset import SeedSet, parse_seeds, plan_seed_set, run_seed_set
from snnrl.distributed.summary import aggregate_curve, aggregate_scores, summarize_runs

__all__ = [
    "INSTALL_HINT",
    "AddressError",
    "Runtime",
    "SeedJob",
    "SeedSet",
    "aggregate_curve",
    "aggregate_scores",
    "check_address",
    "objective",
    "parse_seeds",
    "plan_seed_set",
    "ray_runtime",
    "read_results",
    "run_seed_set",
    "summarize_runs",
    "train_seed",
]
