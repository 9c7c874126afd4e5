"""Items by opaque id: details, thumbnails, originals; traversal attempts; admin add / remove."""

import base64
import http.client
import io
import json
import os
import tarfile
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from serve_helpers import encode, png_of, shape_image

from jointspace.query import Collection


def col_url(url):
    return f"{url}/api/collections/demo"


def first_of_kind(url, kind):
    results = httpx.get(f"{col_url(url)}/search", params={"q": "a", "k": 30}).json()["results"]
    return next(r for r in results if r["kind"] == kind)


def test_item_details_are_the_hit_shape(read_server):
    image = first_of_kind(read_server, "image")
    got = httpx.get(f"{col_url(read_server)}/items/{image['id']}").json()
    assert got == {**image, "score": 1.0}
    text = first_of_kind(read_server, "text")
    assert httpx.get(f"{col_url(read_server)}/items/{text['id']}").json()["text"] == text["text"]


def test_thumbnail_is_a_small_jpeg_served_from_cache(read_server):
    image = first_of_kind(read_server, "image")
    url = f"{col_url(read_server)}/items/{image['id']}/thumbnail"
    r = httpx.get(url, params={"size": 128})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(r.content))
    assert thumb.format == "JPEG" and max(thumb.size) == 96  # never upscaled past the 96 px source
    source = Image.open(image["path"]).convert("RGB")
    assert thumb.getpixel((48, 48)) == pytest.approx(source.getpixel((48, 48)), abs=12)
    again = httpx.get(url, params={"size": 128})
    assert again.content == r.content and again.headers["etag"] == r.headers["etag"]
    assert httpx.get(url, params={"size": 128},
                     headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert httpx.get(url, params={"size": 999}).status_code == 400  # sizes are a fixed set
    assert r.headers["x-content-type-options"] == "nosniff"


def test_original_is_the_file(read_server):
    image = first_of_kind(read_server, "image")
    r = httpx.get(f"{col_url(read_server)}/items/{image['id']}/original")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    with open(image["path"], "rb") as f:
        assert r.content == f.read()
    assert "sandbox" in r.headers["content-security-policy"]


def test_text_items_and_missing_items_have_no_image(read_server):
    text = first_of_kind(read_server, "text")
    for what in ("thumbnail", "original"):
        r = httpx.get(f"{col_url(read_server)}/items/{text['id']}/{what}")
        assert r.status_code == 404 and r.json()["error"]["type"] == "NotFoundError"
        assert httpx.get(f"{col_url(read_server)}/items/987654/{what}").status_code == 404


ATTACKS = [
    "/api/collections/demo/items/../../../../etc/passwd",
    "/api/collections/demo/items/..%2F..%2F..%2Fetc%2Fpasswd/original",
    "/api/collections/demo/items/%2e%2e%2f%2e%2e%2fetc%2fpasswd/thumbnail",
    "/api/collections/demo/items/%2Fetc%2Fpasswd/original",
    "/api/collections/demo/items//etc/passwd/original",
    "/api/collections/demo/items/1%00/original",
    "/api/collections/demo/items/1%00.png/thumbnail",
    "/api/collections/demo/items/%00/original",
    "/api/collections/demo/items/-1/original",
    "/api/collections/demo/items/1e3/original",
    "/api/collections/demo/items/0x1/original",
    "/api/collections/..%2F..%2Ftmp/items/1/original",
    "/api/collections/%2Ftmp%2Fdemo/items/1/original",
    "/api/collections/demo%00/items/1/original",
    "/static/../../pyproject.toml",
    "/static/..%2F..%2F..%2Fpyproject.toml",
    "/static/%2Fetc%2Fpasswd",
    "/static/app.js%00.html",
    "/static/..%5C..%5Capp.py",
    "/etc/passwd",
    "/api/collections/demo/items/1/original?path=/etc/passwd",
    "/api/collections/demo/items/1/../../../../../etc/passwd",
]


@pytest.mark.parametrize("path", ATTACKS)
def test_path_traversal_is_not_found(read_server, path):
    # http.client sends the path byte for byte (httpx would normalise the dots)
    parts = urlsplit(read_server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if path.endswith("?path=/etc/passwd"):  # an unknown query parameter is simply ignored
        assert resp.status == 200 and resp.getheader("content-type") == "image/png"
        return
    assert resp.status == 404, (path, resp.status, body[:200])
    assert b"root:" not in body and b"[project]" not in body


@pytest.fixture
def admin_server(start_server, writable_collection, tokens):
    url = start_server([writable_collection], tokens_file=tokens["file"], max_files=3)
    return url, {"Authorization": f"Bearer {tokens['admin']}"}, writable_collection


def test_admin_uploads_images_and_they_become_searchable(admin_server):
    url, admin, path = admin_server
    pics = [shape_image("red", "circle", size=80, seed=90), shape_image("blue", "square", size=70)]
    files = [("files", (f"new{i}.png", encode(p), "image/png")) for i, p in enumerate(pics)]
    r = httpx.post(f"{col_url(url)}/items", files=files, headers=admin,
                   data={"metadata": json.dumps({"album": "uploads"})})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == 2 and body["failed"] == 0 and len(body["ids"]) == 2
    hit = httpx.get(f"{col_url(url)}/items/{body['ids'][0]}", headers=admin).json()
    assert hit["metadata"] == {"album": "uploads", "filename": "new0.png"}
    assert hit["path"].startswith(str(path / "uploads"))
    found = httpx.post(f"{col_url(url)}/search", headers=admin, data={"k": "1"},
                       files={"image": ("q.png", encode(pics[0]), "image/png")}).json()
    assert found["results"][0]["id"] == body["ids"][0]
    assert httpx.get(f"{col_url(url)}/items/{body['ids'][1]}/thumbnail",
                     headers=admin).status_code == 200

    again = httpx.post(f"{col_url(url)}/items", files=files[:1], headers=admin,
                       data={"metadata": json.dumps({"album": "uploads"})}).json()
    assert again["unchanged"] == 1 and again["ids"] == body["ids"][:1]  # same bytes, same item
    # the same bytes with other metadata: stored, not re-embedded, and reported as updated
    third = httpx.post(f"{col_url(url)}/items", files=files[:1], headers=admin).json()
    assert third["updated"] == 1 and third["ids"] == body["ids"][:1]


def test_admin_upload_refuses_bad_files_and_too_many(admin_server):
    url, admin, path = admin_server
    good = ("files", ("ok.png", png_of((20, 20)), "image/png"))
    r = httpx.post(f"{col_url(url)}/items", headers=admin,
                   files=[good, ("files", ("evil.png", b"<?php system($_GET[1]); ?>", "image/png"))])
    assert r.status_code == 400 and r.json()["error"]["type"] == "ImageDecodeError"
    assert not (path / "uploads").exists() or not any((path / "uploads").iterdir())
    r = httpx.post(f"{col_url(url)}/items", headers=admin, files=[good] * 4)
    assert r.status_code == 413 and "files" in r.json()["error"]["message"]
    r = httpx.post(f"{col_url(url)}/items", headers=admin, files=[good], data={"metadata": "[1]"})
    assert r.status_code == 400


def test_admin_adds_texts_and_removes(admin_server):
    url, admin, path = admin_server
    r = httpx.post(f"{col_url(url)}/texts", headers=admin,
                   json={"texts": ["a zebra crossing", "zebra stripes"], "ids": ["z1", "z2"],
                         "metadata": [{"topic": "zebra"}, {"topic": "zebra"}]})
    assert r.status_code == 200 and r.json()["added"] == 2
    ids = r.json()["ids"]
    top = httpx.get(f"{col_url(url)}/search", headers=admin,
                    params={"q": "zebra crossing", "k": 1}).json()["results"][0]
    assert top["id"] == ids[0] and top["metadata"] == {"topic": "zebra"}

    assert httpx.delete(f"{col_url(url)}/items/{ids[0]}", headers=admin).json() == {"removed": 1}
    assert httpx.delete(f"{col_url(url)}/items/{ids[0]}", headers=admin).status_code == 404
    r = httpx.post(f"{col_url(url)}/remove", headers=admin, json={"where": ["topic = zebra"]})
    assert r.json() == {"removed": 1}
    r = httpx.post(f"{col_url(url)}/remove", headers=admin,
                   json={"where": ["color = red"], "ids": [ids[1]]})
    assert r.json() == {"removed": 4}  # 4 red shapes; ids[1] already went with the zebras
    r = httpx.post(f"{col_url(url)}/remove", headers=admin, json={"where": ["shape = circle"]})
    assert r.json() == {"removed": 5}  # the red circle is gone already
    assert httpx.post(f"{col_url(url)}/remove", headers=admin, json={}).status_code == 400
    served = httpx.get(col_url(url), headers=admin).json()["count"]
    with Collection.open(path, readonly=True) as col:  # the change is durable, in SQLite
        assert col.count() == served == 30 - 4 - 5
        assert not col.search("circle", where="shape = circle", k=5)


def _shard(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_shard_members_and_non_utf8_names_are_served(tmp_path, start_server):
    shards, photos, outside = tmp_path / "shards", tmp_path / "photos", tmp_path / "outside"
    for d in (shards, photos, outside):
        d.mkdir()
    pngs = [encode(shape_image(c, "circle", seed=n), "PNG") for n, c in enumerate(("red", "blue"))]
    _shard(shards / "part-000.tar", {"s0.png": pngs[0], "s0.txt": b"red", "s1.jpg": pngs[1]})
    latin = os.path.join(os.fsencode(photos), b"caf\xe9.png")
    with open(latin, "wb") as f:
        f.write(pngs[1])
    with Collection.create(tmp_path / "demo", "hash:64") as col:
        assert col.add(str(shards / "part-*.tar"), workers=0).added == 2
        assert col.add(photos, workers=0).added == 1
    url = col_url(start_server([tmp_path / "demo"]))
    by_path = {h["path"]: h for h in httpx.get(f"{url}/search", params={"q": "a", "k": 9}
                                               ).json()["results"]}
    member = by_path[f"{shards / 'part-000.tar'}#s1.jpg"]
    latin_hit = next(h for p, h in by_path.items() if p.endswith("caf\\xe9.png"))
    for hit, data in ((by_path[f"{shards / 'part-000.tar'}#s0.png"], pngs[0]),
                      (member, pngs[1]), (latin_hit, pngs[1])):
        r = httpx.get(f"{url}/items/{hit['id']}/original")
        assert r.status_code == 200 and r.content == data  # the member's / file's exact bytes
        thumb = httpx.get(f"{url}/items/{hit['id']}/thumbnail", params={"size": 128})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        got = Image.open(io.BytesIO(thumb.content)).convert("RGB").getpixel((48, 48))
        want = Image.open(io.BytesIO(data)).convert("RGB").getpixel((48, 48))
        assert got == pytest.approx(want, abs=12)
    # a shard replaced by a symlink leading out of its folder is refused, like any file
    _shard(outside / "part-000.tar", {"s1.jpg": pngs[0]})
    os.replace(shards / "part-000.tar", tmp_path / "moved.tar")
    os.symlink(outside / "part-000.tar", shards / "part-000.tar")
    assert httpx.get(f"{url}/items/{member['id']}/original").status_code == 404


def test_a_path_bytes_field_naming_another_file_is_ignored(tmp_path, start_server):
    (tmp_path / "in").mkdir()
    (tmp_path / "secret").mkdir()
    own, other = (encode(shape_image(c, "square", seed=n), "PNG")
                  for n, c in enumerate(("red", "blue")))
    (tmp_path / "in" / "a.png").write_bytes(own)
    (tmp_path / "secret" / "b.png").write_bytes(other)
    forged = base64.b64encode(os.fsencode(tmp_path / "secret" / "b.png")).decode()
    (tmp_path / "in" / "m.jsonl").write_text(json.dumps({"path": "a.png", "path_bytes": forged}))
    with Collection.create(tmp_path / "demo", "hash:64") as col:
        assert col.add(tmp_path / "in" / "m.jsonl", workers=0).added == 1
    url = col_url(start_server([tmp_path / "demo"]))
    hit = httpx.get(f"{url}/search", params={"q": "a", "k": 1}).json()["results"][0]
    assert httpx.get(f"{url}/items/{hit['id']}/original").content == own  # never the other file
