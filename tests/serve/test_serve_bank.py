"""The quality layer's stored state over HTTP: the collection description reports it, and admins
build the query bank and calibrate through POST /bank and /calibrate (checked against the library).
"""

import httpx
import pytest

from jointspace.query import Collection
from jointspace.query.quality_setup import BANK_MAX, collection_texts
from jointspace.serve import api_quality, schemas
from jointspace.serve.auth import create_token


def col_url(url: str) -> str:
    return f"{url}/api/collections/demo"


@pytest.fixture
def admin_server(start_server, writable_collection, tokens):
    """(collection URL, admin headers, read headers) of a writable demo collection."""
    url = start_server([writable_collection], tokens_file=tokens["file"])
    return (col_url(url), {"Authorization": f"Bearer {tokens['admin']}"},
            {"Authorization": f"Bearer {tokens['read']}"})


def test_description_reports_the_modality_gap_banks_and_calibration(read_server, read_demo):
    with Collection.open(read_demo, readonly=True) as col:
        want = col.quality_info()
    assert want["modality_gap"] is not None  # images and texts: a gap to report
    listed = httpx.get(f"{read_server}/api/collections").json()["collections"][0]
    one = httpx.get(col_url(read_server)).json()
    for body in (listed, one):
        assert body["modality_gap"] == pytest.approx(want["modality_gap"], abs=1e-4)
        assert body["query_banks"] == {} and body["calibration"] is None
        assert body["writable"] is False


def test_bank_from_captions_then_appended_makes_hubness_search_work(admin_server,
                                                                   writable_collection):
    col, admin, read = admin_server
    search = {"q": "a red circle", "k": 5, "hubness": "qbnorm"}
    assert httpx.get(f"{col}/search", params=search, headers=read).status_code == 400
    assert httpx.post(f"{col}/bank", headers=read).status_code == 403  # a write: admin only
    built = httpx.post(f"{col}/bank", headers=admin, timeout=60)
    assert built.status_code == 200, built.text
    with Collection.open(writable_collection, readonly=True) as lib:
        n_texts = len(collection_texts(lib.store))
    assert built.json() == {"collection": "demo", "modality": "text", "query_bank": n_texts,
                            "source": "captions", "append": False}
    assert httpx.get(col, headers=read).json()["query_banks"] == {"text": n_texts}
    found = httpx.get(f"{col}/search", params=search, headers=read)
    assert found.status_code == 200, found.text
    with Collection.open(writable_collection, readonly=True) as lib:
        want = [h.id for h in lib.search("a red circle", k=6, hubness="qbnorm")][:5]
    assert [h["id"] for h in found.json()["results"]] == want

    more = httpx.post(f"{col}/bank", headers=admin, timeout=60,
                      json={"texts": ["  a purple kite  ", "", "tax forms"], "append": True})
    assert more.json()["query_bank"] == n_texts + 2 and more.json()["source"] == "texts"
    replaced = httpx.post(f"{col}/bank", headers=admin, json={"texts": ["one query"]})
    assert replaced.json()["query_bank"] == 1
    assert httpx.get(col, headers=read).json()["query_banks"] == {"text": 1}


def test_calibrate_stores_the_cut_offs_the_library_then_uses(admin_server, writable_collection):
    col, admin, read = admin_server
    assert httpx.post(f"{col}/calibrate", headers=read).status_code == 403
    r = httpx.post(f"{col}/calibrate", headers=admin, json={"miss": 0.1}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["miss"] == 0.1 and body["count"] == 30 and set(body["calibration"]) == {
        "image", "text"}
    assert body["calibration"]["image"]["fitted_on_pairs"] == 24
    with Collection.open(writable_collection, readonly=True) as lib:
        cal = lib.calibration()  # the stored one: not refitted
    assert cal.miss == 0.1
    for kind, cut in body["calibration"].items():
        assert cut["cut"] == pytest.approx(cal.cuts[kind].cut, abs=1e-4)
    described = httpx.get(col, headers=read).json()["calibration"]
    assert described == {k: round(v.cut, 3) for k, v in cal.cuts.items()}
    default = httpx.post(f"{col}/calibrate", headers=admin, timeout=60).json()
    assert default["miss"] == 0.25  # no body: the default share
    assert default["calibration"]["image"]["cut"] != body["calibration"]["image"]["cut"]


@pytest.mark.parametrize("body", [
    {"texts": ["q"] * (schemas.MAX_BANK_TEXTS + 1)},
    {"texts": ["x" * (schemas.MAX_BANK_TEXT_CHARS + 1)]},
    {"texts": "a red circle"}, {"texts": [1, 2]}, {"texts": [["nested"]]},
    {"texts": ["q"], "append": "yes"}, {"text": ["misspelt: must not rebuild from captions"]},
])
def test_hostile_bank_bodies_are_refused(admin_server, body):
    col, admin, read = admin_server
    r = httpx.post(f"{col}/bank", headers=admin, json=body)
    assert r.status_code == 422 and r.json()["error"]["type"] == "ValidationError"
    assert httpx.get(col, headers=read).json()["query_banks"] == {}  # nothing was built


def test_bank_requests_that_make_no_sense_say_what_to_send(admin_server):
    col, admin, _ = admin_server
    for body, hint in (({"texts": ["  ", ""]}, "leave texts out"),
                       ({"append": True}, "send the queries")):
        r = httpx.post(f"{col}/bank", headers=admin, json=body)
        assert r.status_code == 400 and hint in r.json()["error"]["hint"], body
    not_json = httpx.post(f"{col}/bank", content=b"\xff{not json",
                          headers={**admin, "content-type": "application/json"})
    assert not_json.status_code == 400 and "parsing the body" in not_json.json()["error"][
        "message"]


@pytest.mark.parametrize("raw", [b'{"miss": 0}', b'{"miss": 1}', b'{"miss": 1.5}',
                                 b'{"miss": -0.1}', b'{"miss": true}', b'{"miss": "0.3"}',
                                 b'{"miss": NaN}', b'{"miss": Infinity}', b'{"mis": 0.2}',
                                 b'[0.2]'])
def test_calibrate_refuses_bad_bodies(admin_server, raw):
    col, admin, read = admin_server
    r = httpx.post(f"{col}/calibrate", content=raw,
                   headers={**admin, "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert httpx.get(col, headers=read).json()["calibration"] is None  # nothing was fitted


def test_a_body_over_the_limit_is_413(start_server, writable_collection, tokens):
    url = start_server([writable_collection], tokens_file=tokens["file"], max_body_bytes=4096)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    r = httpx.post(f"{col_url(url)}/bank", headers=admin, json={"texts": ["word " * 200] * 10})
    assert r.status_code == 413


def test_writes_need_a_writable_collection(start_server, writable_collection, tmp_path):
    open_url = start_server([writable_collection])  # no tokens: read-only, no admin at all
    for route in ("bank", "calibrate"):
        r = httpx.post(f"{col_url(open_url)}/{route}")
        assert r.status_code == 403 and "without access tokens" in r.json()["error"]["message"]
    tokens_file = tmp_path / "late.txt"
    create_token(tokens_file, "read")
    url = start_server([writable_collection], tokens_file=str(tokens_file))
    admin = {"Authorization": f"Bearer {create_token(tokens_file, 'admin')}"}  # after opening
    for route in ("bank", "calibrate"):
        r = httpx.post(f"{col_url(url)}/{route}", headers=admin)
        assert r.status_code == 400 and "read-only" in r.json()["error"]["message"]
        assert "--tokens-file" in r.json()["error"]["hint"]


def test_another_writer_makes_it_409(admin_server, writable_collection, monkeypatch):
    from jointspace.store import LocalStore

    col, admin, _ = admin_server
    monkeypatch.setattr(api_quality, "LOCK_TIMEOUT_S", 0.2)
    other = LocalStore.open(writable_collection)
    other.acquire_writer(0)
    try:
        for route in ("bank", "calibrate"):
            r = httpx.post(f"{col}/{route}", headers=admin, timeout=30)
            assert r.status_code == 409, r.text
            assert r.json()["error"]["type"] == "CollectionLockedError"
    finally:
        other.close()


def test_the_bank_limit_is_the_librarys():
    assert schemas.MAX_BANK_TEXTS == BANK_MAX
