"""Slow and greedy clients: per-client and global connection caps, head and body deadlines,
tokens checked before a body is read. Raw sockets on loopback; distinct client addresses come
from binding to other 127.0.0.0/8 addresses. Outcomes are decided by what the server sends
(503 / 408 / 401 bytes, EOF, its own counters), never by how long something took."""

from __future__ import annotations

import select
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from jointspace.query import Collection

HALF_HEAD = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # never finished
WAIT_S = 20  # bound on any wait below; reaching it means failure, not success


def addr(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def connect(url: str, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(WAIT_S)
    s.connect(addr(url))
    return s


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by WAIT_S)."""
    chunks = []
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def read_response(s: socket.socket) -> bytes:
    """One complete response with a Content-Length body, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def health(url: str, source: str = "127.0.0.1") -> dict:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return client.get(f"{url}/api/health").json()["connections"]


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_S
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def test_idle_connections_cannot_starve_real_requests(start_server, demo_collection):
    url = start_server([demo_collection], max_connections=128, max_connections_per_client=16,
                       header_timeout_s=60)
    attacker = []
    try:
        for _ in range(300):  # hundreds of half-open requests from one address
            s = connect(url, "127.0.0.2")
            s.sendall(HALF_HEAD)
            attacker.append(s)
        # each connection over the cap evicted that address's oldest idle one: 284 were closed
        # (408, the head being incomplete), 16 are held waiting for their headers
        closed, pending = [], set(attacker)
        while len(closed) < 284:
            ready, _, _ = select.select(list(pending), [], [], WAIT_S)
            assert ready, f"only {len(closed)} of 300 connections closed"
            for s in ready:
                closed.append(read_until_closed(s))
                pending.discard(s)
        assert all(c == b"" or c.startswith(b"HTTP/1.1 408 ") for c in closed)
        assert len(pending) == 16 and not select.select(list(pending), [], [], 0)[0]
        stats = health(url, "127.0.0.3")
        assert (stats["evicted"], stats["refused"], stats["timed_out"]) == (284, 0, 0)
        # real requests are served, from other addresses and from the attacker's own
        for source in ("127.0.0.1", "127.0.0.3", "127.0.0.2"):
            with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
                for i in range(10):
                    r = client.get(f"{url}/api/collections/demo/search", params={"q": f"red {i}"})
                    assert r.status_code == 200, r.text
    finally:
        for s in attacker:
            s.close()
    wait_for(lambda: health(url)["open"] <= 1, "the attacker's connections to be released")


BUSY_HEAD = (b"POST /api/collections/demo/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000\r\n\r\n"
             b"--XyZ")  # a request in progress: its body is still coming


def busy_connections(url: str, n: int, source: str, observer: str) -> list[socket.socket]:
    """``n`` connections from ``source`` each in the middle of a request, once the server has
    seen every head (read from ``observer``'s view of the counters)."""
    conns = [connect(url, source) for _ in range(n)]
    for s in conns:
        s.sendall(BUSY_HEAD)
    wait_for(lambda: (h := health(url, observer))["open"] == n + 1 and h["idle"] == 0,
             f"{n} requests in progress")
    return conns


def test_global_cap_evicts_the_oldest_idle_connection(start_server, demo_collection):
    url = start_server([demo_collection], max_connections=20, max_connections_per_client=0,
                       header_timeout_s=60, body_timeout_s=60)
    busy = busy_connections(url, 18, "127.0.0.2", "127.0.0.1")
    idle = [connect(url), connect(url)]  # the cap is reached: 18 busy + 2 idle
    try:
        r = httpx.get(f"{url}/api/collections/demo/search", params={"q": "red"})
        assert r.status_code == 200  # room was made by closing the oldest idle connection ...
        assert read_until_closed(idle[0]) == b""  # ... silently: it had sent nothing
        assert not select.select([idle[1]] + busy, [], [], 0)[0]  # the others are untouched
        stats = health(url)
        assert stats["refused"] == 0 and stats["evicted"] >= 1 and stats["max"] == 20
    finally:
        for s in busy + idle:
            s.close()


def test_a_client_with_every_connection_busy_is_refused(start_server, demo_collection):
    url = start_server([demo_collection], max_connections_per_client=5, body_timeout_s=60)
    busy = busy_connections(url, 5, "127.0.0.2", "127.0.0.1")
    try:
        extra = connect(url, "127.0.0.2")
        got = read_until_closed(extra)
        extra.close()
        assert got.startswith(b"HTTP/1.1 503 ") and b"too many open connections" in got
        assert not select.select(busy, [], [], 0)[0]
        r = httpx.get(f"{url}/api/collections/demo/search", params={"q": "red"})
        assert r.status_code == 200  # other addresses are unaffected
        assert health(url)["refused"] == 1
    finally:
        for s in busy:
            s.close()


def test_head_deadline_closes_silent_and_trickling_clients(start_server, demo_collection):
    url = start_server([demo_collection], header_timeout_s=1.0)
    silent = connect(url)
    silent.sendall(HALF_HEAD)
    trickler = connect(url)
    stop = threading.Event()

    def trickle():  # a header that never ends, one byte at a time: data must not extend the deadline
        try:
            trickler.sendall(b"GET /api/health HTTP/1.1\r\nX-Slow: ")
            while not stop.wait(0.05):
                trickler.sendall(b"a")
        except OSError:
            pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    keepalive = connect(url)  # one full request, then a second one that never completes
    keepalive.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert read_response(keepalive).startswith(b"HTTP/1.1 200 ")
    keepalive.sendall(HALF_HEAD)
    try:
        for s in (silent, keepalive):
            got = read_until_closed(s)
            assert got.startswith(b"HTTP/1.1 408 "), got[:80]
        # closed while it was still sending: the 408 may be lost to the reset, the close is not
        got = read_until_closed(trickler)
        assert got == b"" or got.startswith(b"HTTP/1.1 408 "), got[:80]
    finally:
        stop.set()
        thread.join(WAIT_S)
        for s in (silent, trickler, keepalive):
            s.close()
    assert health(url)["timed_out"] == 3


def test_body_deadline_closes_a_stalled_upload(start_server, demo_collection):
    url = start_server([demo_collection], body_timeout_s=1.0)
    s = connect(url)
    s.sendall(b"POST /api/collections/demo/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n"
              b"--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nred")
    try:
        got = read_until_closed(s)
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 408 "), got[:80]
    assert health(url)["timed_out"] == 1
    assert httpx.get(f"{url}/api/collections/demo/search", params={"q": "red"}).status_code == 200


def test_token_is_checked_before_the_body_is_read(start_server, demo_collection, tokens):
    url = start_server([demo_collection], tokens_file=tokens["file"], body_timeout_s=60)
    for path in ("/api/collections/demo/search", "/api/collections/demo/items",
                 "/api/collections/demo/classify"):
        s = connect(url)
        # 10 MB declared, not one byte sent: the answer cannot have waited for the body
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
                  + b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
                  b"Content-Length: 10000000\r\n\r\n")
        try:
            got = read_until_closed(s)  # and it closes the connection instead of awaiting it
        finally:
            s.close()
        head = got.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 401 ") and b"www-authenticate: bearer" in head, got
        assert b"connection: close" in head
    for path in ("/api/collections/demo/items", "/api/collections/demo/texts"):
        s = connect(url)  # a read token cannot make the server wait for an upload either
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
                  + f"Authorization: Bearer {tokens['read']}\r\n".encode()
                  + b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
                  b"Content-Length: 10000000\r\n\r\n")
        try:
            got = read_until_closed(s)
        finally:
            s.close()
        assert got.lower().startswith(b"http/1.1 403 ") and b"connection: close" in got.lower()
    read = {"Authorization": f"Bearer {tokens['read']}"}
    r = httpx.post(f"{url}/api/collections/demo/search", data={"q": "red"}, headers=read)
    assert r.status_code == 200


def test_a_client_that_stops_reading_is_dropped(start_server, tmp_path):
    big = tmp_path / "big.png"  # ~8 MB of noise: more than the socket buffers hold
    noise = np.random.default_rng(0).integers(0, 256, (1700, 1700, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, compress_level=0)
    col = Collection.create(tmp_path / "demo", model="hash:16")
    col.add(tmp_path / "big.png", workers=0)
    item = col.search("x", k=1)[0].id
    col.close()
    url = start_server([tmp_path / "demo"], send_timeout_s=1.0)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(WAIT_S)
    s.connect(addr(url))
    s.sendall(f"GET /api/collections/demo/items/{item}/original HTTP/1.1\r\n"
              "Host: 127.0.0.1\r\n\r\n".encode())
    try:
        wait_for(lambda: health(url)["timed_out"] == 1, "the stalled response to be dropped")
        got = read_until_closed(s)  # what was in flight, then the end: not the whole file
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 200 ") and len(got) < big.stat().st_size
    assert httpx.get(f"{url}/api/collections/demo/items/{item}").status_code == 200


def test_upgrade_requests_stay_plain_http(start_server, demo_collection):
    """An Upgrade: websocket request is answered as HTTP and its connection stays guarded."""
    url = start_server([demo_collection], max_connections_per_client=2)
    for _ in range(5):  # more than the cap: each slot is given back
        s = connect(url)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200 ")
        s.close()
    wait_for(lambda: health(url, "127.0.0.3")["open"] == 1, "the upgraded connections to go")
    # with a websocket library installed uvicorn would switch protocols: none is configured
    from jointspace.serve.run import build, server_config
    from jointspace.serve.settings import ServeSettings

    settings = ServeSettings()
    app, state = build([str(demo_collection)], settings)
    try:
        config = server_config(app, state, settings)
        config.load()
        assert config.ws == "none" and config.ws_protocol_class is None
    finally:
        state.close()
