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


def test_a_write_through_the_collection_stores_the_refreshed_state(vector_collection):
    """Read-only searches (the CLI's) can only use state that writes keep current on disk."""
    from jointspace.query import Collection
    from jointspace.query.derived import MODALITY

    items, table, rng = captioned(n=100)
    more = {f"note {j}": _unit(rng.standard_normal(32)) for j in range(30)}
    col = vector_collection(items, {**table, **more})
    col.calibrate()
    col.build_query_bank(vectors=np.stack(list(table.values()))[:50])
    col.quality_info()  # stores the modality statistics
    before = {name: col.store.read_state(name).seq for name in (MODALITY, "hubness.text")}

    col.add_texts(list(more))  # 100 -> 130 items: the calibration is stale by 30 %
    seq = col.store.seq()
    assert all(seq > at for at in before.values())
    for name in (MODALITY, "hubness.text"):
        assert col.store.read_state(name).seq == seq, name
    assert Calibration.from_bytes(col.store.read_state("calibration").data).count == 130

    reader = Collection.open(col.path, readonly=True, embedder=col.embedder)
    try:
        assert reader._derived.get("hubness.text", lambda b: b)[1] == seq
        assert reader.calibration().count == 130
        assert reader._derived.modality().count["text"] == 30
    finally:
        reader.close()
    removed = col.remove(list(range(1, 41)))  # 130 -> 90: refitted again
    assert removed == 40
    assert Calibration.from_bytes(col.store.read_state("calibration").data).count == 90
    assert col.store.read_state("hubness.text").seq == col.store.seq()


def test_hits_carry_the_calibrated_relevance_once_there_is_a_calibration(vector_collection):
    items, table, _ = captioned(n=100)
    col = vector_collection(items, table)
    assert all(h.relevance is None for h in col.search("caption 3", k=5))  # not calibrated
    col.calibrate()
    for hits in (col.search("caption 3", k=5), col.search("caption 3", k=5, min_score=-1.0)):
        assert hits[0].id == 4 and hits[0].relevance > 0.5
        rel = [h.relevance for h in hits]
        assert rel == sorted(rel, reverse=True) and rel[-1] < rel[0]
    assert all(h.relevance is None for h in col.search(item_id=4, k=5))  # an image query
