"""Exact and near-duplicate images in a collection.

Two images are linked when they have the same sha256 (exact), or when one is among the other's
``k`` nearest embedding neighbours (near) and

- their cosine is at least ``threshold`` — and, with ``max_hash_distance``, their perceptual
  hashes (:mod:`jointspace.curate.phash`) are at most that many bits apart (the hash vetoes what
  the embedding confuses); or
- with ``hash_alone_distance``, their hashes are at most that many bits apart whatever the
  cosine (the hash catches what a weak embedding misses).

Groups are the connected components of those links. Nothing is changed unless asked: with ``apply``, every
member but the kept one gets ``metadata.duplicate_of = <kept id>`` (an annotation, so it survives
re-indexing and can be filtered on: ``--where 'duplicate_of != null'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.errors import BadInputError

DEFAULT_THRESHOLD = 0.95  # cosine; tune per model (docs/quality/duplicates.md)
DEFAULT_NEIGHBOURS = 10
KEEP_RULES = ("largest", "oldest", "first")


@dataclass
class DuplicateGroup:
    """Items that are copies of each other; ``score`` is the weakest link's cosine."""

    ids: list[int]
    paths: list[str | None]
    score: float
    exact: bool  # every member has the same sha256
    keep: int | None = None  # the member kept by the --keep rule

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "paths": self.paths, "score": round(self.score, 6),
                "exact": self.exact, "keep": self.keep}


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup]
    threshold: float
    items: int
    max_hash_distance: int | None
    marked: int = 0  # items given duplicate_of (0 on a dry run)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [g.to_dict() for g in self.groups], "threshold": self.threshold,
                "items": self.items, "max_hash_distance": self.max_hash_distance,
                "marked": self.marked} | self.settings


def candidate_pairs(vectors: np.ndarray, threshold: float,
                    k: int = DEFAULT_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pairs (i < j) with cosine >= ``threshold`` among each row's ``k`` neighbours
    (``threshold=-inf``: every neighbour pair)."""
    from jointspace.zeroshot.propagation import knn

    n = len(vectors)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    ids, sims = knn(vectors, vectors, min(k, n - 1), exclude_self=True)
    rows = np.repeat(np.arange(n), ids.shape[1])
    cols, s = ids.ravel(), sims.ravel()
    ok = (s >= threshold) & (cols >= 0)
    a, b = np.minimum(rows, cols)[ok], np.maximum(rows, cols)[ok]
    key = a * n + b
    _, first = np.unique(key, return_index=True)
    return a[first], b[first], s[ok][first]


def group_duplicates(vectors: np.ndarray, digests: Sequence[str | None], *,
                     threshold: float = DEFAULT_THRESHOLD, k: int = DEFAULT_NEIGHBOURS,
                     hashes: Sequence[int | None] | None = None,
                     max_hash_distance: int | None = None,
                     hash_alone_distance: int | None = None,
                     ) -> list[tuple[list[int], float, bool]]:
    """Groups of row indices as (rows, weakest cosine, exact?); pure over arrays (see the module
    docstring for the link rules)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = len(vectors)
    uses_hash = max_hash_distance is not None or hash_alone_distance is not None
    if uses_hash and hashes is None:
        raise BadInputError("hash confirmation needs the images' perceptual hashes")
    floor = threshold if hash_alone_distance is None else -np.inf
    a, b, s = candidate_pairs(np.asarray(vectors, np.float32), floor, k)
    if uses_hash:
        dist = _hash_distances(hashes, a, b)
        near = s >= threshold
        if max_hash_distance is not None:
            near &= dist <= max_hash_distance
        if hash_alone_distance is not None:
            near |= dist <= hash_alone_distance
        a, b, s = a[near], b[near], s[near]
    by_digest: dict[str, list[int]] = {}
    for row, d in enumerate(digests):
        if d:
            by_digest.setdefault(d, []).append(row)
    ea = [m[0] for m in by_digest.values() for _ in m[1:]]
    eb = [x for m in by_digest.values() for x in m[1:]]
    rows = np.concatenate([a, np.asarray(ea, np.int64)])
    cols = np.concatenate([b, np.asarray(eb, np.int64)])
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    weakest: dict[int, float] = {}
    for i, sim in zip(a.tolist(), s.tolist(), strict=True):
        weakest[label[i]] = min(weakest.get(label[i], 1.0), sim)
    members: dict[int, list[int]] = {}
    for row in np.flatnonzero(np.bincount(label, minlength=n)[label] > 1).tolist():
        members.setdefault(int(label[row]), []).append(row)
    out = []
    for lab, rows_ in members.items():
        exact = len({digests[r] for r in rows_}) == 1 and digests[rows_[0]] is not None
        out.append((rows_, 1.0 if exact else weakest.get(lab, 1.0), exact))
    out.sort(key=lambda g: (-g[1], g[0][0]))
    return out


def _hash_distances(hashes: Sequence[int | None], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance per pair; 65 (more than any) where a hash is missing."""
    from jointspace.curate.phash import HASH_BITS, hamming

    return np.array([hamming(hashes[i], hashes[j])
                     if hashes[i] is not None and hashes[j] is not None else HASH_BITS + 1
                     for i, j in zip(a.tolist(), b.tolist(), strict=True)], np.int64)


def find_duplicates(collection: Any, *, threshold: float = DEFAULT_THRESHOLD,
                    k: int = DEFAULT_NEIGHBOURS, max_hash_distance: int | None = None,
                    hash_alone_distance: int | None = None,
                    keep: str | None = None) -> DuplicateReport:
    """Duplicate groups among a collection's images (nothing is written; see mark_duplicates)."""
    from jointspace.curate.phash import phash_file

    if keep is not None and keep not in KEEP_RULES:
        raise BadInputError(f"unknown keep rule {keep!r}", hint=f"use {', '.join(KEEP_RULES)}")
    ids, vecs = collection.item_vectors("image")
    items = collection.store.get(ids.tolist())
    fps = collection.store.fingerprints([it.key for it in items])
    digests = [fps[it.key].sha256 if it.key in fps else None for it in items]
    hashes = None
    if max_hash_distance is not None or hash_alone_distance is not None:
        floor = threshold if hash_alone_distance is None else -np.inf
        a, b, _ = candidate_pairs(vecs, floor, k)  # hash only images that have a candidate
        need = set(a.tolist()) | set(b.tolist())
        hashes = [phash_file(items[r].path) if r in need and items[r].path else None
                  for r in range(len(items))]
    groups = []
    for rows, score, exact in group_duplicates(vecs, digests, threshold=threshold, k=k,
                                               hashes=hashes, max_hash_distance=max_hash_distance,
                                               hash_alone_distance=hash_alone_distance):
        g = DuplicateGroup([int(ids[r]) for r in rows], [items[r].path for r in rows], score,
                           exact)
        if keep is not None:
            g.keep = _keeper(g, [items[r] for r in rows], fps, keep)
        groups.append(g)
    return DuplicateReport(groups, threshold, len(ids), max_hash_distance,
                           settings={"k": k, "keep_rule": keep,
                                     "hash_alone_distance": hash_alone_distance})


def mark_duplicates(collection: Any, report: DuplicateReport, *,
                    lock_timeout: float = 0.0) -> int:
    """Write ``duplicate_of = keep`` on every other member of each group; returns items marked."""
    updates = {i: {"duplicate_of": g.keep} for g in report.groups if g.keep is not None
               for i in g.ids if i != g.keep}
    if not updates and any(g.keep is None for g in report.groups):
        raise BadInputError("no keep rule chosen", hint="pass --keep largest|oldest|first")
    report.marked = collection.annotate(updates, lock_timeout=lock_timeout)
    return report.marked


def _keeper(group: DuplicateGroup, items: list, fps: dict, rule: str) -> int:
    if rule == "first":
        return min(group.ids)
    if rule == "oldest":
        def age(it) -> tuple:
            fp = fps.get(it.key)
            return (fp.mtime_ns if fp and fp.mtime_ns is not None else 2**63, it.id)
        return min(items, key=age).id
    return max(items, key=lambda it: (_pixels(it.path), -it.id)).id  # largest


def _pixels(path: str | None) -> int:
    """Width x height from the file header (no decode); 0 when unreadable."""
    if not path:
        return 0
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.width * im.height
    except OSError:
        return 0
