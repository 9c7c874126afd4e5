"""Zero-shot classification of an uploaded image, with class embeddings cached per label set.

The maths lives in :mod:`jointspace.zeroshot.classifier` (mean of normalised prompt embeddings
per label); the service only caches classifiers, since embedding e.g. 80 templates x 10 labels
costs far more than one image.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from jointspace.errors import BadInputError
from jointspace.models.base import Embedder

MAX_LABELS = 100
MAX_LABEL_CHARS = 100
_CACHE_SIZE = 32


class ClassifierCache:
    """LRU of built zero-shot classifiers keyed by (model, labels, templates)."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, embedder: Embedder, labels: list[str], templates: str | list[str]) -> Any:
        from jointspace.zeroshot.classifier import build_classifier

        key = (embedder.name, tuple(labels),
               templates if isinstance(templates, str) else tuple(templates))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        clf = build_classifier(embedder, labels, templates=templates)
        with self._lock:
            self._items[key] = clf
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return clf


def parse_labels(raw: list[str]) -> list[str]:
    """Labels from repeated fields and/or comma-separated lists, stripped, order kept."""
    labels = [part.strip() for item in raw for part in item.split(",") if part.strip()]
    if not labels:
        raise BadInputError("no labels to classify into", hint="pass labels=cat,dog,car")
    if len(labels) > MAX_LABELS or any(len(lb) > MAX_LABEL_CHARS for lb in labels):
        raise BadInputError(f"at most {MAX_LABELS} labels of {MAX_LABEL_CHARS} characters each")
    return labels


def classify_image(cache: ClassifierCache, embedder: Embedder, image: Any, labels: list[str],
                   templates: str | list[str], top: int) -> dict[str, Any]:
    """Every label's cosine score and probability (softmax at temperature 100), best first."""
    from jointspace.zeroshot.classifier import predict_top

    clf = cache.get(embedder, labels, templates)
    vector = embedder.embed_images([image])
    scores = clf.scores(vector)[0]
    pred = predict_top(clf, vector, k=top)[0]
    index = {c: i for i, c in enumerate(clf.classes)}
    return {
        "model": embedder.name,
        "label": pred.label,
        "labels": [{"label": c, "score": round(float(scores[index[c]]), 6),
                    "probability": round(p, 6)} for c, p in pred.top],
    }
