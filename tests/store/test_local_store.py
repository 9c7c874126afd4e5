import json

import numpy as np
import pytest

from jointspace.errors import CollectionLockedError, ModelMismatchError
from jointspace.store import LocalStore, NewItem, WriteBatch, parse_filter
from jointspace.store.faiss_index import INDEX_META


def _unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _items(vecs, start=0, **meta):
    return [NewItem(key=f"k{start + i}", source="s", kind="text", vector=v, text=f"t{start + i}",
                    metadata={"n": start + i, **meta}) for i, v in enumerate(vecs)]


@pytest.fixture(params=["flat", "hnsw", "int8", "binary"])
def store(tmp_path, request):
    s = LocalStore.create(tmp_path / "c", "fake:8", 8, index=request.param)
    s.acquire_writer()
    yield s
    s.close()


def _brute(store, q, k, allowed=None):
    ids, vecs = store.truth.all_vectors()
    scores = vecs @ q
    order = [i for i in np.argsort(-scores, kind="stable") if allowed is None or ids[i] in allowed]
    return [int(ids[i]) for i in order[:k]]


def test_search_matches_brute_force_and_survives_reopen(store, tmp_path):
    rng = np.random.default_rng(0)
    store.write(WriteBatch(upserts=_items(_unit(rng, 200, 8))))
    q = _unit(rng, 1, 8)[0]
    got = [i for i, _ in store.search(q[None], 10)[0]]
    assert got == _brute(store, q, 10)
    store.save_index()
    store.write(WriteBatch(upserts=_items(_unit(rng, 50, 8), start=200), deletes=[1, 2, 3]))
    store.close()
    reopened = LocalStore.open(tmp_path / "c")
    assert not reopened.rebuilt
    got = [i for i, _ in reopened.search(q[None], 10)[0]]
    assert got == _brute(reopened, q, 10)
    assert reopened.index_status()["ntotal"] == reopened.count() == 247
    reopened.close()


def test_filtered_search_is_exact(store):
    rng = np.random.default_rng(1)
    store.write(WriteBatch(upserts=_items(_unit(rng, 500, 8))))
    q = _unit(rng, 1, 8)[0]
    flt = parse_filter("n < 7")  # 7 matching items: asking for 20 must give exactly those 7
    got = [i for i, _ in store.search(q[None], 20, flt)[0]]
    allowed = set(store.truth.filter_ids(flt).tolist())
    assert len(got) == 7 and got == _brute(store, q, 20, allowed)


def test_updates_replace_vectors(store):
    rng = np.random.default_rng(2)
    store.write(WriteBatch(upserts=_items(_unit(rng, 20, 8))))
    new = _unit(rng, 1, 8)
    store.write(WriteBatch(upserts=_items(new, start=5)))  # same key k5: replaced
    hits = store.search(new, 1)[0]
    assert hits[0][0] == 6 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert store.count() == 20 and store.index_status()["ntotal"] == 20


def test_corrupt_snapshot_is_rebuilt(tmp_path):
    s = LocalStore.create(tmp_path / "c", "fake:8", 8)
    with s.writer():
        s.write(WriteBatch(upserts=_items(_unit(np.random.default_rng(3), 30, 8))))
        s.save_index()
    s.close()
    meta = json.loads((tmp_path / "c" / INDEX_META).read_text())
    (tmp_path / "c" / meta["file"]).write_bytes(b"garbage")
    s = LocalStore.open(tmp_path / "c")
    assert s.index_status()["ntotal"] == 30 and s.rebuilt
    s.close()


def test_one_writer_at_a_time(tmp_path):
    a = LocalStore.create(tmp_path / "c", "fake:8", 8)
    b = LocalStore.open(tmp_path / "c")
    a.acquire_writer()
    with pytest.raises(CollectionLockedError):
        b.acquire_writer()
    a.release_writer()
    b.acquire_writer()
    a.close()
    b.close()


def test_refuses_other_model_or_dim(tmp_path):
    LocalStore.create(tmp_path / "c", "fake:8", 8).close()
    with pytest.raises(ModelMismatchError):
        LocalStore.create(tmp_path / "c", "other:8", 8)
    s = LocalStore.open(tmp_path / "c")
    with pytest.raises(ModelMismatchError):
        s.check_model("fake:8", 16)
    s.close()


def test_derived_state_round_trips_with_its_seq_and_survives_reopen(store, tmp_path):
    rng = np.random.default_rng(3)
    assert store.read_state("bank") is None
    store.write(WriteBatch(upserts=_items(_unit(rng, 5, 8))))
    store.write_state("bank", b"\x00abc")
    blob = store.read_state("bank")
    assert (blob.data, blob.seq) == (b"\x00abc", store.seq())
    store.write(WriteBatch(deletes=[1]))
    assert store.read_state("bank").seq < store.seq()  # stale now: readers can tell
    store.write_state("bank", b"new", seq=7)
    store.close()
    again = LocalStore.open(tmp_path / "c", readonly=True)
    assert (again.read_state("bank").data, again.read_state("bank").seq) == (b"new", 7)
    with pytest.raises(CollectionLockedError):
        again.write_state("bank", b"x")  # derived state is written by the writer only
    again.close()


def test_info_skips_a_file_a_writer_renames_away_while_it_is_listed(store, monkeypatch):
    # a writer's index.json.tmp can be listed and be gone by the time its size is read; searches
    # in mixed collections read info(), so this must not fail them
    class Vanished(type(store.directory)):
        def is_file(self):
            return True

        def stat(self, *a, **k):
            raise FileNotFoundError(2, "No such file or directory", str(self))

    listed = list(store.directory.iterdir())
    monkeypatch.setattr(type(store.directory), "iterdir",
                        lambda self: iter([*listed, Vanished(self / "index.json.tmp")]))
    assert store.info()["size_bytes"] == sum(f.stat().st_size for f in listed if f.is_file())
