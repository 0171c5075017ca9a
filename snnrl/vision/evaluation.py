r"""Readouts of spiking activity: label assignment, all-activity, proportion weighting, n-grams,
and a logistic-regression readout (Diehl & Cook 2015; BindsNET's ``bindsnet.evaluation``).

Every readout maps per-image activity of the excitatory neurons to predicted labels:

* :func:`assign_labels`: each neuron gets the class for which its mean spike count over the
  (training) images of that class is highest; neurons that never fired get ``-1`` and take no
  part in the votes;
* :func:`all_activity`: the predicted class has the highest mean spike count over the neurons
  assigned to it;
* :func:`proportion_weighting`: the same, each neuron's count weighted by the fraction of its
  activity that went to that class;
* :func:`ngram_scores` / :func:`ngram_predict`: the sequence in which neurons fire (by time,
  then neuron index within a step) is cut into ``n``-grams; each n-gram seen during training
  counts the labels it occurred with, and a test image's score is the sum of its n-grams'
  counts;
* :class:`LogisticReadout`: multinomial logistic regression on (log-scaled) spike counts,
  trained with L-BFGS (torch only, no scikit-learn).

An image that produces no usable activity gets the prediction ``-1``, which counts as wrong
(BindsNET predicts class 0 for a silent network, which inflates the accuracy of a dead one).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "Assignments",
    "LogisticReadout",
    "NgramTable",
    "accuracy",
    "all_activity",
    "assign_labels",
    "ngram_predict",
    "ngram_scores",
    "proportion_weighting",
]


class Assignments(NamedTuple):
    """Result of :func:`assign_labels`.

    Attributes:
        assignments: class of each neuron, ``-1`` for neurons that never fired, ``(N,)`` int64.
        proportions: each neuron's per-class mean count divided by its sum over classes, ``(N, C)``.
        rates: each neuron's mean spike count per class, ``(N, C)``.
    """

    assignments: Tensor
    proportions: Tensor
    rates: Tensor


def _check(counts: Tensor, labels: Tensor | None = None) -> Tensor:
    if counts.dim() != 2:
        raise ValueError(f"counts must be (samples, neurons), got shape {tuple(counts.shape)}")
    if labels is not None and (labels.dim() != 1 or labels.shape[0] != counts.shape[0]):
        raise ValueError(f"labels must be ({counts.shape[0]},), got shape {tuple(labels.shape)}")
    return counts.to(torch.float32)


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Fraction of ``predictions`` equal to ``labels`` (a ``-1`` prediction is wrong). Shape: ``(S,)`` both."""
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and labels {tuple(labels.shape)} differ in shape")
    if labels.numel() == 0:
        return float("nan")
    return float((predictions == labels).float().mean())


def assign_labels(counts: Tensor, labels: Tensor, n_labels: int = 10) -> Assignments:
    """Assign each neuron the class it responds to most (mean count per class).

    Args:
        counts: spike counts per image and neuron.
        labels: the images' classes, ``0 .. n_labels - 1``.
        n_labels: number of classes.

    Shape:
        ``counts``: ``(S, N)``; ``labels``: ``(S,)``; outputs ``(N,)``, ``(N, C)``, ``(N, C)``.
    """
    counts = _check(counts, labels)
    labels = labels.long()
    n = counts.shape[1]
    sums = torch.zeros(n_labels, n).index_add_(0, labels, counts)
    per_class = torch.bincount(labels, minlength=n_labels).to(torch.float32).clamp_(min=1.0)
    rates = (sums / per_class.unsqueeze(1)).t().contiguous()  # (N, C)
    total = rates.sum(1, keepdim=True)
    proportions = rates / total.clamp(min=1e-12)
    assignments = rates.argmax(1)
    assignments[total.squeeze(1) <= 0] = -1
    return Assignments(assignments, proportions, rates)


def _vote(counts: Tensor, assignments: Tensor, weights: Tensor | None, n_labels: int) -> Tensor:
    counts = _check(counts)
    if assignments.shape != (counts.shape[1],):
        raise ValueError(f"assignments must be ({counts.shape[1]},), got {tuple(assignments.shape)}")
    valid = assignments >= 0
    onehot = torch.zeros(counts.shape[1], n_labels)
    onehot[valid.nonzero()[:, 0], assignments[valid]] = 1.0
    if weights is not None:
        onehot = onehot * weights
    n_assigned = (assignments.unsqueeze(1) == torch.arange(n_labels)).sum(0).to(torch.float32)
    scores = counts @ onehot / n_assigned.clamp(min=1.0)
    scores[:, n_assigned == 0] = -1.0  # classes without neurons are never chosen
    pred = scores.argmax(1)
    silent = (counts[:, valid].sum(1) <= 0) if bool(valid.any()) else torch.ones(counts.shape[0], dtype=torch.bool)
    pred[silent] = -1
    return pred


def all_activity(counts: Tensor, assignments: Tensor, n_labels: int = 10) -> Tensor:
    """Predict the class whose assigned neurons have the highest mean spike count.

    Shape:
        ``counts``: ``(S, N)``; ``assignments``: ``(N,)``; output ``(S,)`` int64 (``-1``: no activity).
    """
    return _vote(counts, assignments, None, n_labels)


def proportion_weighting(counts: Tensor, assignments: Tensor, proportions: Tensor, n_labels: int = 10) -> Tensor:
    """Like :func:`all_activity`, each neuron's count weighted by its proportion for the class.

    Shape:
        ``counts``: ``(S, N)``; ``assignments``: ``(N,)``; ``proportions``: ``(N, C)``; output ``(S,)``.
    """
    return _vote(counts, assignments, proportions.to(torch.float32), n_labels)


# ----------------------------------------------------------------------------------- n-grams
class NgramTable(NamedTuple):
    """n-gram label counts: ``codes`` sorted ``(G,)`` int64, ``scores`` ``(G, C)``, and ``n``, ``n_neurons``."""

    codes: Tensor
    scores: Tensor
    n: int
    n_neurons: int


def _ngrams(events: Tensor, n: int, n_neurons: int) -> tuple[Tensor, Tensor]:
    """``(E, 3)`` events ``(step, sample, neuron)`` -> (sample, code) of every n-gram of each
    sample's firing order (by step, then neuron)."""
    if events.dim() != 2 or events.shape[1] != 3:
        raise ValueError(f"events must be (E, 3) = (step, sample, neuron), got {tuple(events.shape)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n_neurons ** n >= 2**62:
        raise ValueError(f"{n}-grams of {n_neurons} neurons do not fit an int64 code")
    ev = events.long()
    key = (ev[:, 1] * (int(ev[:, 0].max()) + 1 if ev.numel() else 1) + ev[:, 0]) * n_neurons + ev[:, 2]
    ev = ev[torch.argsort(key)]
    sample, neuron = ev[:, 1], ev[:, 2]
    m = sample.shape[0] - n + 1
    if m <= 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    code = torch.zeros(m, dtype=torch.long)
    for k in range(n):
        code = code * n_neurons + neuron[k:k + m]
    same = sample[:m] == sample[n - 1:]
    return sample[:m][same], code[same]


def ngram_scores(events: Tensor, labels: Tensor, n: int, n_neurons: int, n_labels: int = 10) -> NgramTable:
    """Count, for every n-gram of the training images' firing orders, the labels it occurred with.

    Args:
        events: excitatory spikes ``(step, sample, neuron)`` (``Activity.events``, with the
            sample index into ``labels``).
        labels: the samples' classes.
        n: n-gram length.
        n_neurons: number of neurons.

    Shape:
        ``events``: ``(E, 3)``; ``labels``: ``(S,)``.
    """
    sample, code = _ngrams(events, n, n_neurons)
    codes, inverse = torch.unique(code, return_inverse=True)
    scores = torch.zeros(codes.shape[0], n_labels)
    scores.index_put_((inverse, labels.long()[sample]), torch.ones(inverse.shape[0]), accumulate=True)
    return NgramTable(codes, scores, n, n_neurons)


def ngram_predict(events: Tensor, n_samples: int, table: NgramTable) -> Tensor:
    """Predict each sample's class from the summed label counts of its known n-grams (``-1``: none known).

    Shape:
        ``events``: ``(E, 3)``; output ``(n_samples,)``.
    """
    sample, code = _ngrams(events, table.n, table.n_neurons)
    pred = torch.full((n_samples,), -1, dtype=torch.long)
    if table.codes.numel() == 0 or code.numel() == 0:
        return pred
    pos = torch.searchsorted(table.codes, code).clamp_(max=table.codes.shape[0] - 1)
    known = table.codes[pos] == code
    totals = torch.zeros(n_samples, table.scores.shape[1])
    totals.index_add_(0, sample[known], table.scores[pos[known]])
    has = totals.sum(1) > 0
    pred[has] = totals[has].argmax(1)
    return pred


# ------------------------------------------------------------------------- logistic regression
class LogisticReadout:
    """Multinomial logistic regression on spike counts (features ``log1p(count)``, standardised).

    Args:
        n_labels: number of classes.
        l2: L2 penalty on the weights (per sample).
        max_iter: L-BFGS iterations.
    """

    def __init__(self, n_labels: int = 10, l2: float = 1e-3, max_iter: int = 200) -> None:
        self.n_labels = n_labels
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None
        self.mean: Tensor | None = None
        self.std: Tensor | None = None

    def _features(self, counts: Tensor) -> Tensor:
        x = torch.log1p(_check(counts).to(torch.float64))
        assert self.mean is not None and self.std is not None
        return (x - self.mean) / self.std

    def fit(self, counts: Tensor, labels: Tensor) -> LogisticReadout:
        """Fit on ``counts`` ``(S, N)`` and ``labels`` ``(S,)``; returns ``self``."""
        x = torch.log1p(_check(counts, labels).to(torch.float64))
        self.mean = x.mean(0)
        self.std = x.std(0).clamp(min=1e-6) if x.shape[0] > 1 else torch.ones(x.shape[1], dtype=torch.float64)
        x = (x - self.mean) / self.std
        y = labels.long()
        w = torch.zeros(x.shape[1], self.n_labels, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(self.n_labels, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(x @ w + b, y) + self.l2 * (w * w).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        self.weight, self.bias = w.detach(), b.detach()
        return self

    def predict(self, counts: Tensor) -> Tensor:
        """Predicted classes ``(S,)`` for ``counts`` ``(S, N)``."""
        if self.weight is None:
            raise RuntimeError("LogisticReadout.predict called before fit")
        return (self._features(counts) @ self.weight + self.bias).argmax(1)
