"""IR metrics with trec_eval / pytrec_eval semantics, as MTEB and BEIR compute them.

``qrels``: ``{query_id: {doc_id: relevance}}`` (graded, ints). ``run``: ``{query_id: {doc_id:
score}}`` (any subset of the corpus, e.g. the top 1,000). What makes the numbers match MTEB:

- ranking: score descending, ties broken by doc id *descending* (string order), as trec_eval does;
  MRR uses the same order (mteb >= the tie-break fix; before it, tie order was dict order);
- nDCG@k: gain = the graded relevance (linear, not 2^rel - 1), discount 1/log2(rank + 1); the
  ideal ranking is built from *all* judged documents with relevance > 0, retrieved or not;
- recall@k, P@k, MAP@k count documents with relevance >= 1 (trec_eval's relevance_level);
  MRR@k counts relevance > 0 (mteb's own ``mrr``);
- the mean runs over queries present in both ``qrels`` and ``run`` (pytrec_eval's output);
- ``ignore_identical_ids`` drops doc == query ids from the run first (MTEB default: False; set
  per task, e.g. ArguAna/Quora).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

DEFAULT_K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 100, 1000)


def trec_order(doc_scores: Mapping[str, float]) -> list[str]:
    """Doc ids ranked as trec_eval ranks them: score descending, then doc id descending."""
    return [d for d, _ in sorted(doc_scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def ndcg_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """trec_eval ``ndcg_cut.k`` for one query."""
    dcg = sum(
        rels.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if rels.get(doc, 0) > 0
    )
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """trec_eval ``recall.k``: relevant retrieved in the top k / all relevant."""
    n_rel = sum(1 for r in rels.values() if r >= 1)
    if n_rel == 0:
        return 0.0
    return sum(1 for doc in ranked[:k] if rels.get(doc, 0) >= 1) / n_rel


def precision_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """trec_eval ``P.k``: relevant in the top k / k (a short run still divides by k)."""
    return sum(1 for doc in ranked[:k] if rels.get(doc, 0) >= 1) / k


def map_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """trec_eval ``map_cut.k``: sum of precision at each relevant hit in the top k / all relevant."""
    n_rel = sum(1 for r in rels.values() if r >= 1)
    if n_rel == 0:
        return 0.0
    hits, total = 0, 0.0
    for i, doc in enumerate(ranked[:k]):
        if rels.get(doc, 0) >= 1:
            hits += 1
            total += hits / (i + 1)
    return total / n_rel


def mrr_at_k(ranked: Sequence[str], rels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first document with relevance > 0 in the top k (0 if none)."""
    for i, doc in enumerate(ranked[:k]):
        if rels.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


_METRICS = {
    "ndcg": ndcg_at_k,
    "mrr": mrr_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "map": map_at_k,
}


def per_query_metrics(
    qrels: Qrels,
    run: Run,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    *,
    ignore_identical_ids: bool = False,
) -> dict[str, dict[str, float]]:
    """``{query_id: {"ndcg@10": ..., "mrr@10": ..., ...}}`` for queries in both qrels and run."""
    out: dict[str, dict[str, float]] = {}
    for qid, doc_scores in run.items():
        if qid not in qrels:
            continue
        if ignore_identical_ids:
            doc_scores = {d: s for d, s in doc_scores.items() if d != qid}
        ranked = trec_order(doc_scores)
        rels = qrels[qid]
        out[qid] = {
            f"{name}@{k}": fn(ranked, rels, k) for name, fn in _METRICS.items() for k in k_values
        }
    return out


def mean_metrics(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Average each metric over queries (the MTEB / pytrec_eval mean)."""
    if not per_query:
        return {}
    names = next(iter(per_query.values())).keys()
    n = len(per_query)
    return {name: sum(q[name] for q in per_query.values()) / n for name in names}


def evaluate_run(
    qrels: Qrels,
    run: Run,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    *,
    ignore_identical_ids: bool = False,
) -> dict[str, float]:
    """Mean nDCG / MRR / recall / precision / MAP at each k (see the module docstring)."""
    return mean_metrics(
        per_query_metrics(qrels, run, k_values, ignore_identical_ids=ignore_identical_ids)
    )
