"""int8 / binary index kinds: codes pick a shortlist, the stored float vectors rank it exactly."""

import numpy as np
import pytest

from jointspace.errors import BadInputError
from jointspace.store import LocalStore, NewItem, WriteBatch, codes, parse_filter
from jointspace.store.check import check_collection
from jointspace.store.faiss_index import VectorIndex

D = 256


def _clustered(rng, n, d=D, spread=0.7):
    """Unit vectors around 50 centres: neighbours are close, as with real embeddings."""
    centres = rng.normal(size=(50, d))
    x = centres[rng.integers(0, 50, n)] + spread * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _data(seed=0, n=4000, nq=20):
    rng = np.random.default_rng(seed)
    x = _clustered(rng, n + nq)
    return np.arange(1, n + 1, dtype=np.int64) * 3, x[:n], x[n:]  # ids with gaps


def _fetcher(ids, x):
    by_id = dict(zip(ids.tolist(), x))
    return lambda want: np.stack([by_id[int(i)] for i in want])


def _recall(got, want) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got, want)]))


@pytest.mark.parametrize(("kind", "floor"), [("int8", 1.0), ("binary", 0.95)])
def test_rescored_shortlist_matches_exact_search(kind, floor):
    ids, x, q = _data()
    index = VectorIndex(D, kind)
    index.apply(ids, x, np.zeros(0, np.int64))
    scores, got = index.search(q, 10, fetch=_fetcher(ids, x))
    exact = ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]]
    assert _recall(got, exact) >= floor
    # the scores are the exact inner products, best first: the shortlist was rescored
    by_id = dict(zip(ids.tolist(), x))
    for qi, row, srow in zip(q, got, scores):
        np.testing.assert_allclose(srow, [by_id[int(i)] @ qi for i in row], rtol=0, atol=1e-5)
        assert np.all(np.diff(srow) <= 0)
    # and the codes alone rank worse: what the rescoring buys
    probe = codes.encode(kind, index.index, q) if kind == "binary" else q
    _, raw = index.index.search(probe, 10)
    assert _recall(raw, exact) < _recall(got, exact)


def test_code_kinds_refuse_to_search_without_vectors():
    ids, x, q = _data(n=50)
    index = VectorIndex(D, "int8")
    index.apply(ids, x, np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="fetch"):
        index.search(q, 5)


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_filters_are_exact(kind):
    ids, x, q = _data(seed=1)
    index = VectorIndex(D, kind)
    index.apply(ids, x, np.zeros(0, np.int64))
    fetch = _fetcher(ids, x)
    small = ids[::97]  # fewer than the shortlist: all rescored, exactly the brute-force answer
    _, got = index.search(q, 10, small, fetch)
    rows = np.isin(ids, small)
    exact = small[np.argsort(-(q @ x[rows].T), axis=1, kind="stable")[:, :10]]
    assert np.array_equal(got, exact)
    large = ids[ids % 2 == 0]  # beyond the shortlist: codes restricted to the allowed ids
    _, got = index.search(q, 10, large, fetch)
    assert np.isin(got, large).all()
    rows = np.isin(ids, large)
    exact = large[np.argsort(-(q @ x[rows].T), axis=1, kind="stable")[:, :10]]
    assert _recall(got, exact) >= 0.95


def test_int8_ranges_are_relearnt_as_a_small_index_grows(tmp_path):
    store = LocalStore.create(tmp_path / "c", "fake", D, index="int8")
    store.acquire_writer()
    rng = np.random.default_rng(3)
    first = _clustered(rng, 5, spread=0.1)  # a narrow start: its ranges fit later vectors badly
    store.write(WriteBatch(upserts=_items(first)))
    assert store.index_status()["ntotal"] == 5 and store._index.trained == 5
    more = _clustered(rng, 500)
    store.write(WriteBatch(upserts=_items(more, start=5)))
    store.search(more[:1], 1)
    assert store._index.trained == 505  # rebuilt from SQLite with ranges from every vector
    store.save_index()
    store.close()
    assert check_collection(tmp_path / "c").ok


@pytest.mark.parametrize("kind", ["int8", "binary"])
def test_check_compares_codes_with_the_truth(tmp_path, kind):
    rng = np.random.default_rng(4)
    _snapshot_then_churn(tmp_path / "c", rng, 300, index=kind)
    report = check_collection(tmp_path / "c")
    assert report.ok and report.index["kind"] == kind and report.index["ntotal"] == 318
    conn = LocalStore.open(tmp_path / "c")  # the stored vector changes behind the index's back
    with conn.truth.transaction(write=True) as c:
        c.execute("UPDATE items SET vector = ? WHERE id = 7", (-_clustered(rng, 1)[0],))
    conn.close()
    assert "index-vectors" in {f.code for f in check_collection(tmp_path / "c").findings}


def test_filtered_store_search_is_exact_with_codes(tmp_path):
    store = LocalStore.create(tmp_path / "c", "fake", D, index="binary")
    store.acquire_writer()
    rng = np.random.default_rng(5)
    store.write(WriteBatch(upserts=_items(_clustered(rng, 1000))))
    q = _clustered(rng, 1)
    flt = parse_filter("n < 30")
    got = [i for i, _ in store.search(q, 10, flt)[0]]
    ids, vecs = store.truth.all_vectors()
    allowed = np.isin(ids, store.truth.filter_ids(flt))
    order = np.argsort(-(vecs[allowed] @ q[0]), kind="stable")[:10]
    assert got == ids[allowed][order].tolist()
    store.close()


def _snapshot_then_churn(directory, rng, n, **create):
    """n items, a snapshot, then 20 more and 2 deletions left to replay from the change log."""
    store = LocalStore.create(directory, "fake", D, **create)
    store.acquire_writer()
    store.write(WriteBatch(upserts=_items(_clustered(rng, n))))
    store.save_index()
    store.write(WriteBatch(upserts=_items(_clustered(rng, 20), start=n), deletes=[4, 5]))
    store.close()


def _items(vecs, start=0):
    return [NewItem(key=f"k{start + i}", source="s", kind="text", vector=v, text=f"t{start + i}",
                    metadata={"n": start + i}) for i, v in enumerate(vecs)]


@pytest.mark.parametrize("kind", ["flat", "hnsw", "int8", "binary"])
def test_prefix_index_rescores_with_all_dimensions(kind):
    ids, x, q = _data(seed=6, n=2000)
    index = VectorIndex(D, kind, prefix=D // 2)
    index.apply(ids, x, np.zeros(0, np.int64))
    assert index.index.d == D // 2
    scores, got = index.search(q, 10, fetch=_fetcher(ids, x))
    exact = ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :10]]
    assert _recall(got, exact) >= 0.9
    by_id = dict(zip(ids.tolist(), x))
    for qi, row, srow in zip(q, got, scores):  # full-dimension scores: rescored
        np.testing.assert_allclose(srow, [by_id[int(i)] @ qi for i in row], rtol=0, atol=1e-5)
    small = ids[::50]
    _, got = index.search(q, 10, small, _fetcher(ids, x))
    rows = np.isin(ids, small)
    assert np.array_equal(got, small[np.argsort(-(q @ x[rows].T), axis=1, kind="stable")[:, :10]])


def test_prefix_store_survives_reopen_replay_and_check(tmp_path):
    rng = np.random.default_rng(7)
    _snapshot_then_churn(tmp_path / "c", rng, 60, index="int8", index_dim=64)
    store = LocalStore.open(tmp_path / "c")
    q = _clustered(rng, 1)
    got = [i for i, _ in store.search(q, 10)[0]]
    assert not store.rebuilt and store.index_status()["dim"] == 64
    ids, vecs = store.truth.all_vectors()
    assert got == ids[np.argsort(-(vecs @ q[0]), kind="stable")[:10]].tolist()
    store.close()
    assert check_collection(tmp_path / "c").ok
    with pytest.raises(BadInputError, match="outside"):
        LocalStore.create(tmp_path / "d", "fake", D, index_dim=D + 1)


def test_collection_api_creates_code_kinds_with_a_prefix(tmp_path):
    from jointspace.query import Collection
    from jointspace.store.registry import StoreOptions

    texts = [f"note {i} about topic {i % 7}" for i in range(40)]
    with Collection.create(tmp_path / "c", "hash:64", index="binary",
                           options=StoreOptions(index_dim=32)) as col:
        col.add_texts(texts)
        info = col.info()
        assert (info["index"], info["index_dim"], info["dim"]) == ("binary", 32, 64)
        top = col.search(texts[11], k=1)[0]
        assert top.text == texts[11] and abs(top.score - 1) < 1e-5


def test_qdrant_refuses_a_truncated_index(tmp_path):
    from jointspace.store.registry import StoreOptions, create_store

    with pytest.raises(BadInputError, match="--dim"):
        create_store(f"qdrant+local:{tmp_path / 'q'}", "fake", D, StoreOptions(index_dim=32))


def test_int8_codes_split_over_threads_give_the_same_results(monkeypatch):
    ids, x, q = _data(n=3001)
    plain, index = VectorIndex(D, "int8"), VectorIndex(D, "int8")
    for i in (plain, index):
        i.apply(ids, x, np.zeros(0, np.int64))
    fetch = _fetcher(ids, x)
    whole = plain.search(q, 10, fetch=fetch)
    plain.search(q, 10, fetch=fetch)
    assert plain._split is None  # small: one thread
    monkeypatch.setattr(codes, "SPLIT_MIN", 1000)
    monkeypatch.setenv("JOINTSPACE_FAISS_THREADS", "3")
    index.search(q, 10, fetch=fetch)
    assert index._split is None  # not for one query: a CLI search would only pay for the copy
    split = index.search(q, 10, fetch=fetch)
    assert index._split is not None and len(index._split.parts) == 3
    assert sum(p.ntotal for _, p in index._split.parts) == len(ids)
    np.testing.assert_array_equal(split[1], whole[1])
    np.testing.assert_allclose(split[0], whole[0], rtol=1e-6)
    # a change drops the split copy; the next search sees the new item
    new = q[:1]
    index.apply(np.array([10**6], np.int64), new, np.array([ids[0]], np.int64))
    assert index._split is None
    x2 = {**dict(zip(ids.tolist(), x)), 10**6: new[0]}
    got = index.search(new, 1, fetch=lambda want: np.stack([x2[int(i)] for i in want]))
    assert got[1][0, 0] == 10**6 and index._split is not None


@pytest.mark.parametrize("kind", ["int8", "hnsw"])
def test_a_large_snapshot_is_mapped_and_copied_before_a_change(tmp_path, monkeypatch, kind):
    """int8 maps its codes, hnsw its float storage (its graph is read)."""
    import jointspace.store.faiss_index as fi

    monkeypatch.setattr(fi, "MMAP_MIN_BYTES", 0)
    ids, x, q = _data(n=500)
    index = VectorIndex(D, kind)
    index.apply(ids, x, np.zeros(0, np.int64))
    index.save(tmp_path)
    fetch = _fetcher(ids, x)
    loaded = VectorIndex.load(tmp_path, D, kind)
    assert loaded.mapped is not None
    np.testing.assert_array_equal(loaded.search(q, 5, fetch=fetch)[1],
                                  index.search(q, 5, fetch=fetch)[1])
    loaded.apply(np.zeros(0, np.int64), np.zeros((0, D), np.float32), ids[:1])
    assert loaded.mapped is None
    # int8 drops the id; hnsw cannot delete in place and marks itself for a rebuild
    assert loaded.stale if kind == "hnsw" else loaded.ntotal == len(ids) - 1
    assert VectorIndex.load(tmp_path, D, kind).ntotal == len(ids)  # the file is untouched
