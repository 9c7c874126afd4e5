"""Wiring of the quality layer into classification: ZPE prompt weights and label propagation.

:func:`class_scores` is the one place a set of image vectors gets its (n, classes) scores, plain
or with the methods on; evaluation, ``classify`` and collection tagging all call it. A
collection's propagated graph is stored as derived state (``Store.write_state``) so that a new
image is classified inductively against it (:func:`classify_new_images`), and rebuilt when the
collection or the labels change.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from jointspace.errors import CollectionError
from jointspace.zeroshot.classifier import ZeroShotClassifier, weight_prompts
from jointspace.zeroshot.propagation import (
    Propagation,
    PropagationSettings,
    inductive_from_neighbours,
    knn,
    propagate,
)

GRAPH_STATE = "zeroshot.graph"  # the collection's last propagated graph


@dataclass
class ScoredSet:
    """Scores of a set of images and how they were made."""

    scores: np.ndarray  # (n, n_classes); cosines, or propagated scores when transductive
    classifier: ZeroShotClassifier  # with the prompt weights applied, if any
    propagation: Propagation | None = None


def class_scores(clf: ZeroShotClassifier, vectors: np.ndarray, *,
                 prompt_weights: str | None = None,
                 transductive: PropagationSettings | bool | None = None) -> ScoredSet:
    """Scores of ``vectors`` against ``clf``: ZPE-weighted prompts and/or label propagation."""
    if prompt_weights and prompt_weights != "equal":
        clf = weight_prompts(clf, vectors, prompt_weights)
    if not transductive:
        return ScoredSet(clf.scores(vectors), clf)
    prop = propagate(vectors, clf.weights, settings_of(transductive))
    return ScoredSet(prop.scores, clf, prop)


@dataclass
class StoredGraph:
    """A collection's propagated graph: enough to classify a new image inductively."""

    key: dict[str, Any]  # labels, templates, prompt weighting, settings: what it answers
    ids: np.ndarray  # int64 item ids of the image nodes, ascending
    class_vectors: np.ndarray  # (n_classes, dim) as used in the graph
    propagation: Propagation
    template_weights: np.ndarray | None = None  # ZPE weights, when used

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        weights = np.zeros(0) if self.template_weights is None else self.template_weights
        np.savez(buf, key=np.frombuffer(json.dumps(self.key).encode(), np.uint8), ids=self.ids,
                 class_vectors=self.class_vectors, node_scores=self.propagation.node_scores,
                 template_weights=weights)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StoredGraph:
        z = np.load(io.BytesIO(data))
        key = json.loads(z["key"].tobytes().decode())
        settings = PropagationSettings(**key["settings"])
        weights = z["template_weights"] if len(z["template_weights"]) else None
        return cls(key, z["ids"], z["class_vectors"],
                   Propagation(z["node_scores"], len(z["class_vectors"]), settings, 0), weights)


def settings_of(transductive: PropagationSettings | bool) -> PropagationSettings:
    """``True`` means the default settings."""
    return transductive if isinstance(transductive, PropagationSettings) else PropagationSettings()


def graph_key(clf: ZeroShotClassifier, prompt_weights: str | None,
              settings: PropagationSettings) -> dict[str, Any]:
    return {"model": clf.model, "labels": clf.classes, "templates": list(clf.templates),
            "prompt_weights": prompt_weights or "equal", "settings": settings.to_dict()}


def collection_graph(collection: Any, clf: ZeroShotClassifier, *,
                     prompt_weights: str | None = None,
                     settings: PropagationSettings | None = None) -> StoredGraph:
    """The propagated graph over the collection's images: the stored one if it is still valid
    (same labels and settings, no write since), otherwise built now and stored when writable."""
    settings = settings or PropagationSettings()
    store = collection.store
    key = graph_key(clf, prompt_weights, settings)
    blob = store.read_state(GRAPH_STATE)
    if blob is not None and blob.seq == store.seq():
        graph = StoredGraph.from_bytes(blob.data)
        if graph.key == key:
            return graph
    ids, vectors = collection.item_vectors("image")
    scored = class_scores(clf, vectors, prompt_weights=prompt_weights, transductive=settings)
    graph = StoredGraph(key, ids, scored.classifier.weights, scored.propagation,
                        scored.classifier.template_weights)
    try:
        with store.writer():
            store.write_state(GRAPH_STATE, graph.to_bytes())
    except CollectionError:  # read-only or busy: answer from the graph without keeping it
        pass
    return graph


def weighted_by_collection(collection: Any, clf: ZeroShotClassifier,
                           prompt_weights: str | None) -> ZeroShotClassifier:
    """``clf`` with prompt weights read from the collection's images, its unlabelled set."""
    if not prompt_weights or prompt_weights == "equal":
        return clf
    return class_scores(clf, collection.item_vectors("image")[1],
                        prompt_weights=prompt_weights).classifier


def restamp_graph(collection: Any, graph: StoredGraph) -> None:
    """Mark the stored graph current again after writes that left the vectors alone (tags)."""
    store = collection.store
    blob = store.read_state(GRAPH_STATE)
    if blob is None or StoredGraph.from_bytes(blob.data).key != graph.key:
        return
    try:
        with store.writer():
            store.write_state(GRAPH_STATE, blob.data, seq=store.seq())
    except CollectionError:
        pass


def classify_new_images(collection: Any, graph: StoredGraph, vectors: np.ndarray) -> np.ndarray:
    """Inductive scores (m, n_classes) of images outside the graph, neighbours found by the
    collection's own index (restricted to the graph's images)."""
    from jointspace.store.filters import Clause, Filter

    prop = graph.propagation
    k = prop.settings.k
    found = collection.store.search(np.asarray(vectors, np.float32), k,
                                    Filter((Clause("kind", "=", "image"),)))
    rows = np.full((len(vectors), k), -1, np.int64)
    sims = np.zeros((len(vectors), k), np.float32)
    for q, hits in enumerate(found):
        for j, (item, sim) in enumerate(hits[:k]):
            pos = int(np.searchsorted(graph.ids, item))
            if pos < len(graph.ids) and graph.ids[pos] == item:
                rows[q, j], sims[q, j] = pos, sim
    sims[rows < 0] = 0.0  # an item newer than the graph: no link
    rows[rows < 0] = 0
    text_ids, text_sims = knn(graph.class_vectors, vectors, min(k, len(graph.class_vectors)))
    return inductive_from_neighbours(prop, rows, sims, text_ids, text_sims)
