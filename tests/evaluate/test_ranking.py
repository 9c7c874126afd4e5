"""IR metrics against pytrec_eval output (recorded once in data/) and hand-computed cases.

data/pytrec_eval_reference.json was produced by pytrec-eval-terrier 0.5.11 (trec_eval) on seeded
random graded qrels and tie-heavy runs; pytrec_eval is not a dependency, its numbers are data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jointspace.evaluate.ranking import (
    evaluate_run,
    mrr_at_k,
    ndcg_at_k,
    per_query_metrics,
    trec_order,
)

REF = json.loads((Path(__file__).parent / "data" / "pytrec_eval_reference.json").read_text())
_NAMES = {"ndcg": "ndcg_cut_{k}", "recall": "recall_{k}", "precision": "P_{k}", "map": "map_cut_{k}"}


def test_per_query_metrics_match_pytrec_eval():
    ours = per_query_metrics(REF["qrels"], REF["run"], REF["k_values"])
    ref = REF["pytrec_eval"]
    assert set(ours) == set(ref)  # the query without qrels is not evaluated
    for qid, metrics in ref.items():
        for ours_name, ref_pattern in _NAMES.items():
            for k in REF["k_values"]:
                got, want = ours[qid][f"{ours_name}@{k}"], metrics[ref_pattern.format(k=k)]
                assert got == pytest.approx(want, abs=1e-12), (qid, ours_name, k)
        # recip_rank is uncut MRR over relevance >= 1 (ours: > 0, same for integer grades)
        assert ours[qid]["mrr@100"] == pytest.approx(
            metrics["recip_rank"] if _first_rank(REF["run"][qid], REF["qrels"][qid]) <= 100 else 0
        )


def _first_rank(doc_scores, rels):
    for i, d in enumerate(trec_order(doc_scores)):
        if rels.get(d, 0) > 0:
            return i + 1
    return math.inf


def test_trec_order_breaks_ties_by_doc_id_descending():
    assert trec_order({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]


def test_ndcg_graded_hand_computed():
    rels = {"x": 2, "y": 1, "z": 3}
    ranked = ["y", "w", "x"]
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, rels, 10) == pytest.approx(dcg / idcg)
    assert mrr_at_k(ranked, rels, 10) == 1.0
    assert mrr_at_k(["w", "v"], rels, 10) == 0.0


def test_ignore_identical_ids_and_mean():
    qrels = {"q1": {"q1": 1, "d2": 1}, "q2": {"d9": 1}}
    run = {"q1": {"q1": 0.9, "d2": 0.5}, "q2": {"d1": 0.4}}
    keep = evaluate_run(qrels, run, [1])
    drop = evaluate_run(qrels, run, [1], ignore_identical_ids=True)
    assert keep["ndcg@1"] == pytest.approx(0.5)  # q1 perfect, q2 zero
    assert drop["mrr@1"] == pytest.approx(0.5)
    assert drop["recall@1"] == pytest.approx(0.25)  # q1 finds d2 of {q1, d2}
