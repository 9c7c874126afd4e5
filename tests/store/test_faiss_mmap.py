"""Large flat snapshots are memory-mapped after a spot check instead of read and hashed whole."""

import json
from pathlib import Path

import numpy as np
import pytest

import jointspace.store.faiss_index as fi
from jointspace.query import Collection
from jointspace.store.faiss_index import VectorIndex

DIM = 16


@pytest.fixture
def mapped(monkeypatch):
    """Map every snapshot, however small, and fail if one is read whole."""
    monkeypatch.setattr(fi, "MMAP_MIN_BYTES", 0)
    real = Path.read_bytes

    def guarded(self):
        if self.suffix == ".faiss":
            raise AssertionError(f"{self.name} read whole")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)


def _saved(tmp_path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, n + 1, dtype=np.int64)
    index = VectorIndex(DIM)
    index.apply(ids, vecs, np.zeros(0, np.int64))
    index.seq = 7
    index.save(tmp_path)
    return ids, vecs


def test_mapped_snapshot_answers_like_brute_force(tmp_path, mapped):
    ids, vecs = _saved(tmp_path)
    index = VectorIndex.load(tmp_path, DIM, fi.FLAT)
    assert index is not None and index.mapped is not None and index.seq == 7
    q = vecs[:5] + 0.01
    scores, got = index.search(q, 10)
    want = np.argsort(-(q @ vecs.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(got, ids[want])
    allowed = ids[::3]
    _, got = index.search(q, 4, allowed)
    assert set(got.ravel()) <= set(allowed.tolist())


def test_changing_a_mapped_index_copies_it_first(tmp_path, mapped):
    ids, vecs = _saved(tmp_path)
    index = VectorIndex.load(tmp_path, DIM, fi.FLAT)
    new = np.eye(DIM, dtype=np.float32)[:1]
    index.apply(np.array([1000], np.int64), new, np.array([1, 2], np.int64))
    assert index.mapped is None and index.ntotal == len(ids) - 2 + 1
    assert index.search(new, 1)[1][0, 0] == 1000
    # the snapshot file itself is untouched
    assert VectorIndex.load(tmp_path, DIM, fi.FLAT).ntotal == len(ids)


@pytest.mark.parametrize("damage", ["truncate", "head", "tail", "middle_block"])
def test_spot_check_catches_damage(tmp_path, mapped, damage, monkeypatch):
    monkeypatch.setattr(fi, "_SPOT_EDGE", 512)  # small enough that the file has a middle
    monkeypatch.setattr(fi, "_SPOT_BLOCK", 64)
    _saved(tmp_path, n=2000)
    meta = json.loads((tmp_path / fi.INDEX_META).read_text())
    path = tmp_path / meta["file"]
    with open(path, "r+b") as f:
        size = f.seek(0, 2)
        if damage == "truncate":
            f.truncate(size - 8)
        else:
            at = {"head": 100, "tail": size - 100,
                  "middle_block": fi._spot_offsets(size)[10][0] + 3}[damage]
            f.seek(at)
            byte = f.read(1)
            f.seek(at)
            f.write(bytes([byte[0] ^ 0x40]))
    assert VectorIndex.load(tmp_path, DIM, fi.FLAT) is None


def test_collection_opens_on_a_mapped_snapshot(tmp_path, monkeypatch):
    monkeypatch.setattr(fi, "MMAP_MIN_BYTES", 0)
    with Collection.create(tmp_path / "c", "hash:16") as col:
        col.add_texts([f"note {i}" for i in range(50)])
    with Collection.open(tmp_path / "c", readonly=True) as col:
        hit = col.search("note 7", k=1)[0]
        assert hit.text == "note 7" and col.store._index.mapped is not None
    with Collection.open(tmp_path / "c") as col:  # a writer changes it: copied, then saved
        col.add_texts(["a new note"], ids=["new"])
        assert col.search("a new note", k=1)[0].text == "a new note"


def test_mapped_vectors_are_aligned_so_numpy_uses_blas(tmp_path, mapped):
    # faiss's own format left the floats at an odd offset: numpy then scanned without BLAS, ~40x
    # slower. The flat snapshot layout keeps ids and vectors 64-byte aligned.
    _saved(tmp_path, n=301)  # an odd count: the vectors still start aligned after the ids
    index = VectorIndex.load(tmp_path, DIM, fi.FLAT)
    ids, vectors = index.arrays
    assert isinstance(vectors, np.memmap) or isinstance(vectors.base, np.memmap)
    assert vectors.flags["ALIGNED"] and ids.flags["ALIGNED"]
    assert vectors.ctypes.data % 64 == 0 and ids.ctypes.data % 64 == 0


def test_small_snapshots_are_read_whole_and_checked(tmp_path):
    ids, vecs = _saved(tmp_path)
    index = VectorIndex.load(tmp_path, DIM, fi.FLAT)
    assert index.mapped is None and index.arrays is not None
    np.testing.assert_array_equal(index.contents()[0], ids)
    np.testing.assert_array_equal(index.contents()[1], vecs)
    path = tmp_path / json.loads((tmp_path / fi.INDEX_META).read_text())["file"]
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # one bit of one vector
    path.write_bytes(bytes(raw))
    assert VectorIndex.load(tmp_path, DIM, fi.FLAT) is None


def test_a_flat_snapshot_in_faiss_format_still_loads(tmp_path):
    # collections written before the aligned layout: read whole into a faiss index
    import faiss

    ids, vecs = _saved(tmp_path)
    index = VectorIndex(DIM)
    index.apply(ids, vecs, np.zeros(0, np.int64))
    meta = json.loads((tmp_path / fi.INDEX_META).read_text())
    path = tmp_path / meta["file"]
    faiss.write_index(index.index, str(path))
    meta.update(sha256=fi.file_hash(path), size=path.stat().st_size,
                spot_sha256=fi._spot_file_hash(path))
    del meta["format"]
    (tmp_path / fi.INDEX_META).write_text(json.dumps(meta))
    old = VectorIndex.load(tmp_path, DIM, fi.FLAT)
    assert old is not None and old.arrays is None and old.ntotal == len(ids)
    np.testing.assert_array_equal(old.search(vecs[:3], 1)[1][:, 0], ids[:3])


def test_saving_an_unchanged_mapped_snapshot_writes_nothing(tmp_path, mapped):
    _saved(tmp_path)
    path = tmp_path / json.loads((tmp_path / fi.INDEX_META).read_text())["file"]
    before = path.stat()
    index = VectorIndex.load(tmp_path, DIM, fi.FLAT)
    index.save(tmp_path)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    index.seq += 1  # a batch that changed no vector: a new snapshot name, same vectors
    index.save(tmp_path)
    assert not path.exists() and VectorIndex.load(tmp_path, DIM, fi.FLAT).seq == 8
