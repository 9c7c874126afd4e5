"""The app shell: the static page, security headers, CORS off by default, Host checks, errors."""

import httpx
import pytest
from schema_check import check_response

from jointspace.serve.app import STATIC_DIR


def test_page_and_static_files(read_server):
    r = httpx.get(f"{read_server}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text == (STATIC_DIR / "index.html").read_text()
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css"),
                        ("favicon.svg", "image/svg+xml")):
        r = httpx.get(f"{read_server}/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
    assert httpx.get(f"{read_server}/static/app.py").status_code == 404
    assert httpx.get(f"{read_server}/docs").status_code == 404  # no CDN-backed docs page


def test_security_headers_everywhere(read_server):
    for path in ("/", "/api/health", "/api/collections", "/nope"):
        h = httpx.get(f"{read_server}{path}").headers
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"


def test_errors_are_json_with_one_shape(read_server):
    r = httpx.get(f"{read_server}/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "HTTPError"
    r = httpx.put(f"{read_server}/api/health")
    assert r.status_code == 405 and set(r.json()["error"]) == {"type", "message", "hint"}


def test_cors_is_off_by_default(read_server):
    origin = {"Origin": "https://evil.example"}
    r = httpx.get(f"{read_server}/api/collections", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    pre = httpx.options(f"{read_server}/api/collections/demo/search",
                        headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_allows_only_configured_origins(start_server, demo_collection):
    url = start_server([demo_collection], cors_origins=["https://app.example"])
    ok = httpx.get(f"{url}/api/collections", headers={"Origin": "https://app.example"})
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.get(f"{url}/api/collections", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_foreign_host_headers_are_refused_without_tokens(read_server):
    # DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends Host: evil.example
    r = httpx.get(f"{read_server}/api/collections", headers={"Host": "evil.example"})
    assert r.status_code == 400
    port = read_server.rsplit(":", 1)[1]
    assert httpx.get(f"{read_server}/api/collections",
                     headers={"Host": f"localhost:{port}"}).status_code == 200


def test_any_host_with_tokens(start_server, demo_collection, tokens):
    url = start_server([demo_collection], tokens_file=tokens["file"])
    r = httpx.get(f"{url}/api/health", headers={"Host": "search.example.org"})
    assert r.status_code == 200


def test_host_check_parses_ipv6_and_answers_json(read_server):
    port = read_server.rsplit(":", 1)[1]
    ok = httpx.get(f"{read_server}/api/collections", headers={"Host": f"[::1]:{port}"})
    assert ok.status_code == 200  # Starlette's check cut "[::1]:8000" at the first colon
    bad = httpx.get(f"{read_server}/api/collections", headers={"Host": "[::2]:80"})
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "invalid Host header"


def test_the_schema_check_itself_fails_on_undeclared_responses(read_server):
    request = httpx.Request("GET", f"{read_server}/api/health")
    good = httpx.get(f"{read_server}/api/health")
    check_response(good)
    extra = httpx.Response(200, json={**good.json(), "debug": "x"}, request=request)
    with pytest.raises(ValueError, match="debug"):  # pydantic: extra fields are forbidden
        check_response(extra)
    with pytest.raises(AssertionError, match="does not declare"):
        check_response(httpx.Response(418, json={"error": {}}, request=request))
    with pytest.raises(AssertionError):
        check_response(httpx.Response(200, text="ok", request=request))
    item = httpx.Request("GET", f"{read_server}/api/collections/demo/items/1")
    with pytest.raises(ValueError):  # a hit without its score
        check_response(httpx.Response(200, json={"id": 1, "kind": "text", "metadata": {}},
                                      request=item))
