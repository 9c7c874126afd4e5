"""Flat search (BLAS over faiss's storage, blocked) against brute-force numpy."""

import numpy as np
import pytest

from jointspace.store import faiss_index
from jointspace.store.faiss_index import VectorIndex


def _unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(ids, vecs, queries, k, allowed=None):
    keep = np.ones(len(ids), bool) if allowed is None else np.isin(ids, allowed)
    out = []
    for q in queries:
        s = vecs[keep] @ q
        order = np.argsort(-s, kind="stable")[:k]
        out.append(ids[keep][order])
    return out


@pytest.mark.parametrize("block", [7, 64, 1 << 24])  # odd blocks: the running top-k merges
@pytest.mark.parametrize("nq", [1, 3])
def test_flat_search_equals_brute_force_with_churn_and_filters(monkeypatch, block, nq):
    monkeypatch.setattr(faiss_index, "_BLOCK_FLOATS", block)
    rng = np.random.default_rng(block + nq)
    index = VectorIndex(16)
    ids = rng.permutation(10_000)[:500].astype(np.int64) * 7  # ids unsorted in storage
    vecs = _unit(rng, 500, 16)
    index.apply(ids, vecs, np.zeros(0, np.int64))
    # churn: delete some, re-insert some with new vectors (they move to the end of storage)
    gone, moved = ids[:40], ids[40:80]
    new = _unit(rng, 40, 16)
    index.apply(moved, new, gone)
    live = dict(zip(ids.tolist(), vecs))
    for i in gone.tolist():
        del live[i]
    live.update(zip(moved.tolist(), new))
    all_ids = np.array(sorted(live), np.int64)
    all_vecs = np.stack([live[i] for i in all_ids.tolist()])
    queries = _unit(rng, nq, 16)
    for k in (1, 10, 460, 1000):
        scores, got = index.search(queries, k)
        want = _brute(all_ids, all_vecs, queries, k)
        assert [g.tolist() for g in got] == [w.tolist() for w in want]
        assert np.all(np.diff(scores, axis=1) <= 0)
    allowed = rng.choice(all_ids, 37, replace=False)
    scores, got = index.search(queries, 10, allowed)
    assert [g.tolist() for g in got] == [w.tolist() for w in _brute(all_ids, all_vecs, queries,
                                                                      10, allowed)]
    np.testing.assert_allclose(scores[0], np.sort(all_vecs[np.isin(all_ids, allowed)]
                                                  @ queries[0])[::-1][:10], rtol=1e-5)
    _, got = index.search(queries, 50, allowed[:5])
    assert sorted(got[0].tolist()) == sorted(allowed[:5].tolist())  # k matched: k come back


def test_flat_search_on_empty_index():
    scores, ids = VectorIndex(4).search(np.ones((2, 4), np.float32), 5)
    assert scores.shape == ids.shape == (2, 0)


def test_allowed_ids_missing_from_the_index_are_skipped():
    # an index behind its truth (what `check` looks for) holds fewer of the allowed ids
    index = VectorIndex(4)
    vecs = np.eye(4, dtype=np.float32)
    index.apply(np.array([1, 2, 3, 4]), vecs, np.zeros(0, np.int64))
    scores, ids = index.search(vecs[:1], 10, np.array([1, 3, 99, 100]))
    assert ids[0].tolist() == [1, 3] and scores[0].tolist() == [1.0, 0.0]
    assert index.search(vecs[:1], 10, np.array([99]))[1].shape == (1, 0)
