"""Starting the service: safety checks, one process, the models loaded once, uvicorn."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from jointspace.serve.auth import TokenStore
from jointspace.serve.settings import ServeSettings, check_bind


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
    state = ServeState.open(collections, settings, tokens)
    return create_app(state), state


def run(app, state, settings: ServeSettings) -> None:
    """Serve ``app`` with uvicorn until interrupted (blocking), then close ``state``."""
    import uvicorn

    try:
        # Access logs carry method, path and status only; tokens live in headers, never logged.
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                    server_header=False, proxy_headers=False,
                    limit_concurrency=settings.max_connections)
    finally:
        state.close()


def serve(collections: Sequence[str | Path], settings: ServeSettings | None = None) -> None:
    """Serve ``collections`` until interrupted (blocking)."""
    settings = settings or ServeSettings()
    app, state = build(collections, settings)
    run(app, state, settings)
