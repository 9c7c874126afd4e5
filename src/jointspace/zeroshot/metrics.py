"""Classification metrics over a (n_samples, n_classes) score matrix: pure numpy."""

from __future__ import annotations

import numpy as np


def topk_accuracy(scores: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Ties are counted against the model: the true class must beat all but ``k - 1`` others
    strictly, so a constant scorer gets no credit.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets)
    if len(targets) == 0:
        return 0.0
    true = scores[np.arange(len(targets)), targets][:, None]
    better_or_equal = (scores >= true).sum(axis=1) - 1  # other classes at least as good
    return float(np.mean(better_or_equal < k))


def confusion_matrix(predicted: np.ndarray, targets: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[t, p]`` = number of samples of true class ``t`` predicted as ``p``."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(targets), np.asarray(predicted)), 1)
    return cm


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal / row sum); NaN for a class with no samples."""
    support = cm.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def per_class_precision(cm: np.ndarray) -> np.ndarray:
    """Precision of each class (diagonal / column sum); NaN for a class never predicted."""
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(predicted > 0, np.diag(cm) / predicted, np.nan)


def mean_per_class_recall(cm: np.ndarray) -> float:
    """Balanced accuracy: the mean recall over classes that have samples."""
    r = per_class_recall(cm)
    return float(np.nanmean(r)) if np.any(~np.isnan(r)) else 0.0


def predict(scores: np.ndarray) -> np.ndarray:
    """Arg-max class per sample (the lowest class index wins a tie)."""
    return np.asarray(scores).argmax(axis=1)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)
