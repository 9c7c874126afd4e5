"""Truncated / corrupted faiss snapshot and SQLite file: a rebuild or a clear error, never a crash
and never silently wrong answers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from relsupport import ImageCorpus, read_rows

from jointspace.errors import CorruptCollectionError, JointspaceError
from jointspace.query import Collection
from jointspace.store.check import check_collection

N = 120


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A collection of N images plus a few removals (so tombstones exist)."""
    root = tmp_path_factory.mktemp("corrupt")
    corpus = ImageCorpus(root / "imgs", np.random.default_rng(3))
    corpus.add(N + 5)
    with Collection.create(root / "col", "hash:64") as col:
        col.add(corpus.root, batch_size=16, workers=0)
        col.remove([1, 2, 3, 4, 5])
    return root / "col"


@pytest.fixture
def col_dir(pristine, tmp_path) -> Path:
    out = tmp_path / "col"
    shutil.copytree(pristine, out)
    return out


def _truth_top1(col_dir: Path) -> dict[int, int]:
    """Brute force over the SQLite rows: each item's nearest item (itself)."""
    rows = read_rows(col_dir)
    vecs = np.stack([r.vector for r in rows])
    ids = np.array([r.id for r in rows])
    return dict(zip(ids.tolist(), ids[np.argmax(vecs @ vecs.T, axis=1)].tolist()))


def _assert_correct(col_dir: Path) -> None:
    expected = _truth_top1(col_dir)
    with Collection.open(col_dir, readonly=True) as col:
        assert col.count() == len(expected) == N
        for r in read_rows(col_dir):
            assert col.search_vector(r.vector, k=1)[0].id == expected[r.id]
        allhits = col.search_vector(read_rows(col_dir)[0].vector, k=N + 50)
        assert sorted(h.id for h in allhits) == sorted(expected)


def _snapshot(col_dir: Path) -> Path:
    return col_dir / json.loads((col_dir / "index.json").read_text())["file"]


SNAPSHOT_DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "bitflip": lambda p: p.write_bytes(_flip(p.read_bytes(), 1000)),
    "garbage": lambda p: p.write_bytes(os.urandom(p.stat().st_size)),
    "deleted": lambda p: p.unlink(),
}


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]


@pytest.mark.parametrize("damage", sorted(SNAPSHOT_DAMAGE))
def test_damaged_snapshot_is_rebuilt_from_sqlite(col_dir, damage):
    SNAPSHOT_DAMAGE[damage](_snapshot(col_dir))
    _assert_correct(col_dir)
    report = check_collection(col_dir)
    assert report.ok  # the snapshot is a cache: damage is a warning, answers stay right
    assert {f.code for f in report.findings} == {"snapshot-corrupt"}
    assert check_collection(col_dir, repair=True).findings == []


@pytest.mark.parametrize("meta", ["{not json", '{"file": "index-nope.faiss"}', "", "[]",
                                  '{"file": "../collection.sqlite", "sha256": "x", "seq": 1}'])
def test_damaged_index_json_is_rebuilt(col_dir, meta):
    (col_dir / "index.json").write_text(meta)
    _assert_correct(col_dir)
    assert check_collection(col_dir).ok


def test_valid_but_wrong_snapshot_is_caught_by_check(col_dir):
    """A well-formed snapshot with a matching checksum but wrong vectors (e.g. a bug, or a copy
    from another collection): searches would be wrong, so `check` must call it an error and
    `--repair` must fix it."""
    from jointspace.store import flat_file

    path = _snapshot(col_dir)
    ids, vectors = flat_file.read(path, mapped=False)
    victim = int(ids[10])
    vectors[10] = np.ones(64, np.float32) / 8
    with open(path, "wb") as f:
        flat_file.write(f, ids, vectors)
    data = path.read_bytes()
    meta = json.loads((col_dir / "index.json").read_text())
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    (col_dir / "index.json").write_text(json.dumps(meta))
    report = check_collection(col_dir)
    assert not report.ok
    assert [f.code for f in report.findings if f.severity == "error"] == ["index-vectors"]
    assert str(victim) in report.findings[0].message
    repaired = check_collection(col_dir, repair=True)
    assert repaired.ok and not repaired.findings and repaired.repaired
    _assert_correct(col_dir)


def test_snapshot_from_the_future_is_ignored(col_dir, tmp_path):
    """The SQLite file restored from an older backup while a newer snapshot stays."""
    backup = tmp_path / "backup.sqlite"
    shutil.copy(col_dir / "collection.sqlite", backup)
    with Collection.open(col_dir) as col:
        col.remove([10, 11, 12])
    shutil.copy(backup, col_dir / "collection.sqlite")
    _assert_correct(col_dir)
    codes = {f.code for f in check_collection(col_dir).findings}
    assert codes == {"snapshot-future"}


SQLITE_DAMAGE = {
    "truncated-half": lambda p: os.truncate(p, p.stat().st_size // 2),
    "truncated-to-header": lambda p: os.truncate(p, 100),
    "zeroed-header": lambda p: _write_at(p, 0, b"\0" * 100),
    "empty": lambda p: os.truncate(p, 0),
    **{f"garbage-page-{n}": (lambda p, n=n: _write_at(p, _page_size(p) * n, os.urandom(300)))
       for n in range(1, 6)},
}


def _page_size(path: Path) -> int:
    """The database's page size, from its header (bytes 16-17, big-endian; 1 means 65536)."""
    with open(path, "rb") as f:
        f.seek(16)
        size = int.from_bytes(f.read(2), "big")
    return 65536 if size == 1 else size


def _write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize("damage", sorted(SQLITE_DAMAGE))
def test_damaged_sqlite_gives_a_clear_error(col_dir, damage):
    """Every operation either works (the damage missed what it reads) or raises a
    JointspaceError with a hint; `check` reports the damage instead of crashing."""
    SQLITE_DAMAGE[damage](col_dir / "collection.sqlite")
    outcomes = []
    for op in (lambda: Collection.open(col_dir).count(),
               lambda: Collection.open(col_dir, readonly=True).search("x", k=5),
               lambda: Collection.open(col_dir, readonly=True).info(),
               lambda: Collection.open(col_dir, readonly=True).errors()):
        try:
            op()
            outcomes.append("ok")
        except JointspaceError as exc:
            assert exc.hint, exc
            outcomes.append(type(exc).__name__)
    report = check_collection(col_dir)
    assert not report.ok, f"check missed {damage} (operations: {outcomes})"
    assert {f.code for f in report.findings if f.severity == "error"} <= {
        "sqlite-damaged", "unreadable"}
    assert all(f.fix for f in report.findings)
    with pytest.raises(CorruptCollectionError):  # nothing to rebuild the truth from
        check_collection(col_dir, repair=True)
