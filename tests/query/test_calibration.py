"""The calibrated cut-off: unrelated queries get nothing, matching ones keep their match."""

from __future__ import annotations

import numpy as np

from jointspace.query.calibration import Calibration, fit_kind


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def captioned(n=300, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    images = _unit(rng.standard_normal((n, dim)))
    captions = _unit(images + 0.3 * rng.standard_normal((n, dim)) / np.sqrt(dim))
    table = {f"caption {j}": captions[j] for j in range(n)}
    items = [("image", images[j], f"caption {j}") for j in range(n)]
    return items, table, rng


def test_unrelated_queries_return_nothing_and_matches_survive(vector_collection):
    items, table, rng = captioned()
    col = vector_collection(items, table)
    cal = col.calibrate(miss=0.05)
    assert cal.cuts["image"].n_matches == 300
    unrelated = _unit(rng.standard_normal((60, 32)))
    assert all(len(col.search_vector(q, k=10)) == 10 for q in unrelated[:5])  # plain: always 10
    empty = [len(col.search_vector(q, k=10, min_score="auto")) == 0 for q in unrelated]
    assert np.mean(empty) >= 0.95
    found = 0
    for j in range(0, 300, 10):
        hits = col.search(f"caption {j}", k=10, min_score="auto")
        found += bool(hits) and hits[0].id == j + 1
        assert all(0.5 <= h.relevance <= 1 for h in hits)
    assert found >= 27  # >= 90 % of true captions still find their image


def test_calibration_is_stored_and_refitted_as_the_collection_grows(vector_collection):
    from jointspace.store import NewItem, WriteBatch

    items, table, rng = captioned(n=100)
    col = vector_collection(items, table)
    first = col.calibration()  # fitted on first use
    assert first.count == 100
    assert col.calibration() is first  # unchanged collection: the stored one
    with col.store.writer():
        col.store.write(WriteBatch(upserts=[
            NewItem(key=f"more{j}", source="t", kind="image", vector=_unit(rng.standard_normal(32)))
            for j in range(30)]))
    assert col.calibration().count == 130
    assert Calibration.from_bytes(col.store.read_state("calibration").data).count == 130


def test_fit_kind_without_matches_uses_the_null_bound():
    rng = np.random.default_rng(1)
    null = rng.standard_normal(20_000)
    cut = fit_kind(null, np.zeros(0), n_items=100)
    assert cut.n_matches == 0 and abs(cut.cut - np.quantile(null, 0.99)) < 1e-9
    with_matches = fit_kind(null, rng.normal(6.0, 0.5, 500), n_items=100, miss=0.05)
    assert 5.0 < with_matches.cut < 5.5  # the 5th percentile of the matches
    cal = Calibration({"image": with_matches})
    rel = cal.relevance(np.array([0.0, with_matches.cut, 8.0]), np.array(["image"] * 3))
    assert rel[0] < 0.05 and abs(rel[1] - 0.5) < 1e-9 and rel[2] > 0.8
