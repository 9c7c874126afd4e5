"""BEIR text retrieval: dense (MTEB protocol), BM25 (MTEB's bm25s baseline) and hybrid runs.

A run is ``{query_id: {doc_id: score}}`` holding each query's top ``top_k`` documents (MTEB keeps
1,000); metrics come from :mod:`jointspace.evaluate.ranking`. The dense side embeds
``(title + " " + text).strip()`` with the model's own max sequence length and scores by cosine
(embeddings are L2-normalised, so a dot product).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from jointspace.evaluate.beir import BeirDataset, load_beir
from jointspace.evaluate.cache import cached_embed_texts
from jointspace.evaluate.ranking import DEFAULT_K_VALUES, evaluate_run, per_query_metrics
from jointspace.evaluate.report import EvalReport
from jointspace.models.base import Embedder
from jointspace.query.bm25 import BM25Params, KeywordIndex
from jointspace.query.hybrid import HybridSettings, hybrid_fuse

RunDict = dict[str, dict[str, float]]
RETRIEVERS = ("dense", "bm25", "hybrid")
HEADLINE = ("ndcg@10", "mrr@10", "recall@100")


def top_k_run(
    query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray, top_k: int
) -> RunDict:
    """Keep each query's ``top_k`` best documents of a (queries x docs) score matrix."""
    k = min(top_k, scores.shape[1])
    run: RunDict = {}
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else None
    for row, qid in enumerate(query_ids):
        cols = top[row] if top is not None else np.arange(scores.shape[1])
        run[qid] = {doc_ids[c]: float(scores[row, c]) for c in cols}
    return run


def dense_run(
    ds: BeirDataset,
    embedder: Embedder,
    *,
    top_k: int = 1000,
    cache_dir: str | Path | None = None,
    chunk: int = 256,
) -> tuple[RunDict, dict[str, float]]:
    """Cosine top-k for every query; corpus and query embeddings go through the disk cache."""
    t0 = time.perf_counter()
    docs, docs_cached = cached_embed_texts(embedder, ds.dense_texts(), cache_dir)
    t1 = time.perf_counter()
    queries, _ = cached_embed_texts(embedder, ds.queries, cache_dir)
    t2 = time.perf_counter()
    run: RunDict = {}
    for start in range(0, len(ds.query_ids), chunk):
        sims = queries[start : start + chunk] @ docs.T
        run.update(top_k_run(ds.query_ids[start : start + chunk], ds.corpus_ids, sims, top_k))
    timings = {"embed_corpus_s": t1 - t0, "embed_queries_s": t2 - t1,
               "search_s": time.perf_counter() - t2, "corpus_cached": float(docs_cached)}
    return run, timings


def keyword_run(
    ds: BeirDataset, *, top_k: int = 1000, params: BM25Params | None = None
) -> tuple[RunDict, dict[str, float]]:
    """BM25 top-k (documents with score > 0) for every query."""
    t0 = time.perf_counter()
    index = KeywordIndex.build(ds.corpus_ids, ds.keyword_texts(), params)
    t1 = time.perf_counter()
    run: RunDict = {}
    for qid, query in zip(ds.query_ids, ds.queries, strict=True):
        ids, scores = index.search(query, top_k)
        run[qid] = dict(zip(ids, scores.tolist(), strict=True))
    return run, {"bm25_index_s": t1 - t0, "bm25_search_s": time.perf_counter() - t1}


def fuse_runs(dense: RunDict, keyword: RunDict, settings: HybridSettings, top_k: int) -> RunDict:
    """Fuse two runs query by query, each cut to its ``settings.depth`` best first."""
    out: RunDict = {}
    for qid in dense:
        d = _head(dense[qid], settings.depth)
        k = _head(keyword.get(qid, {}), settings.depth)
        ids, scores = hybrid_fuse(d, k, top_k, settings)
        out[qid] = dict(zip(ids, scores.tolist(), strict=True))
    return out


def _head(doc_scores: dict[str, float], depth: int) -> tuple[list[str], np.ndarray]:
    items = sorted(doc_scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:depth]
    return [d for d, _ in items], np.array([s for _, s in items], dtype=np.float64)


def evaluate_beir(
    path: str | Path,
    *,
    split: str = "test",
    retriever: str = "dense",
    embedder: Embedder | None = None,
    hybrid: HybridSettings | None = None,
    bm25: BM25Params | None = None,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    top_k: int = 1000,
    ignore_identical_ids: bool = False,
    cache_dir: str | Path | None = None,
    dataset: BeirDataset | None = None,
) -> EvalReport:
    """Evaluate one retriever (``dense``, ``bm25`` or ``hybrid``) on a BEIR split."""
    ds = dataset or load_beir(path, split)
    timings: dict[str, float] = {}
    runs: dict[str, RunDict] = {}
    if retriever in ("dense", "hybrid"):
        if embedder is None:
            from jointspace.errors import BadInputError

            raise BadInputError(f"the {retriever} retriever needs a model", hint="pass --model")
        runs["dense"], t = dense_run(ds, embedder, top_k=top_k, cache_dir=cache_dir)
        timings.update(t)
    if retriever in ("bm25", "hybrid"):
        runs["bm25"], t = keyword_run(ds, top_k=top_k, params=bm25)
        timings.update(t)
    hybrid = hybrid or HybridSettings()
    if retriever == "hybrid":
        runs["hybrid"] = fuse_runs(runs["dense"], runs["bm25"], hybrid, top_k)
    if retriever not in runs:
        from jointspace.errors import BadInputError

        raise BadInputError(f"unknown retriever {retriever!r}", hint="use dense, bm25 or hybrid")
    run = runs[retriever]
    per_query = per_query_metrics(ds.qrels, run, k_values, ignore_identical_ids=ignore_identical_ids)
    metrics = evaluate_run(ds.qrels, run, k_values, ignore_identical_ids=ignore_identical_ids)
    settings = {
        "retriever": retriever, "split": split, "top_k": top_k, "k_values": list(k_values),
        "ignore_identical_ids": ignore_identical_ids, "doc_text": "(title + ' ' + text).strip()",
        "max_seq_length": getattr(embedder, "max_text_tokens", None) if embedder else None,
        "score": "cosine", "n_queries": len(ds.query_ids), "n_docs": len(ds.corpus_ids),
    }
    if retriever != "dense":
        settings["bm25"] = asdict(bm25 or BM25Params())
    if retriever == "hybrid":
        settings["hybrid"] = asdict(hybrid)
    return EvalReport(
        task="beir",
        model=embedder.name if embedder is not None and retriever != "bm25" else "bm25s",
        dataset=f"{ds.name}:{split}",
        dataset_hash=ds.hash,
        settings=settings,
        metrics=metrics,
        details={"per_query": per_query, "examples": _examples(ds, run, per_query)},
        timings=timings,
    )


def _examples(ds: BeirDataset, run: RunDict, per_query: dict, n: int = 5) -> dict[str, list]:
    """A few best and worst queries (by nDCG@10) with their top 3 and their relevant docs."""
    text = dict(zip(ds.corpus_ids, ds.titles, strict=True))
    query_text = dict(zip(ds.query_ids, ds.queries, strict=True))
    key = "ndcg@10" if per_query and "ndcg@10" in next(iter(per_query.values())) else None
    if key is None:
        return {"hits": [], "misses": []}
    ordered = sorted(per_query, key=lambda q: (per_query[q][key], q))

    def row(qid: str) -> dict:
        top = sorted(run[qid].items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:3]
        return {"query_id": qid, "query": query_text[qid], "ndcg@10": per_query[qid][key],
                "top": [{"id": d, "title": text.get(d, ""), "score": s,
                         "relevant": ds.qrels[qid].get(d, 0)} for d, s in top],
                "relevant": [{"id": d, "title": text.get(d, "")} for d in ds.qrels[qid]]}

    return {"hits": [row(q) for q in ordered[::-1][:n]], "misses": [row(q) for q in ordered[:n]]}
