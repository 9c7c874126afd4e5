"""Tokens: hashed storage, constant-time lookup, roles; 401 / 403 over a real server; no leaks."""

import hashlib
import logging
import os
import stat

import httpx
import pytest

from jointspace.errors import BadInputError
from jointspace.serve.auth import (
    ForbiddenError,
    TokenStore,
    UnauthorizedError,
    authorize,
    create_token,
    parse_tokens,
)


def test_create_token_stores_only_the_hash(tmp_path):
    path = tmp_path / "tokens.txt"
    token = create_token(path, "admin", "laptop")
    text = path.read_text()
    assert token.startswith("jst_") and len(token) > 40
    assert token not in text
    assert f"sha256:{hashlib.sha256(token.encode()).hexdigest()} admin laptop" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert create_token(path, "read") != token  # random, appended
    assert [e.role for e in parse_tokens(path.read_text())] == ["admin", "read"]


def test_token_store_roles_and_reload(tmp_path):
    path = tmp_path / "tokens.txt"
    read = create_token(path, "read")
    store = TokenStore(path)
    assert store.role_for(read) == "read"
    assert store.role_for(read + "x") is None and store.role_for("") is None
    assert not store.has_role("admin")
    admin = create_token(path, "admin")  # picked up without a restart
    assert store.role_for(admin) == "admin" and store.has_role("admin")
    path.write_text(path.read_text().replace(hashlib.sha256(read.encode()).hexdigest(), "0" * 64))
    assert store.role_for(read) is None  # revoked by editing the file


@pytest.mark.parametrize("line", ["sha256:abc read", "sha256:" + "a" * 64 + " root",
                                  "md5:" + "a" * 32 + " read", "a" * 64 + " read"])
def test_bad_token_lines_are_refused(line):
    with pytest.raises(BadInputError, match="line 2"):
        parse_tokens("# comment\n" + line)


def test_empty_tokens_file_is_refused(tmp_path):
    (tmp_path / "t").write_text("# nothing\n")
    with pytest.raises(BadInputError, match="no tokens"):
        TokenStore(tmp_path / "t")


def test_authorize_without_tokens_is_read_only():
    assert authorize(None, None, "read") == "read"
    with pytest.raises(ForbiddenError):
        authorize(None, "Bearer whatever", "admin")


def test_authorize_with_tokens(tokens):
    store = TokenStore(tokens["file"])
    with pytest.raises(UnauthorizedError):
        authorize(store, None, "read")
    with pytest.raises(UnauthorizedError):
        authorize(store, f"Basic {tokens['read']}", "read")
    assert authorize(store, f"Bearer {tokens['read']}", "read") == "read"
    assert authorize(store, f"bearer  {tokens['admin']} ", "admin") == "admin"
    with pytest.raises(ForbiddenError):
        authorize(store, f"Bearer {tokens['read']}", "admin")


def test_http_auth_cases(start_server, writable_collection, tokens):
    url = start_server([writable_collection], tokens_file=tokens["file"])
    col = f"{url}/api/collections/demo"
    read = {"Authorization": f"Bearer {tokens['read']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    body = {"ids": [1]}

    assert httpx.get(f"{url}/api/health").status_code == 200  # liveness needs no token
    assert httpx.get(f"{url}/").status_code == 200  # the page itself holds no data
    r = httpx.get(f"{col}/search", params={"q": "red"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["type"] == "UnauthorizedError"
    bad = {"Authorization": "Bearer jst_not-a-real-token"}
    assert httpx.get(f"{col}/search", params={"q": "red"}, headers=bad).status_code == 401
    assert httpx.get(f"{col}/items/1/thumbnail").status_code == 401
    assert httpx.get(f"{col}/search", params={"q": "red"}, headers=read).status_code == 200
    assert httpx.get(f"{col}/items/1/thumbnail", headers=read).status_code == 200

    assert httpx.post(f"{col}/remove", json=body).status_code == 401
    r = httpx.post(f"{col}/remove", json=body, headers=read)
    assert r.status_code == 403 and r.json()["error"]["type"] == "ForbiddenError"
    assert httpx.delete(f"{col}/items/1", headers=read).status_code == 403
    r = httpx.post(f"{col}/remove", json=body, headers=admin)
    assert r.status_code == 200 and r.json() == {"removed": 1}


def test_writes_are_refused_without_tokens(start_server, writable_collection):
    url = start_server([writable_collection])
    r = httpx.post(f"{url}/api/collections/demo/remove", json={"ids": [1]})
    assert r.status_code == 403 and "token" in r.json()["error"]["hint"]
    assert httpx.get(f"{url}/api/collections/demo/items/1").status_code == 200


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_tokens_never_logged(start_server, writable_collection, tokens):
    cap = _Capture()
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.access", "uvicorn.error",
                                              "jointspace", "jointspace.serve")]
    levels = [lg.level for lg in loggers]
    url = start_server([writable_collection], tokens_file=tokens["file"], log_level="debug")
    try:
        for lg in loggers:  # after uvicorn configured logging, so our handler stays attached
            lg.addHandler(cap)
            lg.setLevel(logging.DEBUG)
        col = f"{url}/api/collections/demo"
        for tok in (tokens["read"], tokens["admin"], "jst_wrong"):
            h = {"Authorization": f"Bearer {tok}"}
            httpx.get(f"{col}/search", params={"q": "red"}, headers=h)
            httpx.post(f"{col}/remove", json={"ids": [999999]}, headers=h)
            httpx.get(f"{col}/items/notanid", headers=h)
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(cap)
            lg.setLevel(level)
    text = "\n".join(cap.lines)
    assert "/api/collections/demo/search" in text  # requests were logged ...
    for tok in (tokens["read"], tokens["admin"], "jst_wrong"):
        assert tok not in text  # ... without their tokens


def test_early_role_check_agrees_with_every_route():
    """The middleware's role-by-path table matches the routes' own dependencies."""
    from fastapi.routing import APIRoute

    from jointspace.serve import api_items, api_quality, api_search
    from jointspace.serve.deps import require_admin
    from jointspace.serve.middleware import needed_role

    seen = []
    for route in api_search.router.routes + api_items.router.routes + api_quality.router.routes:
        assert isinstance(route, APIRoute)
        admin = any(d.call is require_admin for d in route.dependant.dependencies)
        path = route.path.replace("{name}", "demo").replace("{item_id}", "7")
        assert path.startswith("/api/"), path
        for method in route.methods:
            assert needed_role(method, path) == ("admin" if admin else "read"), (method, path)
            seen.append((method, admin))
    assert len(seen) == 18 and sum(admin for _, admin in seen) == 7  # 11 reads, 7 writes
