"""ASGI middleware around the routes: security headers, Host check, tokens checked first.

``TokenGateMiddleware`` answers 401 for an ``/api/`` request (but ``/api/health``) without a
valid token, and 403 for a write without an admin token, as soon as its headers are in, before
any body is read: FastAPI would otherwise parse a whole multipart upload before its auth
dependency runs. The routes' dependencies check the same again.
"""

from __future__ import annotations

import json
import re

from jointspace.errors import BadInputError, JointspaceError
from jointspace.serve.auth import ADMIN, READ, TokenStore, authorize

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY")]
OPEN_PATHS = frozenset({"/api/health"})
# the admin routes: DELETE anything, POST items / texts / remove / duplicates / bank / calibrate
# (search, classify and zeroshot are reads)
_ADMIN_POST = re.compile(r"/api/collections/[^/]+/(items|texts|remove|duplicates|bank|calibrate)/?")


def needed_role(method: str, path: str) -> str:
    """The role a request needs, from its method and path alone."""
    if method == "DELETE" or (method == "POST" and _ADMIN_POST.fullmatch(path)):
        return ADMIN
    return READ


class SecurityHeadersMiddleware:
    """Adds nosniff / no-referrer / no-framing to every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HostCheckMiddleware:
    """400 (in the one error shape) for a Host header outside ``allowed`` (``*`` allows any).

    Entries may be ``*.example.org``. Unlike Starlette's TrustedHostMiddleware, IPv6 literals
    (``[::1]:8000``) are parsed, and the refusal is JSON like every other error.
    """

    def __init__(self, app, allowed: list[str]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.exact = {h.lower() for h in allowed if not h.startswith("*.")}
        self.suffixes = tuple(h[1:].lower() for h in allowed if h.startswith("*."))

    async def __call__(self, scope, receive, send) -> None:
        if self.any or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
        host = host_name(raw.decode("latin-1"))
        if host in self.exact or (host and host.endswith(self.suffixes)):
            await self.app(scope, receive, send)
            return
        await _refuse(send, BadInputError(
            "invalid Host header", hint="use the address the service was started for; "
            "the admin can allow more with --allowed-host"), has_body=True)


def host_name(header: str) -> str:
    """The host of a Host header, without port or IPv6 brackets, lower-cased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class TokenGateMiddleware:
    """401 / 403 (500 when the tokens file broke) before the body of an unauthorised API call."""

    def __init__(self, app, tokens: TokenStore | None) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] != "http" or scope["method"] == "OPTIONS"
                or not scope["path"].startswith("/api/") or scope["path"] in OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        authorization = next((v.decode("latin-1") for k, v in headers if k == b"authorization"),
                             None)
        try:
            authorize(self.tokens, authorization, needed_role(scope["method"], scope["path"]))
        except JointspaceError as exc:
            await _refuse(send, exc, has_body=any(k in (b"content-length", b"transfer-encoding")
                                                  for k, _ in headers))
            return
        await self.app(scope, receive, send)


async def _refuse(send, exc: JointspaceError, has_body: bool) -> None:
    body = json.dumps({"error": {"type": type(exc).__name__, "message": exc.message,
                                 "hint": exc.hint}}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if has_body:  # the unread body is not worth waiting for: the connection ends here
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
