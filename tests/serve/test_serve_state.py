"""One process, several collections: the model is loaded once and shared; names are unique."""

import shutil
from pathlib import Path

import httpx
import pytest

from jointspace.errors import BadInputError, CollectionNotFoundError
from jointspace.query import Collection
from jointspace.serve.settings import ServeSettings
from jointspace.serve.state import ServeState, parse_collection_arg


def test_collections_share_one_model_and_get_unique_names(tmp_path, demo_collection):
    other = tmp_path / "b" / "demo"
    shutil.copytree(demo_collection, other, ignore=shutil.ignore_patterns("write.lock"))
    state = ServeState.open([demo_collection, other, f"named={other}"], ServeSettings())
    try:
        assert list(state.collections) == ["demo", "demo-2", "named"]
        embedders = {id(s.collection.embedder) for s in state.collections.values()}
        assert len(embedders) == 1 and list(state.embedders) == ["hash:64"]
        assert all(not s.writable for s in state.collections.values())
    finally:
        state.close()


def test_parse_collection_arg(tmp_path):
    assert parse_collection_arg("photos=/data/p") == ("photos", Path("/data/p"))
    assert parse_collection_arg("/data/p") == (None, Path("/data/p"))
    odd = tmp_path / "a=b"
    odd.mkdir()
    assert parse_collection_arg(str(odd)) == (None, odd)  # an existing path wins


def test_open_errors(tmp_path):
    with pytest.raises(CollectionNotFoundError):
        ServeState.open([tmp_path / "missing"])
    with pytest.raises(BadInputError, match="no collection to serve"):
        ServeState.open([])


def test_two_collections_over_http(start_server, demo_collection, tmp_path):
    other = tmp_path / "texts"
    col = Collection.create(other, model="hash:64")
    col.add_texts(["only texts here", "and here"])
    col.close()
    url = start_server([demo_collection, other])
    names = [c["name"] for c in httpx.get(f"{url}/api/collections").json()["collections"]]
    assert names == ["demo", "texts"]
    hits = httpx.get(f"{url}/api/collections/texts/search", params={"q": "texts"}).json()
    assert hits["results"][0]["text"] == "only texts here"
