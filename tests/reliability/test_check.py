"""`jointspace check`: every planted inconsistency is named with a fix; `--repair` fixes what can be
fixed from SQLite; compaction keeps answers exact, even for a reader holding an old index."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from relsupport import ImageCorpus, jointspace_exe, read_rows

from jointspace.errors import CollectionNotFoundError
from jointspace.query import Collection
from jointspace.store.check import check_collection
from jointspace.store.compact import compact_collection


@pytest.fixture
def col_dir(tmp_path) -> Path:
    corpus = ImageCorpus(tmp_path / "imgs", np.random.default_rng(2))
    corpus.add(40)
    with Collection.create(tmp_path / "col", "hash:64") as col:
        col.add(corpus.root, batch_size=8, workers=0)
        col.add_texts(["a text", "another text"])
        col.remove([3, 4])
    return tmp_path / "col"


def _sql(col_dir: Path, *statements: tuple) -> None:
    conn = sqlite3.connect(col_dir / "collection.sqlite")
    with conn:
        for stmt in statements:
            conn.execute(*stmt)
    conn.close()


def _codes(report, severity=None) -> set[str]:
    return {f.code for f in report.findings if severity in (None, f.severity)}


def test_healthy_collection(col_dir):
    report = check_collection(col_dir)
    assert report.ok and not report.findings
    assert report.counts == {"items": 40, "images": 38, "texts": 2, "seq": report.counts["seq"],
                             "errors": 0, "tombstones": 2, "folded": 0}
    assert report.index["snapshot"] == "ok" and report.index["ntotal"] == 40
    assert (report.model, report.dim) == ("hash:64", 64)


PLANTED = {
    "id-reused": [("INSERT INTO tombstones VALUES (5, 1)",)],
    "vector-size": [("UPDATE items SET vector = zeroblob(128) WHERE id = 6",)],
    "vector-nonfinite": [("UPDATE items SET vector = ? WHERE id = 6",
                          (np.full(64, np.nan, np.float32).tobytes(),))],
    "seq-ahead": [("UPDATE items SET seq = 999999 WHERE id = 6",)],
    "id-counter": [("UPDATE sqlite_sequence SET seq = 1 WHERE name = 'items'",)],
    "dim-changed": [("UPDATE meta SET value = '32' WHERE key = 'dim'",)],
}


@pytest.mark.parametrize("defect", sorted(PLANTED))
def test_planted_truth_defects_are_errors_with_a_fix(col_dir, defect):
    _sql(col_dir, *PLANTED[defect])
    report = check_collection(col_dir)
    assert not report.ok
    expected = "vector-size" if defect == "dim-changed" else defect
    assert expected in _codes(report, "error"), report.findings
    assert all(f.fix for f in report.findings)


def test_non_unit_vectors_and_stale_errors_are_warnings(col_dir):
    row = read_rows(col_dir)[0]
    _sql(col_dir, ("UPDATE items SET vector = ? WHERE id = ?", ((row.vector * 2).tobytes(), row.id)),
         ("INSERT INTO errors VALUES (?, 's', 'p', 'old failure', 0)", (row.key,)))
    report = check_collection(col_dir)
    # the stored vector changed behind the index's back: that is also an index mismatch
    assert _codes(report, "error") == {"index-vectors"}
    assert _codes(report, "warning") == {"vector-norm", "stale-errors"}
    repaired = check_collection(col_dir, repair=True)
    assert repaired.ok and _codes(repaired) == {"vector-norm"}  # the truth itself is kept
    assert any("stale error" in line for line in repaired.repaired)


def test_index_missing_an_item_is_an_error_and_repaired(col_dir):
    import hashlib

    from jointspace.store import flat_file

    meta = json.loads((col_dir / "index.json").read_text())
    path = col_dir / meta["file"]
    ids, vectors = flat_file.read(path, mapped=False)
    keep = ids != 7
    with open(path, "wb") as f:
        flat_file.write(f, ids[keep], vectors[keep])
    data = path.read_bytes()
    meta.update(sha256=hashlib.sha256(data).hexdigest(), ntotal=int(keep.sum()))
    (col_dir / "index.json").write_text(json.dumps(meta))
    with Collection.open(col_dir, readonly=True) as col:  # the silent wrong answer it prevents
        assert 7 not in {h.id for h in col.search_vector(col.vector(7), k=50)}
    report = check_collection(col_dir)
    assert _codes(report, "error") == {"index-mismatch"} and "7" in report.findings[0].message
    assert check_collection(col_dir, repair=True).ok
    with Collection.open(col_dir, readonly=True) as col:
        assert col.search_vector(col.vector(7), k=1)[0].id == 7


def test_cli(col_dir, tmp_path):
    def run(*args):
        out = subprocess.run([jointspace_exe(), "check", *map(str, args)], capture_output=True,
                             text=True, check=False, timeout=60)
        assert "Traceback" not in out.stderr, out.stderr
        return out

    ok = run(col_dir, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    assert "no problems" in run(col_dir).stdout
    (col_dir / "index-000000000001.faiss.tmp").write_bytes(b"x")
    _sql(col_dir, *PLANTED["id-reused"])
    bad = run(col_dir, "--json")
    data = json.loads(bad.stdout)
    assert bad.returncode == 1 and not data["ok"]
    assert {f["code"] for f in data["findings"]} == {"id-reused", "orphan-files"}
    human = run(col_dir)
    assert human.returncode == 1 and "id-reused" in human.stdout and "--repair" in human.stdout
    missing = run(tmp_path / "nope", "--json")
    assert missing.returncode == 1 and "CollectionNotFoundError" in missing.stdout
    with pytest.raises(CollectionNotFoundError):
        check_collection(tmp_path / "nope")


def test_compaction_keeps_answers_exact_for_an_old_reader(col_dir):
    """A reader whose in-memory index predates deletions + compaction must not keep the deleted
    items (their tombstones are gone, so it has to rebuild instead of replaying)."""
    reader = Collection.open(col_dir, readonly=True)
    probe = reader.vector(10)
    assert len(reader.search_vector(probe, k=100)) == 40  # its index is now loaded
    with Collection.open(col_dir) as writer:
        writer.remove(list(range(5, 30)))
    before = (col_dir / "collection.sqlite").stat().st_size
    done = compact_collection(col_dir)
    assert done["tombstones_removed"] == 27 and done["bytes_after"] <= done["bytes_before"]
    live = {r.id for r in read_rows(col_dir)}
    hits = reader.search_vector(probe, k=15)  # stale ids in its index would take slots
    assert {h.id for h in hits} == live and len(hits) == 15
    reader.close()
    assert check_collection(col_dir).ok
    assert (col_dir / "collection.sqlite").stat().st_size <= before
