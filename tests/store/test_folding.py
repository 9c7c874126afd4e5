"""Folded vectors: a large flat collection keeps its float vectors once, in the snapshot.

``FOLD_MIN_BYTES`` is lowered so that small collections fold; everything else is the real path:
a real SQLite file, real snapshot files, a second store object standing for another process.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jointspace.store.local as local
from jointspace.errors import CorruptCollectionError
from jointspace.query import Collection
from jointspace.store import LocalStore, NewItem, WriteBatch
from jointspace.store.check import check_collection
from jointspace.store.compact import compact_collection
from jointspace.store.faiss_index import INDEX_META

DIM = 16
JS = str(Path(sys.executable).parent / "jointspace")


@pytest.fixture
def folding(monkeypatch):
    monkeypatch.setattr(local, "FOLD_MIN_BYTES", 1)


def _unit(rng, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _write(store: LocalStore, keys: list[str], vecs: np.ndarray) -> None:
    items = [NewItem(key=k, source="s", kind="text", text=k, vector=v) for k, v in zip(keys, vecs)]
    with store.writer():
        store.write(WriteBatch(upserts=items))


def _blob_lengths(directory: Path) -> dict[int, int]:
    conn = sqlite3.connect(directory / "collection.sqlite")
    try:
        return dict(conn.execute("SELECT id, length(vector) FROM items"))
    finally:
        conn.close()


def _brute(vecs: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[int]:
    ids = np.array(sorted(vecs))
    scores = np.stack([vecs[i] for i in ids]) @ q
    return ids[np.argsort(-scores, kind="stable")[:k]].tolist()


def _ids_of(store: LocalStore, keys: list[str]) -> list[int]:
    return [store.fingerprints(keys)[k].id for k in keys]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_saving_a_large_snapshot_folds_the_sqlite_copies(tmp_path, folding, kind):
    rng = np.random.default_rng(0)
    store = LocalStore.create(tmp_path / "c", "hash:16", DIM, index=kind)
    keys = [f"k{i}" for i in range(300)]
    vecs = _unit(rng, 300)
    _write(store, keys, vecs)
    assert set(_blob_lengths(tmp_path / "c").values()) == {4 * DIM}  # not folded before a save
    with store.writer():
        store.save_index()
    assert set(_blob_lengths(tmp_path / "c").values()) == {0}  # stored once: in the snapshot
    ids = _ids_of(store, keys)
    want = dict(zip(ids, vecs))
    np.testing.assert_array_equal(store.vectors(ids[::-1]), vecs[::-1])
    scanned = {int(i): v for page in store.scan_vectors(batch=64) for i, v in zip(*page)}
    assert set(scanned) == set(ids) and all((scanned[i] == want[i]).all() for i in ids)
    items = [it for page in store.scan_items(batch=50) for it in page.items]
    assert [it.key for it in items] == keys and all((it.vector == v).all()
                                                    for it, v in zip(items, vecs))
    changed_ids, changed, gone = store.changes_since(0)
    assert changed_ids.tolist() == ids and (changed == vecs).all() and not len(gone)
    store.close()

    again = LocalStore.open(tmp_path / "c", readonly=True)  # another process, opening afresh
    for q in _unit(rng, 5):
        assert [i for i, _ in again.search(q[None], 10)[0]] == _brute(want, q, 10)
    assert not again.rebuilt
    np.testing.assert_array_equal(again.vectors(ids[:3]), vecs[:3])
    again.close()


def _folded(directory: Path, rng, n: int,
            kind: str = "flat") -> tuple[LocalStore, list[str], np.ndarray]:
    """A store of ``n`` random items, saved (and so folded)."""
    store = LocalStore.create(directory, "hash:16", DIM, index=kind)
    keys = [f"k{i}" for i in range(n)]
    vecs = _unit(rng, n)
    _write(store, keys, vecs)
    with store.writer():
        store.save_index()
    return store, keys, vecs


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_writes_after_a_fold_keep_answers_exact(tmp_path, folding, kind):
    # hnsw cannot delete: the deletion and the updates make its graph stale, and it is rebuilt
    # from the folded vectors the old graph holds plus the new ones in SQLite
    rng = np.random.default_rng(1)
    store, keys, vecs = _folded(tmp_path / "c", rng, 200, kind)
    reader = LocalStore.open(tmp_path / "c", readonly=True)
    reader.search(vecs[:1], 1)  # holds the snapshot at the first fold

    new_vecs = _unit(rng, 3)  # two folded items change, one is new; one folded item goes
    _write(store, ["k5", "k6", "new"], new_vecs)
    gone = _ids_of(store, ["k7"])
    want = dict(zip(_ids_of(store, keys), vecs))
    with store.writer():
        store.write(WriteBatch(deletes=gone))
    want.pop(gone[0])
    for key, v in zip(["k5", "k6", "new"], new_vecs):
        want[_ids_of(store, [key])[0]] = v
    lengths = _blob_lengths(tmp_path / "c")
    assert sum(n > 0 for n in lengths.values()) == 3  # the changed ones carry their vectors again
    with store.writer():
        store.save_index()  # folds those three; the rest were folded already
    assert set(_blob_lengths(tmp_path / "c").values()) == {0}

    # the reader's index is older than the second fold: it reloads the snapshot, never replays
    # the empty blobs as vectors
    for q in [*new_vecs, *_unit(rng, 3)]:
        assert [i for i, _ in reader.search(q[None], 10)[0]] == _brute(want, q, 10)
    got = reader.vectors(sorted(want))
    np.testing.assert_array_equal(got, np.stack([want[i] for i in sorted(want)]))
    reader.close()
    store.close()


def test_small_collections_keep_both_copies(tmp_path):
    store = LocalStore.create(tmp_path / "c", "hash:16", DIM)
    _write(store, ["a", "b"], _unit(np.random.default_rng(2), 2))
    with store.writer():
        store.save_index()
    assert set(_blob_lengths(tmp_path / "c").values()) == {4 * DIM}
    store.close()


def test_code_kinds_and_truncated_indexes_never_fold(tmp_path, folding):
    for kind, dim in (("int8", None), ("binary", None), ("flat", 8)):
        store = LocalStore.create(tmp_path / f"{kind}{dim}", "hash:16", DIM, index=kind,
                                  index_dim=dim)
        _write(store, [f"k{i}" for i in range(50)], _unit(np.random.default_rng(3), 50))
        with store.writer():
            store.save_index()
        assert set(_blob_lengths(tmp_path / f"{kind}{dim}").values()) == {4 * DIM}, kind
        store.close()


def test_fold_gives_the_space_back(tmp_path, folding):
    store = LocalStore.create(tmp_path / "c", "hash:16", 512)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3000, 512)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    items = [NewItem(key=f"k{i}", source="s", kind="text", text="t", vector=v)
             for i, v in enumerate(x)]
    with store.writer():
        store.write(WriteBatch(upserts=items))
        before = _sqlite_bytes(tmp_path / "c")
        store.save_index()
    after = _sqlite_bytes(tmp_path / "c")
    assert before > x.nbytes and after < before - 0.8 * x.nbytes  # VACUUMed, not just freed
    store.close()


def _sqlite_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("collection.sqlite*"))


def _texts_collection(path: Path, texts: list[str]) -> None:
    with Collection.create(path, "hash:32") as col:
        col.add_texts(texts, ids=[f"t{i}" for i in range(len(texts))])


def test_a_lost_snapshot_is_an_error_and_repair_lets_index_restore_the_items(tmp_path, folding):
    texts = [f"note number {i} about {w}" for i, w in enumerate(["cats", "dogs", "cars"] * 20)]
    _texts_collection(tmp_path / "c", texts)
    meta = json.loads((tmp_path / "c" / INDEX_META).read_text())
    (tmp_path / "c" / meta["file"]).unlink()

    with pytest.raises(CorruptCollectionError, match="only copy") as err:
        with Collection.open(tmp_path / "c", readonly=True) as col:
            col.search("cats", k=3)
    assert "--repair" in err.value.hint
    out = subprocess.run([JS, "search", "cats", "-c", str(tmp_path / "c"), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "Traceback" not in out.stderr + out.stdout
    assert "--repair" in out.stderr + out.stdout

    report = check_collection(tmp_path / "c")
    assert not report.ok and "snapshot-lost" in {f.code for f in report.findings}
    out = subprocess.run([JS, "check", str(tmp_path / "c")], capture_output=True, text=True,
                         timeout=120)  # the human report too
    assert out.returncode == 1 and "Traceback" not in out.stderr and "snapshot-lost" in out.stdout
    repaired = check_collection(tmp_path / "c", repair=True)
    assert repaired.ok, repaired.findings
    assert any("removed 60 items" in line for line in repaired.repaired)
    with Collection.open(tmp_path / "c") as col:
        assert col.count() == 0
        col.add_texts(texts, ids=[f"t{i}" for i in range(len(texts))])  # embedded again
        assert col.count() == len(texts)
        assert col.search(texts[4], k=1)[0].text == texts[4]
    assert check_collection(tmp_path / "c").ok


def test_check_hashes_the_whole_snapshot_when_it_is_the_only_copy(tmp_path, folding):
    _texts_collection(tmp_path / "c", [f"text {i}" for i in range(100)])
    assert check_collection(tmp_path / "c").ok
    meta = json.loads((tmp_path / "c" / INDEX_META).read_text())
    path = tmp_path / "c" / meta["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # one bit of one vector
    path.write_bytes(bytes(data))
    report = check_collection(tmp_path / "c")
    assert "snapshot-lost" in {f.code for f in report.findings if f.severity == "error"}


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_compaction_of_a_folded_collection(tmp_path, folding, kind):
    rng = np.random.default_rng(5)
    store, keys, vecs = _folded(tmp_path / "c", rng, 100, kind)
    with store.writer():
        store.write(WriteBatch(deletes=_ids_of(store, keys[:10])))
    store.close()
    compact_collection(tmp_path / "c")
    again = LocalStore.open(tmp_path / "c", readonly=True)
    want = dict(zip(_ids_of(again, keys[10:]), vecs[10:]))
    for q in _unit(rng, 3):
        assert [i for i, _ in again.search(q[None], 5)[0]] == _brute(want, q, 5)
    again.close()
    assert check_collection(tmp_path / "c").ok
