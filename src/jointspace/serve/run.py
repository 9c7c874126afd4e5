"""Starting the service: safety checks, one process, the models loaded once, uvicorn."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from jointspace.serve.auth import TokenStore
from jointspace.serve.settings import ServeSettings, check_bind, check_cors


def limit_blas_threads() -> None:
    """One numpy BLAS thread in the service (OPENBLAS_NUM_THREADS overrides).

    OpenBLAS spin-waits its helper threads after every call; in a server the many small matmuls
    (query embeddings, fusion) left them spinning against the event loop and request threads.
    Measured on 2 cores, 4 clients of text search with hash:64: 48 req/s (p99 305 ms) with
    OpenBLAS's 2 threads, 680 req/s (p99 12 ms) with one. torch and faiss keep their own pools.
    Only effective before numpy is imported (as in ``jointspace serve``).
    """
    if "numpy" not in sys.modules:  # the variable is read when numpy loads OpenBLAS
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def build(collections: Sequence[str | Path], settings: ServeSettings):
    """Check the bind address, open the collections and return ``(app, state)``."""
    from jointspace.runtime import configure_process

    configure_process()  # before torch / faiss load: passive OpenMP waiting
    limit_blas_threads()
    from jointspace.serve.app import create_app
    from jointspace.serve.state import ServeState

    tokens = TokenStore(settings.tokens_file) if settings.tokens_file else None
    check_bind(settings.host, tokens is not None)
    check_cors(settings.cors_origins, tokens is not None)  # before any collection is opened
    state = ServeState.open(collections, settings, tokens)
    return create_app(state), state


MAX_HEAD_BYTES = 16 * 1024  # request line + headers; h11 answers 400 above
GRACEFUL_SHUTDOWN_S = 10  # then running requests are cancelled instead of waited for


def server_config(app, state, settings: ServeSettings, **overrides):
    """The uvicorn configuration: the guarded protocol, and nothing that leaks or waits for ever."""
    import uvicorn

    # Access logs carry method, path and status only; tokens live in headers, never logged.
    options = dict(host=settings.host, port=settings.port, log_level=settings.log_level,
                   server_header=False, proxy_headers=False,
                   # the guard admits at most max_connections; uvicorn's own check (>=, a
                   # text/plain 503 per request) would refuse the last one, so it sits above
                   limit_concurrency=settings.max_connections + 1,
                   http=state.connections.protocol(),
                   # no websocket routes: an Upgrade would hand the connection to a protocol
                   # outside the guard (and its slot would never be released)
                   ws="none",
                   h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                   timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    return uvicorn.Config(app, **{**options, **overrides})


def run(app, state, settings: ServeSettings) -> None:
    """Serve ``app`` with uvicorn until interrupted (blocking), then close ``state``."""
    import uvicorn

    try:
        uvicorn.Server(server_config(app, state, settings)).run()
    finally:
        state.close()


@contextmanager
def serving_in_thread(app, state, settings: ServeSettings, **overrides) -> Iterator[str]:
    """Serve on a free port of ``settings.host`` in a daemon thread; yield the base URL.

    For tests and notebooks: the same configuration as ``run``, stopped on exit (``state`` is
    left open for the caller to close).
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((settings.host, 0))
    config = server_config(app, state, settings, **{"lifespan": "off", **overrides})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:  # uvicorn offers no event for this; poll until it is listening
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    host = f"[{settings.host}]" if family == socket.AF_INET6 else settings.host
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def serve(collections: Sequence[str | Path], settings: ServeSettings | None = None) -> None:
    """Serve ``collections`` until interrupted (blocking)."""
    settings = settings or ServeSettings()
    app, state = build(collections, settings)
    run(app, state, settings)
