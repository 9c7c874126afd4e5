"""Judging retrieval in a world from its structured labels: pure numpy.

- text->image precision@K for single-object queries ("a red circle"): an image is relevant when
  it contains an object with the query's colour and shape (wherever it is, whatever else is there);
- zero-shot colour x shape classification of single-object images over all compositions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jointspace.worlds.captions import article
from jointspace.worlds.vocab import COLOURS, SHAPES, compositions


@dataclass(frozen=True)
class Query:
    text: str
    colour: str
    shape: str
    heldout: bool  # the colour x shape pair never occurs in training


def single_object_queries(heldout: Sequence[tuple[str, str]],
                          template: str = "{a} {colour} {shape}") -> list[Query]:
    """One query per composition ("a red circle", "an orange star"), in ``compositions()``
    order."""
    held = {tuple(p) for p in heldout}
    return [Query(template.format(a=article(c), colour=c, shape=s), c, s, (c, s) in held)
            for c, s in compositions()]


def paraphrase_queries(heldout: Sequence[tuple[str, str]]) -> list[Query]:
    """The same 100 compositions in other words: the first synonym of colour and shape
    ("a crimson disc" for red circle), to measure how free-form wording transfers."""
    held = {tuple(p) for p in heldout}
    out = []
    for c, s in compositions():
        phrase = f"{COLOURS[c][1][1]} {SHAPES[s][1][0]}"
        out.append(Query(f"{article(phrase)} {phrase}", c, s, (c, s) in held))
    return out


def relevance(rows: Sequence[dict], queries: Sequence[Query]) -> np.ndarray:
    """(n_queries, n_images) bool: image j shows an object with query i's colour and shape."""
    index = {(q.colour, q.shape): i for i, q in enumerate(queries)}
    rel = np.zeros((len(queries), len(rows)), bool)
    for j, row in enumerate(rows):
        for obj in row["objects"]:
            i = index.get((obj["colour"], obj["shape"]))
            if i is not None:
                rel[i, j] = True
    return rel


def precision_at_k(sim: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-query fraction of relevant images among the top ``k`` by similarity (stable ties)."""
    top = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (n_queries, k)
    return np.take_along_axis(relevant, top, axis=1).mean(axis=1)


def single_object_targets(rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of single-object rows and their class index in ``compositions()``."""
    classes = {p: i for i, p in enumerate(compositions())}
    keep = [j for j, r in enumerate(rows) if len(r["objects"]) == 1]
    targets = [classes[(rows[j]["objects"][0]["colour"], rows[j]["objects"][0]["shape"])]
               for j in keep]
    return np.asarray(keep, np.int64), np.asarray(targets, np.int64)
