"""Fusing ranked lists from several retrievers (e.g. BM25 + dense): pure functions over arrays.

A *run* is what one retriever returned for one query: ``(ids, scores)``, best first or not (the
functions only look at the scores). Fused output is ``(ids, scores)`` sorted by fused score,
descending; ties are broken by id, ascending, so results are deterministic.

- :func:`reciprocal_rank_fusion` — ``sum_i w_i / (k + rank_i(d))`` (Cormack et al., 2009); only
  ranks matter, so it needs no score calibration. A document missing from a run gets nothing
  from it.
- :func:`convex_combination` — ``sum_i w_i * norm_i(score_i(d))`` after per-run score
  normalisation (Bruch et al., 2023: "An Analysis of Fusion Functions for Hybrid Retrieval").
  A document missing from a run gets that run's lowest normalised score.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

from jointspace.errors import BadInputError

Run = tuple[Sequence[Hashable], np.ndarray | Sequence[float]]
Normalization = Literal["minmax", "zscore", "none"]
NORMALIZATIONS: tuple[str, ...] = ("minmax", "zscore", "none")


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks by descending score (ties share no rank: first occurrence ranks higher)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    out = np.empty(len(order), dtype=np.int64)
    out[order] = np.arange(1, len(order) + 1)
    return out


def normalize_scores(scores: np.ndarray, method: Normalization = "minmax") -> np.ndarray:
    """Normalise one run's scores: ``minmax`` to [0, 1], ``zscore`` to mean 0 / std 1, or ``none``.

    Constant scores map to 1.0 (minmax) or 0.0 (zscore): every candidate is equally good.
    """
    s = np.asarray(scores, dtype=np.float64)
    if method == "none" or s.size == 0:
        return s.copy()
    if method == "minmax":
        lo, hi = float(s.min()), float(s.max())
        return np.ones_like(s) if hi - lo <= 0 else (s - lo) / (hi - lo)
    if method == "zscore":
        std = float(s.std())
        return np.zeros_like(s) if std <= 0 else (s - s.mean()) / std
    raise BadInputError(
        f"unknown score normalisation {method!r}",
        hint=f"use one of: {', '.join(NORMALIZATIONS)}",
    )


def reciprocal_rank_fusion(
    runs: Sequence[Run],
    *,
    k: float = 60.0,
    weights: Sequence[float] | None = None,
    limit: int | None = None,
) -> tuple[list[Hashable], np.ndarray]:
    """Fuse runs by weighted reciprocal rank: ``score(d) = sum_i w_i / (k + rank_i(d))``."""
    weights = _check_weights(runs, weights)
    if k < 0:
        raise BadInputError(f"RRF k must be >= 0, got {k}", hint="the usual value is 60")
    fused: dict[Hashable, float] = {}
    for (ids, scores), w in zip(runs, weights, strict=True):
        _check_run(ids, scores)
        for doc, r in zip(ids, ranks(np.asarray(scores)), strict=True):
            fused[doc] = fused.get(doc, 0.0) + w / (k + float(r))
    return _sorted(fused, limit)


def convex_combination(
    runs: Sequence[Run],
    weights: Sequence[float],
    *,
    normalization: Normalization = "minmax",
    limit: int | None = None,
) -> tuple[list[Hashable], np.ndarray]:
    """Fuse runs by ``sum_i w_i * norm(score_i(d))``; missing documents get the run's minimum."""
    weights = _check_weights(runs, weights)
    normed: list[dict[Hashable, float]] = []
    floors: list[float] = []
    for ids, scores in runs:
        _check_run(ids, scores)
        n = normalize_scores(np.asarray(scores), normalization)
        normed.append(dict(zip(ids, n.tolist(), strict=True)))
        floors.append(float(n.min()) if n.size else 0.0)
    all_ids: dict[Hashable, None] = {}
    for run in normed:
        all_ids.update(dict.fromkeys(run))
    fused = {
        doc: sum(w * run.get(doc, floor) for run, w, floor in zip(normed, weights, floors))
        for doc in all_ids
    }
    return _sorted(fused, limit)


def _sorted(fused: dict[Hashable, float], limit: int | None) -> tuple[list[Hashable], np.ndarray]:
    items = sorted(fused.items(), key=lambda kv: (-kv[1], _sort_key(kv[0])))
    if limit is not None:
        items = items[: max(limit, 0)]
    return [doc for doc, _ in items], np.array([s for _, s in items], dtype=np.float64)


def _sort_key(doc: Hashable) -> tuple[int, object]:
    # Ids may be ints or strings; order within a type, never compare across types.
    return (0, doc) if isinstance(doc, int | float) else (1, str(doc))


def _check_weights(runs: Sequence[Run], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(runs)
    if len(weights) != len(runs):
        raise BadInputError(
            f"{len(weights)} fusion weights for {len(runs)} runs",
            hint="give one weight per retriever",
        )
    if any(w < 0 for w in weights):
        raise BadInputError("fusion weights must be >= 0", hint="e.g. 0.3 for BM25, 0.7 for dense")
    return [float(w) for w in weights]


def _check_run(ids: Sequence[Hashable], scores: np.ndarray | Sequence[float]) -> None:
    if len(ids) != len(scores):
        raise BadInputError(
            f"a run has {len(ids)} ids but {len(scores)} scores",
            hint="pass (ids, scores) of equal length",
        )
    if len(set(ids)) != len(ids):
        raise BadInputError("a run lists the same id twice", hint="deduplicate each run first")
