"""The quality layer over HTTP: hubness, balance and min_score agree with the library."""

import httpx
import pytest

from jointspace.query import Collection

CASES = [({"hubness": "qbnorm"}, {"hubness": "qbnorm"}),
         ({"hubness": "csls"}, {"hubness": "csls"}),
         ({"balance": "off"}, {"balance_modalities": False}),
         ({"balance": "on"}, {"balance_modalities": True}),
         ({"min_score": "auto"}, {"min_score": "auto"}),
         ({"min_score": "0.2"}, {"min_score": 0.2})]


def test_quality_options_match_the_library(start_server, writable_collection):
    with Collection.open(writable_collection) as col:
        col.build_query_bank()  # from the collection's own captions and texts
        col.calibrate()
    url = start_server([writable_collection])
    lib = Collection.open(writable_collection, readonly=True)
    try:
        for params, kwargs in CASES:
            for method in ("GET", "POST"):
                send = httpx.get if method == "GET" else httpx.post
                key = "params" if method == "GET" else "data"
                r = send(f"{url}/api/collections/demo/search",
                         **{key: {"q": "a red circle", "k": 5, **params}})
                assert r.status_code == 200, r.text
                body = r.json()
                want = [h.to_dict() for h in lib.search("a red circle", k=6, **kwargs)][:5]
                assert [x["id"] for x in body["results"]] == [x["id"] for x in want], params
                for got, exp in zip(body["results"], want):
                    assert got["score"] == pytest.approx(exp["score"], abs=1e-5)
                    assert got.get("relevance") == pytest.approx(exp.get("relevance"), abs=1e-4)
                assert body["query"] | params == body["query"]  # echoed back
        auto = httpx.get(f"{url}/api/collections/demo/search",
                         params={"q": "a red circle", "min_score": "auto"}).json()["results"]
        assert all("relevance" in h for h in auto)
        for bad in ({"hubness": "nope"}, {"min_score": "high"}, {"balance": "maybe"}):
            r = httpx.get(f"{url}/api/collections/demo/search", params={"q": "circle", **bad})
            assert r.status_code == 400, bad
            assert r.json()["error"]["type"] == "BadInputError"
    finally:
        lib.close()


def test_hubness_without_a_bank_says_how_to_build_one(read_server):
    r = httpx.get(f"{read_server}/api/collections/demo/search",
                  params={"q": "circle", "hubness": "qbnorm"})
    assert r.status_code == 400
    assert "jointspace bank" in r.json()["error"]["hint"]
