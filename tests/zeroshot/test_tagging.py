"""Tagging: pure (ids, vectors) -> tags, and writing tags into a collection's metadata."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.models import load_embedder
from jointspace.query import Collection
from jointspace.zeroshot.classifier import build_classifier
from jointspace.zeroshot.tagging import tag_collection, tag_vectors


def test_tag_vectors_top_k_and_floor():
    model = load_embedder("hash:64")
    clf = build_classifier(model, ["cat", "dog", "car"], templates="none")
    vecs = clf.weights[[2, 0]]  # item 7 "is" car, item 9 "is" cat
    tags = tag_vectors([7, 9], vecs, clf, top_k=2, min_probability=0.0)
    assert [t[0] for t in tags[7]] == ["car", tags[7][1][0]] and tags[9][0][0] == "cat"
    assert tags[7][0][1] > tags[7][1][1]
    only_best = tag_vectors([7], vecs[:1], clf, top_k=3, min_probability=1.01)
    assert [t[0] for t in only_best[7]] == ["car"]  # the best label is always kept
    assert tag_vectors([], np.zeros((0, 64)), clf) == {}


def test_tag_collection_writes_filterable_metadata(tmp_path, colour_folder):
    model = load_embedder("hash:64")
    col = Collection.create(tmp_path / "col", embedder=model)
    col.add(colour_folder, workers=0)
    col.add_texts(["a note"])
    report = tag_collection(col, ["red", "green", "blue"], top_k=2)
    assert (report.tagged, report.skipped) == (12, 1)
    assert sum(report.counts.values()) == 12
    item = col.search(image=colour_folder / "red" / "0.png", k=1)[0]
    best = item.metadata["tag"]
    assert item.metadata["tag_all"][0] == best and len(item.metadata["tag_all"]) >= 1
    assert set(item.metadata["tag_scores"]) == set(item.metadata["tag_all"])
    hits = col.search(image=colour_folder / "red" / "0.png", k=20, where=f"tag in ({best})")
    assert hits and all(h.metadata["tag"] == best for h in hits)
    assert len(hits) == report.counts[best]
    col.close()


def test_tagged_items_keep_their_fingerprint(tmp_path, colour_folder):
    model = load_embedder("hash:64")
    col = Collection.create(tmp_path / "col", embedder=model)
    col.add(colour_folder, workers=0)
    tag_collection(col, ["red", "blue"])
    again = col.add(colour_folder, workers=0)  # unchanged files are not re-embedded
    assert again.added == 0 and again.updated == 0
    col.close()


@pytest.mark.parametrize("bad", ["my tags", "1x"])
def test_bad_field_name(tmp_path, bad):
    from jointspace.errors import BadInputError

    col = Collection.create(tmp_path / "c", embedder=load_embedder("hash:8"))
    with pytest.raises(BadInputError):
        tag_collection(col, ["a", "b"], field=bad)
    col.close()
