"""`jointspace token create` and `jointspace serve` at the CLI boundary (real processes)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from jointspace.serve.auth import TokenStore

CLI = [str(Path(sys.executable).with_name("jointspace"))]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "300"}


def run(*args, timeout=60):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout,
                          env=ENV, check=False)


def test_token_create_prints_the_token_once(tmp_path):
    path = tmp_path / "tokens.txt"
    out = run("token", "create", "--role", "admin", "--file", str(path), "--label", "ci")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("jst_") and token not in path.read_text()
    assert TokenStore(path).role_for(token) == "admin"
    bad = run("token", "create", "--role", "root", "--file", str(path))
    assert bad.returncode == 1 and "role must be" in bad.stderr


def test_serve_refuses_public_bind_without_tokens(demo_collection):
    out = run("serve", str(demo_collection), "--host", "0.0.0.0", "--port", "1")
    assert out.returncode == 1
    assert "refusing to serve on '0.0.0.0'" in out.stderr and "token create" in out.stderr


def test_serve_refuses_wildcard_cors_without_tokens(demo_collection):
    out = run("serve", str(demo_collection), "--cors-origin", "*", "--port", "1")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "without access tokens" in out.stderr and "hint" in out.stderr


def test_serve_reports_missing_collections(tmp_path):
    out = run("serve", str(tmp_path / "nothing"))
    assert out.returncode == 1 and "no collection at" in out.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_end_to_end(demo_collection, tmp_path):
    port = _free_port()
    proc = subprocess.Popen(CLI + ["serve", f"shapes={demo_collection}", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert health.json()["collections"] == 1
        r = httpx.get(f"http://127.0.0.1:{port}/api/collections/shapes/search",
                      params={"q": "a red circle", "k": 3})
        assert r.status_code == 200 and len(r.json()["results"]) == 3
        assert "server" not in r.headers  # uvicorn's banner is off
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "collection shapes: 30 items" in out and f"http://127.0.0.1:{port}/" in out


def test_serve_json_prints_its_start_up_as_one_json_line(demo_collection):
    import json

    port = _free_port()
    proc = subprocess.Popen(CLI + ["serve", f"shapes={demo_collection}", "--port", str(port),
                                   "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    try:
        started = json.loads(proc.stdout.readline())  # printed before the server blocks
        assert started["url"] == f"http://127.0.0.1:{port}/" and started["auth"] == "read-only"
        assert started["collections"] == [{"name": "shapes", "count": 30, "model":
                                           started["collections"][0]["model"],
                                           "writable": False}]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
