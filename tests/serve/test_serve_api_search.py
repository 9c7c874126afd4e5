"""Search, collections, health and classify over a real server, checked against the library."""

import httpx
import numpy as np
import pytest
from serve_helpers import encode, shape_image

from jointspace.models import load_embedder
from jointspace.query import Collection
from jointspace.zeroshot.classifier import classify as zs_classify


@pytest.fixture(scope="module")
def lib(read_demo):
    """The served collection opened directly: the reference the API must agree with."""
    col = Collection.open(read_demo, readonly=True)
    yield col
    col.close()


def search(url, method="GET", **params):
    col = f"{url}/api/collections/demo/search"
    if method == "GET":
        return httpx.get(col, params=params)
    files = params.pop("files", None)
    return httpx.post(col, data=params, files=files)


def ids_scores(results):
    return [(r["id"], pytest.approx(r["score"], abs=1e-5)) for r in results]


def test_health_and_collections(read_server):
    h = httpx.get(f"{read_server}/api/health").json()
    assert h["status"] == "ok" and h["collections"] == 1 and h["queue"]["in_flight"] == 0
    cols = httpx.get(f"{read_server}/api/collections").json()["collections"]
    gap = cols[0].pop("modality_gap")  # test_serve_bank checks it against the library
    assert cols == [{"name": "demo", "count": 30, "model": "hash:64", "dim": 64,
                     "kinds": {"image": 24, "text": 6}, "index": "flat",
                     "modalities": ["image", "text"], "writable": False,
                     "query_banks": {}, "calibration": None}]
    assert 0 < gap < 2
    assert "path" not in cols[0]  # no server paths in the listing
    r = httpx.get(f"{read_server}/api/collections/nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFoundError"


def test_text_search_matches_the_library(read_server, lib):
    r = search(read_server, q="a red circle", k=5)
    assert r.status_code == 200
    body = r.json()
    expected = [h.to_dict() for h in lib.search("a red circle", k=5)]
    assert [x["id"] for x in body["results"]] == [x["id"] for x in expected]
    for got, want in zip(body["results"], expected):
        assert set(got) == set(want) and got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert got["metadata"] == want["metadata"]
    assert body["k"] == 5 and body["offset"] == 0 and body["next_offset"] == 5
    assert body["query"]["q"] == "a red circle"
    assert 0 < body["took_ms"] <= r.elapsed.total_seconds() * 1000  # within the round trip
    assert search(read_server, "POST", q="a red circle", k="5").json()["results"] == body["results"]


def test_hit_shape(read_server):
    results = search(read_server, q="circle", k=30).json()["results"]
    for r in results:
        keys = set(r)
        assert keys in ({"id", "kind", "path", "text", "score", "metadata"},
                        {"id", "kind", "text", "score", "metadata"})
        assert (r["kind"] == "image") == ("path" in r)


def test_image_upload_finds_the_same_picture(read_server, lib):
    picture = shape_image("green", "triangle", seed=14)  # demo image n=14, pixel-identical
    r = search(read_server, "POST", k="4", files={"image": ("q.png", encode(picture), "image/png")})
    assert r.status_code == 200
    results = r.json()["results"]
    assert results[0]["path"].endswith("green_triangle.png")
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert ids_scores(results) == ids_scores([h.to_dict() for h in lib.search(image=picture, k=4)])
    jpeg = search(read_server, "POST", files={"image": ("q.jpg", encode(picture, "JPEG"), "x/y")})
    assert jpeg.json()["results"][0]["path"].endswith("green_triangle.png")


def test_more_like_this_and_composed(read_server, lib):
    r = search(read_server, like=3, k=5).json()
    expected = lib.search(item_id=3, k=5)
    assert [x["id"] for x in r["results"]] == [h.id for h in expected]
    assert 3 not in [x["id"] for x in r["results"]]  # the item itself is excluded

    picture = shape_image("blue", "circle", seed=3)
    composed = search(read_server, "POST", q="a red square", text_weight="0.3",
                      image_weight="0.7", files={"image": ("q.png", encode(picture), "image/png")},
                      k="6").json()
    ref = lib.search("a red square", image=picture, text_weight=0.3, image_weight=0.7, k=6)
    assert ids_scores(composed["results"]) == ids_scores([h.to_dict() for h in ref])
    text_only = lib.search("a red square", k=6)
    assert [h.id for h in ref] != [h.id for h in text_only]  # the image really counted

    # like + text: image_weight weighs the item, as a ratio against the text
    got = search(read_server, like=3, q="tax law", text_weight=1, image_weight=4, k=5).json()
    ref = lib.search("tax law", item_id=3, text_weight=0.25, k=5)
    assert ids_scores(got["results"]) == ids_scores([h.to_dict() for h in ref])


def test_negatives_filters_kind(read_server, lib):
    got = httpx.get(f"{read_server}/api/collections/demo/search",
                    params=[("q", "circle"), ("not", "red"), ("not", "orange"),
                            ("negative_weight", "0.8"), ("k", "8")]).json()
    ref = lib.search("circle", negative=["red", "orange"], negative_weight=0.8, k=8)
    assert ids_scores(got["results"]) == ids_scores([h.to_dict() for h in ref])

    got = search(read_server, q="shape", where="color = blue and year >= 2013", k=30).json()
    assert got["results"] and got["next_offset"] is None
    assert all(r["metadata"]["color"] == "blue" and r["metadata"]["year"] >= 2013
               for r in got["results"])
    assert len(got["results"]) == len(lib.search("shape", where="color = blue and year >= 2013",
                                                 k=30))
    texts = search(read_server, q="circle", kind="text", k=30).json()["results"]
    assert len(texts) == 6 and {r["kind"] for r in texts} == {"text"}


def test_pagination_concatenates_to_one_big_page(read_server):
    full = search(read_server, q="a blue diamond", k=30).json()["results"]
    pages, offset = [], 0
    while offset is not None:
        body = search(read_server, q="a blue diamond", k=7, offset=offset).json()
        pages += body["results"]
        offset = body["next_offset"]
    assert [r["id"] for r in pages] == [r["id"] for r in full] and len(full) == 30


@pytest.mark.parametrize("params, status, words", [
    ({}, 400, "nothing to search"),
    ({"q": "   "}, 400, "nothing to search"),
    ({"q": "x", "k": 0}, 400, "k must be"),
    ({"q": "x", "k": 100_000}, 400, "k must be"),
    ({"q": "x", "where": "year >>= 3"}, 400, ""),
    ({"q": "x", "where": "x'; DROP TABLE items; --"}, 400, ""),
    ({"q": "x", "kind": "video"}, 400, "kind"),
    ({"q": "x", "text_weight": -1}, 400, "text_weight"),
    ({"q": "x", "text_weight": "nan"}, 400, "text_weight"),
    ({"like": 99999}, 404, "99999"),
    ({"q": "x", "k": "many"}, 422, "k"),
    ({"q": "x" * 20_000}, 400, "characters"),
])
def test_bad_searches(read_server, params, status, words):
    r = search(read_server, **params)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"type", "message", "hint"} and words in err["message"]


@pytest.mark.parametrize("mode, lib_mode", [("true", True), ("convex", "convex"),
                                             ("rrf", "rrf")])
def test_hybrid_search_passes_through(read_server, lib, mode, lib_mode):
    got = search(read_server, q="tax law", hybrid=mode, k=5).json()
    ref = lib.search("tax law", hybrid=lib_mode, k=5)
    assert ids_scores(got["results"]) == ids_scores([h.to_dict() for h in ref])
    assert got["query"]["hybrid"] == ("convex" if mode == "true" else mode)


def test_hybrid_modes_are_checked(read_server):
    assert search(read_server, q="x", hybrid="maybe").status_code == 400
    assert search(read_server, q="x", hybrid="off").status_code == 200
    r = search(read_server, like=2, hybrid="rrf")  # keywords need a text query
    assert r.status_code == 400 and "text" in r.json()["error"]["message"]


def test_classify_matches_the_zeroshot_module(read_server):
    picture = shape_image("red", "square", seed=4)
    r = httpx.post(f"{read_server}/api/collections/demo/classify",
                   files={"image": ("q.png", encode(picture), "image/png")},
                   data={"labels": ["red square, blue circle", "tax law"], "top": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    pred = zs_classify([picture], ["red square", "blue circle", "tax law"],
                       load_embedder("hash:64"), k=3)[0]
    assert body["model"] == "hash:64" and body["label"] == pred.label
    assert [x["label"] for x in body["labels"]] == [c for c, _ in pred.top]
    probs = [x["probability"] for x in body["labels"]]
    np.testing.assert_allclose(probs, [p for _, p in pred.top], atol=1e-5)
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)

    r = httpx.post(f"{read_server}/api/collections/demo/classify",
                   files={"image": ("q.png", encode(picture), "image/png")}, data={"labels": " , "})
    assert r.status_code == 400
    r = httpx.post(f"{read_server}/api/collections/demo/classify",
                   files={"image": ("q.png", b"GIF89a-broken", "image/gif")}, data={"labels": "a"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "ImageDecodeError"


def test_openapi_documents_the_endpoints(read_server):
    spec = httpx.get(f"{read_server}/openapi.json").json()
    paths = spec["paths"]
    for p in ("/api/health", "/api/collections", "/api/collections/{name}/search",
              "/api/collections/{name}/items/{item_id}/thumbnail",
              "/api/collections/{name}/items/{item_id}/original",
              "/api/collections/{name}/classify", "/api/collections/{name}/items",
              "/api/collections/{name}/remove"):
        assert p in paths, p
    assert {"get", "post"} <= set(paths["/api/collections/{name}/search"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    hit = spec["components"]["schemas"]["HitOut"]["properties"]
    assert set(hit) == {"id", "kind", "path", "text", "score", "metadata", "relevance"}


def test_uploaded_pixels_are_exactly_those_decoded(read_server, lib):
    # a palette PNG goes through the same decoder as ingest
    im = shape_image("purple", "diamond", seed=23).quantize(16)
    r = search(read_server, "POST", files={"image": ("p.png", encode(im), "image/png")}, k="1")
    ref = lib.search(image=encode(im), k=1)  # the library decodes the same bytes itself
    assert r.json()["results"][0]["id"] == ref[0].id
