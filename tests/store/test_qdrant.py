"""What only the Qdrant backend has: locations, credentials, ids, BM25 via sparse vectors, locks."""

import socket

import numpy as np
import pytest

from jointspace.errors import (
    BadInputError,
    CollectionError,
    CollectionLockedError,
    FilterSyntaxError,
)
from jointspace.query import Collection
from jointspace.query.bm25 import KeywordIndex
from jointspace.store import parse_filter
from jointspace.store.qdrant.companion import point_id
from jointspace.store.qdrant.location import parse_location
from jointspace.store.registry import StoreOptions, default_name, open_store, scheme_of


def test_locations_parse_to_targets(tmp_path):
    t = parse_location("qdrant://db.example:6334/photos")
    assert (t.url, t.name) == ("http://db.example:6334", "photos")
    assert parse_location("qdrants://db.example/photos").url == "https://db.example:6333"
    assert parse_location("qdrant://[::1]:6333/p").url == "http://[::1]:6333"
    t = parse_location(f"qdrant+local:{tmp_path}#mine")
    assert (t.path, t.name) == (tmp_path, "mine")
    assert parse_location(f"qdrant+local:{tmp_path}").name == "jointspace"
    for bad in ("qdrant://host:6333/", "qdrant://host/a/b", "qdrant://u:secret@host/p",
                "qdrant+local:", "qdrant://host/bad name"):
        with pytest.raises(BadInputError) as err:
            parse_location(bad)
        assert "secret" not in str(err.value)
    assert [scheme_of(x) for x in ("some/dir", "qdrant://h/n", "qdrant+local:/x", "c:dir")] == \
        ["local", "qdrant", "qdrant+local", "local"]
    assert default_name("qdrant://h:6333/photos") == "photos"


def test_api_key_is_never_shown():
    opts = StoreOptions(api_key="s3cr3t-key")
    assert "s3cr3t" not in repr(opts) and "s3cr3t" not in str(opts)


def test_unreachable_server_is_a_collection_error_with_a_hint():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CollectionError) as err:
        open_store(f"qdrant://127.0.0.1:{port}/x", options=StoreOptions(api_key="s3cr3t"))
    assert "cannot reach Qdrant" in err.value.message and err.value.hint
    assert "s3cr3t" not in str(err.value)


def test_point_ids_are_deterministic_and_reruns_idempotent(tmp_path):
    loc = f"qdrant+local:{tmp_path / 'q'}"
    col = Collection.create(loc, model="hash:32")
    col.add_texts(["a", "b", "c"], ids=["x", "y", "z"], source="t")
    ids = {h.text: h.id for h in col.search("a", k=3)}
    assert all(point_id(it.key) == it.id for it in col.store.get(list(ids.values())))
    assert all(0 < i < 2**53 for i in ids.values())  # exact in JSON numbers and JavaScript
    col.add_texts(["a", "b", "c"], ids=["x", "y", "z"], source="t")
    assert col.count() == 3 and {h.text: h.id for h in col.search("a", k=3)} == ids
    col.close()


def test_bm25_through_sparse_vectors_equals_the_local_keyword_index(tmp_path):
    texts = ["the cat sat on the mat", "dogs and cats play", "a zebra on the plain plain plain",
             "cats cats everywhere in the long long house of many rooms", "nothing here"]
    col = Collection.create(f"qdrant+local:{tmp_path / 'q'}", model="hash:16")
    col.add_texts(texts)  # one batch: avglen is the corpus average
    inputs = col.store.keyword_inputs()
    reference = KeywordIndex.build(inputs.ids, inputs.texts)
    for query in ("cats plain", "zebra", "house rooms cat"):
        ids, scores = col.store.keyword_search(query, 10)
        want = dict(zip(reference.ids, reference.scores(query)))
        assert set(ids) == {i for i, s in want.items() if s > 0}
        np.testing.assert_allclose(scores, [want[i] for i in ids], rtol=1e-5)
    assert col.store.keyword_search("unknownword", 10)[0] == []
    col.close()


@pytest.mark.parametrize("engine", ["local", "edge"])
def test_embedded_modes_allow_one_process_at_a_time(tmp_path, engine):
    loc = f"qdrant+{engine}:{tmp_path / 'q'}"
    col = Collection.create(loc, model="hash:16")
    with pytest.raises(CollectionLockedError):
        Collection.open(loc, readonly=True)
    col.close()
    Collection.open(loc, readonly=True).close()


def test_read_only_store_refuses_writes(tmp_path):
    loc = f"qdrant+local:{tmp_path / 'q'}"
    Collection.create(loc, model="hash:16").close()
    col = Collection.open(loc, readonly=True)
    with pytest.raises(CollectionError):
        col.add_texts(["a"])
    col.close()


def test_string_ranges_are_refused_not_answered_wrongly(tmp_path):
    col = Collection.create(f"qdrant+local:{tmp_path / 'q'}", model="hash:16")
    col.add_texts(["a", "b"], metadata=[{"name": "a"}, {"name": "b"}])
    for where in ('name >= "b"', "id > 3", "flag < true"):
        with pytest.raises(FilterSyntaxError):
            col.store.filter_ids(parse_filter(where))
    col.close()


def test_shards_and_replicas_reach_the_server_on_create(tmp_path):
    """A real local-mode client, recording what create_collection is asked for."""
    from qdrant_client import QdrantClient

    from jointspace.store.qdrant.location import Target
    from jointspace.store.qdrant.setup import create_collection

    client = QdrantClient(path=str(tmp_path / "q"))
    asked = []
    real = client.create_collection
    client.create_collection = lambda name, **kw: (asked.append((name, kw)), real(name, **kw))[1]
    target = Target(name="photos", url="http://example:6333")  # a server target: indexes too
    client.create_payload_index = lambda *a, **kw: asked.append(("index", a[1]))
    create_collection(client, target, "hash:8", 8, StoreOptions(shards=3, replicas=2))
    name, kw = asked[0]
    assert name == "photos" and (kw["shard_number"], kw["replication_factor"]) == (3, 2)
    assert kw["metadata"]["jointspace"]["model"] == "hash:8"
    assert [a[1] for a in asked if a[0] == "index"] == ["key", "source", "kind"]
    companion = asked[-1]  # one shard, replicated like the items
    assert companion[0] == "photos__jointspace" and "shard_number" not in companion[1]
    assert companion[1]["replication_factor"] == 2
    client.close()
