"""Hostile inputs and configurations: wildcard CORS, files swapped for symlinks after indexing,
a tokens file broken while serving, out-of-range ids, mismatched lists, failing uploads, and
``hide_paths``."""

from __future__ import annotations

import os
import pathlib
import shutil

import httpx
import pytest
from serve_helpers import COLORS, SHAPES, encode, png_of, shape_image

from jointspace.errors import BadInputError
from jointspace.models import register_backend
from jointspace.models.hashing import GridPreprocessor, HashEmbedder
from jointspace.query import Collection
from jointspace.serve.run import build
from jointspace.serve.settings import ServeSettings


def col_url(url: str) -> str:
    return f"{url}/api/collections/demo"


# --- CORS ------------------------------------------------------------------------------------
@pytest.mark.parametrize("origin", ["*", "null"])
def test_wildcard_cors_without_tokens_is_refused(demo_collection, origin):
    with pytest.raises(BadInputError, match="without access tokens"):
        build([str(demo_collection)], ServeSettings(cors_origins=[origin]))


@pytest.mark.parametrize("origin", ["https://app.example/", "app.example", "https://a.example/x"])
def test_cors_origins_that_can_never_match_are_refused(demo_collection, origin):
    with pytest.raises(BadInputError, match="not a web origin"):
        build([str(demo_collection)], ServeSettings(cors_origins=[origin]))


def test_wildcard_cors_with_tokens_never_allows_credentials(start_server, demo_collection,
                                                             tokens):
    url = start_server([demo_collection], tokens_file=tokens["file"], cors_origins=["*"])
    evil = {"Origin": "https://evil.example", "Cookie": "session=1"}
    pre = httpx.options(f"{col_url(url)}/search", headers={
        **evil, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"
    r = httpx.get(f"{col_url(url)}/search", params={"q": "red"}, headers=evil)
    assert r.status_code == 401  # a page without a token reads nothing ...
    assert r.headers["access-control-allow-origin"] == "*"  # ... and is told so, not reflected
    ok = httpx.get(f"{col_url(url)}/search", params={"q": "red"},
                   headers={**evil, "Authorization": f"Bearer {tokens['read']}"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "*"
    for resp in (pre, r, ok):
        assert "access-control-allow-credentials" not in resp.headers


def test_listed_origin_is_not_given_credentials(start_server, demo_collection):
    url = start_server([demo_collection], cors_origins=["https://app.example"])
    r = httpx.get(f"{url}/api/collections", headers={"Origin": "https://app.example",
                                                     "Cookie": "a=b"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in r.headers


# --- files swapped after indexing ---------------------------------------------------------------
@pytest.fixture
def swappable(tmp_path):
    """A folder collection of three images, and a secret PNG outside its root."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name, colour in (("a.png", "red"), ("sub/b.png", "blue"), ("c.png", "green")):
        shape_image(colour, "circle", seed=len(name)).save(root / name)
    os.symlink(root / "c.png", root / "inside-link.png")  # a link within the root is fine
    secret = tmp_path / "secret"
    secret.mkdir()
    shape_image("purple", "square").save(secret / "a.png")
    shape_image("purple", "square").save(secret / "b.png")
    col = Collection.create(tmp_path / "demo", model="hash:64")
    col.add(root, workers=0)
    ids = {os.path.relpath(h.path, root): h.id for h in col.search("x", k=10)}
    col.close()
    return tmp_path / "demo", root, secret, ids


def test_files_replaced_by_symlinks_after_indexing_are_refused(start_server, swappable):
    path, root, secret, ids = swappable
    url = start_server([path])

    def fetch(item: str, what: str) -> httpx.Response:
        return httpx.get(f"{col_url(url)}/items/{ids[item]}/{what}", params={"size": 128}
                         if what == "thumbnail" else None)

    for what in ("original", "thumbnail"):  # as indexed: served
        assert fetch("a.png", what).status_code == 200
        assert fetch("inside-link.png", what).status_code == 200
    os.unlink(root / "a.png")
    os.symlink(secret / "a.png", root / "a.png")  # the file itself swapped for a link
    shutil.rmtree(root / "sub")
    os.symlink(secret, root / "sub")  # a folder on the way swapped for a link
    for item in ("a.png", "sub/b.png"):
        for what in ("original", "thumbnail"):
            r = fetch(item, what)
            assert r.status_code == 404, (item, what, r.status_code)
            assert str(secret) not in r.text and str(root) not in r.text
            assert r.json()["error"]["type"] == "NotFoundError"
    assert fetch("c.png", "original").status_code == 200  # the rest is still served


def test_undecodable_file_is_404_without_its_path(start_server, swappable):
    path, root, _, ids = swappable
    url = start_server([path])
    (root / "c.png").write_bytes(b"no longer an image")
    os.unlink(root / "a.png")
    os.mkfifo(root / "a.png")  # a reader of a FIFO would block a thread for ever
    for item in ("c.png", "a.png"):
        for what in ("original", "thumbnail"):
            r = httpx.get(f"{col_url(url)}/items/{ids[item]}/{what}", timeout=20)
            assert r.status_code == 404 and str(root) not in r.text


# --- tokens file broken while serving --------------------------------------------------------
def test_malformed_tokens_file_is_500_without_its_path(start_server, demo_collection, tokens):
    url = start_server([demo_collection], tokens_file=tokens["file"])
    read = {"Authorization": f"Bearer {tokens['read']}"}
    assert httpx.get(f"{col_url(url)}/search", params={"q": "a"}, headers=read).status_code == 200
    with open(tokens["file"], "a") as f:
        f.write("sha256:not-hex admin\n")
    for r in (httpx.get(f"{col_url(url)}/search", params={"q": "a"}, headers=read),
              httpx.get(f"{col_url(url)}/items/1", headers=read),
              httpx.post(f"{col_url(url)}/search", data={"q": "a"}, headers=read)):
        assert r.status_code == 500, r.text
        assert r.json()["error"]["type"] == "TokensUnavailableError"
        assert tokens["file"] not in r.text and "line" not in r.text
    os.unlink(tokens["file"])  # gone altogether: the same
    r = httpx.get(f"{col_url(url)}/search", params={"q": "a"}, headers=read)
    assert r.status_code == 500 and tokens["file"] not in r.text


# --- ids and lists ---------------------------------------------------------------------------------
@pytest.fixture
def admin_server(start_server, writable_collection, tokens):
    url = start_server([writable_collection], tokens_file=tokens["file"])
    return url, {"Authorization": f"Bearer {tokens['admin']}"}, writable_collection


def test_ids_beyond_64_bits_are_400(admin_server):
    url, admin, _ = admin_server
    for like in (2**63, 2**70, -1):
        r = httpx.get(f"{col_url(url)}/search", params={"like": like}, headers=admin)
        assert r.status_code == 400 and r.json()["error"]["type"] == "BadInputError", r.text
        r = httpx.post(f"{col_url(url)}/search", data={"like": str(like)}, headers=admin)
        assert r.status_code == 400, r.text
    for ids in ([2**63], [1, 2**80], [-5]):
        r = httpx.post(f"{col_url(url)}/remove", json={"ids": ids}, headers=admin)
        assert r.status_code == 400 and "item ids" in r.json()["error"]["message"], r.text
    for ident in (2**63, 2**64 + 5, "9" * 5000):
        for r in (httpx.get(f"{col_url(url)}/items/{ident}", headers=admin),
                  httpx.get(f"{col_url(url)}/items/{ident}/thumbnail", headers=admin),
                  httpx.delete(f"{col_url(url)}/items/{ident}", headers=admin)):
            assert r.status_code == 400 and "item ids" in r.json()["error"]["message"], r.text
    assert httpx.get(f"{col_url(url)}/items/{2**63 - 1}", headers=admin).status_code == 404
    assert httpx.get(col_url(url), headers=admin).json()["count"] == 30  # nothing removed


@pytest.mark.parametrize("body", [
    {"texts": ["a", "b"], "ids": ["x"]},
    {"texts": ["a"], "ids": ["x", "y"]},
    {"texts": ["a", "b"], "metadata": [{}]},
    {"texts": ["a"], "metadata": [{}, {}]},
    {"texts": ["a", "b"], "ids": ["x", "x"]},
])
def test_mismatched_text_lists_are_400(admin_server, body):
    url, admin, _ = admin_server
    r = httpx.post(f"{col_url(url)}/texts", json=body, headers=admin)
    assert r.status_code == 400 and r.json()["error"]["type"] == "BadInputError", r.text
    assert httpx.get(col_url(url), headers=admin).json()["count"] == 30  # nothing added


def test_texts_without_ids_never_replace_other_calls_texts(admin_server):
    url, admin, _ = admin_server
    first = httpx.post(f"{col_url(url)}/texts", json={"texts": ["alpha note"]}, headers=admin)
    second = httpx.post(f"{col_url(url)}/texts", json={"texts": ["beta note"]}, headers=admin)
    assert first.json()["added"] == second.json()["added"] == 1  # not "updated": both kept
    again = httpx.post(f"{col_url(url)}/texts", json={"texts": ["alpha note"]}, headers=admin)
    assert again.json()["unchanged"] == 1 and again.json()["ids"] == first.json()["ids"]
    for r, text in ((first, "alpha note"), (second, "beta note")):
        got = httpx.get(f"{col_url(url)}/items/{r.json()['ids'][0]}", headers=admin).json()
        assert got["text"] == text
    assert httpx.get(col_url(url), headers=admin).json()["count"] == 32


def test_remove_ids_must_be_integers(admin_server):
    url, admin, _ = admin_server
    for ids in ([True], ["1"], [1.5]):
        r = httpx.post(f"{col_url(url)}/remove", json={"ids": ids}, headers=admin)
        assert r.status_code == 422, (ids, r.text)
    assert httpx.get(col_url(url), headers=admin).json()["count"] == 30


# --- uploads that fail leave nothing behind --------------------------------------------------
class PickyPreprocessor(GridPreprocessor):
    """Refuses images 13 pixels wide: a per-file failure while indexing."""

    def __call__(self, image):
        if image.width == 13:
            raise ValueError("unsupported width")
        return super().__call__(image)


class FailingEmbedder(HashEmbedder):
    """hash:16 with a picky preprocessor, and a model that crashes when told to."""

    crash = False

    def image_preprocessor(self):
        return PickyPreprocessor(self.grid)

    def _embed_preprocessed(self, batch):
        if self.crash:
            raise RuntimeError("model crashed")
        return super()._embed_preprocessed(batch)


def test_failed_uploads_leave_no_files(start_server, tmp_path, tokens):
    model = FailingEmbedder(16)
    model.name = "failhash:16"
    register_backend("failhash", lambda spec, **_: model, replace=True)
    Collection.create(tmp_path / "demo", model="failhash:16").close()
    url = start_server([tmp_path / "demo"], tokens_file=tokens["file"])
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    uploads = tmp_path / "demo" / "uploads"

    def files(*sizes):
        return [("files", (f"{w}x{h}.png", png_of((w, h), seed=w), "image/png"))
                for w, h in sizes]

    r = httpx.post(f"{col_url(url)}/items", files=files((20, 20), (13, 20)), headers=admin)
    assert r.status_code == 200 and (r.json()["added"], r.json()["failed"]) == (1, 1), r.text
    good = httpx.get(f"{col_url(url)}/items/{r.json()['ids'][0]}", headers=admin).json()["path"]
    assert sorted(uploads.iterdir()) == [pathlib.Path(good)]  # the failed file was not kept

    model.crash = True  # the model fails mid-request: the request fails, its file goes too
    r = httpx.post(f"{col_url(url)}/items", files=files((30, 20)), headers=admin)
    assert r.status_code == 500 and str(tmp_path) not in r.text
    assert sorted(uploads.iterdir()) == [pathlib.Path(good)]
    model.crash = False
    r = httpx.post(f"{col_url(url)}/items", files=files((30, 20)), headers=admin)
    assert r.status_code == 200 and r.json()["added"] == 1 and len(list(uploads.iterdir())) == 2


# --- hide_paths --------------------------------------------------------------------------------------
def test_hide_paths_serves_no_absolute_paths(start_server, writable_collection, demo_collection,
                                             tokens):
    url = start_server([writable_collection], tokens_file=tokens["file"], hide_paths=True)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    roots = (str(writable_collection.parent), str(demo_collection.parent))  # collection, images
    search = httpx.get(f"{col_url(url)}/search", params={"q": "red", "k": 30}, headers=admin)
    images = [h for h in search.json()["results"] if h["kind"] == "image"]
    assert {h["path"] for h in images} == {f"{c}_{s}.png" for c in COLORS for s in SHAPES}
    item = httpx.get(f"{col_url(url)}/items/{images[0]['id']}", headers=admin)
    upload = httpx.post(f"{col_url(url)}/items", headers=admin,
                        files=[("files", ("n.png", encode(shape_image("red", "square", seed=5)),
                                          "image/png"))])
    posted = httpx.post(f"{col_url(url)}/search", headers=admin, data={"k": "30"},
                        files={"image": ("q.png", png_of((30, 30)), "image/png")})
    for r in (search, item, upload, posted):
        assert r.status_code == 200 and not any(root in r.text for root in roots), r.text
    assert item.json()["path"] == images[0]["path"]
    new = httpx.get(f"{col_url(url)}/items/{upload.json()['ids'][0]}", headers=admin).json()
    assert new["path"].endswith(".png") and "/" not in new["path"]
    thumb = httpx.get(f"{col_url(url)}/items/{images[0]['id']}/thumbnail", headers=admin)
    assert thumb.status_code == 200  # files are still served, by id


def test_hide_paths_also_keeps_paths_out_of_errors(start_server, writable_collection, tokens):
    from jointspace.store import LocalStore

    url = start_server([writable_collection], tokens_file=tokens["file"], hide_paths=True)
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    other = LocalStore.open(writable_collection)
    other.acquire_writer(0)  # another writer holds the collection
    try:
        r = httpx.delete(f"{col_url(url)}/items/1", headers=admin, timeout=30)
    finally:
        other.close()
    assert r.status_code == 409 and r.json()["error"]["type"] == "CollectionLockedError"
    assert str(writable_collection) not in r.text and "writing to demo" in r.text
