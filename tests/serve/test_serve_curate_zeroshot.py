"""Quality routes over a real server: ZLaP / ZPE classify and duplicates, against the library."""

from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_helpers import encode, shape_image

from jointspace.query import Collection
from jointspace.zeroshot.classifier import build_classifier
from jointspace.zeroshot.transductive import classify_new_images, collection_graph

LABELS = ["red circle", "blue square", "green triangle"]


def post_zeroshot(url, picture, **data):
    return httpx.post(f"{url}/api/collections/demo/zeroshot",
                      files={"image": ("q.png", encode(picture), "image/png")},
                      data={"labels": ",".join(LABELS), "top": "3", **data}, timeout=60)


def test_transductive_classify_matches_the_library(read_server, read_demo):
    picture = shape_image("red", "circle", seed=7)
    r = post_zeroshot(read_server, picture, transductive="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transductive"]["k"] >= 1 and len(body["labels"]) == 3
    with Collection.open(read_demo, readonly=True) as col:
        clf = build_classifier(col.embedder, LABELS)
        graph = collection_graph(col, clf)  # read-only: computed, not stored
        scores = classify_new_images(col, graph, col.embedder.embed_images([picture]))[0]
    assert body["label"] == LABELS[int(scores.argmax())]
    got = {x["label"]: x["score"] for x in body["labels"]}
    np.testing.assert_allclose([got[c] for c in LABELS], scores, atol=1e-5)
    again = post_zeroshot(read_server, picture, transductive="true").json()
    assert again["labels"] == body["labels"]


def test_zpe_weights_are_returned(read_server):
    r = post_zeroshot(read_server, shape_image("blue", "square", seed=1), prompt_weights="zpe",
                      templates="imagenet7")
    assert r.status_code == 200, r.text
    weights = r.json()["template_weights"]
    assert len(weights) == 7 and sum(w["weight"] for w in weights) == pytest.approx(1, abs=1e-4)
    bad = post_zeroshot(read_server, shape_image("blue", "square"), prompt_weights="best")
    assert bad.status_code == 400 and "zpe" in bad.json()["error"]["hint"]


def build_duplicates_collection(root: Path) -> Path:
    """root/demo (hash:64): three shapes, an exact copy of 0.png and a half-size 1.png."""
    photos = root / "photos"
    photos.mkdir()
    for i, (c, s) in enumerate([("red", "circle"), ("blue", "square"), ("green", "star")]):
        shape_image(c, s, seed=i).save(photos / f"{i}.png")
    (photos / "0_copy.png").write_bytes((photos / "0.png").read_bytes())
    shape_image("blue", "square", seed=1).resize((48, 48)).save(photos / "1_small.png")
    with Collection.create(root / "demo", model="hash:64") as col:
        col.add(photos, workers=0)
    return root / "demo"


def test_duplicates_read_then_mark(start_server, tmp_path, tokens):
    url = start_server([build_duplicates_collection(tmp_path)], tokens_file=tokens["file"])
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    read = {"Authorization": f"Bearer {tokens['read']}"}
    base = f"{url}/api/collections/demo/duplicates"
    found = httpx.get(base, params={"threshold": 0.9, "keep": "largest"}, headers=read).json()
    names = sorted(sorted(p.rsplit("/", 1)[1] for p in g["paths"]) for g in found["groups"])
    assert names == [["0.png", "0_copy.png"], ["1.png", "1_small.png"]]
    assert found["dry_run"] is True and found["marked"] == 0
    assert httpx.post(base, data={"keep": "largest", "threshold": 0.9},
                      headers=read).status_code == 403
    marked = httpx.post(base, data={"keep": "largest", "threshold": 0.9}, headers=admin).json()
    assert marked["marked"] == 2 and marked["dry_run"] is False
    with Collection.open(tmp_path / "demo", readonly=True) as col:
        flagged = [g for g in marked["groups"] for i in g["ids"]
                   if col.get(i).metadata.get("duplicate_of") == g["keep"]]
    assert len(flagged) == 2
