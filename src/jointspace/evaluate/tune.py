"""Tuning hybrid fusion on training queries, with a held-out half to check it generalises.

The queries of one split are shuffled (seeded) into a *tune* half and a *check* half; every
setting in the grid is scored by nDCG@10 on the tune half, the best is reported on both halves.
Only ever pass training qrels here: tuning on test qrels makes the test number meaningless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np

from jointspace.evaluate.beir_eval import RunDict, fuse_runs
from jointspace.evaluate.ranking import evaluate_run
from jointspace.query.hybrid import HybridSettings

METRIC = "ndcg@10"


@dataclass
class TuneResult:
    """The best setting, its score on both halves, and every setting tried."""

    best: HybridSettings
    tune_score: float
    check_score: float
    trials: list[dict]  # {"settings": {...}, "tune": float, "check": float}


def split_queries(query_ids: Iterable[str], fraction: float = 0.5, seed: int = 0):
    """Seeded random split of query ids into (tune, check)."""
    ids = sorted(query_ids)
    perm = np.random.default_rng(seed).permutation(len(ids))
    n = round(len(ids) * fraction)
    return {ids[i] for i in perm[:n]}, {ids[i] for i in perm[n:]}


def default_grid(depth: int = 100) -> list[HybridSettings]:
    """RRF over k and weights; convex over the dense weight and the normalisation."""
    grid = [
        HybridSettings(method="rrf", rrf_k=float(k), dense_weight=w, depth=depth)
        for k in (5, 10, 20, 40, 60, 100) for w in (0.3, 0.4, 0.5, 0.6, 0.7)
    ]
    grid += [
        HybridSettings(method="convex", dense_weight=round(float(w), 2), normalization=n,
                       depth=depth)
        for n in ("minmax", "zscore") for w in np.arange(0.0, 1.0001, 0.05)
    ]
    return grid


def tune_fusion(
    qrels: Mapping[str, Mapping[str, int]],
    dense: RunDict,
    keyword: RunDict,
    grid: list[HybridSettings] | None = None,
    *,
    fraction: float = 0.5,
    seed: int = 0,
    top_k: int = 100,
) -> TuneResult:
    """Grid-search fusion settings on the tune half of ``qrels``' queries (nDCG@10)."""
    grid = grid or default_grid()
    tune_ids, check_ids = split_queries(qrels, fraction, seed)
    trials = []
    for s in grid:
        fused = fuse_runs(dense, keyword, s, top_k)
        trials.append({
            "settings": asdict(s),
            "tune": _score(qrels, fused, tune_ids),
            "check": _score(qrels, fused, check_ids),
        })
    best = max(trials, key=lambda t: t["tune"])
    return TuneResult(best=replace(HybridSettings(), **best["settings"]),
                      tune_score=best["tune"], check_score=best["check"], trials=trials)


def _score(qrels: Mapping, run: RunDict, ids: set[str]) -> float:
    sub_q = {q: qrels[q] for q in ids if q in qrels}
    sub_r = {q: run[q] for q in ids if q in run}
    return evaluate_run(sub_q, sub_r, (10,)).get(METRIC, 0.0)
