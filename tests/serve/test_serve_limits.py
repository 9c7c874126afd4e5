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
from jointspace.serve.admission import RETRY_AFTER_S, Gate, ServiceBusyError
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
    assert err.value.http_status == 503 and err.value.retry_after == RETRY_AFTER_S == 1
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


class Held(HashEmbedder):
    """hash:16 whose text calls wait for ``release`` (so requests pile up deterministically)."""

    def __init__(self, dim):
        super().__init__(dim)
        self.name = f"heldhash:{dim}"
        self.calls = []
        self.release = threading.Event()

    def embed_texts(self, texts):
        self.calls.append(len(texts))
        assert self.release.wait(30), "the test never released the model"
        return super().embed_texts(texts)


@pytest.fixture
def held_collection(tmp_path):
    model = Held(16)
    register_backend("heldhash", lambda spec, **_: model, replace=True)
    model.release.set()  # indexing runs freely
    col = Collection.create(tmp_path / "demo", model="heldhash:16")
    col.add_texts([f"text {i}" for i in range(20)])
    col.close()
    model.calls.clear()
    model.release.clear()  # from here on, every search waits until the test releases it
    return tmp_path / "demo", model


def _search_in_thread(url, q, results):
    def one():
        r = httpx.get(f"{url}/api/collections/demo/search", params={"q": q}, timeout=60)
        results[q] = (r.status_code, r.headers.get("retry-after"))

    thread = threading.Thread(target=one)
    thread.start()
    return thread


def _wait_health(url, predicate, what):
    deadline = time.monotonic() + 30
    while not predicate(httpx.get(f"{url}/api/health").json()["queue"]):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_full_queue_answers_503_with_retry_after(start_server, held_collection):
    path, model = held_collection
    url = start_server([path], queue_size=2, search_threads=2)
    results = {}
    admitted = [_search_in_thread(url, f"held {i}", results) for i in range(2)]
    _wait_health(url, lambda q: q["in_flight"] == 2, "two admitted searches")
    for i in range(6):  # the queue is full: each is refused at once, not queued
        r = httpx.get(f"{url}/api/collections/demo/search", params={"q": f"more {i}"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["type"] == "ServiceBusyError"
    model.release.set()
    for thread in admitted:
        thread.join(60)
    assert results == {"held 0": (200, None), "held 1": (200, None)}
    health = httpx.get(f"{url}/api/health").json()["queue"]
    assert (health["rejected"], health["in_flight"], health["capacity"]) == (6, 0, 2)


def test_concurrent_text_searches_share_model_calls(start_server, held_collection):
    path, model = held_collection
    url = start_server([path], search_threads=6)
    results = {}
    threads = [_search_in_thread(url, "first", results)]
    _wait_health(url, lambda q: q["in_flight"] == 1 and model.calls == [1], "the first call")
    threads += [_search_in_thread(url, f"batched {i}", results) for i in range(5)]
    _wait_health(url, lambda q: q["waiting"] == 5, "five searches queued behind it")
    model.release.set()
    for thread in threads:
        thread.join(60)
    assert {s for s, _ in results.values()} == {200} and len(results) == 6
    assert model.calls == [1, 5]  # the five waiting searches were embedded in one model call
    health = httpx.get(f"{url}/api/health").json()["queue"]
    assert (health["model_calls"], health["embedded"], health["largest_batch"]) == (2, 6, 5)


def test_upload_png_helper_is_sane():
    assert Image.open(io.BytesIO(png_of((5, 4)))).size == (5, 4)
    assert 5 * MB > len(png_of((400, 400), noise=True)) > 200_000
