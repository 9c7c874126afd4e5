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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from jointspace.errors import BadInputError
from jointspace.zeroshot.classifier import LOGIT_SCALE, ZeroShotClassifier, build_classifier
from jointspace.zeroshot.metrics import softmax


@dataclass
class TagReport:
    """What a tagging run did."""

    tagged: int
    skipped: int  # items of another kind (texts), left untouched
    field: str
    counts: dict[str, int] = field(default_factory=dict)  # best label -> how many items
    method: dict[str, Any] = field(default_factory=dict)  # prompt weights, propagation settings

    def to_dict(self) -> dict[str, Any]:
        return {"tagged": self.tagged, "skipped": self.skipped, "field": self.field,
                "counts": self.counts} | self.method


def tag_vectors(
    ids: Sequence[int],
    vectors: np.ndarray,
    classifier: ZeroShotClassifier,
    *,
    top_k: int = 1,
    min_probability: float = 0.0,
    probabilities: np.ndarray | None = None,
) -> dict[int, list[tuple[str, float]]]:
    """Up to ``top_k`` (label, probability) per id, best first, keeping probability >= the floor.

    The best label is always kept, so every item gets at least one tag. ``probabilities``
    (n, classes), when given, replace the classifier's softmax (e.g. propagated scores).
    """
    if len(ids) != len(vectors):
        raise BadInputError(f"{len(ids)} ids but {len(vectors)} vectors")
    if len(ids) == 0:
        return {}
    probs = (softmax(LOGIT_SCALE * classifier.scores(vectors), axis=1) if probabilities is None
             else probabilities)
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
    prompt_weights: str | None = None,
    transductive: Any = None,
) -> TagReport:
    """Classify every ``kind`` item of ``collection`` into ``labels`` and store the tags.

    ``prompt_weights="zpe"`` weights templates by the items' score statistics; ``transductive``
    (True or ``PropagationSettings``) labels all items at once by propagation and keeps the
    graph in the collection for classifying new images (:func:`classify_with_collection`).
    """
    from jointspace.zeroshot.classifier import template_weight_table
    from jointspace.zeroshot.propagation import to_probabilities
    from jointspace.zeroshot.transductive import (
        class_scores,
        collection_graph,
        restamp_graph,
        settings_of,
    )

    if not field.isidentifier():
        raise BadInputError(f"invalid metadata field {field!r}", hint="use e.g. tags")
    clf = build_classifier(collection.embedder, labels, templates=templates,
                           descriptions=descriptions, keep_prompts=bool(prompt_weights))
    all_ids, vecs = collection.item_vectors(kind)
    probs = graph = None
    method: dict[str, Any] = {}
    if transductive:
        graph = collection_graph(collection, clf, prompt_weights=prompt_weights,
                                 settings=settings_of(transductive))
        probs = to_probabilities(graph.propagation.scores)
        method["transductive"] = graph.propagation.settings.to_dict()
        clf = replace(clf, weights=graph.class_vectors, template_weights=graph.template_weights)
    elif prompt_weights:
        clf = class_scores(clf, vecs, prompt_weights=prompt_weights).classifier
    if prompt_weights:
        method |= {"prompt_weights": prompt_weights,
                   "template_weights": template_weight_table(clf)}
    tags = tag_vectors(all_ids.tolist(), vecs, clf, top_k=top_k,
                       min_probability=min_probability, probabilities=probs)
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
    if graph is not None:  # tags are annotations: the graph's vectors did not change
        restamp_graph(collection, graph)
    return TagReport(tagged=tagged, skipped=collection.count() - len(all_ids), field=field,
                     counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])), method=method)


def classify_with_collection(
    collection: Any,
    images: Sequence[Any],
    labels: Sequence[str],
    *,
    templates: str | Sequence[str] | None = "single",
    k: int = 5,
    prompt_weights: str | None = None,
    transductive: Any = None,
) -> list:
    """Classify new images (PIL images or paths) with the collection's model, its images the
    unlabelled set: ZPE weights come from them, and with ``transductive`` the images are
    classified inductively against the collection's propagated graph (built and stored first if
    missing or stale). :func:`classify_set_with_collection` also returns the classifier used."""
    return classify_set_with_collection(collection, images, labels, templates=templates, k=k,
                                        prompt_weights=prompt_weights,
                                        transductive=transductive)[0]


def classify_set_with_collection(
    collection: Any,
    images: Sequence[Any],
    labels: Sequence[str],
    *,
    templates: str | Sequence[str] | None = "single",
    k: int = 5,
    prompt_weights: str | None = None,
    transductive: Any = None,
) -> tuple[list, ZeroShotClassifier]:
    """:func:`classify_with_collection`, plus the classifier as used (its ZPE weights set)."""
    from pathlib import Path

    from PIL import Image

    from jointspace.ingest.decode import load_image
    from jointspace.zeroshot.classifier import predictions_from_scores
    from jointspace.zeroshot.transductive import (
        classify_new_images,
        collection_graph,
        settings_of,
        weighted_by_collection,
    )

    embedder = collection.embedder
    weighting = prompt_weights if prompt_weights not in (None, "equal") else None
    clf = build_classifier(embedder, labels, templates=templates, keep_prompts=bool(weighting))
    vectors = embedder.embed_images([im if isinstance(im, Image.Image) else load_image(Path(im))
                                     for im in images])
    if transductive:
        graph = collection_graph(collection, clf, prompt_weights=weighting,
                                 settings=settings_of(transductive))
        used = replace(clf, template_weights=graph.template_weights)
        scores = classify_new_images(collection, graph, vectors)
    else:
        used = weighted_by_collection(collection, clf, weighting)
        scores = used.scores(vectors)
    return predictions_from_scores(clf.classes, scores, k, propagated=bool(transductive)), used
