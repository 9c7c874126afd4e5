"""Every response a service test receives is checked against the schema the API declares.

The app's own OpenAPI document says, per route and status, which model (or media type) a
response has; JSON bodies are validated with the pydantic models of ``jointspace.serve.schemas``
(which forbid undeclared fields). Statuses a route does not declare fail the test, as does an
error body outside the one error shape.
"""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlsplit

import httpx

from jointspace.serve import schemas

_docs: dict[str, list[tuple[str, re.Pattern, dict]]] = {}


def _operations(base: str) -> list[tuple[str, re.Pattern, dict]]:
    if base not in _docs:
        parts = urlsplit(base)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", "/openapi.json", headers={"Host": "127.0.0.1"})
        doc = json.loads(conn.getresponse().read())
        conn.close()
        _docs[base] = [(method.upper(), re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path)
                                                   + "$"), op["responses"])
                       for path, ops in doc["paths"].items() for method, op in ops.items()]
    return _docs[base]


def _model(ref: str):
    name = ref.rsplit("/", 1)[-1]
    model = getattr(schemas, name, None)
    assert model is not None, f"the API declares {name}, which jointspace.serve.schemas lacks"
    return model


def check_response(response: httpx.Response) -> None:
    """Fail (AssertionError) if ``response`` is not what its route declares."""
    url = response.request.url
    if (url.host == "testserver" or not url.path.startswith("/api/")
            or response.request.method == "OPTIONS"):  # CORS preflights are not API responses
        return
    ctype = response.headers.get("content-type", "").split(";")[0]
    if response.status_code == 304:
        return
    ops = [responses for method, pattern, responses in _operations(f"{url.scheme}://"
                                                                   f"{url.host}:{url.port}")
           if pattern.match(url.path) and method == response.request.method]
    if not ops:  # an unknown route or method: the framework's 404 / 405, in the one error shape
        assert ctype == "application/json", (url.path, response.status_code, ctype)
        schemas.ErrorResponse.model_validate(response.json())
        return
    declared = ops[0].get(str(response.status_code))
    assert declared is not None, (f"{response.request.method} {url.path} answered "
                                  f"{response.status_code}, which it does not declare")
    content = declared.get("content", {})
    assert ctype in content, (url.path, response.status_code, ctype, list(content))
    if ctype == "application/json":
        _model(content[ctype]["schema"]["$ref"]).model_validate(response.json())


def patch_httpx(monkeypatch) -> None:
    """Check every response httpx hands to a test (httpx.get / post / Client alike)."""
    send = httpx.Client.send

    def checked_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        if not kwargs.get("stream"):
            check_response(response)
        return response

    monkeypatch.setattr(httpx.Client, "send", checked_send)
