"""`jointspace serve` over a Qdrant-backed collection answers as it does over the local one."""

import httpx
import pytest

from jointspace.transfer import copy_collection


@pytest.fixture(scope="module")
def qdrant_demo(read_demo, tmp_path_factory):
    location = f"qdrant+local:{tmp_path_factory.mktemp('qdrant_demo') / 'q'}"
    copy_collection(str(read_demo), location)
    return location


def _view(results):
    return [(r["kind"], r.get("path") or r.get("text"), round(r["score"], 4), r["metadata"])
            for r in results]


QUERIES = [{"q": "a red circle", "k": 5}, {"q": "circle", "k": 10, "where": "year >= 2010"},
           {"q": "shape", "k": 30, "where": ["color in (red, blue)", "shape != square"]},
           {"q": "circle", "kind": "text", "k": 3}, {"q": "zebra tax", "k": 3, "hybrid": "rrf"}]


def test_search_items_and_thumbnails_match_the_local_collection(start_server, read_demo,
                                                                qdrant_demo):
    url = start_server([f"local={read_demo}", f"remote={qdrant_demo}"])
    cols = {c["name"]: c for c in httpx.get(f"{url}/api/collections").json()["collections"]}
    assert cols["remote"]["count"] == cols["local"]["count"] == 30
    assert cols["remote"]["kinds"] == cols["local"]["kinds"]
    for params in QUERIES:
        got = {name: httpx.get(f"{url}/api/collections/{name}/search", params=params).json()
               for name in ("local", "remote")}
        assert _view(got["remote"]["results"]) == _view(got["local"]["results"]), params
    top = httpx.get(f"{url}/api/collections/remote/search", params={"q": "red"}).json()
    item = top["results"][0]
    assert httpx.get(f"{url}/api/collections/remote/items/{item['id']}").json()["id"] == item["id"]
    image = next(r for r in top["results"] if r["kind"] == "image")
    thumb = httpx.get(f"{url}/api/collections/remote/items/{image['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    like = httpx.get(f"{url}/api/collections/remote/search", params={"like": image["id"], "k": 3})
    assert image["id"] not in [r["id"] for r in like.json()["results"]]
