"""Classification metrics against loops over samples on seeded data."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.zeroshot.metrics import (
    confusion_matrix,
    mean_per_class_recall,
    per_class_precision,
    per_class_recall,
    predict,
    softmax,
    topk_accuracy,
)


def test_metrics_match_loops():
    rng = np.random.default_rng(3)
    n, c = 200, 7
    targets = rng.integers(0, c, size=n)
    scores = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[targets]
    pred = predict(scores)
    for k in (1, 3, 5):
        ref = np.mean([t in np.argsort(-s)[:k] for s, t in zip(scores, targets)])
        assert topk_accuracy(scores, targets, k) == pytest.approx(ref)
    cm = confusion_matrix(pred, targets, c)
    for t in range(c):
        for p in range(c):
            assert cm[t, p] == np.sum((targets == t) & (pred == p))
    rec = per_class_recall(cm)
    ref_rec = [np.mean(pred[targets == t] == t) for t in range(c)]
    assert rec == pytest.approx(ref_rec)
    assert mean_per_class_recall(cm) == pytest.approx(np.mean(ref_rec))
    prec = per_class_precision(cm)
    assert prec[0] == pytest.approx(np.mean(targets[pred == 0] == 0))


def test_ties_count_against_the_model_and_empty_classes():
    scores = np.zeros((4, 3))
    targets = np.array([0, 1, 2, 0])
    assert topk_accuracy(scores, targets, 1) == 0.0
    assert topk_accuracy(scores, targets, 3) == 1.0
    cm = confusion_matrix(np.array([0, 0]), np.array([0, 0]), 3)
    assert np.isnan(per_class_recall(cm)[1]) and mean_per_class_recall(cm) == 1.0


def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    assert p[0].tolist() == [0.5, 0.5] and p[1] == pytest.approx([0.25, 0.75])
