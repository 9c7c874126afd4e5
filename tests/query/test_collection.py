"""Collection end to end with the deterministic hash embedder: sync, filters, queries."""


import numpy as np
import pytest
from PIL import Image

from jointspace.errors import BadInputError, ModelMismatchError, NotFoundError
from jointspace.models import load_embedder
from jointspace.query import Collection


def _write_images(folder, n, start=0, size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    paths = []
    for i in range(start, start + n):
        arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        p = folder / f"img{i:03d}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def images(tmp_path):
    return tmp_path / "photos", _write_images(tmp_path / "photos", 12)


# syncing (add / update / unchanged / remove / fail) is in tests/store/test_backends.py, on
# every backend

def test_stored_vectors_equal_direct_embedding(tmp_path, images):
    folder, paths = images
    col = Collection.create(tmp_path / "c", model="hash:32")
    col.add(folder, batch_size=5, workers=1)  # forces the worker-process path
    emb = load_embedder("hash:32")
    for p in paths:
        hit = col.search(image=p, k=1)[0]
        assert hit.path == str(p) and hit.score == pytest.approx(1.0, abs=1e-5)
        direct = emb.embed_images([Image.open(p).convert("RGB")])[0]
        np.testing.assert_allclose(col.vector(hit.id), direct, atol=1e-6)
    col.close()


def test_texts_filters_and_composition(tmp_path):
    col = Collection.create(tmp_path / "c", model="hash:64")
    texts = [f"document {i} about {'cats' if i % 2 else 'dogs'}" for i in range(40)]
    col.add_texts(texts, metadata=[{"n": i, "pet": "cat" if i % 2 else "dog"} for i in range(40)])
    hits = col.search("cats", k=100, where="n < 10 and pet = cat")
    assert sorted(h.metadata["n"] for h in hits) == [1, 3, 5, 7, 9]  # exact: all 5, no more
    page1 = col.search("cats", k=5)
    page2 = col.search("cats", k=5, offset=5)
    both = col.search("cats", k=10)
    assert [h.id for h in page1 + page2] == [h.id for h in both]
    like = col.search(item_id=both[0].id, k=3)
    assert both[0].id not in [h.id for h in like]
    neg = col.search("cats", negative="dogs", k=3)
    assert len(neg) == 3 and all(-1.0 <= h.score <= 1.0 for h in neg)
    with pytest.raises(BadInputError):
        col.search("   ")
    with pytest.raises(NotFoundError):
        col.search(item_id=99999)
    assert col.remove(where={"pet": "dog"}) == 20 and col.count() == 20
    col.close()


def test_model_is_fixed_per_collection(tmp_path):
    Collection.create(tmp_path / "c", model="hash:32").close()
    with pytest.raises(ModelMismatchError):
        Collection.open(tmp_path / "c", model="hash:64")
    with pytest.raises(ModelMismatchError):
        Collection.create(tmp_path / "c", model="hash:64")


def test_manifest_with_captions_and_metadata(tmp_path):
    folder = tmp_path / "imgs"
    paths = _write_images(folder, 3)
    manifest = folder / "pairs.jsonl"
    import json

    manifest.write_text("\n".join(json.dumps({"file": p.name, "captions": [f"cap {i}", "x"],
                                              "year": 2010 + i}) for i, p in enumerate(paths)))
    col = Collection.create(tmp_path / "c", model="hash:32")
    r = col.add(manifest, workers=0)
    assert r.added == 3
    hits = col.search(image=paths[2], k=3, where="year >= 2011")
    assert hits[0].path == str(paths[2]) and hits[0].text == "cap 2\nx"
    assert {h.metadata["year"] for h in hits} == {2011, 2012}
    # editing only metadata updates it without re-embedding (and says so: issue 12)
    manifest.write_text(manifest.read_text().replace('"year": 2012', '"year": 1999'))
    r = col.add(manifest, workers=0)
    assert (r.added, r.updated, r.unchanged) == (0, 1, 2)
    assert col.search(image=paths[2], k=1)[0].metadata["year"] == 1999
    col.close()


def test_hybrid_finds_keyword_matches_and_respects_filters(tmp_path):
    col = Collection.create(tmp_path / "c", model="hash:64")
    texts = [f"common words number {i}" for i in range(30)] + ["the rare zebra appears here"]
    col.add_texts(texts, metadata=[{"n": i} for i in range(31)])
    for method in (True, "rrf"):
        hits = col.search("zebra", k=3, hybrid=method)
        assert hits[0].text == "the rare zebra appears here"
        assert col.search("zebra", k=5, hybrid=method, where="n < 30")[0].text != texts[-1]
        assert len(col.search("zebra", k=5, hybrid=method, where="n < 3")) == 3
    col.add_texts(["zebra zebra zebra"], ids=["new"])  # the keyword index follows changes
    assert col.search("zebra", k=1, hybrid=True)[0].text == "zebra zebra zebra"
    with pytest.raises(BadInputError):
        col.search(item_id=1, hybrid=True)
    col.close()


def test_annotations_show_filter_and_survive_resync(tmp_path, images):
    folder, paths = images
    col = Collection.create(tmp_path / "c", model="hash:32")
    col.add(folder, workers=0)
    ids = [h.id for h in col.search(image=paths[0], k=12)]
    assert col.annotate({ids[0]: {"tag": "cat"}, ids[1]: {"tag": "dog"}, 99999: {"tag": "x"}}) == 2
    col.add(folder, workers=0)  # re-sync: source metadata is {}, the tags stay
    tagged = col.search(image=paths[0], k=12, where="tag in (cat, dog)")
    assert sorted(h.metadata["tag"] for h in tagged) == ["cat", "dog"]
    col.annotate({ids[0]: {"tag": None}})
    assert [h.metadata for h in col.search(image=paths[0], k=12, where="tag = cat")] == []
    with pytest.raises(BadInputError):
        col.annotate({ids[0]: {"bad field": 1}})
    col.close()


def test_add_texts_without_ids_keys_by_content(tmp_path):
    from jointspace.ingest.sources import TextsSource

    with Collection.create(tmp_path / "c", "hash:32") as col:
        first = col.add_texts(["alpha", "beta", "alpha"], metadata=[{"n": 0}, {"n": 1}, {"n": 2}])
        assert first.added == 2  # a repeat within one call is one item, with its first metadata
        assert col.add_texts(["gamma"]).added == 1  # a second call adds, it does not replace
        assert col.add_texts(["beta", "alpha"], metadata=[{"n": 1}, {"n": 0}]).unchanged == 2
        assert sorted(h.text for h in col.search("x", k=10)) == ["alpha", "beta", "gamma"]
        assert col.search("x", where="n = 0", k=5)[0].text == "alpha"
        # texts stored by an older version under position keys keep them: no copy, no loss
        col.add(TextsSource(["old zero", "old one"], id="texts"))
        again = col.add_texts(["old one", "old zero", "delta"])
        assert (again.added, again.unchanged) == (1, 2)
        assert len(col.search("x", k=20)) == 6
