"""BEIR loading (MTEB conventions) and dense / BM25 / hybrid evaluation on a tiny dataset."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.evaluate.beir import load_beir
from jointspace.evaluate.beir_eval import evaluate_beir, fuse_runs, top_k_run
from jointspace.evaluate.cache import cached_embed_texts
from jointspace.evaluate.ranking import evaluate_run
from jointspace.evaluate.tune import split_queries, tune_fusion
from jointspace.models import load_embedder
from jointspace.query.hybrid import HybridSettings


def test_loader_follows_mteb(tiny_beir):
    ds = load_beir(tiny_beir, "test")
    assert ds.query_ids == ["q1", "q2", "q3"]  # q9 has no qrels: not evaluated
    assert ds.qrels["q1"] == {"d1": 2, "d4": 1}
    assert ds.dense_texts()[0] == "Cats Cats purr and sleep a lot."
    assert ds.dense_texts()[3] == "A cat and a dog share a sofa."  # empty title: stripped
    assert ds.keyword_texts()[0] == "Cats\nCats purr and sleep a lot."
    with pytest.raises(BadInputError, match="splits here: test"):
        load_beir(tiny_beir, "dev")


def test_dense_run_equals_brute_force(tiny_beir):
    ds = load_beir(tiny_beir, "test")
    model = load_embedder("hash:64")
    rep = evaluate_beir(tiny_beir, split="test", embedder=model, k_values=(1, 3))
    q = model.embed_texts(ds.queries)
    d = model.embed_texts(ds.dense_texts())
    run = {qid: dict(zip(ds.corpus_ids, (q[i] @ d.T).tolist())) for i, qid in enumerate(ds.query_ids)}
    ref = evaluate_run(ds.qrels, run, (1, 3))
    assert rep.metrics == pytest.approx(ref)
    assert rep.settings["n_queries"] == 3 and rep.model == "hash:64"
    assert rep.dataset_hash == ds.hash and len(rep.details["per_query"]) == 3


def test_bm25_finds_the_keyword_matches(tiny_beir):
    rep = evaluate_beir(tiny_beir, split="test", retriever="bm25", k_values=(1, 10))
    assert rep.model == "bm25s"
    # q2 "tax law" -> d3 only; q3 "dog barking" -> d2 ranks first (bark stems match)
    assert rep.details["per_query"]["q2"]["ndcg@1"] == 1.0
    assert rep.details["per_query"]["q3"]["mrr@10"] == 1.0


def test_hybrid_and_tuning_run(tiny_beir):
    model = load_embedder("hash:64")
    rep = evaluate_beir(tiny_beir, split="test", retriever="hybrid", embedder=model,
                        hybrid=HybridSettings(method="rrf"), k_values=(10,))
    assert rep.settings["hybrid"]["method"] == "rrf" and 0 <= rep.metrics["ndcg@10"] <= 1
    ds = load_beir(tiny_beir, "test")
    dense = {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d3": 0.5}, "q3": {"d2": 0.2}}
    kw = {"q1": {"d4": 3.0}, "q2": {}, "q3": {"d2": 1.0}}
    fused = fuse_runs(dense, kw, HybridSettings(dense_weight=1.0), 10)
    assert list(fused["q1"])[:2] == ["d1", "d2"]  # keyword ignored at weight 0
    res = tune_fusion(ds.qrels, dense, kw, fraction=0.67)
    assert res.trials and 0 <= res.tune_score <= 1
    tune, check = split_queries(ds.qrels, 0.67)
    assert tune | check == set(ds.qrels) and not tune & check


def test_top_k_run_keeps_the_best():
    scores = np.array([[0.1, 0.9, 0.5, 0.3]])
    assert top_k_run(["q"], ["a", "b", "c", "d"], scores, 2) == {"q": {"b": 0.9, "c": 0.5}}


def test_embedding_cache_hits_second_time(tmp_path):
    model = load_embedder("hash:32")
    v1, hit1 = cached_embed_texts(model, ["a b", "c"], tmp_path)
    v2, hit2 = cached_embed_texts(model, ["a b", "c"], tmp_path)
    _, hit3 = cached_embed_texts(model, ["a b", "c d"], tmp_path)
    assert (hit1, hit2, hit3) == (False, True, False)
    np.testing.assert_array_equal(v1, v2)
