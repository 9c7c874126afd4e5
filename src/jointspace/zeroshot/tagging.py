"""Tagging a whole collection by zero-shot classification; tags are stored as item metadata.

:func:`tag_vectors` is the pure part: (ids, unit vectors) -> the labels each item gets.
:func:`tag_collection` reads a collection's image vectors, tags them and writes, in one
transaction, ``metadata[field]`` = the best label (a scalar, so it can be filtered on:
``--where "tag in (cat, dog)"``), ``metadata[field + "_all"]`` = the top-k labels and
``metadata[field + "_scores"]`` = ``{label: probability}``.

Re-syncing a source rewrites metadata from the source, which drops the tags: tag again after
``index``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.errors import BadInputError
from jointspace.store.filters import Clause, Filter
from jointspace.zeroshot.classifier import LOGIT_SCALE, ZeroShotClassifier, build_classifier
from jointspace.zeroshot.metrics import softmax


@dataclass
class TagReport:
    """What a tagging run did."""

    tagged: int
    skipped: int  # items of another kind (texts), left untouched
    field: str
    counts: dict[str, int] = field(default_factory=dict)  # best label -> how many items

    def to_dict(self) -> dict[str, Any]:
        return {"tagged": self.tagged, "skipped": self.skipped, "field": self.field,
                "counts": self.counts}


def tag_vectors(
    ids: Sequence[int],
    vectors: np.ndarray,
    classifier: ZeroShotClassifier,
    *,
    top_k: int = 1,
    min_probability: float = 0.0,
) -> dict[int, list[tuple[str, float]]]:
    """Up to ``top_k`` (label, probability) per id, best first, keeping probability >= the floor.

    The best label is always kept, so every item gets at least one tag.
    """
    if len(ids) != len(vectors):
        raise BadInputError(f"{len(ids)} ids but {len(vectors)} vectors")
    if len(ids) == 0:
        return {}
    probs = softmax(LOGIT_SCALE * classifier.scores(vectors), axis=1)
    k = max(1, min(top_k, len(classifier.classes)))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out: dict[int, list[tuple[str, float]]] = {}
    for row, item in enumerate(ids):
        picks = [(classifier.classes[j], float(probs[row, j])) for j in order[row]]
        out[int(item)] = [picks[0]] + [p for p in picks[1:] if p[1] >= min_probability]
    return out


def tag_collection(
    collection: Any,
    labels: Sequence[str],
    *,
    templates: str | Sequence[str] | None = "single",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    top_k: int = 1,
    min_probability: float = 0.0,
    field: str = "tag",
    kind: str = "image",
    lock_timeout: float = 0.0,
) -> TagReport:
    """Classify every ``kind`` item of ``collection`` into ``labels`` and store the tags."""
    if not field.isidentifier():
        raise BadInputError(f"invalid metadata field {field!r}", hint="use e.g. tags")
    store = collection.store
    clf = build_classifier(collection.embedder, labels, templates=templates,
                           descriptions=descriptions)
    tags: dict[int, list[tuple[str, float]]] = {}
    for ids, vecs in store.scan_vectors(Filter((Clause("kind", "=", kind),))):
        tags |= tag_vectors(ids.tolist(), vecs, clf, top_k=top_k, min_probability=min_probability)
    updates = {}
    counts: dict[str, int] = {}
    for item_id, picks in tags.items():
        updates[item_id] = {
            field: picks[0][0],
            f"{field}_all": [label for label, _ in picks],
            f"{field}_scores": {label: round(p, 4) for label, p in picks},
        }
        counts[picks[0][0]] = counts.get(picks[0][0], 0) + 1
    # annotations, not source metadata: re-indexing the source keeps the tags
    tagged = collection.annotate(updates, lock_timeout=lock_timeout)
    return TagReport(tagged=tagged, skipped=store.count() - len(tags), field=field,
                     counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])))
