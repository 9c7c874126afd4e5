"""A calibrated "no good match" cut-off, fitted without labels: pure numpy.

Two label-free samples fix a cosine cut-off per item kind:

- *matches*: each captioned image against its own caption (pairs the collection already holds;
  no relevance judgements). The cut-off is the cosine that keeps ``1 - miss`` of them;
- a *null*: probe queries (the collection's captions or query bank) against random items. For a
  kind without captioned items (texts) the cut-off is its ``1 - 1/n`` quantile (what one
  unrelated item among the kind's ``n`` reaches by chance).

``relevance`` is a logistic in the cosine through the cut-off (0.5 there), its slope set by the
spread between the null's and the matches' medians. ``miss`` is the one knob; its default was
tuned on a world's validation split (benchmarks/quality.py) — per-query standardised scores were
tried first and separated matches from near misses worse than raw cosines there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

DEFAULT_MISS = 0.25  # share of true caption-image pairs the cut-off may reject (tuned: world val)


def check_miss(miss: float | None) -> None:
    """A usage error unless ``miss`` is None (the default) or strictly between 0 and 1."""
    if miss is not None and not 0.0 < miss < 1.0:
        from jointspace.errors import BadInputError

        raise BadInputError(f"miss must be between 0 and 1 (exclusive), not {miss}",
                            hint="the share of caption-image pairs the cut-off may reject, "
                                 "e.g. 0.25")


@dataclass
class KindCut:
    cut: float  # cosine threshold
    slope: float  # logistic slope of the relevance
    n_matches: int  # pairs it was fitted on (0: null bound only)
    null_bound: float


@dataclass
class Calibration:
    """Per-kind cosine cut-offs; ``count`` is the collection size it was fitted at."""

    cuts: dict[str, KindCut] = field(default_factory=dict)
    count: int = 0
    miss: float = DEFAULT_MISS

    def relevance(self, cos: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        """Calibrated relevance in 0..1 (0.5 at the cut-off); kinds without a cut get 0.5."""
        cut, slope = self._per_item(kinds)
        x = np.clip(slope * (np.asarray(cos, np.float64) - cut), -50.0, 50.0)
        return 1.0 / (1.0 + np.exp(-x))

    def accept(self, cos: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        """Whether each candidate's cosine clears its kind's cut-off."""
        cut, _ = self._per_item(kinds)
        return np.asarray(cos) >= cut

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
    """The cut-off for one kind from null scores and (possibly empty) true-pair scores."""
    null_z = np.asarray(null_z, np.float64)
    level = 1.0 - 1.0 / max(n_items, 2)
    bound = float(np.quantile(null_z, level)) if len(null_z) else 0.0
    if len(match_z):
        # the matches decide; the null bound only where there are none: in collections of
        # similar things (shared colours, objects) random pairs are not all unrelated
        cut = float(np.quantile(match_z, miss))
        spread = max(float(np.median(match_z) - np.median(null_z)) if len(null_z) else 1.0,
                     1e-3)
    else:
        cut, spread = bound, max(float(np.quantile(null_z, level) - np.median(null_z)), 1e-3)
    return KindCut(cut=cut, slope=4.0 / spread, n_matches=int(len(match_z)), null_bound=bound)


def null_and_match(probes: np.ndarray, items: np.ndarray, pair_queries: np.ndarray,
                   pair_items: np.ndarray, rng: np.random.Generator,
                   per_probe: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of probes against random items (null) and of true caption-item pairs (matches)."""
    null = np.zeros(0)
    if len(items) and len(probes):
        cols = rng.integers(0, len(items), size=(len(probes), per_probe))
        null = np.einsum("pd,pkd->pk", probes, items[cols]).ravel()
    match = np.einsum("pd,pd->p", pair_queries, pair_items) if len(pair_queries) else np.zeros(0)
    return null, match
