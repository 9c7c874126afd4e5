"""Slow checks on the real shared data (../shared/data): SciFact, COCO-mini, CIFAR-10.

Dense SciFact is checked on a subset (all-MiniLM-L6-v2 on 2 CPU cores embeds ~10 abstracts/s)
against sentence-transformers' own InformationRetrievalEvaluator, an independent implementation
of the same metrics (binary relevance, as SciFact's qrels are).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jointspace.evaluate.beir import load_beir
from jointspace.evaluate.beir_eval import evaluate_beir

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared data not present")
pytestmark = [pytest.mark.slow, needs_data]


def _scifact_subset(n_queries: int = 40, n_distractors: int = 120):
    """The first train queries, their relevant abstracts and seeded random distractors."""
    ds = load_beir(DATA / "scifact", "train")
    keep_q = ds.query_ids[:n_queries]
    relevant = {d for q in keep_q for d in ds.qrels[q]}
    rng = np.random.default_rng(0)
    others = [i for i, d in enumerate(ds.corpus_ids) if d not in relevant]
    pick = sorted({i for i, d in enumerate(ds.corpus_ids) if d in relevant}
                  | set(rng.choice(others, n_distractors, replace=False).tolist()))
    ds.corpus_ids = [ds.corpus_ids[i] for i in pick]
    ds.titles = [ds.titles[i] for i in pick]
    ds.texts = [ds.texts[i] for i in pick]
    qpos = [ds.query_ids.index(q) for q in keep_q]
    ds.queries = [ds.queries[i] for i in qpos]
    ds.query_ids = keep_q
    ds.qrels = {q: ds.qrels[q] for q in keep_q}
    return ds


def test_scifact_dense_subset_matches_sentence_transformers_evaluator(tmp_path):
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    from jointspace.models import load_embedder

    ds = _scifact_subset()
    model = load_embedder("sbert:all-MiniLM-L6-v2")
    rep = evaluate_beir(None, split="train", embedder=model, dataset=ds, cache_dir=tmp_path,
                        k_values=(1, 10, 100))
    ev = InformationRetrievalEvaluator(
        queries=dict(zip(ds.query_ids, ds.queries)),
        corpus=dict(zip(ds.corpus_ids, ds.dense_texts())),
        relevant_docs={q: set(r) for q, r in ds.qrels.items()},
        ndcg_at_k=[10], mrr_at_k=[10], precision_recall_at_k=[10, 100], write_csv=False,
    )
    ref = ev(model.model)
    assert rep.metrics["ndcg@10"] == pytest.approx(ref["cosine_ndcg@10"], abs=1e-4)
    assert rep.metrics["mrr@10"] == pytest.approx(ref["cosine_mrr@10"], abs=1e-4)
    assert rep.metrics["recall@100"] == pytest.approx(ref["cosine_recall@100"], abs=1e-4)
    assert rep.settings["max_seq_length"] == 256  # the model's own, as MTEB uses


def test_scifact_bm25_full_train():
    rep = evaluate_beir(DATA / "scifact", split="train", retriever="bm25", k_values=(10, 100))
    assert rep.settings["n_queries"] == 809 and rep.settings["n_docs"] == 5183
    # Regression pin (bm25s is deterministic); published test-split references: 0.665 (BEIR
    # paper, Lucene) and 0.687 (MTEB's bm25s baseline).
    assert rep.metrics["ndcg@10"] == pytest.approx(0.69637, abs=2e-4)
    assert rep.metrics["recall@100"] > 0.9


def test_coco_mini_retrieval_pipeline(tiny_clip_dir):
    from jointspace.evaluate.pairs import load_pairs
    from jointspace.evaluate.retrieval_eval import evaluate_retrieval
    from jointspace.models import load_embedder

    data = load_pairs(DATA / "coco_mini" / "pairs.jsonl")
    rep = evaluate_retrieval(data, load_embedder(f"hf:{tiny_clip_dir}"))
    assert (rep.settings["n_images"], rep.settings["n_captions"]) == (239, 1195)
    m = rep.metrics
    assert 0 <= m["i2t_R@1"] <= m["i2t_R@5"] <= m["i2t_R@10"] <= 1
    assert 0 <= m["t2i_R@1"] <= m["t2i_R@5"] <= m["t2i_R@10"] <= 1


def test_cifar10_zeroshot_pipeline(tiny_clip_dir):
    from jointspace.models import load_embedder
    from jointspace.zeroshot.datasets import load_labeled_images
    from jointspace.zeroshot.evaluate import evaluate_zeroshot

    data = load_labeled_images(DATA / "cifar10_test")
    assert len(data) == 10_000 and len(data.classes) == 10
    rep = evaluate_zeroshot(data.subset(20), load_embedder(f"hf:{tiny_clip_dir}"),
                            templates="imagenet7")
    cm = np.array(rep.details["confusion_matrix"])
    assert cm.sum() == 200 and (cm.sum(axis=1) == 20).all()
    assert rep.metrics["top1"] <= rep.metrics["top5"]
