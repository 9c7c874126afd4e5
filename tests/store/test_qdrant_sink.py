"""The Qdrant worker sink writes exactly the points the driver path writes (qdrant+local, one
process at a time: the sink opens the folder itself, as a worker would, while the store is shut)."""

import numpy as np
import pytest

from jointspace.errors import CollectionError, ModelMismatchError
from jointspace.store.base import NewItem, WriteBatch
from jointspace.store.qdrant.location import parse_location
from jointspace.store.qdrant.sink import QdrantSink
from jointspace.store.registry import StoreOptions, create_store, open_store

DIM = 8


def _items(keys, texts, seed):
    rng = np.random.default_rng(seed)
    out = []
    for key, text in zip(keys, texts):
        v = rng.normal(size=DIM).astype(np.float32)
        out.append(NewItem(key=key, source="s", kind="text", vector=v / np.linalg.norm(v),
                           path=None, text=text, metadata={"tag": key.upper()}, size=len(text),
                           mtime_ns=7, sha256=key * 4))
    return out


FIRST = _items(["a", "b"], ["red apples fall", "green pears"], 0)
SECOND = _items(["c", "d", "a"], ["blue sky over pears", "", "red apples again"], 1)


def _points(loc):
    store = open_store(loc)
    try:
        got = store.client.scroll(store.name, limit=100, with_payload=True, with_vectors=True)[0]
        return {p.id: (p.payload, p.vector) for p in got}, store.seq(), store.errors()
    finally:
        store.close()


def _write(loc, batch):
    store = open_store(loc)
    try:
        with store.writer():
            sink = store.worker_sink()
            store.write(batch)
        return sink
    finally:
        store.close()


def _sink_then_record(loc, items):
    """The worker path: the sink upserts (store closed), then the driver records the batch."""
    sink = QdrantSink(parse_location(loc), StoreOptions(), DIM, _seq(loc) + 1)
    written = sink(items)
    sink.close()
    if written:
        bare = [NewItem(**{**it.__dict__, "vector": None}) for it in items]
        _write(loc, WriteBatch(upserts=bare, clear_errors=[it.key for it in items],
                               errors=[("bad", "s", "bad", "unreadable")], upserted=True))
    return written


def _seq(loc):
    store = open_store(loc)
    try:
        return store.seq()
    finally:
        store.close()


def test_sink_writes_what_the_driver_writes_and_reruns_are_idempotent(tmp_path):
    driver, worker = (f"qdrant+local:{tmp_path / n}" for n in ("d", "w"))
    for loc in (driver, worker):
        create_store(loc, "hash:8", DIM).close()
    # nothing fixed the BM25 average length yet: the sink declines, the driver writes
    assert _sink_then_record(worker, FIRST) is False
    assert _points(worker)[0] == {}
    for loc in (driver, worker):
        _write(loc, WriteBatch(upserts=FIRST, clear_errors=["a", "b"]))
    _write(driver, WriteBatch(upserts=SECOND, clear_errors=["c", "d", "a"],
                              errors=[("bad", "s", "bad", "unreadable")]))
    assert _sink_then_record(worker, SECOND) is True
    expected = _points(driver)
    assert len(expected[0]) == 4 and expected[1] == 2
    assert _points(worker) == expected  # ids, payloads (seq too), dense + BM25 vectors, errors
    assert _sink_then_record(worker, SECOND) is True  # a re-run: same ids, nothing added
    again = _points(worker)
    assert again[0].keys() == expected[0].keys()
    assert {i: v for i, (_, v) in again[0].items()} == {i: v for i, (_, v) in expected[0].items()}


def test_sink_refuses_wrong_dims_and_local_folders_offer_none(tmp_path):
    loc = f"qdrant+local:{tmp_path / 'q'}"
    store = create_store(loc, "hash:8", DIM)
    try:
        assert store.worker_sink() is None  # local mode: one process may open the folder
        target = parse_location("qdrant://127.0.0.1:1/x")
        sink = QdrantSink(target, StoreOptions(), DIM, 1)
        bad = _items(["z"], ["t"], 2)
        bad[0].vector = np.ones(DIM + 1, np.float32)
        with pytest.raises(ModelMismatchError):
            sink(bad)
    finally:
        store.close()


def test_a_local_collection_refuses_an_upserted_batch(tmp_path):
    store = create_store(str(tmp_path / "c"), "hash:8", DIM)
    try:
        assert store.worker_sink() is None
        with store.writer(), pytest.raises(CollectionError):
            store.write(WriteBatch(upserts=FIRST, upserted=True))
    finally:
        store.close()
