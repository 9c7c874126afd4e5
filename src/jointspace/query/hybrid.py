"""Fusion of dense and keyword (BM25, :mod:`jointspace.query.bm25`) results for one query.

:func:`hybrid_fuse` applies the fusion defaults tuned on SciFact train queries (see
``HybridSettings``).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from jointspace.errors import BadInputError
from jointspace.query.fusion import Run, convex_combination, reciprocal_rank_fusion


@dataclass(frozen=True)
class HybridSettings:
    """How dense and keyword results are fused.

    Defaults were tuned on SciFact *train* queries only (half of them; checked on the other half:
    nDCG@10 0.741 vs dense 0.678 and BM25 0.711), with all-MiniLM-L6-v2 as the dense model.
    ``TUNED["rrf"]`` is the best RRF setting from the same search.
    """

    method: Literal["rrf", "convex"] = "convex"
    dense_weight: float = 0.45  # weight of the dense run; the keyword run gets 1 - this
    normalization: Literal["minmax", "zscore", "none"] = "zscore"  # convex only
    rrf_k: float = 60.0  # rrf only
    depth: int = 100  # candidates taken from each retriever before fusing


TUNED: dict[str, HybridSettings] = {
    "convex": HybridSettings(),
    "rrf": HybridSettings(method="rrf", dense_weight=0.4, rrf_k=5.0),
}


def hybrid_fuse(
    dense: Run, keyword: Run, k: int, settings: HybridSettings | None = None
) -> tuple[list[Hashable], np.ndarray]:
    """Fuse one query's dense ``(ids, cosines)`` and keyword ``(ids, bm25)`` runs; top ``k``."""
    s = settings or HybridSettings()
    if s.method == "rrf":
        w = s.dense_weight
        return reciprocal_rank_fusion([dense, keyword], k=s.rrf_k, weights=[w, 1 - w], limit=k)
    if s.method == "convex":
        return convex_combination(
            [dense, keyword], [s.dense_weight, 1 - s.dense_weight],
            normalization=s.normalization, limit=k,
        )
    raise BadInputError(f"unknown hybrid method {s.method!r}", hint="use 'rrf' or 'convex'")
