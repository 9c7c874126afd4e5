"""The modality gap in mixed collections: per-modality score standardisation, pure numpy.

Contrastive image-text models embed images and texts in two separate cones (Liang et al., "Mind
the Gap", NeurIPS 2022): a text query's cosine to any text sits far above its cosine to any image,
so a collection holding both returns texts first whatever the query means. The gap is the
distance between the two modality centroids.

We correct the scores, not the vectors: for a query ``q`` and an item of kind ``m`` the score
becomes ``(q.x - q.mu_m) / sqrt(q' C_m q)``, the cosine standardised against the distribution of
cosines between ``q`` and *all* items of that kind (its mean is ``q.mu_m`` and its variance
``q' C_m q``, exactly, from the kind's mean and covariance). Within one kind the order is unchanged;
across kinds, items compete on how unusual their score is for their modality. The statistics are
sums (count, sum, sum of outer products), so adding items updates them exactly.

Standardising alone does not share the top of the list: one kind's best matches can be more
exceptional for their modality than the other's (texts match a text query almost word for word),
so ``balanced_order`` merges the kinds with a fair share: after ``p`` results each kind holds at
least ``p // n_kinds`` of them as long as it has candidates whose z-score clears ``floor`` (a
kind with nothing clearly above its own background gets no guaranteed slot).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

_EPS = 1e-12
DEFAULT_FLOOR = 1.0  # z a candidate needs for a guaranteed slot (see balanced_order)


@dataclass
class ModalityStats:
    """Count, sum and sum of outer products of the unit vectors of each kind."""

    dim: int
    count: dict[str, int] = field(default_factory=dict)
    total: dict[str, np.ndarray] = field(default_factory=dict)  # (d,) float64
    outer: dict[str, np.ndarray] = field(default_factory=dict)  # (d, d) float64

    def add(self, kind: str, vectors: np.ndarray) -> None:
        v = np.asarray(vectors, np.float64).reshape(-1, self.dim)
        if not len(v):
            return
        self.count[kind] = self.count.get(kind, 0) + len(v)
        self.total[kind] = self.total.get(kind, np.zeros(self.dim)) + v.sum(axis=0)
        self.outer[kind] = self.outer.get(kind, np.zeros((self.dim, self.dim))) + v.T @ v

    def kinds(self) -> list[str]:
        return sorted(k for k, n in self.count.items() if n > 0)

    def mean(self, kind: str) -> np.ndarray:
        return self.total[kind] / self.count[kind]

    def covariance(self, kind: str) -> np.ndarray:
        mu = self.mean(kind)
        return self.outer[kind] / self.count[kind] - np.outer(mu, mu)

    def to_bytes(self) -> bytes:
        arrays = {"dim": np.array(self.dim)}
        for k in self.kinds():
            arrays[f"n_{k}"] = np.array(self.count[k])
            arrays[f"sum_{k}"] = self.total[k]
            arrays[f"outer_{k}"] = self.outer[k]
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModalityStats:
        z = np.load(io.BytesIO(data))
        out = cls(int(z["dim"]))
        for name in z.files:
            if name.startswith("n_"):
                k = name[2:]
                out.count[k] = int(z[name])
                out.total[k] = z[f"sum_{k}"]
                out.outer[k] = z[f"outer_{k}"]
        return out


def modality_gap(stats: ModalityStats, a: str = "image", b: str = "text") -> float | None:
    """Euclidean distance between the centroids of kinds ``a`` and ``b`` (None if one is absent)."""
    if stats.count.get(a, 0) == 0 or stats.count.get(b, 0) == 0:
        return None
    return float(np.linalg.norm(stats.mean(a) - stats.mean(b)))


def query_moments(queries: np.ndarray, stats: ModalityStats,
                  kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each query's cosines to all items of ``kind``."""
    q = np.asarray(queries, np.float64)
    mu = q @ stats.mean(kind)
    var = np.einsum("qd,de,qe->q", q, stats.covariance(kind), q)
    return mu, np.sqrt(np.maximum(var, _EPS))


def standardise(scores: np.ndarray, queries: np.ndarray, kinds: np.ndarray,
                stats: ModalityStats) -> np.ndarray:
    """Per-kind z-scores of ``scores`` (n_queries, n_candidates) for candidates of ``kinds``.

    ``queries``: (n_queries, d) the query vectors the scores were computed with.
    """
    scores = np.asarray(scores, np.float64)
    q = np.asarray(queries, np.float64)
    kinds = np.asarray(kinds)
    out = np.empty_like(scores)
    for kind in np.unique(kinds):
        cols = kinds == kind
        if stats.count.get(str(kind), 0) == 0:
            out[:, cols] = scores[:, cols]  # no statistics for this kind: leave it as it is
            continue
        mu, sd = query_moments(q, stats, str(kind))
        out[:, cols] = (scores[:, cols] - mu[:, None]) / sd[:, None]
    return out


def balanced_order(z: np.ndarray, kinds: np.ndarray, *, floor: float = DEFAULT_FLOOR,
                   limit: int | None = None) -> np.ndarray:
    """Candidate positions best first (the first ``limit``): by ``z``, but after ``p`` results
    every kind that still has a candidate with ``z >= floor`` holds at least ``p // n_kinds``.

    ``z``: (n,) standardised scores; ``kinds``: (n,) each candidate's kind. Within a kind the
    order is that of ``z``, and a prefix does not depend on ``limit`` (pages stay consistent).
    ``floor`` = 1: on the world's validation split every floor from 0 to 2.5 gave the same
    share of queries with relevant items of both kinds; 1 is the robust end, since where a share
    ``p`` of a kind matches, the matches sit at ``z = sqrt((1 - p) / p)``, above 1 while p < 1/2.
    """
    z = np.asarray(z, np.float64)
    kinds = np.asarray(kinds)
    order = np.argsort(-z, kind="stable")
    names = list(dict.fromkeys(kinds[order].tolist()))
    queues = {m: order[kinds[order] == m].tolist() for m in names}
    taken = dict.fromkeys(names, 0)
    out: list[int] = []
    for _ in range(len(z) if limit is None else min(limit, len(z))):
        quota = (len(out) + 1) // len(names)  # each kind's due share once this slot is filled
        live = [m for m in names if taken[m] < len(queues[m])]
        best = max(live, key=lambda m: z[queues[m][taken[m]]])
        owed = [m for m in live if taken[m] < quota and z[queues[m][taken[m]]] >= floor]
        if owed and best not in owed:
            best = max(owed, key=lambda m: z[queues[m][taken[m]]])
        out.append(queues[best][taken[best]])
        taken[best] += 1
    return np.array(out, np.int64)
