"""Where the backend-parametrised suites put their collections (imported by the test modules).

``local``, ``qdrant+local`` and ``qdrant+edge`` (Qdrant's embedded engine) always run;
``qdrant-server`` runs when JOINTSPACE_TEST_QDRANT_URL (e.g. http://127.0.0.1:6333) points at a
Qdrant server, and is skipped with that reason otherwise.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import pytest

SERVER_ENV = "JOINTSPACE_TEST_QDRANT_URL"
BACKENDS = ["local", "qdrant+local", "qdrant+edge", "qdrant-server"]


def new_location(backend: str, tmp_path, name: str = "c") -> str:
    """A fresh, not yet existing collection location on ``backend``."""
    if backend == "local":
        return str(tmp_path / name)
    if backend in ("qdrant+local", "qdrant+edge"):
        return f"{backend}:{tmp_path / (name + '-qdrant')}"
    url = os.environ.get(SERVER_ENV)
    if not url:
        pytest.skip(f"{SERVER_ENV} is not set: no Qdrant server to test against")
    parts = urlsplit(url)
    scheme = "qdrants" if parts.scheme == "https" else "qdrant"
    return f"{scheme}://{parts.hostname}:{parts.port or 6333}/jstest_{name}_{uuid.uuid4().hex[:10]}"


def drop(location: str) -> None:
    """Delete a server collection (and its companion) a test created."""
    if not location.startswith(("qdrant://", "qdrants://")):
        return
    from jointspace.store.qdrant.companion import SUFFIX
    from jointspace.store.qdrant.location import connect, parse_location
    from jointspace.store.registry import StoreOptions

    target = parse_location(location)
    client = connect(target, StoreOptions())
    try:
        for name in (target.name, target.name + SUFFIX):
            if client.collection_exists(name):
                client.delete_collection(name)
    finally:
        client.close()
