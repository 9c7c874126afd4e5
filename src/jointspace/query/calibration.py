"""A calibrated "no good match" cut-off, fitted without labels: pure numpy.

A raw cosine means different things for different queries and models, so scores are first
standardised per query against the collection (``z = (s - q.mu_m) / sd_q,m``, exact from the
per-kind statistics of query/modality.py). Two label-free samples then fix the cut-off per item
kind:

- a *null*: z-scores of probe queries (the collection's captions or query bank) against random
  items — almost all unrelated, so its upper tail says how high chance goes;
- *matches*: z-scores of each captioned image against its own caption (pairs the collection
  already holds; no relevance judgements).

The cut-off is the lowest z that keeps ``1 - miss`` of the matches (default 0.95), and never
below the null's ``1 - 1/n`` quantile (the score one unrelated item in the whole kind reaches by
chance). Without captioned images only the null bound is used. ``relevance`` is a logistic in z
through the cut-off (0.5 there), its slope set by the spread between the null bound and the
matches' median.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from jointspace.query.modality import ModalityStats, query_moments, standardise

DEFAULT_MISS = 0.05  # fraction of true caption-image pairs the cut-off may reject


@dataclass
class KindCut:
    cut: float  # z-score threshold
    slope: float  # logistic slope of the relevance
    n_matches: int  # pairs it was fitted on (0: null bound only)
    null_bound: float


@dataclass
class Calibration:
    """Per-kind z cut-offs; ``count`` is the collection size it was fitted at."""

    cuts: dict[str, KindCut] = field(default_factory=dict)
    count: int = 0
    miss: float = DEFAULT_MISS

    def scores(self, cos: np.ndarray, kinds: np.ndarray, query: np.ndarray,
               stats: ModalityStats) -> np.ndarray:
        """z-scores of one query's candidate cosines (``cos``: (n,), ``kinds``: (n,))."""
        return standardise(np.asarray(cos)[None, :], np.asarray(query)[None, :], kinds, stats)[0]

    def relevance(self, z: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        """Calibrated relevance in 0..1 (0.5 at the cut-off); kinds without a cut get 0.5."""
        cut, slope = self._per_item(kinds)
        x = np.clip(slope * (np.asarray(z, np.float64) - cut), -50.0, 50.0)
        return 1.0 / (1.0 + np.exp(-x))

    def accept(self, z: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        cut, _ = self._per_item(kinds)
        return np.asarray(z) >= cut

    def _per_item(self, kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cut = np.array([self.cuts[k].cut if k in self.cuts else -np.inf for k in kinds])
        slope = np.array([self.cuts[k].slope if k in self.cuts else 0.0 for k in kinds])
        return cut, slope

    def to_bytes(self) -> bytes:
        return json.dumps({"cuts": {k: asdict(v) for k, v in self.cuts.items()},
                           "count": self.count, "miss": self.miss}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Calibration:
        d = json.loads(data)
        return cls({k: KindCut(**v) for k, v in d["cuts"].items()}, d["count"], d["miss"])


def fit_kind(null_z: np.ndarray, match_z: np.ndarray, n_items: int, *,
             miss: float = DEFAULT_MISS) -> KindCut:
    """The cut-off for one kind from null z-scores and (possibly empty) true-pair z-scores."""
    null_z = np.asarray(null_z, np.float64)
    level = 1.0 - 1.0 / max(n_items, 2)
    bound = float(np.quantile(null_z, level)) if len(null_z) else 0.0
    if len(match_z):
        cut = max(float(np.quantile(match_z, miss)), bound)
        spread = max(float(np.median(match_z)) - bound, 1e-3)
    else:
        cut, spread = bound, max(float(np.quantile(null_z, level) - np.median(null_z)), 1e-3)
    return KindCut(cut=cut, slope=4.0 / spread, n_matches=int(len(match_z)), null_bound=bound)


def null_and_match_z(probes: np.ndarray, items: np.ndarray, pair_queries: np.ndarray,
                     pair_items: np.ndarray, kind: str, stats: ModalityStats,
                     rng: np.random.Generator, per_probe: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """z-scores of probes against random items of ``kind`` (null) and of true pairs (matches)."""
    if len(items) == 0 or len(probes) == 0:
        return np.zeros(0), np.zeros(0)
    cols = rng.integers(0, len(items), size=(len(probes), per_probe))
    cos = np.einsum("pd,pkd->pk", probes, items[cols])
    mu, sd = query_moments(probes, stats, kind)
    null = ((cos - mu[:, None]) / sd[:, None]).ravel()
    match = np.zeros(0)
    if len(pair_queries):
        own = np.einsum("pd,pd->p", pair_queries, pair_items)
        mu, sd = query_moments(pair_queries, stats, kind)
        match = (own - mu) / sd
    return null, match
