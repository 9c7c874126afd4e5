"""The FastAPI application: routes, the one error handler, middleware and the static page."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

import jointspace
from jointspace.errors import JointspaceError, NotFoundError
from jointspace.serve import api_items, api_search
from jointspace.serve.limits import BodyLimitMiddleware
from jointspace.serve.middleware import (
    HostCheckMiddleware,
    SecurityHeadersMiddleware,
    TokenGateMiddleware,
)
from jointspace.serve.search import scrub_paths
from jointspace.serve.settings import check_cors
from jointspace.serve.state import ServeState

log = logging.getLogger("jointspace.serve")
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript",
                "style.css": "text/css", "favicon.svg": "image/svg+xml"}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


def create_app(state: ServeState) -> FastAPI:
    """The ASGI app serving ``state``'s collections, API under /api and the page at /."""
    settings = state.settings
    check_cors(settings.cors_origins, state.tokens is not None)
    app = FastAPI(title="jointspace", version=jointspace.__version__, docs_url=None,
                  redoc_url=None, description="Search image and text collections by text, "
                  "image, example item or a composition of them. Errors are "
                  '`{"error": {"type", "message", "hint"}}`.')
    app.state.jointspace = state
    app.include_router(api_search.router)
    app.include_router(api_items.router)
    _add_static(app)
    _add_error_handlers(app, settings.hide_paths)
    # added innermost first: the body limit sees requests last, the security headers first;
    # tokens are checked before any body is read, after CORS has answered preflights
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(TokenGateMiddleware, tokens=state.tokens)
    if settings.cors_origins:
        # Bearer tokens travel in a header the page's script sets, never as cookies: no
        # credentials mode, so no origin (even a listed one) is ever told "credentials: true".
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"], allow_credentials=False,
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(HostCheckMiddleware, allowed=settings.hosts())
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _add_static(app: FastAPI) -> None:
    files = {name: (STATIC_DIR / name).read_bytes() for name in STATIC_TYPES
             if (STATIC_DIR / name).is_file()}

    def serve(name: str) -> Response:
        if name not in files:  # a fixed set: no path from the client ever reaches the disk
            raise NotFoundError("no such file")
        headers = {"Cache-Control": "no-cache"}
        if name.endswith(".html"):
            headers["Content-Security-Policy"] = PAGE_CSP
        return Response(files[name], media_type=STATIC_TYPES[name], headers=headers)

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return serve("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return serve(name)


def error_response(status: int, kind: str, message: str, hint: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape: ``{"error": {"type", "message", "hint"}}``."""
    return JSONResponse({"error": {"type": kind, "message": message, "hint": hint}},
                        status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI, hide_paths: bool) -> None:
    def public(text: str | None) -> str | None:
        return scrub_paths(text) if hide_paths and text else text

    @app.exception_handler(JointspaceError)
    async def jointspace_error(_: Request, exc: JointspaceError) -> JSONResponse:
        headers = {}
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.http_status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(exc.http_status, type(exc).__name__, public(exc.message),
                              public(exc.hint), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, "HTTPError", message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}"
                 for e in exc.errors()[:5]]
        return error_response(422, "ValidationError", "; ".join(parts),
                              "see /openapi.json for the parameters")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "InternalError", "internal server error",
                              "the server log has the details")
