"""One behavioural suite, run against every backend: local, qdrant+local, a Qdrant server.

Oracles are brute-force numpy over the stored vectors and Python predicates over the metadata.
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from jointspace.errors import (
    BadInputError,
    CollectionLockedError,
    CollectionNotFoundError,
    FilterSyntaxError,
    ModelMismatchError,
    NotFoundError,
)
from jointspace.query import Collection
from jointspace.store import parse_filter
from jointspace.store.registry import check_store


def _write_images(folder, n, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    paths = []
    for i in range(start, start + n):
        p = folder / f"img{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def _all_vectors(col):
    parts = list(col.store.scan_vectors(batch=7))  # an odd batch size: pages must join up
    ids = np.concatenate([p[0] for p in parts])
    return ids, np.concatenate([p[1] for p in parts])


def _brute(col, q, k, allowed=None):
    ids, vecs = _all_vectors(col)
    scores = vecs @ q
    keep = [i for i in np.argsort(-scores, kind="stable")
            if allowed is None or int(ids[i]) in allowed]
    return [int(ids[i]) for i in keep[:k]], scores


def test_sync_add_update_unchanged_remove_fail(location, tmp_path):
    folder = tmp_path / "photos"
    paths = _write_images(folder, 12)
    col = Collection.create(location(), model="hash:32")
    r = col.add(folder, workers=0)
    assert (r.added, r.updated, r.unchanged, r.removed, r.failed) == (12, 0, 0, 0, 0)
    first_ids = {h.path: h.id for h in col.search(image=paths[0], k=20)}
    r = col.add(folder, workers=0)
    assert (r.added, r.unchanged) == (0, 12)
    _write_images(folder, 1, start=100)[0].replace(paths[0])
    os.utime(paths[1], ns=(1, 1))
    paths[2].unlink()
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    r = col.add(folder, workers=0)
    assert (r.added, r.updated, r.unchanged, r.removed, r.failed) == (0, 1, 10, 1, 1)
    assert col.count() == 11
    assert [e.path for e in col.errors()] == [str(folder / "broken.jpg")]
    _write_images(tmp_path / "more", 1, start=50)[0].replace(folder / "broken.jpg")
    assert col.add(folder, workers=0).added == 1
    assert col.errors() == []  # a fixed file clears its error record
    now = {h.path: h.id for h in col.search(image=paths[3], k=20)}
    assert all(now[str(p)] == first_ids[str(p)] for p in paths[3:])  # ids stay across syncs
    col.close()


def test_every_search_mode_matches_brute_force(location, tmp_path):
    col = Collection.create(location(), model="hash:64")
    texts = [f"document {i} about {'cats' if i % 2 else 'dogs'} and {i % 7}" for i in range(60)]
    col.add_texts(texts, metadata=[{"n": i} for i in range(60)])
    emb = col.embedder
    q = emb.embed_texts(["cats"])[0]
    want, _ = _brute(col, q, 10)
    assert [h.id for h in col.search("cats", k=10)] == want
    page = col.search("cats", k=5, offset=5)
    assert [h.id for h in page] == want[5:10]
    like = col.search(item_id=want[0], k=4)
    wanted, _ = _brute(col, col.vector(want[0]), 5)
    assert [h.id for h in like] == [i for i in wanted if i != want[0]][:4]
    neg = col.search("cats", negative="dogs", k=3)
    composed = q - 0.5 * emb.embed_texts(["dogs"])[0]
    assert [h.id for h in neg] == _brute(col, composed / np.linalg.norm(composed), 3)[0]
    _, scores = _brute(col, q, 1)
    assert col.search("cats", k=1)[0].score == pytest.approx(float(scores.max()), abs=1e-5)
    img = Image.fromarray(np.zeros((20, 20, 3), np.uint8))
    assert len(col.search(image=img, k=3)) == 3
    with pytest.raises(NotFoundError):
        col.search(item_id=123456789)
    with pytest.raises(BadInputError):
        col.search("  ")
    col.close()


FILTER_CASES = [
    ("n < 10 and pet = cat", lambda m: m.get("n", 99) < 10 and m.get("pet") == "cat"),
    ("n >= 37.5", lambda m: m.get("n") is not None and m["n"] >= 37.5),
    ("pet in (cat, fish)", lambda m: m.get("pet") in ("cat", "fish")),
    ("pet not in (cat)", lambda m: m.get("pet") is not None and m["pet"] != "cat"),
    ("pet != dog", lambda m: m.get("pet") is not None and m["pet"] != "dog"),
    ("pet = null", lambda m: m.get("pet") is None),
    ("pet in (fish, null)", lambda m: m.get("pet") in ("fish", None)),
    ("score = 3", lambda m: m.get("score") == 3),  # 3 and 3.0 both match
    ("place.city = Paris", lambda m: (m.get("place") or {}).get("city") == "Paris"),
    ("flag = true", lambda m: m.get("flag") is True),
    ("year = \"2015\"", lambda m: m.get("year") == "2015"),  # a string never equals a number
]


def _meta(i):
    m = {"n": i, "year": 2015 if i % 4 else "2015"}
    if i % 5:
        m["pet"] = ["dog", "cat", "fish"][i % 3]
    if i % 6 == 0:
        m["score"] = 3.0 if i % 12 else 3
    if i % 7 == 0:
        m["place"] = {"city": "Paris" if i % 14 else "Rome"}
    if i % 8 == 0:
        m["flag"] = True
    return m


@pytest.mark.parametrize("where,pred", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filters_are_exact(location, backend, where, pred):
    col = Collection.create(location(), model="hash:32")
    n = 80
    metas = [_meta(i) for i in range(n)]
    col.add_texts([f"text {i}" for i in range(n)], metadata=metas)
    if backend == "qdrant+edge" and "true" in where:  # refused there, not answered wrongly
        with pytest.raises(FilterSyntaxError):
            col.search("text", k=n, where=where)
        return col.close()
    match = {i for i in range(n) if pred(metas[i])}
    assert match  # every case selects something
    hits = col.search("text", k=n, where=where)
    assert {h.metadata["n"] for h in hits} == match  # exact: all matches, nothing else
    hits = col.search("text", k=3, where=where)
    assert len(hits) == min(3, len(match))  # k back when k match
    assert {int(i) for i in col.store.filter_ids(parse_filter(where))} == \
        {h.id for h in col.search("text", k=n, where=where)}
    col.close()


def test_kind_filter_and_remove_by_filter(location):
    col = Collection.create(location(), model="hash:32")
    col.add_texts([f"t{i}" for i in range(10)], metadata=[{"n": i} for i in range(10)])
    assert len(col.search("t1", k=20, kind="text")) == 10
    assert col.search("t1", k=20, kind="image") == []
    assert col.remove(where="n >= 6") == 4 and col.count() == 6
    assert col.remove([h.id for h in col.search("t1", k=2)]) == 2 and col.count() == 4
    col.close()


def test_hybrid_finds_keywords_and_follows_changes(location):
    col = Collection.create(location(), model="hash:64")
    texts = [f"common words number {i}" for i in range(30)] + ["the rare zebra appears here"]
    col.add_texts(texts, metadata=[{"n": i} for i in range(31)])
    for method in (True, "rrf"):
        assert col.search("zebra", k=3, hybrid=method)[0].text == texts[-1]
        assert col.search("zebra", k=5, hybrid=method, where="n < 30")[0].text != texts[-1]
        assert len(col.search("zebra", k=5, hybrid=method, where="n < 3")) == 3
    col.add_texts(["zebra zebra zebra"], ids=["new"])
    assert col.search("zebra", k=1, hybrid=True)[0].text == "zebra zebra zebra"
    zid = col.search("zebra", k=1, hybrid=True)[0].id
    col.annotate({zid: {"label": "unicorn"}})  # string annotations are keywords too
    assert col.search("unicorn", k=1, hybrid=True)[0].id == zid
    col.close()


def test_annotations_show_filter_and_survive_resync(location, tmp_path):
    folder = tmp_path / "photos"
    paths = _write_images(folder, 6)
    col = Collection.create(location(), model="hash:32")
    col.add(folder, workers=0)
    ids = [h.id for h in col.search(image=paths[0], k=6)]
    assert col.annotate({ids[0]: {"tag": "cat", "deep": {"a": 1, "b": 2}},
                         ids[1]: {"tag": "dog"}, 99999: {"tag": "x"}}) == 2
    col.add(folder, workers=0)
    tagged = col.search(image=paths[0], k=6, where="tag in (cat, dog)")
    assert sorted(h.metadata["tag"] for h in tagged) == ["cat", "dog"]
    col.annotate({ids[0]: {"tag": None, "deep": {"a": None}}})  # RFC 7396 merge patch
    assert col.get(ids[0]).metadata == {"deep": {"b": 2}}
    assert col.search(image=paths[0], k=6, where="tag = cat") == []
    col.close()


def test_model_mismatch_missing_collection_and_state(location):
    loc = location()
    with pytest.raises(CollectionNotFoundError):
        Collection.open(loc)
    col = Collection.create(loc, model="hash:32")
    col.add_texts(["a", "b"])
    seq = col.store.seq()
    with col.store.writer():
        col.store.write_state("bank", b"\x00\x01", None)
    assert col.store.read_state("bank").data == b"\x00\x01"
    assert col.store.read_state("bank").seq == seq and col.store.read_state("nope") is None
    col.add_texts(["c"], ids=["2"])
    assert col.store.seq() > seq  # the blob is now stale
    with pytest.raises(CollectionLockedError):
        col.store.write_state("bank", b"x")  # outside the writer
    col.close()
    with pytest.raises(ModelMismatchError):
        Collection.open(loc, model="hash:64")
    with pytest.raises(ModelMismatchError):
        Collection.create(loc, model="hash:64")


def test_check_reports_a_healthy_collection(location):
    loc = location()
    col = Collection.create(loc, model="hash:32")
    col.add_texts([f"t{i}" for i in range(20)])
    info = col.info()
    col.close()
    report = check_store(loc)
    assert report.ok, report.findings
    assert report.counts["items"] == 20 == info["count"] and info["model"] == "hash:32"


def test_manifest_metadata_edit_touches_without_reembedding(location, tmp_path):
    folder = tmp_path / "imgs"
    paths = _write_images(folder, 3)
    manifest = folder / "pairs.jsonl"
    manifest.write_text("\n".join(json.dumps({"file": p.name, "captions": [f"cap {i}"],
                                              "year": 2010 + i}) for i, p in enumerate(paths)))
    col = Collection.create(location(), model="hash:32")
    assert col.add(manifest, workers=0).added == 3
    manifest.write_text(manifest.read_text().replace('"year": 2012', '"year": 1999'))
    before = col.store.vectors([h.id for h in col.search(image=paths[2], k=1)])
    r = col.add(manifest, workers=0)
    assert (r.added, r.updated, r.unchanged) == (0, 1, 2)  # a metadata edit is an update...
    hit = col.search(image=paths[2], k=1)[0]
    assert hit.metadata["year"] == 1999
    np.testing.assert_array_equal(col.store.vectors([hit.id]), before)  # ...with the same vector
    assert [h.path for h in col.search(image=paths[2], k=3, where="year < 2000")] == [str(paths[2])]
    col.close()


def test_tagging_goes_through_the_store(location, tmp_path):
    from jointspace.zeroshot.tagging import tag_collection

    folder = tmp_path / "photos"
    _write_images(folder, 5)
    col = Collection.create(location(), model="hash:32")
    col.add(folder, workers=0)
    col.add_texts(["a caption"])
    report = tag_collection(col, ["red", "blue"], templates=None)
    assert (report.tagged, report.skipped) == (5, 1)
    assert len(col.search("red", k=10, where="tag in (red, blue)")) == 5
    col.close()
