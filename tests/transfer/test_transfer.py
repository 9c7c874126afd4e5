"""copy between backends, export to parquet, import precomputed vectors from parquet."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jointspace.errors import BadInputError, CollectionError, ModelMismatchError
from jointspace.query import Collection
from jointspace.transfer import copy_collection, export_parquet, import_vectors
from jointspace.transfer.vectors import Columns

PAIRS = [("local", "qdrant+local"), ("qdrant+local", "local"), ("local", "local"),
         ("qdrant+edge", "qdrant+local")]


def _loc(kind, tmp_path, name):
    return str(tmp_path / name) if kind == "local" else f"{kind}:{tmp_path / name}"


def _filled(location, n=50):
    col = Collection.create(location, model="hash:32")
    col.add_texts([f"text number {i} about {'cats' if i % 2 else 'dogs'}" for i in range(n)],
                  metadata=[{"n": i, "pet": "cat" if i % 2 else "dog"} for i in range(n)])
    col.annotate({h.id: {"star": True} for h in col.search("cats", k=3)})
    return col


def _by_key(location):
    col = Collection.open(location, readonly=True)
    out = {}
    for page in col.store.scan_items(batch=16):
        for it, notes in zip(page.items, page.annotations):
            out[it.key] = (it.vector.copy(), it.text, it.metadata, notes, it.sha256)
    col.close()
    return out


@pytest.mark.parametrize("src_kind,dst_kind", PAIRS)
def test_copy_keeps_everything_without_reembedding(tmp_path, src_kind, dst_kind):
    src, dst = _loc(src_kind, tmp_path, "src"), _loc(dst_kind, tmp_path, "dst")
    col = _filled(src)
    want_hits = [(h.text, round(h.score, 5)) for h in col.search("cats", k=5, where="n < 20")]
    col.close()
    report = copy_collection(src, dst, batch=16, sample=10)
    assert (report.copied, report.skipped, report.count, report.verified) == (50, 0, 50, 10)
    a, b = _by_key(src), _by_key(dst)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key][0], b[key][0])
        assert a[key][1:] == b[key][1:]
    copied = Collection.open(dst, readonly=True)
    assert [(h.text, round(h.score, 5)) for h in
            copied.search("cats", k=5, where="n < 20")] == want_hits
    assert len(copied.search("cats", k=10, where="star = true")) == 3
    copied.close()
    again = copy_collection(src, dst, batch=16)  # re-run: nothing left to do
    assert (again.copied, again.skipped) == (0, 50)


def test_an_interrupted_copy_resumes(tmp_path):
    src, dst = str(tmp_path / "src"), f"qdrant+local:{tmp_path / 'dst'}"
    _filled(src).close()

    def stop(done, total):
        if done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_collection(src, dst, batch=10, progress=stop)
    report = copy_collection(src, dst, batch=10)
    assert (report.copied, report.skipped, report.count) == (30, 20, 50)


def test_copy_refuses_a_destination_with_other_items_or_model(tmp_path):
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    _filled(src, n=5).close()
    other = Collection.create(dst, model="hash:32")
    other.add_texts(["unrelated"], ids=["x"], source="elsewhere")
    other.close()
    with pytest.raises(CollectionError, match="verification failed"):
        copy_collection(src, dst)
    with pytest.raises(ModelMismatchError):
        Collection.create(str(tmp_path / "d2"), model="hash:16").close()
        copy_collection(src, str(tmp_path / "d2"))


@pytest.mark.parametrize("kind", ["local", "qdrant+local"])
def test_export_then_import_round_trips(tmp_path, kind):
    src = _loc(kind, tmp_path, "src")
    _filled(src, n=30).close()
    out = tmp_path / "items.parquet"
    info = export_parquet(src, out, batch=7)
    table = pq.read_table(out)
    assert info["rows"] == table.num_rows == 30
    assert table.column_names == ["id", "key", "kind", "path", "text", "metadata", "vector"]
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 32)
    rows = table.to_pylist()
    col = Collection.open(src, readonly=True)
    for r in rows[:5]:
        np.testing.assert_array_equal(np.float32(r["vector"]), col.vector(r["id"]))
        assert json.loads(r["metadata"]) == col.get(r["id"]).metadata
    col.close()

    dst = Collection.create(_loc(kind, tmp_path, "dst"), model="hash:32")
    report = import_vectors(dst.store, out, Columns("vector", id="key"), batch=8)
    assert (report.added, report.failed) == (30, 0) and dst.count() == 30
    q = np.float32(rows[3]["vector"])
    assert dst.search_vector(q, k=1)[0].text == rows[3]["text"]
    again = import_vectors(dst.store, out, Columns("vector", id="key"))
    assert again.added == 30 and dst.count() == 30  # keyed: re-importing updates
    dst.close()


def test_import_checks_dims_normalises_and_records_bad_rows(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(6, 8)).astype(np.float32) * 3  # not unit: normalised on import
    emb = [list(v) for v in vecs]
    emb[2] = None
    emb[4] = emb[4][:5]  # wrong length
    emb[5] = [0.0] * 8  # zero
    table = pa.table({"doc": [f"d{i}" for i in range(6)], "body": [f"text {i}" for i in range(6)],
                      "emb": pa.array(emb, pa.list_(pa.float32())), "year": list(range(6))})
    pq.write_table(table, tmp_path / "v.parquet")
    col = Collection.create(tmp_path / "c", model="hash:8")
    report = import_vectors(col.store, tmp_path / "v.parquet",
                            Columns("emb", id="doc", text="body"))
    assert (report.added, report.failed) == (3, 3)
    assert sorted(e.path.rsplit("#", 1)[1] for e in report.errors) == ["row2", "row4", "row5"]
    hit = col.search_vector(vecs[1] / np.linalg.norm(vecs[1]), k=1)[0]
    assert hit.text == "text 1" and hit.score == pytest.approx(1.0, abs=1e-6)
    assert hit.metadata == {"doc": "d1", "year": 1}
    assert len(col.search_vector(vecs[0] / np.linalg.norm(vecs[0]), k=9, where="year >= 1")) == 2

    fixed = pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(12, np.float32)),
                                                               4), "text": ["a", "b", "c"]})
    pq.write_table(fixed, tmp_path / "f.parquet")
    with pytest.raises(ModelMismatchError):
        import_vectors(col.store, tmp_path / "f.parquet", Columns("emb"))
    with pytest.raises(BadInputError):
        import_vectors(col.store, tmp_path / "v.parquet", Columns("nope"))
    with pytest.raises(BadInputError):
        import_vectors(col.store, tmp_path / "v.parquet", Columns("body"))
    col.close()


def test_copy_onto_itself_is_refused_and_loses_nothing(tmp_path):
    src = str(tmp_path / "src")
    _filled(src, n=5).close()
    before = _by_key(src)
    for same in (src, str(tmp_path / "." / "src") + "/"):
        with pytest.raises(BadInputError, match="same collection"):
            copy_collection(src, same)
    assert _by_key(src).keys() == before.keys()
