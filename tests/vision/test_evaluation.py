"""Readouts on hand-made examples."""

from __future__ import annotations

import pytest
import torch

from snnrl.vision.evaluation import (
    LogisticReadout,
    accuracy,
    all_activity,
    assign_labels,
    ngram_predict,
    ngram_scores,
    proportion_weighting,
)


def test_assign_labels_by_hand() -> None:
    # 4 neurons, 3 classes; samples 0,1: class 0; sample 2: class 1; sample 3: class 2
    counts = torch.tensor([[4.0, 0, 1, 0], [2, 0, 1, 0], [0, 5, 1, 0], [0, 1, 4, 0]])
    labels = torch.tensor([0, 0, 1, 2])
    a = assign_labels(counts, labels, 3)
    # mean counts per class: neuron 0: [3, 0, 0]; 1: [0, 5, 1]; 2: [1, 1, 4]; 3: silent
    assert torch.allclose(a.rates, torch.tensor([[3.0, 0, 0], [0, 5, 1], [1, 1, 4], [0, 0, 0]]))
    assert a.assignments.tolist() == [0, 1, 2, -1]
    assert torch.allclose(a.proportions[1], torch.tensor([0.0, 5 / 6, 1 / 6]))
    assert torch.allclose(a.proportions[3], torch.zeros(3))


def test_all_activity_and_proportion_by_hand() -> None:
    assignments = torch.tensor([0, 0, 1, -1])
    counts = torch.tensor([[1.0, 1, 3, 9],   # class 0: mean 1, class 1: 3 -> 1 (neuron 3 unassigned)
                           [4.0, 2, 2, 0],   # class 0: 3 > 2 -> 0
                           [0.0, 0, 0, 5]])  # only the unassigned neuron fired -> -1
    assert all_activity(counts, assignments, 3).tolist() == [1, 0, -1]
    proportions = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [0.1, 0.9, 0], [0, 0, 0]])
    # sample 0: class 0: (1*1 + 1*0.5)/2 = 0.75; class 1: (3*0.9)/1 = 2.7 -> 1
    # sample 1: class 0: (4 + 2*0.5)/2 = 2.5; class 1: 2*0.9 = 1.8 -> 0
    assert proportion_weighting(counts, assignments, proportions, 3).tolist() == [1, 0, -1]
    # a class without neurons (2) is never predicted, even when every score is 0 elsewhere
    assert all_activity(torch.tensor([[0.0, 0, 1, 0]]), assignments, 3).tolist() == [1]


def test_accuracy_counts_minus_one_as_wrong() -> None:
    assert accuracy(torch.tensor([1, -1, 2, 0]), torch.tensor([1, 0, 2, 1])) == 0.5
    with pytest.raises(ValueError):
        accuracy(torch.tensor([1]), torch.tensor([1, 2]))


def test_ngram_by_hand() -> None:
    # events (step, sample, neuron). sample 0 (label 0): neuron order 1, 2, 3; sample 1 (label 1):
    # 3, 2 at step 0? no: step 0 neuron 3, step 1 neurons 0 and 2 (by index: 0 then 2)
    events = torch.tensor([[5, 0, 1], [6, 0, 2], [9, 0, 3],
                           [0, 1, 3], [1, 1, 2], [1, 1, 0]])
    table = ngram_scores(events, torch.tensor([0, 1]), n=2, n_neurons=4, n_labels=2)
    grams = {(int(c) // 4, int(c) % 4): s.tolist() for c, s in zip(table.codes, table.scores, strict=True)}
    assert grams == {(1, 2): [1.0, 0.0], (2, 3): [1.0, 0.0], (3, 0): [0.0, 1.0], (0, 2): [0.0, 1.0]}
    # test samples: 0 fires 1, 2 (known, label 0); 1 fires 3, 0, 2 (two grams of label 1); 2: unknown; 3: silent
    test_events = torch.tensor([[0, 0, 1], [3, 0, 2], [0, 1, 3], [2, 1, 0], [4, 1, 2], [0, 2, 2], [1, 2, 1]])
    assert ngram_predict(test_events, 4, table).tolist() == [0, 1, -1, -1]
    # events given out of order are sorted by sample, step, neuron first
    assert ngram_predict(test_events.flip(0), 4, table).tolist() == [0, 1, -1, -1]


def test_ngram_unigram_matches_counts() -> None:
    events = torch.tensor([[0, 0, 0], [1, 1, 1], [2, 1, 1]])
    table = ngram_scores(events, torch.tensor([1, 0]), n=1, n_neurons=2, n_labels=2)
    assert table.codes.tolist() == [0, 1] and table.scores.tolist() == [[0.0, 1.0], [2.0, 0.0]]


def test_logistic_readout_separable() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    counts = torch.poisson(torch.ones(300, 6) + 8.0 * torch.nn.functional.one_hot(labels * 2, 6), generator=g)
    model = LogisticReadout(3).fit(counts[:200], labels[:200])
    assert accuracy(model.predict(counts[200:]), labels[200:]) > 0.95
    with pytest.raises(RuntimeError):
        LogisticReadout().predict(counts)
