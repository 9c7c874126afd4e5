"""KeywordIndex (BM25 via bm25s) and dense + keyword fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jointspace.errors import BadInputError, CorruptCollectionError
from jointspace.query.bm25 import BM25Params, KeywordIndex, keyword_text
from jointspace.query.hybrid import TUNED, HybridSettings, hybrid_fuse

DOCS = {
    10: "The cat sat on the mat.",
    11: "Dogs are running in the park.",
    12: "A dog and a cat play together.",
    13: "Tax law and public finance.",
}


@pytest.fixture(scope="module")
def index():
    return KeywordIndex.build(list(DOCS), list(DOCS.values()))


def _lucene_bm25(query_terms, docs_terms, k1=1.5, b=0.75):
    """Lucene BM25 over tokenised documents (Lucene >= 8 drops the constant (k1 + 1) factor)."""
    n = len(docs_terms)
    avgdl = sum(len(d) for d in docs_terms) / n
    scores = []
    for d in docs_terms:
        s = 0.0
        for t in set(query_terms):
            df = sum(t in x for x in docs_terms)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = d.count(t)
            s += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
        scores.append(s)
    return np.array(scores)


def test_scores_match_textbook_bm25(index):
    # stemmed, stop words removed: what the index sees
    docs_terms = [["cat", "sat", "mat"], ["dog", "run", "park"], ["dog", "cat", "play", "togeth"],
                  ["tax", "law", "public", "financ"]]
    ref = _lucene_bm25(["run", "dog"], docs_terms)
    np.testing.assert_allclose(index.scores("running dogs"), ref, rtol=1e-5)


def test_search_returns_ids_best_first_and_only_matches(index):
    ids, scores = index.search("dog running", k=10)
    assert ids == [11, 12]
    assert scores[0] > scores[1] > 0
    assert index.search("zebra", k=5)[0] == []
    assert index.search("the and", k=5)[0] == []  # stop words only


def test_save_load_roundtrip(index, tmp_path):
    index.save(tmp_path / "kw")
    again = KeywordIndex.load(tmp_path / "kw")
    assert again.ids == index.ids and again.params == index.params
    np.testing.assert_allclose(again.scores("cat play"), index.scores("cat play"))


def test_empty_index_and_errors(tmp_path):
    empty = KeywordIndex.build([], [])
    assert len(empty) == 0 and empty.search("cat", 3)[0] == []
    empty.save(tmp_path / "e")
    assert len(KeywordIndex.load(tmp_path / "e")) == 0
    with pytest.raises(CorruptCollectionError):
        KeywordIndex.load(tmp_path / "missing")
    with pytest.raises(BadInputError):
        KeywordIndex.build([1, 1], ["a", "b"])


def test_no_stemming_option():
    idx = KeywordIndex.build(["a", "b"], ["running fast", "run"], BM25Params(stemmer=None))
    assert idx.search("run", 5)[0] == ["b"]


def test_keyword_text_joins_caption_and_string_metadata():
    text = keyword_text("a dog", {"tags": ["pet", 3], "year": 2020, "place": "Paris"})
    assert text.split("\n") == ["a dog", "pet", "Paris"]


def test_hybrid_fuse_combines_both_signals():
    dense = ([1, 2, 3], np.array([0.9, 0.8, 0.1]))
    keyword = ([3, 2, 4], np.array([12.0, 11.5, 1.0]))
    ids, _ = hybrid_fuse(dense, keyword, k=3, settings=HybridSettings(dense_weight=0.5,
                                                                       normalization="minmax"))
    assert ids[0] == 2  # good in both beats best-in-one
    rrf_ids, _ = hybrid_fuse(dense, keyword, k=2, settings=TUNED["rrf"])
    assert rrf_ids == [3, 2]  # 0.4/8 + 0.6/6 = 0.15 beats 0.4/7 + 0.6/7 = 0.143
    only_dense, _ = hybrid_fuse(dense, ([], np.array([])), k=3)
    assert only_dense == [1, 2, 3]
    with pytest.raises(BadInputError):
        hybrid_fuse(dense, keyword, 3, HybridSettings(method="max"))  # type: ignore[arg-type]
