"""Limits: body size, pixels, files per request (413), hostile uploads (400), full queue (503)."""

import io
import struct
import threading
import time
import zlib

import httpx
import pytest
from PIL import Image
from serve_helpers import png_of

from jointspace.errors import ImageDecodeError, PayloadTooLargeError
from jointspace.models import register_backend
from jointspace.models.hashing import HashEmbedder
from jointspace.query import Collection
from jointspace.serve.admission import Gate, ServiceBusyError
from jointspace.serve.uploads import decode_upload

MB = 1024 * 1024


def png_header_only(width: int, height: int, rows: int = 0) -> bytes:
    """A 1-bit grayscale PNG claiming ``width x height``; ``rows`` rows of real zero data.

    With all rows present this is a genuine decompression bomb (a few hundred KB that inflate
    to width*height/8 bytes); with fewer it is also truncated.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(rows)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def test_gate_counts_and_refuses():
    gate = Gate(2)
    gate.enter()
    gate.enter()
    with pytest.raises(ServiceBusyError) as err:
        gate.enter()
    assert err.value.http_status == 503 and err.value.retry_after >= 1
    gate.leave()
    gate.enter()
    assert gate.in_flight == 2 and gate.rejected == 1


def test_decode_upload_pixel_cap_and_hostile_files():
    good = png_of((30, 20))
    assert decode_upload(good, max_pixels=600).size == (30, 20)
    with pytest.raises(PayloadTooLargeError, match="pixels"):
        decode_upload(good, max_pixels=599)
    with pytest.raises(PayloadTooLargeError):  # header says 900 MP: Pillow's bomb guard
        decode_upload(png_header_only(30_000, 30_000), max_pixels=40_000_000)
    with pytest.raises(PayloadTooLargeError, match="pixels"):  # 48 MP, caught by our cap
        decode_upload(png_header_only(8000, 6000), max_pixels=40_000_000)
    with pytest.raises(ImageDecodeError, match="truncated|cannot decode"):
        decode_upload(good[: len(good) // 2], max_pixels=10**6)
    for junk in (b"", b"hello world", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"PK\x03\x04"):
        with pytest.raises(ImageDecodeError):
            decode_upload(junk, max_pixels=10**6)


def _post_image(url, data, name="x.png", **kw):
    return httpx.post(f"{url}/api/collections/demo/search",
                      files={"image": (name, data, "image/png")}, data={"k": "3"}, **kw)


def test_hostile_uploads_over_http(read_server):
    # a genuine bomb: 12000 x 12000 one-bit rows, ~25 KB on the wire
    bomb = png_header_only(12_000, 12_000, rows=12_000)
    assert len(bomb) < 200_000
    cases = {
        "truncated": (png_of((64, 64))[:100], 400),
        "not an image": (b"#!/bin/sh\nrm -rf /\n", 400),
        "empty": (b"", 400),
        "bomb": (bomb, 413),
        "huge header": (png_header_only(30_000, 30_000), 413),
    }
    for name, (data, status) in cases.items():
        r = _post_image(read_server, data)
        assert r.status_code == status, (name, r.text)
        assert set(r.json()["error"]) == {"type", "message", "hint"}
    assert _post_image(read_server, png_of((64, 64))).status_code == 200  # still serving


def test_body_size_limit(start_server, demo_collection):
    url = start_server([demo_collection], max_body_bytes=200_000)
    big = png_of((400, 400), noise=True)
    assert len(big) > 200_000
    r = _post_image(url, big)  # declared Content-Length over the limit
    assert r.status_code == 413 and r.json()["error"]["type"] == "PayloadTooLargeError"

    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n" + big + b"\r\n--XyZ--\r\n")

    def chunks():
        for i in range(0, len(body), 16_384):
            yield body[i : i + 16_384]

    r = httpx.post(f"{url}/api/collections/demo/search", content=chunks(),
                   headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413  # streamed without a length: counted as it arrives
    assert _post_image(url, png_of((64, 64))).status_code == 200


def test_pixel_limit_over_http(start_server, demo_collection):
    url = start_server([demo_collection], max_image_pixels=1000)
    r = _post_image(url, png_of((40, 30)))
    assert r.status_code == 413 and "pixels" in r.json()["error"]["message"]
    assert _post_image(url, png_of((30, 30))).status_code == 200


def test_one_image_per_search(read_server):
    files = [("image", ("a.png", png_of((20, 20)), "image/png")),
             ("image", ("b.png", png_of((20, 20)), "image/png"))]
    r = httpx.post(f"{read_server}/api/collections/demo/search", files=files)
    assert r.status_code == 413 and "files" in r.json()["error"]["message"]


class Slow(HashEmbedder):
    def __init__(self, dim):
        super().__init__(dim)
        self.name = f"slowhash:{dim}"
        self.calls = []

    def embed_texts(self, texts):
        self.calls.append(len(texts))
        time.sleep(0.3)
        return super().embed_texts(texts)


@pytest.fixture
def slow_collection(tmp_path):
    models = {}

    def factory(spec, **_):
        return models.setdefault(spec, Slow(int(spec)))

    register_backend("slowhash", factory, replace=True)
    col = Collection.create(tmp_path / "demo", model="slowhash:16")
    col.add_texts([f"text {i}" for i in range(20)])
    col.close()
    return tmp_path / "demo", models


def _fire(url, n, q="text"):
    statuses, retry = [None] * n, [None] * n

    def one(i):
        r = httpx.get(f"{url}/api/collections/demo/search", params={"q": f"{q} {i}"}, timeout=30)
        statuses[i], retry[i] = r.status_code, r.headers.get("retry-after")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, retry


def test_full_queue_answers_503_with_retry_after(start_server, slow_collection):
    path, _ = slow_collection
    url = start_server([path], queue_size=2, search_threads=1)
    statuses, retry = _fire(url, 8)
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) >= 2 and statuses.count(503) >= 1
    assert all(r == "1" for s, r in zip(statuses, retry) if s == 503)
    health = httpx.get(f"{url}/api/health").json()["queue"]
    assert health["rejected"] == statuses.count(503) and health["in_flight"] == 0


def test_concurrent_text_searches_share_model_calls(start_server, slow_collection):
    path, models = slow_collection
    url = start_server([path], search_threads=6)
    models["16"].calls.clear()
    statuses, _ = _fire(url, 6, q="batched")
    assert statuses == [200] * 6
    calls = models["16"].calls
    assert sum(calls) == 6 and len(calls) < 6 and max(calls) > 1


def test_upload_png_helper_is_sane():
    assert Image.open(io.BytesIO(png_of((5, 4)))).size == (5, 4)
    assert 5 * MB > len(png_of((400, 400), noise=True)) > 200_000
